"""Output a terminal cannot encode is spelled in ASCII, never a UnicodeEncodeError; colour only
on a terminal."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from convlint.console import ascii_spelling

ROOT = Path(__file__).resolve().parent.parent
NIN = "fixtures/nin_stem.py"


def run(*args, env=None, **kwargs):
    inherited = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    environment = {**inherited, "CONVLINT_NO_CACHE": "1", **(env or {})}
    return subprocess.run([sys.executable, "-m", "convlint", *args], capture_output=True, cwd=ROOT, env=environment, **kwargs)


def test_ascii_stdout_gets_ascii_spellings():
    done = run("check", NIN, env={"PYTHONIOENCODING": "ascii"})
    assert done.returncode == 1  # the finding, not a crash
    assert done.stderr == b""
    assert done.stdout.decode("ascii").splitlines() == [
        "fixtures/nin_stem.py:7:5: CL002 [dropped-pixels] (224 + 2*0 - 11)/4 + 1 = 54.25, floored to 54: the last 1 row "
        "and 1 column of the 224x224 input are never read (PyTorch drops them at the bottom and right edges, not at "
        "random); padding=2 or an input of 227x227 reads every pixel",
        "Found 1 finding (1 warning; 1 file checked).",
    ]


def test_ascii_stdout_json_escapes_and_keeps_the_message():
    ascii_run = run("check", "--format", "json", NIN, env={"PYTHONIOENCODING": "ascii"})
    utf8_run = run("check", "--format", "json", NIN, env={"PYTHONIOENCODING": "utf-8"})
    assert ascii_run.returncode == utf8_run.returncode == 1
    assert ascii_run.stdout.isascii()
    assert b"\\u00b7" in ascii_run.stdout  # the `·` of 2·0, escaped
    assert json.loads(ascii_run.stdout) == json.loads(utf8_run.stdout.decode("utf-8"))


@pytest.mark.parametrize(
    "args, expected",
    [
        (("summary", NIN), "sizes that drop no real pixels: H == 3 (mod 4) (nearest to 224: 223, 227); "
                           "W == 3 (mod 4) (nearest to 224: 223, 227)"),
        (("--explain", "CL002"), "floor((n + 2p - d*(k-1) - 1)/s) + 1 outputs. When the division leaves a remainder r, the last r"),
        (("check", "--format", "sarif", NIN), '"text": "(224 + 2\\u00b70 \\u2212 11)/4 + 1 = 54.25, floored to 54: the last 1 row'),
    ],
)
def test_every_command_writes_to_an_ascii_stdout(args, expected):
    done = run(*args, env={"PYTHONIOENCODING": "ascii"})
    assert done.returncode in (0, 1), done.stderr
    assert b"Traceback" not in done.stderr
    assert expected in done.stdout.decode("ascii")


def test_ascii_spelling_of_a_symbolic_size():
    assert ascii_spelling("⌊(H − 11)/4⌋ + 1, 3·3·3 → 27, H ≡ 3 (mod 4), é") == "floor((H - 11)/4) + 1, 3*3*3 -> 27, H == 3 (mod 4), ?"
