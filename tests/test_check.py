"""The core: every fixture's findings, exact to the line, column and message; silence elsewhere."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from convlint.cli import main
from convlint.engine import analyze_source, lint_source

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"

# Every number in these messages was checked once against torch 2.13 running the fixture
# (tests/test_torch_agreement.py repeats that check whenever torch is installed).
EXPECTED = [
    ("builders.py", 82, 13, "channel-mismatch", 'Conv2d expects 96 input channels but receives 128 (out_channels of the Conv2d on line 33)'),
    ("builders.py", 117, 23, "channel-mismatch", 'Conv2d expects 128 input channels but receives 64 (out_channels of the Conv2d on line 116)'),
    ("channel_mismatch.py", 15, 5, "channel-mismatch", 'Conv2d expects 32 input channels but receives 16 (out_channels of the Conv2d on line 12)'),
    ("channel_mismatch.py", 23, 21, "channel-mismatch", 'BatchNorm2d expects 64 input channels but receives 32 (out_channels of the Conv2d on line 22)'),
    ("channel_mismatch.py", 36, 5, "channel-mismatch", 'Linear expects 400 input features but receives 2304 (16·12·12 flattened by the Flatten on line 35); only inputs of 1×14×14 to 1×15×15 fit the Linear\'s in_features'),
    ("channel_split.py", 48, 22, "channel-mismatch", 'Conv2d expects 16 input channels but receives 20 (the output of the split on line 51)'),
    ("channel_split.py", 60, 21, "channel-mismatch", 'Conv2d expects 8 input channels but receives 6 (the output of the chunk on line 63)'),
    ("channel_split.py", 75, 16, "shape-mismatch", 'split sizes [16, 8] sum to 24, but dimension 1 of (N, 32, 32, 32) has size 32'),
    ("channels_last.py", 30, 21, "channel-mismatch", 'Conv2d expects 64 input channels but receives 32 (out_channels of the Conv2d on line 28)'),
    ("channels_last.py", 40, 20, "channel-mismatch", 'Conv1d expects 16 input channels but receives 64 (the output of the transpose on line 43)'),
    ("densenet_like.py", 64, 21, "channel-mismatch", 'Conv2d expects 16 input channels but receives 32 (the output of the torch.cat on line 67)'),
    ("helpers_and_unknowns.py", 31, 9, "channel-mismatch", 'Conv2d expects 32 input channels but receives 16 (out_channels of the Conv2d on line 30)'),
    ("invalid_config.py", 6, 5, "invalid-layer-config", 'Conv2d: in_channels (30) must be divisible by groups (4)'),
    ("invalid_config.py", 7, 5, "invalid-layer-config", 'GroupNorm: num_channels (64) must be divisible by num_groups (3)'),
    ("invalid_config.py", 10, 16, "invalid-layer-config", "Conv2d: padding='same' is not supported for strided convolutions (stride=2)"),
    ("lenet.py", 41, 13, "misplaced-flatten", 'view(-1, 400) on a tensor of 256 features per sample (N, 16, 4, 4) changes the batch size or fails; the per-sample count is 256: use view(x.size(0), -1); only inputs of 1×32×32 to 1×35×35 fit the Linear\'s in_features'),
    ("misplaced_flatten.py", 10, 5, "misplaced-flatten", 'Linear expects 32 input features, the channel count before the Flatten on line 9, but receives 32·14·14 = 6272: the Flatten comes before the spatial size is reduced to 1×1 (pool to 1×1 first, or set in_features=6272)'),
    ("misplaced_flatten.py", 17, 5, "misplaced-flatten", 'Conv2d needs a 4-d input but receives the 2-d output (N, 6272) of the Flatten on line 16'),
    ("misplaced_flatten.py", 24, 5, "misplaced-flatten", 'Linear receives a 4-d tensor (N, 4, 2, 2) with no Flatten in between: it would act on the last axis only; add nn.Flatten() before it'),
    ("nin_stem.py", 7, 5, "dropped-pixels", '(224 + 2·0 − 11)/4 + 1 = 54.25, floored to 54: the last 1 row and 1 column of the 224×224 input are never read (PyTorch drops them at the bottom and right edges, not at random); padding=2 or an input of 227×227 reads every pixel'),
    ("resnet_like.py", 33, 9, "shape-mismatch", 'sum of tensors whose shapes (N, 64, 32, 32) and (N, 32, 64, 64) cannot be broadcast (dimension 32 against 64)'),
    ("spatial_collapse.py", 11, 5, "spatial-collapse", 'Conv2d output would be 0×0: its input is only 4×4 for the 1×28×28 input; the smallest input that works is 1×32×32'),
    ("training_modes.py", 13, 21, "channel-mismatch", 'Conv2d expects 48 input channels but receives 32 (out_channels of the Conv2d on line 25)'),
    ("training_modes.py", 59, 21, "channel-mismatch", 'Conv2d expects 32 input channels but receives 16 (out_channels of the Conv2d on line 56)'),
    ("vgg_like.py", 31, 27, "channel-mismatch", 'Conv2d expects 3 input channels but receives 32 (out_channels of the Conv2d on line 31)'),
]
SILENT = ["mnist_ok.py", "import_styles.py", "shadowed_names.py", "unknown_layers.py", "unused_layers.py"]


def findings_of(name, **kwargs):
    return [
        (name, f.line, f.column, f.name, f.message)
        for f in lint_source((FIXTURES / name).read_bytes(), str(FIXTURES / name), **kwargs)
    ]


@pytest.mark.parametrize("name", sorted({row[0] for row in EXPECTED}))
def test_broken_fixture_findings_are_exact(name):
    assert findings_of(name) == [row for row in EXPECTED if row[0] == name]


@pytest.mark.parametrize("name", SILENT)
def test_correct_fixtures_are_silent(name):
    assert findings_of(name) == []


def test_cli_text_output_and_exit_status(capsys):
    status = main(["check", str(FIXTURES / "nin_stem.py")])
    out = capsys.readouterr().out.splitlines()
    assert status == 1
    assert out[0].startswith(f"{FIXTURES / 'nin_stem.py'}:7:5: CL002 [dropped-pixels] (224 + 2·0 − 11)/4 + 1 = 54.25")
    assert out[1] == "Found 1 finding (1 warning; 1 file checked)."


def test_cli_clean_file_exits_zero(capsys):
    assert main(["check", str(FIXTURES / "mnist_ok.py")]) == 0
    assert capsys.readouterr().out == "No findings (1 file checked).\n"


def test_json_output_fields(capsys):
    main(["check", "--format", "json", str(FIXTURES / "channel_mismatch.py")])
    first = json.loads(capsys.readouterr().out)[0]
    assert first == {
        "path": str(FIXTURES / "channel_mismatch.py"),
        "line": 15,
        "column": 5,
        "end_line": 15,
        "end_column": 42,
        "code": "CL001",
        "name": "channel-mismatch",
        "severity": "error",
        "message": "Conv2d expects 32 input channels but receives 16 (out_channels of the Conv2d on line 12)",
    }


def test_select_and_ignore_by_code_or_name(capsys):
    path = str(FIXTURES / "misplaced_flatten.py")
    assert main(["check", "--select", "CL001", path]) == 0
    assert main(["check", "--ignore", "misplaced-flatten", path]) == 0
    assert main(["check", "--select", "misplaced-flatten", path]) == 1
    assert main(["check", "--select", "no-such-check", path]) == 2
    assert "unknown check 'no-such-check'" in capsys.readouterr().err


def test_missing_path_is_a_usage_error(capsys):
    assert main(["check", "does/not/exist.py"]) == 2
    assert capsys.readouterr().err == "convlint: error: no such file or directory: does/not/exist.py\n"


def test_syntax_error_is_a_finding_and_other_files_still_lint(tmp_path, capsys):
    (tmp_path / "a_broken.py").write_text("import torch.nn as nn\ndef f(:\n")
    (tmp_path / "b_model.py").write_bytes((FIXTURES / "nin_stem.py").read_bytes())
    assert main(["check", "--format", "json", str(tmp_path)]) == 1
    found = json.loads(capsys.readouterr().out)
    assert [(f["path"].rsplit("/", 1)[1], f["line"], f["name"]) for f in found] == [
        ("a_broken.py", 2, "syntax-error"),
        ("b_model.py", 7, "dropped-pixels"),
    ]


def test_input_flag_overrides_the_annotation(capsys):
    path = str(FIXTURES / "nin_stem.py")
    assert main(["check", "--input", "1x227x227", path]) == 0
    assert main(["check", "--input", "3by4", path]) == 2


def test_unknown_input_stays_silent():
    source = "import torch.nn as nn\nm = nn.Sequential(nn.Conv2d(3, 96, 11, stride=4), nn.Flatten(), nn.Linear(7, 2))\n"
    assert lint_source(source) == []


def test_symbolic_shapes_when_no_input_is_declared():
    source = "import torch.nn as nn\nm = nn.Sequential(nn.Conv2d(3, 8, 11, stride=4), nn.MaxPool2d(3, 2))\n"
    steps = analyze_source(source).models[0].steps
    assert [str(d) for d in steps[0].out_shape] == ["8", "⌊(H − 11)/4⌋ + 1", "⌊(W − 11)/4⌋ + 1"]
    assert steps[1].out_shape[1].evaluate({"H": 224}) == 26


def test_linting_neither_imports_torch_nor_runs_the_file(tmp_path):
    marker = tmp_path / "ran"
    model = tmp_path / "model.py"
    model.write_text(f"import torch.nn as nn\nopen({str(marker)!r}, 'w').close()\nm = nn.Sequential(nn.Conv2d(3, 8, 3))\n")
    code = (
        "import sys; from convlint.cli import main; status = main(['check', sys.argv[1]]); "
        "assert 'torch' not in sys.modules, 'torch was imported'; sys.exit(status)"
    )
    run = subprocess.run([sys.executable, "-c", code, str(model)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert not marker.exists()


def test_columns_count_characters_not_bytes():
    """The parser counts columns in UTF-8 bytes; findings, like every editor, count characters."""
    line = "größe = nn.Sequential(nn.Conv2d(3, 8, 3), nn.Conv2d(16, 4, 3))  # Maße"
    source = f"import torch.nn as nn\n# convlint: input=3x32x32\n{line}\n"
    (finding,) = lint_source(source, "umlaut.py")
    start = line.index("nn.Conv2d(16") + 1
    assert (finding.name, finding.span.line, finding.span.column) == ("channel-mismatch", 3, start)
    assert (finding.span.end_line, finding.span.end_column) == (3, start + len("nn.Conv2d(16, 4, 3)"))


WAVE = """import torch
import torch.nn as nn


