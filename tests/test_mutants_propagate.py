"""Propagation behaviours the mutation run of tools/mutants.py found unpinned. Every shape and
message below was checked once against torch 2.13 (CPU) running the same model."""

import textwrap
from pathlib import Path

import pytest

from convlint.engine import analyze_source, lint_source
from convlint.summary import summarize_source


def steps_of(source, model):
    analysis = analyze_source(textwrap.dedent(source), "m.py")
    view = next(m for m in analysis.models if m.name == model and not m.training)
    return [(s.kind, s.line, s.out_shape) for s in view.steps]


def findings(source):
    return [(f.line, f.name, f.message) for f in lint_source(textwrap.dedent(source), "m.py")]


PARAMETERS = """\
import torch
import torch.nn as nn


# convlint: input=3x16x16
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)
        self.bias = nn.Parameter(torch.zeros(1, 8, 1, 1))
        self.scale = nn.Parameter(torch.ones(8, 1, 1))
        self.conv2 = nn.Conv2d(4, 8, 3)

    def forward(self, x):
        x = self.conv(x) + self.bias
        x = x * self.scale
        return self.conv2(x)
"""


def test_a_full_rank_parameter_keeps_the_shape_and_the_channels_source():
    # torch: (1, 8, 14, 14) after both, then conv2 raises: expected 4 channels, got 8
    assert steps_of(PARAMETERS, "Net") == [
        ("Conv2d", 9, (8, 14, 14)), ("broadcast", 15, (8, 14, 14)), ("broadcast", 16, (8, 14, 14)),
        ("Conv2d", 12, (8, 12, 12)),
    ]
    assert findings(PARAMETERS) == [
        (12, "channel-mismatch", "Conv2d expects 4 input channels but receives 8 (out_channels of the Conv2d on line 9)"),
    ]


PERMUTES = """\
import torch
import torch.nn as nn


# convlint: input=3x16x12
class Kept(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)
        self.conv2 = nn.Conv2d(4, 8, 3)

    def forward(self, x):
        x = self.conv(x).permute(0, 1, 3, 2)
        return self.conv2(x)


# convlint: input=3x16x12
class Moved(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)
        self.conv2 = nn.Conv2d(4, 8, 3)

    def forward(self, x):
        x = self.conv(x).permute(0, 2, 1, 3)
        return self.conv2(x)


# convlint: input=3x16x12
class Invalid(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)
        self.conv2 = nn.Conv2d(4, 8, 3)

    def forward(self, x):
        x = self.conv(x).permute(4, 1, 2, 3)
        return self.conv2(x)
"""


def test_a_permute_that_keeps_the_channels_keeps_their_source():
    # torch: (1, 8, 10, 14) and (1, 14, 8, 10); conv2 raises on both (8 and 14 channels, not 4)
    assert steps_of(PERMUTES, "Kept")[1] == ("permute", 13, (8, 10, 14))
    assert steps_of(PERMUTES, "Moved")[1] == ("permute", 25, (14, 8, 10))
    assert findings(PERMUTES) == [
        (10, "channel-mismatch", "Conv2d expects 4 input channels but receives 8 (out_channels of the Conv2d on line 9)"),
        (22, "channel-mismatch", "Conv2d expects 4 input channels but receives 14 (the output of the permute on line 25)"),
    ]


def test_a_permute_torch_rejects_leaves_the_shape_unknown():
    # torch: "Dimension out of range (expected to be in range of [-4, 3], but got 4)"
    steps = steps_of(PERMUTES, "Invalid")
    assert steps[1] == ("permute", 37, None) and steps[2] == ("Conv2d", 34, None)


CONV1D = """\
import torch.nn as nn

net = nn.Sequential(nn.Conv1d(4, 8, 5, stride=2), nn.ReLU(), nn.Conv1d(8, 8, 3))
"""


