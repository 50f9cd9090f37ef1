"""`convlint lsp`: a Language Server (pygls 2.x) over stdio.

- diagnostics (textDocument/publishDiagnostics) for Python documents on open, save and change
  (debounced by DEBOUNCE seconds; the unsaved buffer is analysed), never for an older version
  than the document has when the analysis ends;
- code actions: the quick fixes of `convlint check --fix` for a diagnostic's finding, and
  "Suppress <name> on this line" (`  # convlint: ignore[<name>]` at the end of the line).

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
                         converter_factory=tolerant_converter)
        self.pending: dict[str, asyncio.Task] = {}  # uri -> the scheduled or running analysis


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


def schedule(ls: ConvlintServer, uri: str, delay: float = 0.0) -> None:
    previous = ls.pending.pop(uri, None)
    if previous is not None:
        previous.cancel()
    task = asyncio.get_running_loop().create_task(lint_document(ls, uri, delay))
    ls.pending[uri] = task
    task.add_done_callback(lambda done: ls.pending.pop(uri, None) if ls.pending.get(uri) is done else None)


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


def code_actions(source: str, path: str | None, uri: str, codec, diagnostics: list[types.Diagnostic]):
    from .fix import quick_fixes

    # ours, and partial ones a client sends back without `source` or `code`: matched by range
    ours = [d for d in diagnostics if d.source in (SOURCE, None)]
    if not ours:
        return []
    findings = analyze(source, path)
    lines = source.splitlines(keepends=True)
    matches = {
        id(diagnostic): [
            f for f in findings
            if diagnostic.code in (f.code, None) and to_range(lines, codec, f) == diagnostic.range
        ]
        for diagnostic in ours
    }
    wanted = [f for found in matches.values() for f in found[:1]]
    fixes = quick_fixes(source, findings, path or "<buffer>", only=wanted) if wanted else {}
    actions = []
    for diagnostic in ours:
        matching = matches[id(diagnostic)]
        for finding in matching[:1]:
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
                                        range=to_range(lines, codec, finding),  # the edit replaces the call
                                        new_text=edit.new_text,
                                    )
                                ]
                            }
                        ),
                    )
                )
        name = (diagnostic.data or {}).get("name") if isinstance(diagnostic.data, dict) else None
        if name is None and matching:
            name = matching[0].name
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
    return await asyncio.get_running_loop().run_in_executor(
        None, code_actions, source, document_path(uri), uri, doc.position_codec, list(params.context.diagnostics)
    )


def serve() -> None:
    server.start_io()
