"""`convlint lsp` end to end: a real LSP client (pytest-lsp) drives the server as a subprocess."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import subprocess

import pytest


def test_without_pygls_lsp_says_how_to_install_it_and_exits_2():
    code = "import sys; sys.modules['pygls'] = None; from convlint.cli import main; sys.exit(main(['lsp']))"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert run.returncode == 2
    assert run.stdout == ""
    assert run.stderr == "convlint: the language server needs pygls: pip install 'convlint[lsp]'\n"


def test_the_check_path_does_not_import_the_server():
    code = "import sys; from convlint.cli import main; main(['check', '--diff', 'fixtures']); print('convlint.lsp' in sys.modules)"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.stdout.strip().splitlines()[-1] == "False"


try:
    import pygls  # noqa: F401
    import pytest_lsp
    from lsprotocol import types
    from pytest_lsp import ClientServerConfig, LanguageClient

    MISSING = None
except ImportError as error:  # the end-to-end tests are skipped, the two above still run
    MISSING = str(error)

requires_lsp = pytest.mark.skipif(
    MISSING is not None,
    reason=f"the LSP end-to-end tests need pygls and pytest-lsp ({MISSING}): pip install 'convlint[lsp]' pytest-lsp",
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
BROKEN = FIXTURES / "channel_mismatch.py"
TIMEOUT = 20.0


def _client_fixture(fn):
    if MISSING is not None:
        return fn
    return pytest_lsp.fixture(config=ClientServerConfig(server_command=[sys.executable, "-m", "convlint", "lsp"]))(fn)


@_client_fixture
async def client(lsp_client: LanguageClient):
    capabilities = types.ClientCapabilities(
        text_document=types.TextDocumentClientCapabilities(
            publish_diagnostics=types.PublishDiagnosticsClientCapabilities(
                version_support=True, code_description_support=True, data_support=True
            ),
            code_action=types.CodeActionClientCapabilities(
                code_action_literal_support=types.ClientCodeActionLiteralOptions(
                    code_action_kind=types.ClientCodeActionKindOptions(value_set=[types.CodeActionKind.QuickFix])
                )
            ),
        )
    )
    await lsp_client.initialize_session(types.InitializeParams(capabilities=capabilities))
    yield
    await lsp_client.shutdown_session()


async def until(condition, timeout: float = TIMEOUT, client: LanguageClient | None = None):
    """Poll until `condition()` is true (the server publishes asynchronously)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for the server; diagnostics: {client and client.diagnostics}")
        await asyncio.sleep(0.02)


def open_doc(client: LanguageClient, uri: str, text: str, version: int = 1) -> None:
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(uri=uri, language_id="python", version=version, text=text)
        )
    )


def replace_all(client: LanguageClient, uri: str, text: str, version: int) -> None:
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)],
        )
    )


def apply_text_edits(text: str, edits: list[types.TextEdit]) -> str:
    lines = text.splitlines(keepends=True)

    def offset(position: types.Position) -> int:  # ASCII text: UTF-16 units are characters
        return sum(len(line) for line in lines[: position.line]) + position.character

    for edit in sorted(edits, key=lambda e: (e.range.start.line, e.range.start.character), reverse=True):
        text = text[: offset(edit.range.start)] + edit.new_text + text[offset(edit.range.end) :]
    return text


def call_range(text: str, line: int, call_start: str) -> types.Range:
    """The 0-based range of the call starting with `call_start` on 1-based `line`."""
    source_line = text.splitlines()[line - 1]
    start = source_line.index(call_start)
    depth = 0
    for end in range(start, len(source_line)):
        depth += {"(": 1, ")": -1}.get(source_line[end], 0)
        if source_line[end] == ")" and depth == 0:
            break
    return types.Range(start=types.Position(line - 1, start), end=types.Position(line - 1, end + 1))