def test_a_model_starting_with_conv1d_gets_a_symbolic_length():
    steps = steps_of(CONV1D, "net")
    assert [(kind, str(shape[1])) for kind, _, shape in steps] == [
        ("Conv1d", "⌊(L − 5)/2⌋ + 1"), ("ReLU", "⌊(L − 5)/2⌋ + 1"), ("Conv1d", "⌊(L − 9)/2⌋ + 1"),
    ]
    assert [shape[0] for _, _, shape in steps] == [8, 8, 8]
    summary = summarize_source(CONV1D, "m.py")[0]
    assert summary.min_input == (9,)  # torch: L = 9 gives (1, 8, 1), L = 8 fails
    assert [str(r.output_shape[1]) for r in summary.rows] == ["⌊(L − 5)/2⌋ + 1", "⌊(L − 5)/2⌋ + 1", "⌊(L − 9)/2⌋ + 1"]


LAYER_NORMS = """\
import torch.nn as nn


# convlint: input=3x16x16
class Net(nn.Module):
    def __init__(self, n):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)
        self.every = nn.LayerNorm((8, 14, 15))
        self.some = nn.LayerNorm((8, n, 14))
        self.last = nn.LayerNorm([15, 14])
        self.fits = nn.LayerNorm((8, 14, 14))
        self.too_many = nn.LayerNorm((2, 8, 14, 14))

    def forward(self, x):
        x = self.conv(x)
        x = self.every(x)
        x = self.some(x)
        x = self.last(x)
        x = self.fits(x)
        return self.too_many(x)
"""


def test_layer_norm_over_several_and_over_every_dim():
    # torch: normalized_shape=[8, 14, 15] expected input with shape [*, 8, 14, 15], got [1, 8, 14, 14];
    # (8, 14, 14) over every dim runs; an unresolved entry is nothing to report
    assert findings(LAYER_NORMS) == [
        (9, "channel-mismatch",
         "LayerNorm expects trailing dimensions 8×14×15 but receives 8×14×14 (out_channels of the Conv2d on line 8)"),
        (11, "channel-mismatch",
         "LayerNorm expects trailing dimensions 15×14 but receives 14×14 (its input is 8×14×14)"),
        (13, "shape-mismatch",
         "LayerNorm over 4 trailing dims needs at least 4 dims per sample (batch excluded), got 3-d shape (8, 14, 14)"),
    ]


def test_after_a_flatten_an_open_ended_rank_is_named_as_such():
    # torch: ZeroPad2d pads the last two dims whatever the rank, so on (N, 16) it pads the batch
    # (2 → 4); ReflectionPad2d rejects a 2-d input ("3D or 4D input"), Upsample too ("Only 3D, 4D and
    # 5D input Tensors supported"); GroupNorm normalises (N, 16) as it is
    source = "import torch.nn as nn\n"
    for name, layer in (("a", "nn.ZeroPad2d(1)"), ("b", "nn.ReflectionPad2d(1)"), ("c", "nn.GroupNorm(1, 16)"),
                        ("d", "nn.Upsample(scale_factor=2)")):
        source += f"# convlint: input=1x4x4\n{name} = nn.Sequential(nn.Flatten(), {layer})\n"
    assert findings(source) == [
        (3, "misplaced-flatten",
         "ZeroPad2d needs at least a 3-d input but receives the 2-d output (N, 16) of the Flatten on line 3"),
        (5, "misplaced-flatten",
         "ReflectionPad2d needs a 3-d or 4-d input but receives the 2-d output (N, 16) of the Flatten on line 5"),
        (9, "misplaced-flatten",
         "Upsample needs a 3-d, 4-d or 5-d input but receives the 2-d output (N, 16) of the Flatten on line 9"),
    ]


FLATTENS = """\
import torch
import torch.nn as nn


# convlint: input=3x8x8
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x):
        x = self.conv(x)
        y = x.flatten(-1)
        z = torch.flatten(x, -2)
        w = x.flatten(1, 2)
        return y, z, w


class Empty(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(0, 4, 3)

    def forward(self, x):
        return self.conv(x)
"""


