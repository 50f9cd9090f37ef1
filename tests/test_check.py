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
    ("attention_pieces.py", 78, 21, "channel-mismatch", 'Conv3d expects 16 input channels but receives 8 (out_channels of the Conv2d on line 77)'),
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
    ("instance_configs.py", 12, 21, "invalid-layer-config", 'Conv2d: in_channels (32) must be divisible by groups (3) (this instance: `SqueezeBlock(32, groups=3)` on line 43)'),
    ("instance_configs.py", 13, 24, "invalid-layer-config", 'Conv2d: out_channels is 0: torch builds a layer with no weights (it only warns), which fails or yields an empty tensor when it runs (this instance: `SqueezeBlock(width)` on line 52, in the loop on line 51)'),
    ("instance_configs.py", 14, 23, "invalid-layer-config", 'Conv2d: in_channels is 0: torch builds a layer with no weights (it only warns), which fails or yields an empty tensor when it runs (this instance: `SqueezeBlock(width)` on line 52, in the loop on line 51)'),
    ("instance_configs.py", 59, 38, "invalid-layer-config", 'Conv2d: in_channels (240) must be divisible by groups (7) (config entry: `StageCfg(240, 32)` on line 57)'),
    ("instance_configs.py", 65, 21, "invalid-layer-config", 'Conv2d: in_channels (240) must be divisible by groups (7) (this instance: `GroupedConv(cfg.width, groups=cfg.width // cfg.group_width)` on line 83, in the loop on line 82; config entry: `StageCfg(width=240, group_width=32)` on line 73)'),
    ("invalid_config.py", 6, 5, "invalid-layer-config", 'Conv2d: in_channels (30) must be divisible by groups (4)'),
    ("invalid_config.py", 7, 5, "invalid-layer-config", 'GroupNorm: num_channels (64) must be divisible by num_groups (3)'),
    ("invalid_config.py", 10, 16, "invalid-layer-config", "Conv2d: padding='same' is not supported for strided convolutions (stride=2)"),
    ("lenet.py", 41, 13, "misplaced-flatten", 'view(-1, 400) on a tensor of 256 features per sample (N, 16, 4, 4) changes the batch size or fails; the per-sample count is 256: use view(x.size(0), -1); only inputs of 1×32×32 to 1×35×35 fit the Linear\'s in_features'),
    ("misplaced_flatten.py", 10, 5, "misplaced-flatten", 'Linear expects 32 input features, the channel count before the Flatten on line 9, but receives 32·14·14 = 6272: the Flatten comes before the spatial size is reduced to 1×1 (pool to 1×1 first, or set in_features=6272)'),
    ("misplaced_flatten.py", 17, 5, "misplaced-flatten", 'Conv2d needs a 4-d input but receives the 2-d output (N, 6272) of the Flatten on line 16'),
    ("misplaced_flatten.py", 24, 5, "misplaced-flatten", 'Linear receives a 4-d tensor (N, 4, 2, 2) with no Flatten in between: it would act on the last axis only; add nn.Flatten() before it'),
    ("modern_builders.py", 16, 13, "channel-mismatch", 'Conv2d expects 32 input channels but receives 64 (out_channels of the Conv2d on line 29)'),
    ("modern_builders.py", 31, 74, "channel-mismatch", 'Conv2d expects 32 input channels but receives 64 (out_channels of the Conv2d on line 29)'),
    ("modern_builders.py", 106, 5, "channel-mismatch", 'Linear expects 5 input features but receives 32 (out_features of the LazyLinear on line 104)'),
    ("modern_builders.py", 115, 57, "channel-mismatch", 'BatchNorm2d expects 8 input channels but receives 16 (out_channels of the Conv2d on line 115)'),
    ("nested_builders.py", 16, 51, "channel-mismatch", 'ConvTranspose2d expects 8 input channels but receives 16 (the output of the torch.cat on line 27)'),
    ("nested_builders.py", 20, 51, "channel-mismatch", 'ConvTranspose2d expects 64 input channels but receives 128 (the output of the torch.cat on line 27)'),
    ("nested_builders.py", 58, 21, "channel-mismatch", 'Linear expects 16 input features but receives 24 (out_channels of the Conv2d on line 57)'),
    ("nin_stem.py", 7, 5, "dropped-pixels", '(224 + 2·0 − 11)/4 + 1 = 54.25, floored to 54: the last 1 row and 1 column of the 224×224 input are never read (PyTorch drops them at the bottom and right edges, not at random); padding=2 or an input of 227×227 reads every pixel'),
    ("resnet_like.py", 33, 9, "shape-mismatch", 'sum of tensors whose shapes (N, 64, 32, 32) and (N, 32, 64, 64) cannot be broadcast (dimension 32 against 64)'),
    ("spatial_collapse.py", 11, 5, "spatial-collapse", 'Conv2d output would be empty: its input is only 4×4 (its window spans 5×5) for the 1×28×28 input; the smallest input that works is 1×32×32'),
    ("training_modes.py", 13, 21, "channel-mismatch", 'Conv2d expects 48 input channels but receives 32 (out_channels of the Conv2d on line 25)'),
    ("training_modes.py", 59, 21, "channel-mismatch", 'Conv2d expects 32 input channels but receives 16 (out_channels of the Conv2d on line 56)'),
    ("undecided_modules.py", 53, 21, "channel-mismatch", 'Linear expects 32 input features but receives 24 (out_channels of the Conv2d on line 51)'),
    ("vgg_like.py", 31, 27, "channel-mismatch", 'Conv2d expects 3 input channels but receives 32 (out_channels of the Conv2d this line built in the previous iteration of the loop on line 27)'),
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