@requires_lsp
@pytest.mark.asyncio
async def test_diagnostics_edit_and_code_action(client: LanguageClient):
    uri = BROKEN.as_uri()
    text = BROKEN.read_text()
    open_doc(client, uri, text)
    await until(lambda: uri in client.diagnostics)
    diagnostics = sorted(client.diagnostics[uri], key=lambda d: d.range.start.line)
    assert [d.range for d in diagnostics] == [
        call_range(text, 15, "torch.nn.Conv2d(NF, 64"),
        call_range(text, 23, "torch.nn.BatchNorm2d(NF * 2)"),
        call_range(text, 36, "torch.nn.Linear(16 * 5 * 5, 10)"),
    ]
    first = diagnostics[0]
    assert first.code == "CL001"
    assert first.source == "convlint"
    assert first.severity == types.DiagnosticSeverity.Error
    assert first.code_description is None  # there is no documentation site to link to
    assert first.message.startswith("Conv2d expects 32 input channels but receives 16")

    # edit the unsaved buffer (incrementally) until the model is right: the list empties
    edits = [
        (15, "torch.nn.Conv2d(NF, 64", "NF", "16"),
        (23, "torch.nn.BatchNorm2d(NF * 2)", "NF * 2", "NF"),
        (36, "torch.nn.Linear(16 * 5 * 5, 10)", "16 * 5 * 5", "16 * 12 * 12"),
    ]
    changes = []
    for line, anchor, old, new in edits:
        column = text.splitlines()[line - 1].index(anchor) + anchor.index(old)
        changes.append(
            types.TextDocumentContentChangePartial(
                range=types.Range(types.Position(line - 1, column), types.Position(line - 1, column + len(old))),
                text=new,
            )
        )
        lines = text.splitlines(keepends=True)
        lines[line - 1] = lines[line - 1][:column] + new + lines[line - 1][column + len(old) :]
        text = "".join(lines)
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2), content_changes=changes
        )
    )
    await until(lambda: len(client.diagnostics[uri]) == 0, client=client)

    # break it again with a literal the quick fix can correct
    broken = text.replace("torch.nn.Conv2d(16, 64, 3, padding=1)", "torch.nn.Conv2d(24, 64, 3, padding=1)")
    assert broken != text
    replace_all(client, uri, broken, 3)
    await until(lambda: len(client.diagnostics[uri]) == 1)
    (diagnostic,) = client.diagnostics[uri]
    assert diagnostic.range == call_range(broken, 15, "torch.nn.Conv2d(24, 64")

    actions = await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=diagnostic.range,
            context=types.CodeActionContext(diagnostics=[diagnostic]),
        )
    )
    titles = [a.title for a in actions]
    assert titles == ["Set in_channels=16 (channel-mismatch)", "Suppress channel-mismatch on this line"]
    fix, suppress = actions
    assert fix.kind == types.CodeActionKind.QuickFix and list(fix.diagnostics) == [diagnostic]
    fixed = apply_text_edits(broken, fix.edit.changes[uri])
    assert fixed == text  # the quick fix restores exactly the correct model
    suppressed = apply_text_edits(broken, suppress.edit.changes[uri])
    assert suppressed.splitlines()[14] == "    torch.nn.Conv2d(24, 64, 3, padding=1),  # convlint: ignore[channel-mismatch]"

    replace_all(client, uri, fixed, 4)
    await until(lambda: len(client.diagnostics[uri]) == 0)


@requires_lsp
@pytest.mark.asyncio
async def test_debounced_changes_publish_only_the_latest_version(client: LanguageClient):
    uri = (FIXTURES / "debounce_probe.py").as_uri()  # never written: only the buffer exists
    good = BROKEN.read_text().replace("(NF, 64", "(16, 64").replace("NF * 2", "NF").replace("16 * 5 * 5", "2304")
    open_doc(client, uri, good)
    await until(lambda: uri in client.diagnostics)
    assert len(client.diagnostics[uri]) == 0
    # a burst of edits: the intermediate (broken) buffers must not outlive the last (good) one
    for version in range(2, 12):
        replace_all(client, uri, good.replace("(16, 64", f"({version}, 64") if version < 11 else good, version)
    await asyncio.sleep(1.0)
    assert len(client.diagnostics[uri]) == 0