def test_flattens_from_negative_dims_and_a_first_layer_with_no_channels():
    # torch: (2, 4, 6, 6) → flatten(-1) (2, 4, 6, 6), flatten(x, -2) (2, 4, 36), flatten(1, 2) (2, 24, 6)
    assert [shape for _, _, shape in steps_of(FLATTENS, "Net")] == [(4, 6, 6), (4, 6, 6), (4, 36), (24, 6)]
    # Conv2d(0, 4, 3) gives torch's odd (N, 0, ...) output: nothing is seeded from 0 channels
    assert steps_of(FLATTENS, "Empty") == [("Conv2d", 22, None)]


BROADCASTS = """\
import torch
import torch.nn as nn


# convlint: input=3x16x16
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)
        self.extra = nn.Parameter(torch.zeros(1, 1, 8, 1, 1))

    def forward(self, x):
        x = self.conv(x)
        w = x.mean(dim=1, keepdim=True)
        a = w + x
        b = x * w
        v = x.mean(1)
        c = v + x
        d = x + v
        e = x.sum(dim=0)
        f = x + self.extra
        return a, b, c, d, e, f


# convlint: input=3x16x16
class Pieces(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)
        self.conv2 = nn.Conv2d(8, 8, 3)

    def forward(self, x):
        x = self.conv(x)
        a, b = x.chunk(2, dim=-3)
        c, d = torch.split(x, [0, 8], dim=1)
        return self.conv2(a), c, d
"""


def test_broadcasting_size_one_dims_and_tensors_of_another_rank():
    # torch, batch 2: w (2, 1, 14, 14); w + x and x * w (2, 8, 14, 14); v = x.mean(1) is (2, 14, 14), and
    # v + x raises "The size of tensor a (2) must match the size of tensor b (8) at non-singleton
    # dimension 1" (with a batch of 1 or 8 it runs): unknown; x.sum(dim=0) drops the batch; a
    # (1, 1, 8, 1, 1) parameter gives (1, 2, 8, 14, 14): the batch is no longer first
    assert [shape for _, _, shape in steps_of(BROADCASTS, "Net")] == [
        (8, 14, 14), (1, 14, 14), (8, 14, 14), (8, 14, 14), (14, 14), None, None, None, None]


def test_pieces_along_a_negative_channel_dim_and_an_empty_section():
    # torch: chunk(2, dim=-3) gives (N, 4, 14, 14), conv2 raises (8 channels expected, 4 given);
    # split([0, 8], dim=1) gives (N, 0, 14, 14) and (N, 8, 14, 14)
    assert [shape for _, _, shape in steps_of(BROADCASTS, "Pieces")] == [
        (8, 14, 14), (4, 14, 14), (4, 14, 14), (0, 14, 14), (8, 14, 14), (8, 12, 12)]
    assert findings(BROADCASTS) == [
        (30, "channel-mismatch", "Conv2d expects 8 input channels but receives 4 (the output of the chunk on line 34)"),
    ]


JOINS = """\
import torch
import torch.nn as nn


# convlint: input=3x16x16
class Joins(nn.Module):
    def __init__(self, flag):
        super().__init__()
        self.flag = flag
        self.a = nn.Conv2d(3, 8, 3, padding=1)
        self.b = nn.Conv2d(3, 8, 5, padding=2)
        self.c = nn.Conv2d(3, 8, 3)

    def forward(self, x):
        if self.flag:
            y = self.a(x)
        else:
            y = self.b(x)
        if self.flag:
            z = self.a(x)
        else:
            z = self.c(x)
        return y, z


# convlint: input=3x16x16
class Scaled(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 1, 3)
        self.scale = nn.Parameter(torch.ones(8, 1, 1))
        self.conv2 = nn.Conv2d(4, 8, 3)

    def forward(self, x):
        x = self.conv(x) * self.scale
        return self.conv2(x)


# convlint: input=1x3x3
class Collapse(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 5)
        self.relu = nn.ReLU()

    def forward(self, x):
        y = self.relu(self.conv(x))
        w = torch.flip(x, [1]) + x
        return y, w


# convlint: input=1x2x2
class Empty(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3)
        self.relu = nn.ReLU()

    def forward(self, x):
        return self.relu(self.conv(x))


# convlint: input=1x8x8
class Views(nn.Module):
    def __init__(self):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)

    def forward(self, x):
        x = self.pool(x)
        a = x.view(x.size(0), -1, -1)
        b = x.view(x.size(0), -1, 1)
        return a, b
"""


