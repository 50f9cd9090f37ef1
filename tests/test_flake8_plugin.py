"""The flake8 plugin, through the real flake8: selection, noqa, formats, convlint's configuration."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODEL = """import torch.nn as nn

# convlint: input=3x32x32
model = nn.Sequential(
    nn.Conv2d(3, 16, 3, padding=1),
    nn.Conv2d(32, 64, 3),{comment}
)
"""
MESSAGE = "CL001 [channel-mismatch] Conv2d expects 32 input channels but receives 16 (out_channels of the Conv2d on line 5)"


def flake8(folder: Path, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    environment = {**os.environ, "CONVLINT_NO_CACHE": "1"}
    return subprocess.run([sys.executable, "-m", "flake8", "--isolated", *args], input=stdin, capture_output=True,
                          text=stdin is None, cwd=folder, env=environment)


def write(folder: Path, comment: str = "", name: str = "model.py") -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(MODEL.format(comment=comment))
    return path


def test_the_entry_point_is_registered():
    [plugin] = [ep for ep in entry_points(group="flake8.extension") if ep.name == "CL"]
    assert plugin.value == "convlint.flake8_plugin:ConvlintChecker"


def test_flake8_select_cl_reports_convlints_findings(tmp_path):
    write(tmp_path)
    done = flake8(tmp_path, "--select", "CL", "model.py")
    assert (done.returncode, done.stdout, done.stderr) == (1, f"model.py:6:5: {MESSAGE}\n", "")


def test_flake8_noqa_and_disable_noqa(tmp_path):
    write(tmp_path, "  # noqa: CL001")
    assert flake8(tmp_path, "--select", "CL", "model.py").stdout == ""
    assert flake8(tmp_path, "--select", "CL", "--disable-noqa", "model.py").stdout == f"model.py:6:5: {MESSAGE}\n"
    write(tmp_path, "  # noqa: E501")  # another code's noqa keeps it
    assert flake8(tmp_path, "--select", "CL", "model.py").stdout == f"model.py:6:5: {MESSAGE}\n"


def test_convlints_own_suppression_and_flake8s_ignore(tmp_path):
    write(tmp_path, "  # convlint: ignore[channel-mismatch]")
    assert flake8(tmp_path, "--select", "CL", "model.py").stdout == ""
    write(tmp_path)
    assert flake8(tmp_path, "--select", "CL,E", "--ignore", "CL001", "model.py").stdout == ""


def test_flake8_formats_and_stdin(tmp_path):
    write(tmp_path)
    pylint = flake8(tmp_path, "--select", "CL", "--format", "pylint", "model.py")
    assert pylint.stdout == f"model.py:6: [CL001] {MESSAGE[6:]}\n"
    piped = flake8(tmp_path, "--select", "CL", "-", stdin=MODEL.format(comment="").encode())
    assert piped.stdout.decode() == f"stdin:6:5: {MESSAGE}\n"


def test_convlints_configuration_applies(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[tool.convlint]\nper-file-ignores = { "legacy/*" = ["CL001"] }\n')
    write(tmp_path, name="legacy/old.py")
    write(tmp_path, name="new.py")
    done = flake8(tmp_path, "--select", "CL", "legacy", "new.py")
    assert done.stdout == f"new.py:6:5: {MESSAGE}\n"


def test_a_syntax_error_is_flake8s_e999_only(tmp_path):
    (tmp_path / "broken.py").write_text("import torch.nn as nn\nmodel = nn.Sequential(\n")
    done = flake8(tmp_path, "--select", "CL,E999", "broken.py")
    assert [line.split(" ")[1] for line in done.stdout.splitlines()] == ["E999"]


def test_a_broken_convlint_configuration_is_said_not_a_traceback(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[tool.convlint]\nselect = ["nope"]\n')
    write(tmp_path)
    done = flake8(tmp_path, "--select", "CL", "model.py")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stdout.splitlines() == [
        "model.py:1:1: CL000 [configuration-error] pyproject.toml: [tool.convlint]: unknown check 'nope' in "
        "'select'; checked with the default selection",
        f"model.py:6:5: {MESSAGE}",
    ]


def test_the_inputs_table_gives_the_size(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[tool.convlint.inputs]\n"stem.py::stem" = "1x224x224"\n')
    (tmp_path / "stem.py").write_text("import torch.nn as nn\n\nstem = nn.Sequential(nn.Conv2d(1, 96, 11, stride=4))\n")
    done = flake8(tmp_path, "--select", "CL", "stem.py")
    assert done.stdout.startswith("stem.py:3:22: CL002 [dropped-pixels] (224 + 2·0 − 11)/4 + 1 = 54.25"), done.stdout