LOOP = """import torch.nn as nn


# convlint: input=3x32x32
class Net(nn.Module):
    def __init__(self, depth=3):
        super().__init__()
        layers = []
        for _ in range(depth):
            layers.append(nn.Conv2d(3, 16, 3, padding=1))
        self.body = nn.Sequential(*layers)

    def forward(self, x):
        return self.body(x)
"""


def test_a_loop_built_layer_fed_by_its_own_previous_iteration_says_so():
    # torch: the second Conv2d raises "expected input[1, 16, 32, 32] to have 3 channels, but got 16 channels instead"
    assert [(f.span.line, f.message) for f in lint_source(LOOP, "loop.py")] == [
        (10, "Conv2d expects 3 input channels but receives 16 (out_channels of the Conv2d this line built in "
             "the previous iteration of the loop on line 9)")]


BLOCKS_AND_MODEL = """import torch.nn as nn


class Block(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x):
        return self.conv(x) + x


def stem(width):
    return nn.Sequential(nn.Conv2d(3, width, 3, 2, 1), nn.ReLU())


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = stem(64)
        self.blocks = nn.Sequential(Block(64), Block(64))
        self.pool = nn.MaxPool2d(2)

    def forward(self, x):
        return self.pool(self.blocks(self.stem(x)))
"""


def test_input_is_the_input_of_the_models_a_file_defines_for_use_not_of_their_blocks():
    # torch: Net()(torch.zeros(1, 3, 32, 32)).shape == (1, 64, 8, 8); Block(64) on a 3-channel input would raise
    analysis = analyze_source(BLOCKS_AND_MODEL, "net.py", input_shape=(3, 32, 32), details=True)
    assert analysis.findings == []
    shapes = {m.name: (m.input_shape, m.steps[-1].out_shape) for m in analysis.models}
    assert shapes["Net"] == ((3, 32, 32), (64, 8, 8))
    assert shapes["Block"][0] is None and shapes["stem"][0] is None


def test_a_collapse_names_the_window_and_the_padding_not_a_negative_size():
    source = "import torch.nn as nn\n# convlint: input=1x8x8\nm = nn.Sequential(nn.MaxPool2d(2), nn.MaxPool2d(2), nn.Conv2d(1, 2, 5, padding=1))\n"
    # torch: "Calculated padded input size per channel: (4 x 4). Kernel size: (5 x 5). Kernel size can't be greater than actual input size"
    assert [f.message for f in lint_source(source, "m.py")] == [
        "Conv2d output would be empty: its input is only 2×2 (its window spans 5×5, the input padded only 4×4) "
        "for the 1×8×8 input; the smallest input that works is 1×12×12"]


SIDE_BRANCH = """import torch
import torch.nn as nn
import torch.nn.functional as F


class GatedBlock(nn.Module):
    def __init__(self, chs=16):
        super().__init__()
        self.main = nn.Conv2d(chs, chs, 1)
        self.gate = nn.Conv2d(chs, chs, 1)

    def forward(self, x):
        summary = self.gate(F.avg_pool2d(x, kernel_size=2, stride=2))
        y = self.main(x)
        return y * F.interpolate(torch.sigmoid(summary), size=y.shape[-2:], mode="nearest")


class PooledOnly(nn.Module):
    def __init__(self, chs=16):
        super().__init__()
        self.gate = nn.Conv2d(chs, chs, 1)

    def forward(self, x):
        return self.gate(F.avg_pool2d(x, kernel_size=2, stride=2))
"""