def test_joins_broadcast_origins_collapses_and_views():
    # torch: both arms of the first `if` give (N, 8, 16, 16); the second's arms disagree on the size
    # (16 against 14) and agree on the 8 channels
    assert [shape for _, _, shape in steps_of(JOINS, "Joins")] == [
        (8, 16, 16), (8, 16, 16), (8, 16, 16), (8, 16, 16), (8, 14, 14), (8, None, None)]
    # a (1, 14, 14) tensor times an (8, 1, 1) parameter: 8 channels that the broadcast made
    assert [shape for _, _, shape in steps_of(JOINS, "Scaled")] == [(1, 14, 14), (8, 14, 14), (8, 12, 12)]
    # torch: Conv2d(1, 4, 5) on 3×3 (output -1×-1) and Conv2d(1, 4, 3) on 2×2 (output 0×0) both raise
    # "Kernel size can't be greater than actual input size": no shape to go on with; flip is not
    # followed, so the sum is unknown
    assert [shape for _, _, shape in steps_of(JOINS, "Collapse")] == [None, None, None, None]
    assert [shape for _, _, shape in steps_of(JOINS, "Empty")] == [None, None]
    # torch: "only one dimension can be inferred" for view(n, -1, -1), even of a single feature
    assert [shape for _, _, shape in steps_of(JOINS, "Views")] == [(1, 1, 1), None, (1, 1)]
    assert findings(JOINS) == [
        (32, "channel-mismatch", "Conv2d expects 4 input channels but receives 8 (the output of the broadcast on line 35)"),
        (43, "spatial-collapse", "Conv2d output would be empty: its input is only 3×3 (its window spans 5×5) for the "
                                 "1×3×3 input; the smallest input that works is 1×5×5"),
        (56, "spatial-collapse", "Conv2d output would be empty: its input is only 2×2 (its window spans 3×3) for the "
                                 "1×2×2 input; the smallest input that works is 1×3×3"),
    ]


AXES = """\
import torch
import torch.nn as nn


# convlint: input=3x16x12
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)

    def forward(self, x):
        x = self.conv(x)
        a = x.transpose(1, 2)
        b = x.transpose(-1, -2)
        c, d = torch.split(x, [0, 8], dim=1)
        e = c.chunk(2, dim=1)[0]
        f = torch.flip(x, [1])
        g = f.view(f.size(0), 0)
        h = x.view(x.size(0), a.size(0), -1)
        i = x.view(x.size(0), a.size(-4), -1)
        j = x.view(x.size(0), 0, -1)
        return a, b, e, g, h, i, j
"""


def test_transposes_empty_pieces_and_sizes_read_off_tensors():
    # torch, batch 2: transpose(1, 2) (2, 14, 8, 10), transpose(-1, -2) (2, 8, 10, 14); the empty split
    # piece chunks into one (2, 0, 14, 10) piece (not followed: unknown); flip is not followed, so
    # neither is its view; a.size(0) and a.size(-4) are the batch, so x.view(n, a.size(0), -1) depends on
    # it: unknown (read at -4, a size not known here: the view's two axes are, their sizes not);
    # x.view(n, 0, -1) raises ("shape '[2, 0, -1]' is invalid for input of size 2240")
    assert [shape for _, _, shape in steps_of(AXES, "Net")] == [
        (8, 14, 10), (14, 8, 10), (8, 10, 14), (0, 14, 10), (8, 14, 10), None, None, None, None, (None, None), None]


