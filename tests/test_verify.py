"""`convlint verify` and `convlint check --verify`: the only mode that runs the user's code."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def run(*args, cwd=None, env=None, timeout=60):
    full = dict(os.environ, CONVLINT_NO_CACHE="1", **(env or {}))
    return subprocess.run(
        [sys.executable, "-m", "convlint", *map(str, args)],
        capture_output=True, text=True, cwd=cwd, env=full, timeout=timeout,
    )


def test_correct_model_agrees_at_every_layer():
    done = run("verify", FIXTURES / "mnist_ok.py", "--format", "json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["findings"] == [] and report["skipped"] == []
    assert any("model: 11 of 11 layers agree with torch" in note for note in report["notes"])


def test_broken_model_raises_at_its_layer_and_confirms_the_static_finding():
    done = run("check", "--verify", "--format", "json", FIXTURES / "channel_mismatch.py")
    assert done.returncode == 1, done.stderr
    findings = json.loads(done.stdout)
    at15 = [f for f in findings if f["line"] == 15]
    runtime = [f for f in at15 if f["name"] == "runtime-error"]
    assert runtime and runtime[0]["code"] == "CL802" and "features" in runtime[0]["message"]
    assert "RuntimeError" in runtime[0]["message"]
    static = [f for f in at15 if f["name"] == "channel-mismatch"]
    assert static and static[0]["message"].endswith("(confirmed by torch)")


def test_a_class_that_needs_arguments_is_skipped_with_the_reason(tmp_path):
    (tmp_path / "net.py").write_text(
        "import torch.nn as nn\n\n"
        "# convlint: input=3x8x8\n"
        "class Net(nn.Module):\n"
        "    def __init__(self, backbone):\n"
        "        super().__init__()\n"
        "        self.conv = nn.Conv2d(3, 4, 3)\n\n"
        "    def forward(self, x):\n"
        "        return self.conv(x)\n"
    )
    done = run("verify", tmp_path / "net.py")
    assert done.returncode == 0, done.stderr
    assert "skipped Net: constructor needs arguments (backbone)" in done.stdout


def test_only_verify_executes_the_file(tmp_path):
    marker = tmp_path / "marker.txt"
    (tmp_path / "writes.py").write_text(
        "import pathlib\nimport torch.nn as nn\n\n"
        f"pathlib.Path({str(marker)!r}).write_text('ran')\n\n"
        "# convlint: input=1x8x8\n"
        "model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU())\n"
    )
    static = run("check", tmp_path / "writes.py")
    assert static.returncode == 0, static.stdout + static.stderr
    assert not marker.exists()
    verified = run("check", "--verify", tmp_path / "writes.py")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert marker.read_text() == "ran"


def test_without_torch_one_line_and_exit_2(tmp_path):
    fake = tmp_path / "fake"
    fake.mkdir()
    (fake / "torch.py").write_text("raise ImportError('no torch here')\n")
    path = os.pathsep.join(filter(None, [str(fake), os.environ.get("PYTHONPATH")]))
    done = run("verify", FIXTURES / "mnist_ok.py", env={"PYTHONPATH": path})
    assert done.returncode == 2
    assert done.stderr.strip() == "convlint: error: --verify needs PyTorch: pip install 'convlint[torch]'"
    assert "Traceback" not in done.stderr


def test_a_model_that_hangs_times_out_with_a_clear_message(tmp_path):
    (tmp_path / "hangs.py").write_text(
        "import time\nimport torch.nn as nn\n\n"
        "class Slow(nn.Module):\n"
        "    def forward(self, x):\n"
        "        time.sleep(600)\n"
        "        return x\n\n"
        "# convlint: input=1x8x8\n"
        "model = nn.Sequential(nn.Conv2d(1, 2, 3), Slow())\n"
    )
    done = run("verify", tmp_path / "hangs.py", "--verify-timeout", "2", timeout=30)
    assert done.returncode == 2
    assert "timed out after 2 s" in done.stderr
    assert "Traceback" not in done.stderr
