"""Hostile input: nothing crashes, nothing is lost, every odd file gets one clear line.

Exit statuses (docs/exit-status.md): 0 nothing to report, 1 findings (a syntax-error or
unreadable-file finding counts), 2 a usage error (bad option, a path that does not exist) or an
internal-error finding, 130 interrupted.
"""

from __future__ import annotations

import os
import re
import sysconfig
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import convlint.engine as engine
from convlint.cli import main
from convlint.engine import analyze_source
from convlint.syntax import MAX_SOURCE_BYTES
from convlint.findings import Finding

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
SEEDS = {p.name: p.read_text(encoding="utf-8") for p in sorted(FIXTURES.glob("*.py"))}
LINE = re.compile(r"^(?P<path>[^:\n]+):(?P<line>\d+):(?P<col>\d+): (?P<code>CL\d{3}) \[(?P<name>[a-z-]+)\] (?P<msg>.+)$")


def run(capsys, *args: str) -> tuple[int, list[str], str]:
    status = main(["check", "--no-cache", "--jobs", "1", *args])
    captured = capsys.readouterr()
    return status, captured.out.splitlines(), captured.err


def findings_lines(out: list[str]) -> list[re.Match]:
    return [m for m in map(LINE.match, out) if m]


def assert_no_crash(analysis_findings: list[Finding]) -> None:
    for finding in analysis_findings:
        assert isinstance(finding, Finding)
        assert finding.name != "internal-error", finding.message
        assert "\n" not in finding.message


# ------------------------------------------------------------------ the standard library


def stdlib_files() -> list[Path]:
    root = Path(sysconfig.get_paths()["stdlib"])
    return sorted(p for p in root.rglob("*.py") if "site-packages" not in p.parts and "dist-packages" not in p.parts)


def test_every_stdlib_file_through_the_normal_path():
    """The pre-filter turns most files away; whatever passes it is analysed for real."""
    files = stdlib_files()
    assert len(files) > 500
    for path in files:
        source = engine.read_source(path)
        if isinstance(source, Finding):
            continue
        assert_no_crash(analyze_source(source, str(path), details=False).findings)