# convlint: input=64
class Wave(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d({channels}, 8, 3)
        self.head = nn.Linear(8 * 62, 2)

    def forward(self, x):
        x = x.unsqueeze(1)
        return self.head(torch.flatten(self.conv(x), 1))
"""


def test_unsqueeze_feeds_a_conv1d():
    # torch: Wave with Conv1d(1, 8, 3) maps (2, 64) to (2, 2); with Conv1d(3, 8, 3) it raises
    # "expected input[2, 1, 64] to have 3 channels, but got 1 channels instead"
    steps = analyze_source(WAVE.format(channels=1), "wave.py", details=True).models[0].steps
    assert [(s.kind, s.line, s.out_shape) for s in steps] == [
        ("unsqueeze", 13, (1, 64)), ("Conv1d", 9, (8, 62)), ("flatten", 14, (496,)), ("Linear", 10, (2,))]
    assert [(f.span.line, f.message) for f in lint_source(WAVE.format(channels=3), "wave.py")] == [
        (9, "Conv1d expects 3 input channels but receives 1 (the output of the unsqueeze on line 13)")]


BUILDER = """\
import torch.nn as nn


def build():
    # convlint: input=3x16x16
    model = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.Flatten(), nn.Linear(8 * 16 * 16, 10))
    return model
"""


def test_an_input_declared_inside_a_builder_sizes_its_model():
    # torch: the Conv2d maps 3x16x16 to 8x8x8, 512 features; the Linear wants 2048
    (model,) = analyze_source(BUILDER, "build.py", details=True).models
    assert (model.name, model.input_shape) == ("build", (3, 16, 16))
    assert [(f.span.line, f.name) for f in lint_source(BUILDER, "build.py")] == [(6, "channel-mismatch")]
    unindented = BUILDER.replace("    # convlint: input=3x16x16\n", "")
    assert analyze_source(unindented, "build.py", details=True).models[0].input_shape is None