@requires_lsp
@pytest.mark.asyncio
async def test_bad_requests_and_close_during_analysis_do_not_kill_the_server(client: LanguageClient):
    from pygls.exceptions import JsonRpcMethodNotFound

    with pytest.raises(JsonRpcMethodNotFound):
        await client.protocol.send_request_async("convlint/no-such-method", {"x": 1})
    # raw frames the client library would refuse to build: broken JSON, and invalid params
    for body in (
        b'{"jsonrpc": "2.0", "id": 9001, "method": "textDocument/codeAc',
        b'{"jsonrpc": "2.0", "id": 9002, "method": "textDocument/codeAction", "params": {"not": "params"}}',
        b'{"jsonrpc": "2.0", "method": "textDocument/didChange", "params": {"textDocument": 7}}',
    ):
        client.protocol.writer.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)

    # a big model, closed while it is being analysed: no diagnostics for it after the close
    big_uri = (FIXTURES / "closed_probe.py").as_uri()
    body = "".join("    torch.nn.Conv2d(16, 16, 3, padding=1),\n" for _ in range(300))
    big = f"import torch\n\n# convlint: input=16x32x32\nm = torch.nn.Sequential(\n{body}    torch.nn.Conv2d(8, 4, 3),\n)\n"
    open_doc(client, big_uri, big)
    client.text_document_did_close(types.DidCloseTextDocumentParams(text_document=types.TextDocumentIdentifier(big_uri)))
    await until(lambda: big_uri in client.diagnostics)
    await asyncio.sleep(1.5)
    assert len(client.diagnostics[big_uri]) == 0

    # and the server still works
    uri = BROKEN.as_uri()
    open_doc(client, uri, BROKEN.read_text())
    await until(lambda: uri in client.diagnostics)
    assert len(client.diagnostics[uri]) == 3
    assert client.error is None


@requires_lsp
@pytest.mark.asyncio
async def test_code_actions_for_partial_diagnostics(client: LanguageClient):
    uri = (FIXTURES / "partial_probe.py").as_uri()  # never written: only the buffer exists
    text = BROKEN.read_text().replace("torch.nn.Conv2d(NF, 64", "torch.nn.Conv2d(24, 64")
    open_doc(client, uri, text)
    await until(lambda: uri in client.diagnostics)
    target = call_range(text, 15, "torch.nn.Conv2d(24, 64")
    titles = ["Set in_channels=16 (channel-mismatch)", "Suppress channel-mismatch on this line"]
    # no code, no source: matched by its range
    actions = await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=target,
            context=types.CodeActionContext(diagnostics=[types.Diagnostic(range=target, message="")]),
        )
    )
    assert [a.title for a in actions] == titles
    # another tool's diagnostic at another place: nothing
    other = types.Diagnostic(range=call_range(text, 12, "torch.nn.Conv2d(3, 16"), message="x", source="pyright")
    actions = await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=other.range,
            context=types.CodeActionContext(diagnostics=[other]),
        )
    )
    assert list(actions) == []


class RawClient:
    """JSON-RPC frames over the server's stdio, for requests a client library would refuse to build."""

    def __init__(self) -> None:
        import json

        self.json = json
        self.process = subprocess.Popen([sys.executable, "-m", "convlint", "lsp"], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)

    def send(self, message: dict) -> None:
        body = self.json.dumps({"jsonrpc": "2.0", **message}).encode()
        self.process.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.process.stdin.flush()

    def receive(self) -> dict:
        length = 0
        while line := self.process.stdout.readline().strip():
            name, _, value = line.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value)
        return self.json.loads(self.process.stdout.read(length))

    def answer(self, message_id: int) -> dict:
        while True:
            message = self.receive()
            if message.get("id") == message_id:
                return message

    def close(self) -> None:
        self.process.kill()
        self.process.wait()


@requires_lsp
def test_a_code_action_request_with_a_diagnostic_missing_its_message_is_answered():
    client = RawClient()
    try:
        client.send({"id": 1, "method": "initialize", "params": {"capabilities": {
            "notebookDocument": {"synchronization": {}}}}})  # a client that syncs notebooks (LSP 3.17)
        capabilities = client.answer(1)["result"]["capabilities"]
        assert capabilities["notebookDocumentSync"] == {
            "notebookSelector": [{"cells": [{"language": "python"}], "notebook": "*"}], "save": True}
        client.send({"method": "initialized", "params": {}})
        uri = (FIXTURES / "raw_probe.py").as_uri()
        text = BROKEN.read_text().replace("torch.nn.Conv2d(NF, 64", "torch.nn.Conv2d(24, 64")
        client.send({"method": "textDocument/didOpen", "params": {"textDocument": {
            "uri": uri, "languageId": "python", "version": 1, "text": text}}})
        start = text.splitlines()[14].index("torch.nn.Conv2d(24")
        end = text.splitlines()[14].index("),", start) + 1
        span = {"start": {"line": 14, "character": start}, "end": {"line": 14, "character": end}}
        client.send({"id": 2, "method": "textDocument/codeAction", "params": {
            "textDocument": {"uri": uri}, "range": span, "context": {"diagnostics": [{"range": span}]}}})
        answer = client.answer(2)
        assert "error" not in answer
        assert [action["title"] for action in answer["result"]] == [
            "Set in_channels=16 (channel-mismatch)", "Suppress channel-mismatch on this line"]
    finally:
        client.close()