VIEWS = """\
import torch.nn as nn


# convlint: input=32
class Decoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(32, 16)
        self.conv = nn.Conv2d(1, 4, 3)

    def forward(self, z):
        x = self.fc(z).view(-1, 1, 4, 4)
        return self.conv(x)


# convlint: input=32
class Wrong(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(32, 128)

    def forward(self, z):
        y = self.fc(z)
        return y.view(y.size(0), 100)


# convlint: input=8x4x4
class Flat(nn.Module):
    def forward(self, x):
        return x.view(x.size(0))


# convlint: input=1x1x1
class Score(nn.Module):
    def forward(self, x):
        return x.view(x.size(0))
"""


def test_views_to_one_channel_to_a_wrong_count_and_to_the_batch_alone():
    # torch, batch 2: fc (2, 16), view(-1, 1, 4, 4) (2, 1, 4, 4), conv (2, 4, 2, 2)
    assert steps_of(VIEWS, "Decoder") == [("Linear", 8, (16,)), ("view", 12, (1, 4, 4)), ("Conv2d", 9, (4, 2, 2))]
    # torch: "shape '[2, 100]' is invalid for input of size 256" and "shape '[2]' is invalid for input
    # of size 256"; a (2, 1, 1, 1) tensor views as (2,)
    assert steps_of(VIEWS, "Wrong") == [("Linear", 20, (128,)), ("view", 24, None)]
    assert steps_of(VIEWS, "Flat") == [("view", 30, None)]
    assert steps_of(VIEWS, "Score") == [("view", 36, ())]
    assert findings(VIEWS) == [
        (24, "shape-mismatch", "view(N, 100) needs 100 elements per sample, but its input (N, 128) has 128"),
        (30, "shape-mismatch", "view(N) needs 1 element per sample, but its input (N, 8, 4, 4) has 8·4·4 = 128"),
    ]


FRAME_PAIRS = """\
import torch.nn as nn


# convlint: input=2x16
class Pairs(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(16, 4)
        self.out = nn.Linear(8, 2)

    def forward(self, x):
        b, t, d = x.shape
        y = self.fc(x.view(-1, d))
        return self.out(y.view(-1, t * 4))
"""


def test_two_frames_stay_folded_through_a_layer_and_unfold():
    # torch, (3, 2, 16): view (6, 16), fc (6, 4), view(-1, 8) (3, 8), out (3, 2)
    assert steps_of(FRAME_PAIRS, "Pairs") == [
        ("view", 13, (16,)), ("Linear", 8, (4,)), ("view", 14, (8,)), ("Linear", 9, (2,))]
    assert findings(FRAME_PAIRS) == []