def test_a_sample_of_stdlib_files_with_the_prefilter_bypassed(monkeypatch):
    """Real, varied Python (including deliberately broken lib2to3/test data) through the parser,
    extraction and every check: a deterministic sample (every k-th file under 60 kB)."""
    monkeypatch.setattr(engine, "might_define_models", lambda source: True)
    files = [p for p in stdlib_files() if p.stat().st_size < 60_000]
    sample = files[:: max(1, len(files) // 120)]
    for path in sample:
        source = path.read_bytes()
        assert_no_crash(analyze_source(source, str(path), select=None, details=True).findings)


# ------------------------------------------------------------------ mutations of real models

TOKEN = re.compile(r"\s+|\w+|[^\w\s]")


def tokens(text: str) -> list[str]:
    return TOKEN.findall(text)


@st.composite
def mutated_sources(draw) -> str:
    name = draw(st.sampled_from(sorted(SEEDS)))
    toks = tokens(SEEDS[name])
    for _ in range(draw(st.integers(1, 4))):
        if not toks:
            break
        op = draw(st.sampled_from(["delete", "duplicate", "swap", "truncate"]))
        i = draw(st.integers(0, len(toks) - 1))
        if op == "delete":
            del toks[i]
        elif op == "duplicate":
            toks.insert(i, toks[i])
        elif op == "swap":
            j = draw(st.integers(0, len(toks) - 1))
            toks[i], toks[j] = toks[j], toks[i]
        else:
            text = "".join(toks)
            toks = tokens(text[: draw(st.integers(0, len(text)))])
    return "".join(toks)


def test_the_seeds_round_trip():
    for text in SEEDS.values():
        assert "".join(tokens(text)) == text


@settings(max_examples=1_000, deadline=None)
@given(mutated_sources())
def test_mutated_models_give_findings_or_a_syntax_error(source):
    analysis = analyze_source(source, "mutant.py", details=False)
    assert_no_crash(analysis.findings)
    codes = {f.name for f in analysis.findings}
    if "syntax-error" in codes:
        assert len(analysis.findings) == 1


# ------------------------------------------------------------------ pathological files


def one_file(tmp_path: Path, content: bytes | str, name: str = "m.py") -> Path:
    path = tmp_path / name
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


MODEL = "import torch.nn as nn\nm = nn.Sequential(nn.Conv2d(3, 8, 3), nn.Conv2d(4, 8, 3))\n"  # a CL001 on line 2


def test_empty_file(tmp_path, capsys):
    status, out, err = run(capsys, str(one_file(tmp_path, b"")))
    assert (status, err) == (0, "") and out == ["No findings (1 file checked)."]


def test_only_comments(tmp_path, capsys):
    status, out, err = run(capsys, str(one_file(tmp_path, "# import torch\n# nn.Conv2d(3, 8, 3)\n" * 50)))
    assert (status, err) == (0, "") and out[-1] == "No findings (1 file checked)."


def test_a_20_mb_file_is_refused_quickly_with_one_line(tmp_path, capsys):
    """Choice: files over MAX_SOURCE_BYTES (2 MB) that could define models are not parsed (generated
    code: reading it would take seconds); they get one unreadable-file finding saying so. The largest file of the
    corpus is 0.33 MB."""
    big = one_file(tmp_path, "import torch.nn as nn\n" + "x = [1, 2, 3]  # padding\n" * (20 * 1024 * 1024 // 25 + 1))
    assert big.stat().st_size >= 20 * 1024 * 1024 > MAX_SOURCE_BYTES
    status, out, err = run(capsys, str(big))
    (line,) = findings_lines(out)
    assert status == 1 and line["name"] == "unreadable-file" and "larger than 2 MB" in line["msg"]


def test_a_20_mb_file_without_torch_is_passed_by_the_prefilter(tmp_path, capsys):
    big = one_file(tmp_path, "x = [1, 2, 3]  # padding\n" * (20 * 1024 * 1024 // 25 + 1))
    status, out, err = run(capsys, str(big))
    assert status == 0 and out == ["No findings (1 file checked)."]


@pytest.mark.parametrize(
    "expression",
    ["(" * 5000 + "1" + ")" * 5000, "f(" * 5000 + ")" * 5000, "[" * 5000 + "]" * 5000, "lambda: " * 5000 + "1"],
    ids=["parentheses", "calls", "lists", "lambdas"],
)
def test_5000_deep_nesting_is_a_syntax_error_not_a_dead_process(tmp_path, capsys, expression):
    """CPython's parser refuses these cleanly (as Python itself would not run the file)."""
    path = one_file(tmp_path, f"import torch.nn as nn\nx = {expression}\n")
    other = one_file(tmp_path, MODEL, "other.py")
    status, out, err = run(capsys, str(path), str(other))
    lines = findings_lines(out)
    assert status == 1 and err == ""
    assert [(Path(m["path"]).name, m["name"]) for m in lines] == [("m.py", "syntax-error"), ("other.py", "channel-mismatch")]


@pytest.mark.parametrize("command", ["check", "summary"])
def test_an_expression_deeper_than_python_s_stack_is_not_followed(tmp_path, capsys, command):
    """CPython parses `1 + 1 + ... + 1` with 1,500 terms; reading it recursively would overflow
    Python's stack: the model is still checked, the size it was given is not used."""
    size = " + ".join(["1"] * 1500)
    source = MODEL + f"\nimport torch\nout = m(torch.randn({size}, 3, 32, 32))\n"
    path = one_file(tmp_path, source)
    if command == "summary":
        assert main(["summary", str(path)]) == 0
        assert "CL902" not in capsys.readouterr().out
        return
    status, out, err = run(capsys, str(path))
    assert status == 1 and err == "" and [m["name"] for m in findings_lines(out)] == ["channel-mismatch"]


def test_nesting_that_python_accepts_is_analysed(tmp_path, capsys):
    path = one_file(tmp_path, "import torch.nn as nn\nx = " + "(" * 150 + "1" + ")" * 150 + "\n" + MODEL)
    status, out, err = run(capsys, str(path))
    assert status == 1 and [m["name"] for m in findings_lines(out)] == ["channel-mismatch"]


def test_a_100000_layer_sequential(tmp_path, capsys):
    path = one_file(tmp_path, "import torch.nn as nn\nmodel = nn.Sequential(\n" + "    nn.ReLU(),\n" * 100_000 + ")\n")
    status, out, err = run(capsys, str(path))
    assert status in (0, 1) and err == ""
    assert all(m["name"] != "internal-error" for m in findings_lines(out))
    assert out[-1].endswith("1 file checked).")


def test_non_utf8_bytes(tmp_path, capsys):
    status, out, err = run(capsys, str(one_file(tmp_path, b"import torch.nn as nn\nx = '\xff\xfe'\n")))
    (line,) = findings_lines(out)
    assert status == 1 and line["name"] == "unreadable-file" and "cannot decode" in line["msg"]


def test_latin1_with_its_coding_cookie_is_fine(tmp_path, capsys):
    source = ("# -*- coding: latin-1 -*-\n# caf\xe9\n" + MODEL).encode("latin-1")
    status, out, err = run(capsys, str(one_file(tmp_path, source)))
    assert status == 1 and [m["name"] for m in findings_lines(out)] == ["channel-mismatch"]


def test_wrong_coding_cookie(tmp_path, capsys):
    status, out, err = run(capsys, str(one_file(tmp_path, b"# -*- coding: klingon -*-\nimport torch.nn as nn\n")))
    (line,) = findings_lines(out)
    assert status == 1 and line["name"] == "unreadable-file" and "klingon" in line["msg"]


def test_utf8_bom(tmp_path, capsys):
    status, out, err = run(capsys, str(one_file(tmp_path, b"\xef\xbb\xbf" + MODEL.encode())))
    (line,) = findings_lines(out)
    assert status == 1 and (line["name"], line["line"]) == ("channel-mismatch", "2")


@pytest.mark.parametrize("newline", ["\r\n", "\r"], ids=["crlf", "lone-cr"])
def test_other_line_endings(tmp_path, capsys, newline):
    status, out, err = run(capsys, str(one_file(tmp_path, MODEL.replace("\n", newline))))
    (line,) = findings_lines(out)
    assert status == 1 and (line["name"], line["line"]) == ("channel-mismatch", "2")


def test_tabs(tmp_path, capsys):
    source = "import torch.nn as nn\nclass M(nn.Module):\n\tdef __init__(self):\n\t\tsuper().__init__()\n\t\tself.a = nn.Conv2d(3, 8, 3)\n\t\tself.b = nn.Conv2d(4, 8, 3)\n\tdef forward(self, x):\n\t\treturn self.b(self.a(x))\n"
    status, out, err = run(capsys, str(one_file(tmp_path, source)))
    assert status == 1 and [m["name"] for m in findings_lines(out)] == ["channel-mismatch"]


def test_mixed_tabs_and_spaces_is_one_line(tmp_path, capsys):
    source = "import torch.nn as nn\nif True:\n        x = 1\n\ty = 2\n"
    status, out, err = run(capsys, str(one_file(tmp_path, source)))
    assert status in (0, 1) and err == "" and len(findings_lines(out)) <= 1


def test_nul_bytes(tmp_path, capsys):
    status, out, err = run(capsys, str(one_file(tmp_path, b"import torch.nn as nn\nx = 1\x00\n")))
    (line,) = findings_lines(out)
    assert status == 1 and line["name"] in ("syntax-error", "unreadable-file")


def test_a_directory_named_x_py(tmp_path, capsys):
    """A folder is walked, whatever its name; in a tree only files are linted."""
    folder = tmp_path / "x.py"
    folder.mkdir()
    one_file(folder, MODEL, "inner.py")
    status, out, err = run(capsys, str(folder))
    assert status == 1 and [Path(m["path"]).name for m in findings_lines(out)] == ["inner.py"]
    status, out, err = run(capsys, str(tmp_path))
    assert status == 1 and out[-1].endswith("1 file checked).")


def test_a_directory_that_turns_up_where_a_file_was_listed(tmp_path, capsys, monkeypatch):
    folder = tmp_path / "x.py"
    folder.mkdir()
    monkeypatch.setattr("convlint.files.discover", lambda paths: iter([folder]))
    status, out, err = run(capsys, str(tmp_path))
    (line,) = findings_lines(out)
    assert status == 1 and line["name"] == "unreadable-file" and "directory" in line["msg"]


def test_unreadable_file(tmp_path, capsys, monkeypatch):
    """Tests run as root, where chmod 000 does not stop a read: Path.read_bytes is made to raise
    PermissionError for that one file instead."""
    locked = one_file(tmp_path, MODEL, "locked.py")
    one_file(tmp_path, MODEL, "open.py")
    os.chmod(locked, 0)
    real = Path.read_bytes

    def read_bytes(self):
        if self.name == "locked.py":
            raise PermissionError(13, "Permission denied", str(self))
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    status, out, err = run(capsys, str(tmp_path))
    lines = findings_lines(out)
    assert status == 1 and err == ""
    assert [(Path(m["path"]).name, m["name"]) for m in lines] == [("locked.py", "unreadable-file"), ("open.py", "channel-mismatch")]
    assert "Permission denied" in lines[0]["msg"]


def test_symlink_loop(tmp_path, capsys):
    (tmp_path / "a.py").symlink_to(tmp_path / "b.py")
    (tmp_path / "b.py").symlink_to(tmp_path / "a.py")
    one_file(tmp_path, MODEL, "c.py")
    status, out, err = run(capsys, str(tmp_path))
    lines = findings_lines(out)
    assert status == 1 and err == ""
    assert [(Path(m["path"]).name, m["name"]) for m in lines] == [
        ("a.py", "unreadable-file"), ("b.py", "unreadable-file"), ("c.py", "channel-mismatch")]
    assert "symbolic links" in lines[0]["msg"]
    status, out, err = run(capsys, str(tmp_path / "a.py"))  # named on the command line
    assert status == 1 and [m["name"] for m in findings_lines(out)] == ["unreadable-file"]


def test_a_path_that_does_not_exist(tmp_path, capsys):
    status, out, err = run(capsys, str(tmp_path / "nope.py"))
    assert status == 2 and out == []
    assert err.count("\n") == 1 and err.startswith("convlint: error: no such file or directory:")


def test_a_file_deleted_while_linting(tmp_path, capsys, monkeypatch):
    gone = one_file(tmp_path, MODEL, "gone.py")
    one_file(tmp_path, MODEL, "kept.py")
    import convlint.files

    real = convlint.files.discover

    def discover_then_delete(paths):
        for path in real(paths):
            if path.name == "gone.py":
                gone.unlink()
            yield path

    monkeypatch.setattr(convlint.files, "discover", discover_then_delete)
    status, out, err = run(capsys, str(tmp_path))
    lines = findings_lines(out)
    assert status == 1 and err == ""
    assert [(Path(m["path"]).name, m["name"]) for m in lines] == [("gone.py", "unreadable-file"), ("kept.py", "channel-mismatch")]
    assert "disappeared" in lines[0]["msg"]


def test_an_internal_error_is_a_finding_and_the_rest_is_reported(tmp_path, capsys, monkeypatch):
    from convlint.checks import channel_mismatch

    one_file(tmp_path, MODEL, "a.py")
    one_file(tmp_path, "import torch.nn as nn\nm = nn.Conv2d(30, 8, 3, groups=4)\n", "b.py")
    real = channel_mismatch.check

    def check(ctx):
        if len(ctx.layers) == 2:  # a.py's two convolutions; b.py has one
            raise ValueError("simulated bug")
        yield from real(ctx)

    monkeypatch.setattr(channel_mismatch, "check", check)
    status, out, err = run(capsys, str(tmp_path))
    lines = findings_lines(out)
    assert status == 2
    names = [(Path(m["path"]).name, m["name"]) for m in lines]
    assert ("a.py", "internal-error") in names and ("b.py", "invalid-layer-config") in names
    internal = next(m for m in lines if m["name"] == "internal-error")
    assert "simulated bug" in internal["msg"] and "please report this as a convlint bug" in internal["msg"]
