"""`convlint lsp`: a Language Server (pygls 2.x) over stdio.

- diagnostics (textDocument/publishDiagnostics) for Python documents on open, save and change
  (debounced by DEBOUNCE seconds; the unsaved buffer is analysed), never for an older version
  than the document has when the analysis ends;
- code actions: the quick fixes of `convlint check --fix` for a diagnostic's finding, and
  "Suppress <name> on this line" (`  # convlint: ignore[<name>]` at the end of the line);
- notebook documents (LSP 3.17 notebook sync): the Python code cells are analysed in order as
  one module, as `convlint check` reads a .ipynb file, and each cell gets its own diagnostics.

Only `convlint lsp` imports this module: it needs the `convlint[lsp]` extra.
"""

from __future__ import annotations

import asyncio
import logging
import re

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.uris import to_fs_path
from pygls.workspace.position_codec import ServerTextPosition, ServerTextRange

from . import __version__
from .findings import Finding

# Seconds of quiet after a change before it is analysed. Issue 5 wants diagnostics within
# 300 ms of a change to a 500-line file: 100 ms of quiet plus an analysis of about 90 ms
# (tools/lsp_bench.py) leaves room for a slower machine, and still lets a burst of keystrokes
# (faster than ten a second) be analysed once, at its end.
DEBOUNCE = 0.1
SOURCE = "convlint"
SEVERITY = {
    "error": types.DiagnosticSeverity.Error,
    "warning": types.DiagnosticSeverity.Warning,
    "info": types.DiagnosticSeverity.Information,
}
# Notebook documents (LSP 3.17): any notebook type, its Python cells.
NOTEBOOK_SYNC = types.NotebookDocumentSyncOptions(
    notebook_selector=[
        types.NotebookDocumentFilterWithCells(cells=[types.NotebookCellLanguage(language="python")], notebook="*")
    ],
    save=True,
)
IGNORE_COMMENT = re.compile(r"#\s*convlint:\s*ignore\[([^\]]*)\]")

log = logging.getLogger(__name__)


def tolerant_converter():
    """lsprotocol's converter, except that a diagnostic a client sends back without its required
    `message` (some send only the range and code, or the range alone) is still read: a code
    action request answers the actions it can instead of Invalid Params."""
    from lsprotocol.converters import get_converter

    converter = get_converter()
    diagnostic = converter.get_structure_hook(types.Diagnostic)

    def structure(obj, cls):
        if isinstance(obj, dict) and "message" not in obj:
            obj = {**obj, "message": ""}
        return diagnostic(obj, cls)

    converter.register_structure_hook(types.Diagnostic, structure)
    return converter


class ConvlintServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__("convlint", __version__, text_document_sync_kind=types.TextDocumentSyncKind.Incremental,
                         notebook_document_sync=NOTEBOOK_SYNC, converter_factory=tolerant_converter)
        self.pending: dict[str, asyncio.Task] = {}  # uri -> the scheduled or running analysis
        self.cells: dict[str, set[str]] = {}  # notebook uri -> the cell uris it has diagnostics published for


server = ConvlintServer()


# --------------------------------------------------------------------------- analysis


def settings_for(path: str | None):
    """(select, severity overrides, excluded) for a document, from the configuration that applies
    to its path (convlint.toml / pyproject.toml), re-read at each analysis so edits to it apply."""
    from .config import ConfigError, Options, Resolver, Settings, default_select

    if path is None:
        return set(default_select()), {}, False
    try:
        file = Settings(Options(), Resolver()).for_file(path)
    except ConfigError as error:
        log.warning("convlint: %s; using the default checks", error)
        return set(default_select()), {}, False
    return set(file.select), dict(file.severity or {}), file.excluded


def analyze(source: str, path: str | None) -> list[Finding]:
    """What `convlint check` would report for this buffer: its config, severities, suppressions."""
    from dataclasses import replace

    from .engine import analyze_source
    from .suppress import apply

    select, severity, excluded = settings_for(path)
    if excluded:
        return []
    shown = path or "<buffer>"
    findings = analyze_source(source, shown, None, select, details=False).findings
    findings = [replace(f, severity=severity.get(f.name, f.severity)) for f in findings if f.name in select]
    return apply(findings, source, shown, select, severity).kept