def test_pixels_a_side_branch_drops_but_the_main_path_reads_are_not_reported():
    # torch: on a 16×7×7 input avg_pool2d(2, 2) gives 3×3 and never reads row 6 or column 6 (a
    # tensor of zeros with ones there pools to zeros); GatedBlock's 1×1 main conv reads them and
    # it returns (1, 16, 7, 7); PooledOnly returns (1, 16, 3, 3) and loses them
    assert [(f.span.line, f.code, f.message) for f in lint_source(SIDE_BRANCH, "gate.py", input_shape=(16, 7, 7))] == [
        (24, "CL002", "(7 + 2·0 − 2)/2 + 1 = 3.5, floored to 3: the last 1 row and 1 column of the 7×7 input are "
                      "never read (PyTorch drops them at the bottom and right edges, not at random); padding=1 or "
                      "an input of 8×8 reads every pixel")]


TWO_BUGS = """import torch.nn as nn

# convlint: input=3x32x32
model = nn.Sequential(
    nn.Conv2d(3, 16, 3, padding=1),
    nn.Conv2d(8, 32, 3, padding=1),
    nn.BatchNorm2d(32),
    nn.Conv2d(16, 64, 3),
    nn.Flatten(),
    nn.Linear(64 * 30 * 30, 10),
    nn.Linear(20, 5),
)

# convlint: input=3x32x32
view_then = nn.Sequential(
    nn.Conv2d(3, 16, 3, padding=1),
    nn.GroupNorm(4, 8),
    nn.Conv2d(16, 16, 3),
    nn.LayerNorm(31),
)
"""


def test_independent_bugs_in_one_model_are_all_found():
    # torch raises at each of these lines in turn as the one before it is fixed
    assert [(f.span.line, f.message) for f in lint_source(TWO_BUGS, "two.py")] == [
        (6, "Conv2d expects 8 input channels but receives 16 (out_channels of the Conv2d on line 5)"),
        (8, "Conv2d expects 16 input channels but receives 32 (out_channels of the Conv2d on line 6)"),
        (11, "Linear expects 20 input features but receives 10 (out_features of the Linear on line 10)"),
        (17, "GroupNorm expects 8 input channels but receives 16 (out_channels of the Conv2d on line 16)"),
        (19, "LayerNorm expects trailing dimensions 31 but receives 30 (its input is 16×30×30)"),
    ]


def test_a_layer_built_in_a_sibling_file_is_named_where_it_is(tmp_path):
    # torch: Net()(torch.zeros(1, 3, 32, 32)) raises in Bottleneck.conv (blocks.py line 8):
    # "expected input[1, 16, 32, 32] to have 64 channels, but got 16 channels instead"
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "blocks.py").write_text(
        "import torch.nn as nn\n\n\nclass Bottleneck(nn.Module):\n    def __init__(self, cin, width):\n"
        "        super().__init__()\n        self.reduce = nn.Conv2d(cin, width, 1)\n"
        "        self.conv = nn.Conv2d(cin, width, 3, padding=1)\n        self.expand = nn.Conv2d(width, cin, 1)\n\n"
        "    def forward(self, x):\n        return self.expand(self.conv(self.reduce(x))) + x\n")
    net = tmp_path / "pkg" / "net.py"
    net.write_text(
        "import torch.nn as nn\n\nfrom .blocks import Bottleneck\n\n\n# convlint: input=3x32x32\n"
        "class Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
        "        self.stem = nn.Conv2d(3, 64, 3, padding=1)\n        self.body = nn.Sequential(Bottleneck(64, 16))\n\n"
        "    def forward(self, x):\n        return self.body(self.stem(x))\n")
    assert [(f.span.line, f.span.column, f.message) for f in lint_source(net.read_bytes(), str(net))] == [
        (11, 35, "the Conv2d on line 8 of blocks.py expects 64 input channels but receives 16 "
                 "(out_channels of the Conv2d on line 7 of blocks.py)")]


BUILDER_28 = """import torch.nn as nn


def build(classes=10):
    # convlint: input=1x28x28
    model = nn.Sequential(nn.Conv2d(1, 8, 3), nn.Flatten(), nn.Linear(8 * 28 * 28, classes))
    return model
"""


BUILDER = """\
import torch.nn as nn


def build():
    # convlint: input=3x16x16
    model = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.Flatten(), nn.Linear(8 * 16 * 16, 10))
    return model
"""


