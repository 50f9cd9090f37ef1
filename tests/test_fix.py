"""`--fix` / `--diff`: each codemod's exact output, its safety rules, idempotence, the CLI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from convlint.cli import main
from convlint.engine import lint_source
from convlint.fix import edit_for, fix_source

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
BIAS = {"redundant-bias"}


def fixed(source: str, select=None) -> str:
    result = fix_source(source, "model.py", select=select)
    again = fix_source(result.source, "model.py", select=select)  # idempotent: a second pass changes nothing
    assert again.source == result.source and not again.changed
    return result.source


# --------------------------------------------------------------------------- channel-mismatch

POSITIONAL = '''\
import torch.nn as nn

# convlint: input=3x32x32
model = nn.Sequential(
    nn.Conv2d(3, 16, 3, padding=1),  # stem
    nn.ReLU(),
    nn.Conv2d(32,   64, 3),  # odd spacing stays
)
'''


def test_channel_mismatch_positional():
    assert fixed(POSITIONAL) == POSITIONAL.replace("nn.Conv2d(32,   64, 3)", "nn.Conv2d(16,   64, 3)")


KEYWORDS = '''\
import torch
import torch.nn as nn


# convlint: input=3x8x8
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(in_channels=3, out_channels=8, kernel_size=3, padding=1)
        self.norm = nn.GroupNorm(num_groups=2, num_channels=6)  # keyword spelling
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(in_features=4, out_features=10)

    def forward(self, x):
        x = self.pool(self.norm(self.conv(x)))
        return self.fc(torch.flatten(x, 1))
'''


def test_channel_mismatch_keywords_group_norm_and_linear():
    expected = KEYWORDS.replace("num_channels=6", "num_channels=8").replace("in_features=4", "in_features=8")
    assert fixed(KEYWORDS) == expected
    assert lint_source(expected) == []


CHAIN = '''\
import torch.nn as nn

# convlint: input=3x16x16
model = nn.Sequential(
    nn.Conv2d(3, 16, 3),
    nn.BatchNorm2d(32),
    nn.Conv2d(
        32,  # was 32
        64,
        3,
    ),
    nn.BatchNorm2d(num_features=64),
)
'''


def test_channel_mismatch_chain_is_fixed_from_its_first_link_with_comments_kept():
    result = fix_source(CHAIN, "model.py")
    assert result.source == CHAIN.replace("BatchNorm2d(32)", "BatchNorm2d(16)").replace(
        "        32,  # was 32", "        16,  # was 32"
    )
    assert [f.line for f in result.fixed] == [6, 7]  # one per round: the first mismatch, then the next
    assert fix_source(result.source, "model.py").source == result.source


def test_channel_mismatch_first_of_chain_per_model_only():
    findings = [f for f in lint_source(CHAIN) if f.name == "channel-mismatch"]
    assert [f.line for f in findings] == [6, 7]
    assert edit_for(CHAIN, findings[0]).new_text == "nn.BatchNorm2d(16)"
    from convlint.fix import candidates

    assert candidates(findings) == [findings[0]]


def test_channel_mismatch_not_fixed_when_the_declared_value_is_not_a_literal():
    source = (FIXTURES / "channel_mismatch.py").read_text()  # NF, NF * 2, 16 * 5 * 5: expressions
    assert fix_source(source, "channel_mismatch.py").source == source


def test_channel_mismatch_not_fixed_inside_a_helper():
    source = '''\
import torch.nn as nn


def block(cin, cout):
    return nn.Sequential(nn.Conv2d(24, cout, 3), nn.ReLU())


# convlint: input=3x16x16
model = nn.Sequential(nn.Conv2d(3, 16, 3), block(16, 32))
'''
    assert [f.name for f in lint_source(source)] == ["channel-mismatch"]
    assert fixed(source) == source


def test_fix_rejected_when_it_would_add_a_finding():
    source = '''\
import torch.nn as nn

# convlint: input=3x16x16
model = nn.Sequential(nn.Conv2d(3, 16, 3), nn.Conv2d(24, 48, 3, groups=3))
'''
    # in_channels=16 would not divide by groups=3: invalid-layer-config, a new finding
    assert fixed(source) == source


# --------------------------------------------------------------------------- misplaced-flatten

FLATTEN = '''\
import torch
import torch.nn as nn


# convlint: input=3x8x8
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(3, 10)

    def forward(self, x):
        x = self.pool(x)
        x = torch.flatten(x)  # keep this comment
        return self.fc(x)
'''


def test_torch_flatten_gets_start_dim_1():
    assert fixed(FLATTEN) == FLATTEN.replace("torch.flatten(x)  #", "torch.flatten(x, 1)  #")


def test_method_flatten_gets_start_dim_1():
    source = FLATTEN.replace("torch.flatten(x)", "x.flatten()")
    assert fixed(source) == FLATTEN.replace("torch.flatten(x)  #", "x.flatten(1)  #")


VIEW = '''\
import torch.nn as nn
import torch.nn.functional as F


# convlint: input=1x28x28
class LeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 16, 5)
        self.fc = nn.Linear(2304, 10)

    def forward(self, x):
        x = F.max_pool2d(self.conv(x), 2)
        x = x.view(-1, 400)
        return self.fc(x)
'''


def test_view_with_a_wrong_count_keeps_the_batch():
    assert fixed(VIEW) == VIEW.replace("x.view(-1, 400)", "x.view(x.size(0), -1)")


def test_view_fix_rejected_when_the_next_layer_would_then_mismatch():
    source = VIEW.replace("nn.Linear(2304, 10)", "nn.Linear(400, 10)")
    assert [f.name for f in lint_source(source)] == ["misplaced-flatten"]
    assert fixed(source) == source  # the Linear would receive 2304: a new channel-mismatch


# --------------------------------------------------------------------------- redundant-bias

BIAS_MODEL = '''\
import torch.nn as nn

# convlint: input=3x32x32
model = nn.Sequential(
    nn.Conv2d(3, 16, 3, padding=1),
    nn.BatchNorm2d(16),
    nn.Conv2d(
        16,
        32,
        3,
    ),
    nn.BatchNorm2d(32),
    nn.Conv2d(32, 32, 3, bias=True),
    nn.BatchNorm2d(32),
    nn.Conv2d(32, 8, 1),
)
'''


def test_redundant_bias_gets_bias_false():
    assert fixed(BIAS_MODEL, BIAS) == '''\
import torch.nn as nn

# convlint: input=3x32x32
model = nn.Sequential(
    nn.Conv2d(3, 16, 3, padding=1, bias=False),
    nn.BatchNorm2d(16),
    nn.Conv2d(
        16,
        32,
        3,
        bias=False,
    ),
    nn.BatchNorm2d(32),
    nn.Conv2d(32, 32, 3, bias=False),
    nn.BatchNorm2d(32),
    nn.Conv2d(32, 8, 1),
)
'''


def test_unselected_checks_are_not_fixed():
    assert fixed(BIAS_MODEL, {"channel-mismatch", "misplaced-flatten"}) == BIAS_MODEL


def test_suppressed_findings_are_not_fixed():
    source = POSITIONAL.replace("# odd spacing stays", "# convlint: ignore[channel-mismatch]")
    assert fixed(source) == source


# --------------------------------------------------------------------------- the command line


def test_diff_prints_and_writes_nothing(tmp_path, capsys):
    model = tmp_path / "model.py"
    model.write_text(POSITIONAL)
    before = model.stat().st_mtime_ns
    assert main(["check", "--diff", str(model)]) == 1
    out = capsys.readouterr().out
    assert out == (
        f"--- a/{model}\n+++ b/{model}\n@@ -4,5 +4,5 @@\n"
        " model = nn.Sequential(\n"
        "     nn.Conv2d(3, 16, 3, padding=1),  # stem\n"
        "     nn.ReLU(),\n"
        "-    nn.Conv2d(32,   64, 3),  # odd spacing stays\n"
        "+    nn.Conv2d(16,   64, 3),  # odd spacing stays\n"
        " )\n"
    )
    assert model.read_text() == POSITIONAL and model.stat().st_mtime_ns == before


def test_fix_writes_only_changed_files_then_reports_what_remains(tmp_path, capsys):
    broken, clean, unfixable = tmp_path / "broken.py", tmp_path / "clean.py", tmp_path / "unfixable.py"
    broken.write_text(POSITIONAL)
    clean_text = POSITIONAL.replace("Conv2d(32,", "Conv2d(16,")
    clean.write_text(clean_text)
    unfixable.write_text((FIXTURES / "channel_mismatch.py").read_text())
    clean_mtime = clean.stat().st_mtime_ns
    assert main(["check", "--fix", str(tmp_path)]) == 1  # the unfixable file's findings remain
    captured = capsys.readouterr()
    assert broken.read_text() == clean_text
    assert clean.stat().st_mtime_ns == clean_mtime
    assert "Fixed 1 finding in 1 file." in captured.err
    assert "unfixable.py:15:5: CL001" in captured.out and "broken.py" not in captured.out
    assert main(["check", "--diff", str(tmp_path)]) == 0  # nothing left to fix
    assert capsys.readouterr().out == ""


def test_diff_from_the_installed_command(tmp_path):
    model = tmp_path / "model.py"
    model.write_text(FLATTEN)
    run = subprocess.run(
        [sys.executable, "-m", "convlint", "check", "--diff", str(model)], capture_output=True, text=True
    )
    assert run.returncode == 1, run.stderr
    assert "-        x = torch.flatten(x)  # keep this comment" in run.stdout
    assert "+        x = torch.flatten(x, 1)  # keep this comment" in run.stdout
    assert model.read_text() == FLATTEN


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.py")), ids=lambda p: p.name)
def test_fixing_the_fixtures_never_adds_a_finding(path):
    source = path.read_text()
    result = fix_source(source, path.name)
    before = {(f.code, f.message) for f in lint_source(source, path.name)}
    after = {(f.code, f.message) for f in lint_source(result.source, path.name)}
    assert after <= before