def to_range(lines: list[str], codec, finding: Finding) -> types.Range:
    span = finding.span
    server_range = ServerTextRange(
        ServerTextPosition(span.line - 1, span.column - 1), ServerTextPosition(span.end_line - 1, span.end_column - 1)
    )
    return codec.range_to_client_units(lines, server_range)


def to_diagnostic(lines: list[str], codec, finding: Finding) -> types.Diagnostic:
    return types.Diagnostic(
        range=to_range(lines, codec, finding),
        message=finding.message,
        severity=SEVERITY.get(finding.severity, types.DiagnosticSeverity.Warning),
        code=finding.code,  # no codeDescription: convlint has no documentation site (`convlint --explain CODE`)
        source=SOURCE,
        data={"name": finding.name},
    )


def is_python(doc) -> bool:
    return doc.language_id == "python" or doc.uri.endswith((".py", ".pyi"))


def document_path(uri: str) -> str | None:
    try:
        return to_fs_path(uri)
    except Exception:  # noqa: BLE001
        return None


async def lint_document(ls: ConvlintServer, uri: str, delay: float = 0.0) -> None:
    """Analyse the open document `uri` and publish its diagnostics, unless it changed meanwhile."""
    if delay:
        await asyncio.sleep(delay)
    doc = ls.workspace.text_documents.get(uri)
    if doc is None or not is_python(doc):
        return
    version, source = doc.version, doc.source
    try:
        findings = await asyncio.get_running_loop().run_in_executor(None, analyze, source, document_path(uri))
    except Exception:  # noqa: BLE001 - one document's failure must not stop the server
        log.exception("convlint: analysis of %s failed", uri)
        return
    now = ls.workspace.text_documents.get(uri)
    if now is None or now.version != version or now.source != source:
        return  # closed or edited during the analysis: these results are stale
    lines = source.splitlines(keepends=True)
    diagnostics = [to_diagnostic(lines, now.position_codec, f) for f in findings]
    ls.text_document_publish_diagnostics(
        types.PublishDiagnosticsParams(uri=uri, version=version, diagnostics=diagnostics)
    )


def schedule(ls: ConvlintServer, uri: str, delay: float = 0.0, lint=None) -> None:
    previous = ls.pending.pop(uri, None)
    if previous is not None:
        previous.cancel()
    task = asyncio.get_running_loop().create_task((lint or lint_document)(ls, uri, delay))
    ls.pending[uri] = task
    task.add_done_callback(lambda done: ls.pending.pop(uri, None) if ls.pending.get(uri) is done else None)


# --------------------------------------------------------------------------- notebooks (LSP 3.17)


def code_cells(ls: ConvlintServer, notebook) -> list[tuple[str, object]]:
    """(cell uri, its text document) of each Python code cell of a notebook document, in order."""
    cells = []
    for cell in notebook.cells:
        if cell.kind != types.NotebookCellKind.Code:
            continue
        doc = ls.workspace.text_documents.get(cell.document)
        if doc is not None and doc.language_id == "python":
            cells.append((cell.document, doc))
    return cells


def analyze_cells(sources: list[str], path: str | None) -> list[list[Finding]]:
    """The findings of each code cell, the cells read in order as one module (as `convlint check`
    reads a .ipynb file)."""
    from .notebooks import Notebook

    notebook = Notebook.from_cells(path or "<notebook>", sources)
    per_cell: list[list[Finding]] = [[] for _ in sources]
    for finding in analyze(notebook.python.decode("utf-8"), path):
        shown = notebook.to_cells(finding)
        if shown.cell is not None:
            per_cell[shown.cell - 1].append(shown)
    return per_cell