def test_an_input_declared_inside_a_builder_function_is_honoured():
    # torch: build()(torch.zeros(1, 1, 28, 28)) raises "mat1 and mat2 shapes cannot be multiplied (1x5408 and 6272x10)"
    assert [(f.span.line, f.message) for f in lint_source(BUILDER_28, "build.py")] == [
        (6, "Linear expects 6272 input features but receives 5408 (8·26·26 flattened by the Flatten on line 6); "
            "only inputs of 1×30×30 fit the Linear's in_features")]


def test_an_input_declared_inside_a_builder_sizes_its_model():
    # torch: the Conv2d maps 3x16x16 to 8x8x8, 512 features; the Linear wants 2048
    (model,) = analyze_source(BUILDER, "build.py", details=True).models
    assert (model.name, model.input_shape) == ("build", (3, 16, 16))
    assert [(f.span.line, f.name) for f in lint_source(BUILDER, "build.py")] == [(6, "channel-mismatch")]
    unindented = BUILDER.replace("    # convlint: input=3x16x16\n", "")
    assert analyze_source(unindented, "build.py", details=True).models[0].input_shape is None


BLOCKS = """import torch.nn as nn


class Block(nn.Module):
    def __init__(self, cin, cout, groups=1):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, padding=1, groups=groups)
        self.bn = nn.BatchNorm2d(cin)

    def forward(self, x):
        return self.bn(self.conv(x))
"""
NET = """import torch.nn as nn

from .blocks import Block


# convlint: input=3x32x32
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 3)
        self.block = Block(16, 32)
        self.grouped = Block(32, 32, groups=3)

    def forward(self, x):
        return self.grouped(self.block(self.stem(x)))
"""


def test_a_bad_layer_of_a_linted_sibling_is_reported_there_once(tmp_path, monkeypatch, capsys):
    """torch: Block(32, 32, groups=3) raises 'in_channels must be divisible by groups'; Block(16, 32)
    raises at its BatchNorm2d ('running_mean should contain 32 elements not 16')."""
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "blocks.py").write_text(BLOCKS)
    (package / "net.py").write_text(NET)
    (package / "other.py").write_text(NET.replace("class Net", "class Other"))  # the same mistakes again
    monkeypatch.chdir(tmp_path)
    main(["check", "--no-cache", "pkg/net.py"])
    assert capsys.readouterr().out.splitlines()[:2] == [
        "pkg/net.py:11:22: CL001 [channel-mismatch] the BatchNorm2d on line 8 of blocks.py expects 16 input channels "
        "but receives 32 (out_channels of the Conv2d on line 7 of blocks.py)",
        "pkg/net.py:12:24: CL005 [invalid-layer-config] the Conv2d on line 7 of blocks.py: in_channels (32) must be "
        "divisible by groups (3)",
    ]
    main(["check", "--no-cache", "pkg"])
    assert capsys.readouterr().out.splitlines() == [
        "pkg/blocks.py:7:21: CL005 [invalid-layer-config] Conv2d: in_channels (32) must be divisible by groups (3) "
        "(this instance: `Block(32, 32, groups=3)` on line 12 of net.py)",
        "pkg/blocks.py:8:19: CL001 [channel-mismatch] BatchNorm2d expects 16 input channels but receives 32 "
        "(out_channels of the Conv2d on line 7) (this instance: `Block(16, 32)` on line 11 of net.py)",
        "Found 2 findings (2 errors; 4 files checked).",
    ]
    (package / "blocks.py").write_text(BLOCKS.replace("nn.BatchNorm2d(cin)", "nn.BatchNorm2d(cin)  # noqa: CL001"))
    main(["check", "--no-cache", "pkg"])
    assert capsys.readouterr().out.splitlines()[-1] == "Found 1 finding (1 error; 4 files checked)."


def test_the_collector_is_off_while_files_are_analysed_and_on_again_after(tmp_path, monkeypatch):
    # trees are millions of objects it would rescan; the cycles each file leaves are freed by a
    # collection of the youngest generation after it (runner._collect_now_and_then)
    import gc

    from convlint import runner

    net = "import torch.nn as nn\n\nnet = nn.Sequential(nn.Conv2d(3, 8, 3), nn.Conv2d(4, 8, 3))\n"
    (tmp_path / "net.py").write_text(net)
    seen, collected = [], []
    lint_one = runner.lint_one
    monkeypatch.setattr(runner, "lint_one", lambda task: seen.append(gc.isenabled()) or lint_one(task))
    monkeypatch.setattr(gc, "collect", lambda generation=2: collected.append(generation) or 0)
    assert gc.isenabled()
    result = runner.lint_paths([str(tmp_path / "net.py")], {"channel-mismatch"})
    assert [f.line for f in result.findings] == [3]
    assert seen == [False] and collected == [0] and gc.isenabled()
