"""Inline suppressions: `# convlint: ignore[...]`, `# noqa`, --show-suppressed, unused-suppression."""

from __future__ import annotations

import json

import pytest

from convlint import suppress
from convlint.cli import main
from convlint.findings import Finding, Span

HEAD = "import torch.nn as nn\n\n# convlint: input=3x224x224\nnet = nn.Sequential(\n    nn.Conv2d(3, 16, 11, stride=4),\n"
# line 5: CL002 dropped-pixels (warning); line 6: CL001 channel-mismatch (error)
CL001 = "m.py:6:5: CL001 [channel-mismatch] Conv2d expects 32 input channels but receives 16 (out_channels of the Conv2d on line 5)"


def model(comment6: str = "", comment5: str = "") -> str:
    first = HEAD.replace("stride=4),\n", f"stride=4),{comment5}\n")
    return first + f"    nn.Conv2d(32, 64, 3),{comment6}\n)\n"


@pytest.fixture
def lint(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)

    def run(source: str, *flags: str) -> tuple[int, list[str]]:
        (tmp_path / "m.py").write_text(source, encoding="utf-8")
        status = main(["check", "--isolated", "m.py", *flags])
        captured = capsys.readouterr()
        assert captured.err == ""
        return status, captured.out.splitlines()

    return run


def test_unsuppressed_baseline(lint):
    status, out = lint(model(), "--select", "CL001")
    assert (status, out) == (1, [CL001, "Found 1 finding (1 error; 1 file checked)."])


@pytest.mark.parametrize(
    "comment",
    [
        "  # convlint: ignore[channel-mismatch]",
        "  # convlint: ignore[CL001]",
        "  # convlint: ignore[cl001]",
        "  # convlint: ignore[dropped-pixels, channel-mismatch]",
        "  # convlint: ignore",
        "  #convlint:ignore[ CL001 ]",
        "  # noqa: CL001",
        "  # noqa:E501,CL001",
        "  # noqa",
        "  # NOQA",
        "  # fmt: skip  # convlint: ignore[channel-mismatch]",
        "  # convlint: ignore[channel-mismatch] -- the stem is replaced at run time",
    ],
)
def test_suppressed(lint, comment):
    assert lint(model(comment), "--select", "CL001") == (0, ["No findings (1 file checked)."])


@pytest.mark.parametrize(
    "comment",
    [
        "  # convlint: ignore[dropped-pixels]",  # another check
        "  # noqa: E501",  # another tool's code
        "  # convlint: ignored",
        "  # convlint: ignore-all",
        "  # see convlint docs",
    ],
)
def test_not_suppressed(lint, comment):
    assert lint(model(comment), "--select", "CL001")[0] == 1


def test_a_comment_on_another_line_does_not_suppress(lint):
    status, out = lint(model(comment5="  # convlint: ignore[channel-mismatch]"), "--select", "CL001")
    assert status == 1 and out[0] == CL001


def test_only_the_named_check_is_suppressed(lint):
    source = model(comment5="  # convlint: ignore[channel-mismatch]")
    status, out = lint(source, "--select", "CL001,CL002")
    assert status == 1
    assert [line.split(" [")[0] for line in out[:-1]] == ["m.py:5:5: CL002", "m.py:6:5: CL001"]


def test_show_suppressed_text_and_json(lint):
    source = model("  # convlint: ignore[CL001]")
    status, out = lint(source, "--select", "CL001", "--show-suppressed")
    assert (status, out) == (0, [CL001 + " (suppressed)", "No findings (1 file checked; 1 suppressed)."])
    status, out = lint(source, "--select", "CL001", "--show-suppressed", "--format", "json")
    assert status == 0
    assert json.loads("\n".join(out)) == [
        {
            "path": "m.py",
            "line": 6,
            "column": 5,
            "end_line": 6,
            "end_column": 25,
            "code": "CL001",
            "name": "channel-mismatch",
            "severity": "error",
            "message": "Conv2d expects 32 input channels but receives 16 (out_channels of the Conv2d on line 5)",
            "suppressed": True,
        }
    ]
    # without the flag, suppressed findings are not mentioned at all
    assert lint(source, "--select", "CL001", "--format", "json") == (0, ["[]"])


def test_unused_suppression_is_off_by_default(lint):
    assert lint(model(comment5="  # convlint: ignore[channel-mismatch]"), "--select", "CL001")[1][-1].startswith("Found 1")
    assert lint(model(comment5="  # convlint: ignore[channel-mismatch]"))[1][-1].startswith("Found 2")