async def lint_notebook(ls: ConvlintServer, uri: str, delay: float = 0.0) -> None:
    """Analyse the open notebook `uri`; publish each code cell's diagnostics, unless it changed meanwhile."""
    if delay:
        await asyncio.sleep(delay)
    notebook = ls.workspace.get_notebook_document(notebook_uri=uri)
    if notebook is None:
        return
    version = notebook.version
    cells = code_cells(ls, notebook)
    snapshot = [(cell_uri, doc.version, doc.source) for cell_uri, doc in cells]
    try:
        per_cell = await asyncio.get_running_loop().run_in_executor(
            None, analyze_cells, [source for _, _, source in snapshot], document_path(uri)
        )
    except Exception:  # noqa: BLE001 - one document's failure must not stop the server
        log.exception("convlint: analysis of %s failed", uri)
        return
    now = ls.workspace.get_notebook_document(notebook_uri=uri)
    if now is None or now.version != version or [(u, d.version, d.source) for u, d in code_cells(ls, now)] != snapshot:
        return  # closed or edited during the analysis
    published = set()
    for (cell_uri, cell_version, source), findings in zip(snapshot, per_cell):
        doc = ls.workspace.text_documents.get(cell_uri)
        lines = source.splitlines(keepends=True)
        diagnostics = [to_diagnostic(lines, doc.position_codec, f) for f in findings]
        ls.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(uri=cell_uri, version=cell_version, diagnostics=diagnostics)
        )
        published.add(cell_uri)
    for gone in ls.cells.get(uri, set()) - published:  # cells deleted, or no longer Python
        ls.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=gone, diagnostics=[]))
    ls.cells[uri] = published


@server.feature(types.NOTEBOOK_DOCUMENT_DID_OPEN)
def notebook_did_open(ls: ConvlintServer, params: types.DidOpenNotebookDocumentParams) -> None:
    schedule(ls, params.notebook_document.uri, 0.0, lint_notebook)


@server.feature(types.NOTEBOOK_DOCUMENT_DID_CHANGE)
def notebook_did_change(ls: ConvlintServer, params: types.DidChangeNotebookDocumentParams) -> None:
    schedule(ls, params.notebook_document.uri, DEBOUNCE, lint_notebook)


@server.feature(types.NOTEBOOK_DOCUMENT_DID_SAVE)
def notebook_did_save(ls: ConvlintServer, params: types.DidSaveNotebookDocumentParams) -> None:
    schedule(ls, params.notebook_document.uri, 0.0, lint_notebook)


@server.feature(types.NOTEBOOK_DOCUMENT_DID_CLOSE)
def notebook_did_close(ls: ConvlintServer, params: types.DidCloseNotebookDocumentParams) -> None:
    uri = params.notebook_document.uri
    task = ls.pending.pop(uri, None)
    if task is not None:
        task.cancel()
    for cell_uri in ls.cells.pop(uri, set()) | {cell.uri for cell in params.cell_text_documents}:
        ls.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=cell_uri, diagnostics=[]))


# --------------------------------------------------------------------------- document events


@server.feature(types.TEXT_DOCUMENT_DID_OPEN)
def did_open(ls: ConvlintServer, params: types.DidOpenTextDocumentParams) -> None:
    schedule(ls, params.text_document.uri)


@server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
def did_change(ls: ConvlintServer, params: types.DidChangeTextDocumentParams) -> None:
    schedule(ls, params.text_document.uri, DEBOUNCE)


@server.feature(types.TEXT_DOCUMENT_DID_SAVE)
def did_save(ls: ConvlintServer, params: types.DidSaveTextDocumentParams) -> None:
    schedule(ls, params.text_document.uri)


@server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
def did_close(ls: ConvlintServer, params: types.DidCloseTextDocumentParams) -> None:
    uri = params.text_document.uri
    task = ls.pending.pop(uri, None)
    if task is not None:
        task.cancel()
    ls.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=uri, diagnostics=[]))


# --------------------------------------------------------------------------- code actions


