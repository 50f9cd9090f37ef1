"""docs/editors.md's configurations, run headless in the editors that are installed (Debian 12
packages: neovim 0.7.2, emacs-nox 28.2 with elpa-eglot); skipped where an editor is missing."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EDITORS = (ROOT / "docs" / "editors.md").read_text(encoding="utf-8")
EXPECTED = [
    "15: CL001 Conv2d expects 32 input channels but receives 16 (out_channels of the Conv2d on line 12)",
    "23: CL001 BatchNorm2d expects 64 input channels but receives 32 (out_channels of the Conv2d on line 22)",
    "36: CL001 Linear expects 400 input features but receives 2304 (16·12·12 flattened by the Flatten on line 35); "
    "only inputs of 1×14×14 to 1×15×15 fit the Linear's in_features",
]


def snippet(heading: str, language: str) -> str:
    return EDITORS.split(heading + "\n", 1)[1].split(f"```{language}\n", 1)[1].split("```", 1)[0]


def environment() -> dict:
    # the `convlint` the snippets name: this interpreter's
    return {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            "CONVLINT_NO_CACHE": "1"}


@pytest.mark.skipif(shutil.which("nvim") is None, reason="Neovim is not installed (Debian: apt install neovim)")
def test_neovim_0_7_snippet_shows_the_diagnostics(tmp_path):
    (tmp_path / "init.lua").write_text(snippet("### Neovim 0.7 to 0.9", "lua"))
    (tmp_path / "probe.lua").write_text(
        "local function report()\n"
        "  local found = vim.diagnostic.get(0)\n"
        "  if #found < 3 and vim.loop.now() < deadline then return vim.defer_fn(report, 200) end\n"
        "  table.sort(found, function(a, b) return a.lnum < b.lnum end)\n"
        "  for _, d in ipairs(found) do io.stdout:write(string.format('%d: %s %s\\n', d.lnum + 1, d.code, d.message)) end\n"
        "  vim.cmd('qa!')\n"
        "end\n"
        "deadline = vim.loop.now() + 30000\n"
        "vim.defer_fn(report, 200)\n"
    )
    shutil.copy(ROOT / "fixtures" / "channel_mismatch.py", tmp_path / "model.py")
    done = subprocess.run(["nvim", "--headless", "-u", "init.lua", "-c", "luafile probe.lua", "model.py"],
                          cwd=tmp_path, env=environment(), capture_output=True, text=True, timeout=90)
    assert done.stdout.splitlines() == EXPECTED, done.stderr


@pytest.mark.skipif(shutil.which("emacs") is None, reason="Emacs is not installed (Debian: apt install emacs-nox elpa-eglot)")
def test_emacs_eglot_snippet_shows_the_diagnostics(tmp_path):
    (tmp_path / "init.el").write_text(snippet("## Emacs (eglot)", "elisp"))
    (tmp_path / "probe.el").write_text(
        "(package-initialize)\n"
        "(unless (require 'eglot nil t) (princ \"no eglot\\n\") (kill-emacs 3))\n"
        "(load (expand-file-name \"init.el\"))\n"
        "(find-file (expand-file-name \"model.py\"))\n"
        "(run-hooks 'post-command-hook)\n"  # no command loop in batch mode: eglot-ensure connects after one
        "(let ((deadline (+ (float-time) 30)))\n"
        "  (while (and (< (float-time) deadline) (< (length (flymake-diagnostics)) 3))\n"
        "    (accept-process-output nil 0.2)))\n"
        "(dolist (d (sort (flymake-diagnostics) (lambda (a b) (< (flymake-diagnostic-beg a) (flymake-diagnostic-beg b)))))\n"
        "  (princ (format \"%d: %s\\n\" (line-number-at-pos (flymake-diagnostic-beg d)) (flymake-diagnostic-text d))))\n"
        "(kill-emacs 0)\n"
    )
    shutil.copy(ROOT / "fixtures" / "channel_mismatch.py", tmp_path / "model.py")
    done = subprocess.run(["emacs", "--batch", "-l", "probe.el"], cwd=tmp_path, env=environment(),
                          capture_output=True, text=True, timeout=90)
    if done.returncode == 3:
        pytest.skip("eglot is not installed (Debian: apt install elpa-eglot; built into Emacs 29)")
    # eglot writes "convlint [CL001]: message"
    assert [line.replace("convlint [CL001]: ", "CL001 ") for line in done.stdout.splitlines()] == EXPECTED, done.stderr