def test_unused_suppression(lint):
    source = model("  # convlint: ignore[CL001, nope]", comment5="  # convlint: ignore[channel-mismatch]  # noqa: CL001")
    status, out = lint(source, "--select", "CL001,unused-suppression")
    assert status == 0  # info findings do not fail the run under the default fail-on
    assert out == [
        "m.py:5:38: CL903 [unused-suppression] `# convlint: ignore[channel-mismatch]` suppresses nothing: "
        "no channel-mismatch (CL001) finding on this line",
        "m.py:6:28: CL903 [unused-suppression] `# convlint: ignore[CL001, nope]` suppresses nothing: unknown check 'nope'",
        "Found 2 findings (2 infos; 1 file checked).",
    ]
    assert lint(source, "--select", "CL001,unused-suppression", "--fail-on", "info")[0] == 1


def test_unused_bare_suppression_and_unselected_codes(lint):
    source = model("  # convlint: ignore[CL001]", comment5="  # convlint: ignore")
    # dropped-pixels did not run: the bare comment on line 5 suppressed nothing
    status, out = lint(source, "--select", "CL001,CL903")
    assert out == [
        "m.py:5:38: CL903 [unused-suppression] `# convlint: ignore` suppresses nothing: there is no finding on this line",
        "Found 1 finding (1 info; 1 file checked).",
    ]
    # a code for a check that was not selected is not reported (it could not have fired)
    source = model("  # convlint: ignore[CL001]", comment5="  # convlint: ignore[dropped-pixels]")
    assert lint(source, "--select", "CL001,CL903")[1] == ["No findings (1 file checked)."]
    # with ALL every check ran
    assert lint(source, "--select", "ALL")[1] == ["No findings (1 file checked)."]


def test_unused_suppression_in_a_file_without_findings(lint):
    source = "import torch.nn as nn\n\nx = nn.ReLU()  # convlint: ignore[CL001]\n"
    assert lint(source, "--select", "ALL") == (
        0,
        [
            "m.py:3:16: CL903 [unused-suppression] `# convlint: ignore[CL001]` suppresses nothing: "
            "no channel-mismatch (CL001) finding on this line",
            "Found 1 finding (1 info; 1 file checked).",
        ],
    )


def test_noqa_is_never_reported_unused(lint):
    source = model("  # noqa: CL001", comment5="  # noqa: CL001")
    assert lint(source, "--select", "CL001,unused-suppression") == (0, ["No findings (1 file checked)."])


def test_unused_suppression_can_itself_be_suppressed_by_name(lint):
    source = model(comment5="  # convlint: ignore[channel-mismatch, unused-suppression]")
    assert lint(source, "--select", "CL001,CL903")[1] == [CL001, "Found 1 finding (1 error; 1 file checked)."]


def test_directives_are_read_from_comments_only():
    source = (
        's = "# convlint: ignore"  # convlint: ignore[CL001]\n'
        "t = '''\n# noqa\n'''\n"
        "u = 1  # noqa: CL002, CL003 # convlint: ignore[misplaced-flatten]\n"
    )
    found = suppress.directives(source)
    assert sorted(found) == [1, 5]
    assert [(d.column, d.end_column, d.kind, d.codes) for d in found[1]] == [(27, 52, "convlint", ("CL001",))]
    assert [(d.column, d.kind, d.codes) for d in found[5]] == [
        (8, "noqa", ("CL002", "CL003")),
        (29, "convlint", ("misplaced-flatten",)),
    ]


def test_directives_survive_a_file_that_stops_tokenizing():
    found = suppress.directives("x = 1  # noqa\ny = (\n")
    assert list(found) == [1]


def test_files_without_findings_are_not_tokenized(lint, monkeypatch):
    def boom(source):
        raise AssertionError("tokenized a file that needs no suppressions")

    monkeypatch.setattr(suppress, "directives", boom)
    assert lint("import torch.nn as nn\n\nx = nn.ReLU()  # noqa\n")[0] == 0
    assert lint("import torch.nn as nn\n\nx = nn.ReLU()  # noqa\n", "--select", "ALL")[0] == 0  # no convlint comment


def test_internal_errors_cannot_be_suppressed():
    finding = Finding("m.py", Span(1, 1, 1, 1), "CL902", "internal-error", "error", "convlint crashed")
    outcome = suppress.apply([finding], b"import torch  # noqa\n", "m.py", {"internal-error"})
    assert outcome.kept == [finding] and outcome.suppressed == []