def code_actions(source: str, path: str | None, uri: str, codec, diagnostics: list[types.Diagnostic],
                 cells: list[str] | None = None, cell: int | None = None):
    """The actions for `diagnostics` of the document `source`; of a notebook's code cell when
    `cells` (the code cells' sources) and `cell` (its index in them) are given: the notebook is
    analysed as one module, and the findings of that cell answer."""
    from .fix import quick_fixes

    # ours, and partial ones a client sends back without `source` or `code`: matched by range
    ours = [d for d in diagnostics if d.source in (SOURCE, None)]
    if not ours:
        return []
    if cells is None:
        module = source
        findings = analyze(module, path)
        pairs = [(f, f) for f in findings]  # (the finding in the analysed module, as the document shows it)
    else:
        from .notebooks import Notebook

        notebook = Notebook.from_cells(path or "<notebook>", cells)
        module = notebook.python.decode("utf-8")
        findings = analyze(module, path)
        pairs = [(f, shown) for f in findings if (shown := notebook.to_cells(f)).cell == cell + 1]
    lines = source.splitlines(keepends=True)
    matches = {
        id(diagnostic): [
            (f, shown) for f, shown in pairs
            if diagnostic.code in (f.code, None) and to_range(lines, codec, shown) == diagnostic.range
        ]
        for diagnostic in ours
    }
    wanted = [f for found in matches.values() for f, _ in found[:1]]
    fixes = quick_fixes(module, findings, path or "<buffer>", only=wanted) if wanted else {}
    actions = []
    for diagnostic in ours:
        matching = matches[id(diagnostic)]
        for finding, shown in matching[:1]:
            edit = fixes.get((finding.code, finding.span, finding.message))
            if edit is not None:
                actions.append(
                    types.CodeAction(
                        title=f"{edit.title} ({finding.name})" if edit.title else f"Fix {finding.name}",
                        kind=types.CodeActionKind.QuickFix,
                        diagnostics=[diagnostic],
                        is_preferred=True,
                        edit=types.WorkspaceEdit(
                            changes={
                                uri: [
                                    types.TextEdit(
                                        range=to_range(lines, codec, shown),  # the edit replaces the call
                                        new_text=edit.new_text,
                                    )
                                ]
                            }
                        ),
                    )
                )
        name = (diagnostic.data or {}).get("name") if isinstance(diagnostic.data, dict) else None
        if name is None and matching:
            name = matching[0][0].name
        if name is not None:
            suppress = suppress_edit(lines, codec, diagnostic.range.start.line, name)
            if suppress is not None:
                actions.append(
                    types.CodeAction(
                        title=f"Suppress {name} on this line",
                        kind=types.CodeActionKind.QuickFix,
                        diagnostics=[diagnostic],
                        edit=types.WorkspaceEdit(changes={uri: [suppress]}),
                    )
                )
    return actions


def suppress_edit(lines: list[str], codec, line: int, name: str) -> types.TextEdit | None:
    if line >= len(lines):
        return None
    text = lines[line].rstrip("\r\n")
    existing = IGNORE_COMMENT.search(text)
    if existing is not None:  # extend `# convlint: ignore[a]` to `# convlint: ignore[a, name]`
        names = [n.strip() for n in existing.group(1).split(",") if n.strip()]
        if name in names:
            return None
        start, end = existing.span(1)
        new = ", ".join([*names, name])
        return types.TextEdit(
            range=codec.range_to_client_units(
                lines, ServerTextRange(ServerTextPosition(line, start), ServerTextPosition(line, end))
            ),
            new_text=new,
        )
    end = codec.position_to_client_units(lines, ServerTextPosition(line, len(text)))
    return types.TextEdit(range=types.Range(start=end, end=end), new_text=f"  # convlint: ignore[{name}]")


@server.feature(
    types.TEXT_DOCUMENT_CODE_ACTION,
    types.CodeActionOptions(code_action_kinds=[types.CodeActionKind.QuickFix]),
)
async def code_action(ls: ConvlintServer, params: types.CodeActionParams):
    uri = params.text_document.uri
    doc = ls.workspace.text_documents.get(uri)
    if doc is None or not is_python(doc):
        return []
    source = doc.source
    diagnostics = list(params.context.diagnostics)
    notebook = ls.workspace.get_notebook_document(cell_uri=uri)
    if notebook is not None:  # a cell: its findings come from the whole notebook
        cells = code_cells(ls, notebook)
        index = next((i for i, (cell_uri, _) in enumerate(cells) if cell_uri == uri), None)
        if index is None:
            return []
        sources = [cell_doc.source for _, cell_doc in cells]
        return await asyncio.get_running_loop().run_in_executor(
            None, code_actions, source, document_path(notebook.uri), uri, doc.position_codec, diagnostics, sources,
            index,
        )
    return await asyncio.get_running_loop().run_in_executor(
        None, code_actions, source, document_path(uri), uri, doc.position_codec, diagnostics
    )


def serve() -> None:
    server.start_io()
