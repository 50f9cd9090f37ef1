"""The conventions of ruff and flake8: `check -` (standard input) with --stdin-filename,
--exit-zero, --statistics, -q/--quiet, --output-format, colour on a terminal only."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

from convlint.cli import main

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
MISMATCH = (FIXTURES / "channel_mismatch.py").read_bytes()
FIRST = ("CL001 [channel-mismatch] Conv2d expects 32 input channels but receives 16 (out_channels of the Conv2d on "
         "line 12)")
FIXABLE = b"""import torch.nn as nn

# convlint: input=3x32x32
model = nn.Sequential(
    nn.Conv2d(3, 16, 3, padding=1),
    nn.Conv2d(32, 64, 3),
)
"""


def convlint(*args, stdin: bytes = b"", cwd=ROOT, env=None):
    environment = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    environment.update(CONVLINT_NO_CACHE="1", **(env or {}))
    return subprocess.run([sys.executable, "-m", "convlint", *args], input=stdin, capture_output=True, cwd=cwd,
                          env=environment)


# --------------------------------------------------------------------------- standard input


def test_check_dash_reads_stdin_as_dash():
    done = convlint("check", "-", stdin=MISMATCH)
    assert done.returncode == 1
    lines = done.stdout.decode().splitlines()
    assert lines[0] == f"-:15:5: {FIRST}"
    assert lines[-1] == "Found 3 findings (3 errors; 1 file checked)."


def test_stdin_filename_names_the_file_and_picks_its_configuration(tmp_path):
    (tmp_path / "pyproject.toml").write_text(
        '[tool.convlint]\nper-file-ignores = { "legacy/*.py" = ["channel-mismatch"] }\n'
    )
    (tmp_path / "models").mkdir()
    named = convlint("check", "-", "--stdin-filename", "models/net.py", stdin=MISMATCH, cwd=tmp_path)
    assert named.returncode == 1
    assert named.stdout.decode().splitlines()[0] == f"models/net.py:15:5: {FIRST}"
    ignored = convlint("check", "-", "--stdin-filename", "legacy/net.py", stdin=MISMATCH, cwd=tmp_path)
    assert (ignored.returncode, ignored.stdout) == (0, b"No findings (1 file checked).\n")


def test_stdin_filename_alone_reads_stdin():
    done = convlint("check", "--stdin-filename", "net.py", stdin=MISMATCH)
    assert done.stdout.decode().splitlines()[0] == f"net.py:15:5: {FIRST}"


def test_stdin_diff_and_fix():
    diff = convlint("check", "-", "--diff", "--stdin-filename", "net.py", stdin=FIXABLE)
    assert diff.returncode == 1
    assert diff.stdout.decode() == (
        "--- a/net.py\n+++ b/net.py\n@@ -3,5 +3,5 @@\n # convlint: input=3x32x32\n model = nn.Sequential(\n"
        "     nn.Conv2d(3, 16, 3, padding=1),\n-    nn.Conv2d(32, 64, 3),\n+    nn.Conv2d(16, 64, 3),\n )\n"
    )
    fixed = convlint("check", "-", "--fix", stdin=FIXABLE)
    assert (fixed.returncode, fixed.stdout, fixed.stderr) == (0, FIXABLE.replace(b"Conv2d(32,", b"Conv2d(16,"), b"")
    unfixable = convlint("check", "-", "--fix", stdin=MISMATCH)
    assert unfixable.returncode == 1 and unfixable.stdout == MISMATCH  # what remains is on stderr
    assert unfixable.stderr.decode().splitlines()[0] == f"-:15:5: {FIRST}"


@pytest.mark.parametrize(
    "args, message",
    [
        (["check", "-", "fixtures"], "- (standard input) cannot be mixed with other paths"),
        (["check", "--stdin-filename", "x.py", "fixtures"], "--stdin-filename is for `convlint check -` (standard input), not for paths"),
        (["check", "-", "--verify"], "--verify runs files, not standard input"),
        (["check", "--statistics", "--format", "sarif", "fixtures"], "--statistics prints text or json, not --format sarif"),
    ],
)
def test_stdin_and_statistics_usage_errors(args, message, capsys):
    assert main(args) == 2
    assert capsys.readouterr().err == f"convlint: error: {message}\n"


# --------------------------------------------------------------------------- the other options


def test_exit_zero_keeps_the_report_and_error_status(capsys, tmp_path):
    assert main(["check", "--exit-zero", str(FIXTURES / "channel_mismatch.py")]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "Found 3 findings (3 errors; 1 file checked)."
    assert main(["check", "--exit-zero", "--select", "nope", "."]) == 2


def test_statistics_count_per_code(capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    files = ["fixtures/channel_mismatch.py", "fixtures/misplaced_flatten.py", "fixtures/nin_stem.py"]
    assert main(["check", "--statistics", *files]) == 1
    assert capsys.readouterr().out == (
        "3  CL001  channel-mismatch\n3  CL003  misplaced-flatten\n1  CL002  dropped-pixels\n"
        "Found 7 findings (6 errors, 1 warning; 3 files checked).\n"
    )
    assert main(["check", "--statistics", "--output-format", "json", *files]) == 1
    assert json.loads(capsys.readouterr().out) == [
        {"code": "CL001", "name": "channel-mismatch", "count": 3},
        {"code": "CL003", "name": "misplaced-flatten", "count": 3},
        {"code": "CL002", "name": "dropped-pixels", "count": 1},
    ]


def test_quiet_prints_only_findings(capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    assert main(["check", "-q", "fixtures/nin_stem.py"]) == 1
    assert capsys.readouterr().out.splitlines() == [
        "fixtures/nin_stem.py:7:5: CL002 [dropped-pixels] (224 + 2·0 − 11)/4 + 1 = 54.25, floored to 54: the last 1 "
        "row and 1 column of the 224×224 input are never read (PyTorch drops them at the bottom and right edges, not "
        "at random); padding=2 or an input of 227×227 reads every pixel"
    ]
    assert main(["check", "--quiet", "fixtures/mnist_ok.py"]) == 0
    assert capsys.readouterr().out == ""


def test_output_format_is_format(capsys):
    main(["check", "--output-format", "json", str(FIXTURES / "nin_stem.py")])
    assert json.loads(capsys.readouterr().out)[0]["code"] == "CL002"


# --------------------------------------------------------------------------- colour


def on_a_terminal(*args, env=None, stream: str = "stdout") -> bytes:
    """What the command writes to `stream` when that is a pseudo-terminal (the other one is discarded)."""
    main_fd, child_fd = pty.openpty()
    environment = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    environment.update(CONVLINT_NO_CACHE="1", TERM="xterm", **(env or {}))
    streams = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, stream: child_fd}
    process = subprocess.Popen([sys.executable, "-m", "convlint", *args], **streams, cwd=ROOT, env=environment)
    os.close(child_fd)
    chunks = []
    while True:
        try:
            chunk = os.read(main_fd, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    process.wait()
    os.close(main_fd)
    return b"".join(chunks).replace(b"\r\n", b"\n")


def test_colour_on_a_terminal_only():
    coloured = on_a_terminal("check", "fixtures/nin_stem.py").decode()
    assert coloured.startswith("\033[1mfixtures/nin_stem.py\033[0m:7:5: \033[1;33mCL002\033[0m [dropped-pixels] (224")
    assert "\033[" not in on_a_terminal("check", "fixtures/nin_stem.py", env={"NO_COLOR": "1"}).decode()
    piped = convlint("check", "fixtures/nin_stem.py")
    assert piped.stdout.startswith(b"fixtures/nin_stem.py:7:5: CL002 [dropped-pixels]") and b"\033[" not in piped.stdout


def test_verify_shows_progress_on_a_terminal_only():
    args = ("verify", "fixtures/nin_stem.py", "fixtures/mnist_ok.py")
    assert on_a_terminal(*args, stream="stderr") == (
        b"\r\033[Kverify: file 1/2 (fixtures/nin_stem.py)"
        b"\r\033[Kverify: file 1/2 (fixtures/nin_stem.py), model 1/2 (stem)"
        b"\r\033[Kverify: file 2/2 (fixtures/mnist_ok.py)"
        b"\r\033[Kverify: file 2/2 (fixtures/mnist_ok.py), model 2/2 (model)"
        b"\r\033[K"
    )
    piped = convlint(*args)
    assert piped.returncode == 0 and piped.stderr == b""
    assert piped.stdout == (b"fixtures/nin_stem.py: stem: 4 of 4 steps agree with torch\n"
                            b"fixtures/mnist_ok.py: model: 11 of 11 steps agree with torch\n")


def test_statistics_and_quiet_into_an_output_file_never_coloured(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("FORCE_COLOR", "1")
    report = tmp_path / "report.txt"
    assert main(["check", "--statistics", "-q", "--output-file", str(report), "fixtures/nin_stem.py"]) == 1
    assert report.read_text() == "1  CL002  dropped-pixels\n"
    assert main(["check", "--output-file", str(report), "fixtures/nin_stem.py"]) == 1
    assert report.read_text().startswith("fixtures/nin_stem.py:7:5: CL002 [dropped-pixels] (224")
    assert capsys.readouterr().out == ""


def test_jobs_split_the_files_into_shrinking_contiguous_runs():
    from convlint.runner import guided_chunks

    chunks = guided_chunks(list(range(100)), 2)
    assert [len(c) for c in chunks] == [17, 14, 12, 10, 8, 7, 6, 5, 4, 3, 3, 2, 2, 2, 1, 1, 1, 1, 1]
    assert [task for chunk in chunks for task in chunk] == list(range(100))  # in order, each once
    assert guided_chunks(list(range(3)), 4) == [[0], [1], [2]]
    assert guided_chunks([], 2) == []