NOTEBOOK_CELLS = [
    "%matplotlib inline\nimport torch\nimport torch.nn as nn",
    "# convlint: input=3x32x32\nmodel = nn.Sequential(\n    nn.Conv2d(3, 16, 3, padding=1),\n    nn.Conv2d(24, 64, 3),\n)",
    "out = model(torch.randn(1, 3, 32, 32))",
]


@requires_lsp
@pytest.mark.asyncio
async def test_notebook_documents_get_diagnostics_per_cell(client: LanguageClient):
    notebook_uri = (FIXTURES / "notebook_probe.ipynb").as_uri()  # never written: only the document exists
    cell_uris = [f"vscode-notebook-cell:{notebook_uri[7:]}#cell{i}" for i in range(3)]
    markdown_uri = f"vscode-notebook-cell:{notebook_uri[7:]}#md"
    cells = [types.NotebookCell(kind=types.NotebookCellKind.Code, document=u) for u in cell_uris]
    cells.insert(1, types.NotebookCell(kind=types.NotebookCellKind.Markup, document=markdown_uri))
    documents = [types.TextDocumentItem(uri=u, language_id="python", version=1, text=t)
                 for u, t in zip(cell_uris, NOTEBOOK_CELLS)]
    documents.append(types.TextDocumentItem(uri=markdown_uri, language_id="markdown", version=1, text="nn.Conv2d(9, 9, 3)"))
    client.notebook_document_did_open(types.DidOpenNotebookDocumentParams(
        notebook_document=types.NotebookDocument(uri=notebook_uri, notebook_type="jupyter-notebook", version=1,
                                                 cells=cells),
        cell_text_documents=documents,
    ))
    await until(lambda: all(u in client.diagnostics for u in cell_uris), client=client)
    assert len(client.diagnostics[cell_uris[0]]) == len(client.diagnostics[cell_uris[2]]) == 0
    assert markdown_uri not in client.diagnostics
    (diagnostic,) = client.diagnostics[cell_uris[1]]
    assert diagnostic.range == types.Range(types.Position(3, 4), types.Position(3, 24))  # within the cell
    assert diagnostic.message == ("Conv2d expects 24 input channels but receives 16 (out_channels of the Conv2d on "
                                  "line 3 of cell 2)")

    # the quick fix, computed with the whole notebook, edits the cell
    actions = await client.text_document_code_action_async(types.CodeActionParams(
        text_document=types.TextDocumentIdentifier(uri=cell_uris[1]), range=diagnostic.range,
        context=types.CodeActionContext(diagnostics=[diagnostic]),
    ))
    assert [a.title for a in actions] == ["Set in_channels=16 (channel-mismatch)", "Suppress channel-mismatch on this line"]
    fixed = apply_text_edits(NOTEBOOK_CELLS[1], actions[0].edit.changes[cell_uris[1]])
    assert fixed == NOTEBOOK_CELLS[1].replace("nn.Conv2d(24, 64, 3)", "nn.Conv2d(16, 64, 3)")

    # an edit of the cell: its diagnostics are gone
    client.notebook_document_did_change(types.DidChangeNotebookDocumentParams(
        notebook_document=types.VersionedNotebookDocumentIdentifier(version=2, uri=notebook_uri),
        change=types.NotebookDocumentChangeEvent(cells=types.NotebookDocumentCellChanges(text_content=[
            types.NotebookDocumentCellContentChanges(
                document=types.VersionedTextDocumentIdentifier(uri=cell_uris[1], version=2),
                changes=[types.TextDocumentContentChangeWholeDocument(text=fixed)],
            )
        ])),
    ))
    await until(lambda: len(client.diagnostics[cell_uris[1]]) == 0, client=client)

    client.notebook_document_did_close(types.DidCloseNotebookDocumentParams(
        notebook_document=types.NotebookDocumentIdentifier(uri=notebook_uri),
        cell_text_documents=[types.TextDocumentIdentifier(uri=u) for u in cell_uris],
    ))
    assert client.error is None