def test_symbolic_slices_from_the_start_or_from_one():
    from convlint.propagate.arith import slice_length
    from convlint.sizes import evaluate, var

    # torch: for H = 1..8, len(x[1:]) = H − 1 and len(x[1::2]) = ⌊H/2⌋; other starts stay unknown
    kept = {bounds: slice_length(var("H"), *bounds) for bounds in [(1, None, None), (1, None, 2), (0, None, 2)]}
    assert {bounds: str(size) for bounds, size in kept.items()} == {
        (1, None, None): "H − 1", (1, None, 2): "⌊H/2⌋", (0, None, 2): "⌊(H + 1)/2⌋"}
    for size in range(1, 9):
        assert [evaluate(s, {"H": size}) for s in kept.values()] == [size - 1, size // 2, (size + 1) // 2]
    assert slice_length(var("H"), 2, None, None) is None


CROP = """\
import torch.nn as nn


# convlint: input=3x16x16
class Crop(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)
        self.conv2 = nn.Conv2d(4, 8, 3)

    def forward(self, x):
        x = self.conv(x)[:, :, 1:, 1:]
        return self.conv2(x)
"""


def test_a_crop_of_the_spatial_axes_keeps_the_channels_source():
    # torch, batch 2: conv (2, 8, 14, 14), the crop (2, 8, 13, 13), then conv2 raises: expected 4
    # channels, got 8
    assert steps_of(CROP, "Crop") == [("Conv2d", 8, (8, 14, 14)), ("index", 12, (8, 13, 13)), ("Conv2d", 9, (8, 11, 11))]
    assert findings(CROP) == [
        (9, "channel-mismatch", "Conv2d expects 4 input channels but receives 8 (out_channels of the Conv2d on line 8)"),
    ]


@pytest.mark.parametrize("model, shape, output", [
    ("ClassToken", (8, 4, 4), [17, 2]),  # cls.expand(x.size(0), -1, -1) joined to 16 tokens
    ("Broadcast", (8, 4, 4), [16, 2]),  # pos.expand(x.size(0), 16, -1): a size-1 dim expanded to 16
    ("Unbound", (3, 4, 5), [6, 5]),  # x.unbind(1): pieces of (N, 4, 5)
    ("FusedPiece", (8, 4, 4), [2, 16, 5]),  # qkv[0] after permute(2, 0, 3, 1, 4): (N, heads, tokens, dim)
])
def test_attention_pieces_are_the_shapes_torch_gives(model, shape, output):
    """Each output checked once with torch 2.13 on fixtures/attention_pieces.py."""
    from convlint.summary import summarize_source, to_json

    source = (Path(__file__).resolve().parent.parent / "fixtures" / "attention_pieces.py").read_bytes()
    assert to_json(summarize_source(source, "attention_pieces.py", shape, model))[0]["output_shape"] == output


def test_attention_pieces_parameters_unknowns_and_origins():
    """torch 2.13: MultiheadAttention(16, 4, kdim=8, vdim=12) has 896 parameters; a Conv2d after
    torch.fft.ifft2(x).real (not followed: unknown) is no finding; Conv3d(16, ...) after the
    Conv2d's 8 channels unsqueezed at dim 4 raises 'expected input[2, 8, 6, 6, 1] to have 16 channels'."""
    from convlint.summary import to_json

    source = (Path(__file__).resolve().parent.parent / "fixtures" / "attention_pieces.py").read_bytes()
    assert to_json(summarize_source(source, "attention_pieces.py", (3, 8, 8), "Attend"))[0]["params"] == 896
    unknown = to_json(summarize_source(source, "attention_pieces.py", (3, 8, 8), "AfterUnknown"))[0]
    assert (unknown["params"], unknown["output_shape"]) == (224, None)
    lines = source.decode().splitlines()
    deep = lines.index("        self.deep = nn.Conv3d(16, 4, 1)") + 1  # Volume's, its Conv2d on the line above
    conv = deep - 1
    found = [(f.line, f.message) for f in lint_source(source, "attention_pieces.py", (3, 8, 8)) if f.line == deep]
    assert found == [(deep, f"Conv3d expects 16 input channels but receives 8 (out_channels of the Conv2d on line {conv})")]


def test_a_view_with_one_free_size_beside_sizes_read_off_the_tensor():
    """y.view(y.size(0), -1, y.size(3)) of a symbolic (8, H, W): the -1 is 8·H, exactly (torch 2.13
    at 3×5×6: (2, 40, 6))."""
    source = textwrap.dedent("""\
        import torch.nn as nn


        class Rows(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv = nn.Conv2d(3, 8, 3, padding=1)

            def forward(self, x):
                y = self.conv(x)
                return y.view(y.size(0), -1, y.size(3))
        """).encode()
    from convlint.summary import to_json

    assert to_json(summarize_source(source, "rows.py", None, "Rows"))[0]["output_shape"] == ["8·H", "W"]
    assert to_json(summarize_source(source, "rows.py", (3, 5, 6), "Rows"))[0]["output_shape"] == [40, 6]
