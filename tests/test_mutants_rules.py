"""Rules added during the redesign that the mutation run of tools/mutants.py found unpinned. Every
expected value was checked once against torch 2.13 (CPU) where torch has a counterpart."""

import pickle

import pytest

from convlint.layers import REQUIRED, ShapeError, bind, output_shape
from convlint.sizes import UNKNOWN, var

H = var("H")


def test_required_survives_pickling_as_itself():
    assert pickle.loads(pickle.dumps(REQUIRED)) is REQUIRED  # --jobs sends layer tables between processes


def test_a_closed_rank_list_is_spelled_out():
    # torch: "Only 3D, 4D and 5D input Tensors supported (got 2D)" for Upsample on (2, 5)
    with pytest.raises(ShapeError, match=r"^Upsample with mode 'nearest' expects a 2-d or 3-d or 4-d input per sample "
                                         r"\(batch excluded\), got 1-d shape \(5\)$"):
        output_shape("Upsample", bind("Upsample", [], {"scale_factor": 2}), (5,))


def test_prelu_with_several_parameters_needs_channels():
    # torch: PReLU(2) on (2,) raises "Mismatch of parameter numbers and input channel size"; PReLU(1) runs
    with pytest.raises(ShapeError, match="^PReLU with 2 parameters needs a channel dimension, got shape \\(\\)$"):
        output_shape("PReLU", bind("PReLU", [2], {}), ())
    assert output_shape("PReLU", bind("PReLU", [1], {}), ()) == ()


def test_unsqueeze_at_an_unknown_dim_keeps_the_rank():
    assert output_shape("unsqueeze", {"dim": UNKNOWN}, (3, 4, 5)) == (None, None, None, None)


@pytest.mark.parametrize("dim, shape, expected", [
    (None, (1, 4, 1), (4,)),  # torch: (2, 1, 4, 1).squeeze() -> (2, 4)
    (None, (1, H), None),  # H may be 1
    (1, (1, 4), (4,)),  # torch: (2, 1, 4).squeeze(1) -> (2, 4)
    (2, (4, 1), (4,)),  # torch: (2, 4, 1).squeeze(2) -> (2, 4)
    (-1, (4, 1), (4,)),
    (2, (4, H), None),
    (0, (4, 1), None),  # the batch
])
def test_squeeze(dim, shape, expected):
    assert output_shape("squeeze", {"dim": dim}, shape) == expected


def test_squeeze_out_of_range_is_torchs_message():
    # torch: (2, 1, 4).squeeze(3): "Dimension out of range (expected to be in range of [-3, 2], but got 3)"
    with pytest.raises(ShapeError, match=r"^squeeze: dimension out of range \(expected to be in range of \[-3, 2\], but got 3\)$"):
        output_shape("squeeze", {"dim": 3}, (1, 4))


def test_unflatten_infers_one_size_given_as_minus_one():
    # torch: nn.Unflatten(1, (2, -1)) maps (2, 12, 3) to (2, 2, 6, 3)
    from convlint.layers import config_errors

    assert config_errors("Unflatten", {"dim": 1, "unflattened_size": (2, -1)}) == []
    assert output_shape("Unflatten", {"dim": 1, "unflattened_size": (2, -1)}, (12, 3)) == (2, 6, 3)


def test_negative_out_channels_and_crops_that_leave_nothing():
    from convlint.layers import config_errors

    # torch: Conv2d(4, -1, 3) cannot create its weight ("negative dimension")
    assert config_errors("Conv2d", bind("Conv2d", [4, -1, 3], {})) == ["out_channels must be positive, got -1"]
    # torch: ZeroPad1d((-5, 1)) on (2, 3, 4) raises "narrow(): length must be non-negative": the crop leaves
    # exactly nothing, which convlint reports as a collapse (an empty output), not as a crop too large
    assert output_shape("ZeroPad1d", {"padding": (-5, 1)}, (3, 4)) == (3, 0)


def test_a_zero_scale_factor_leaves_a_symbolic_size_unknown():
    # torch: Upsample(scale_factor=0) raises at run time; a symbolic size times 0 is not a size
    assert output_shape("Upsample", bind("Upsample", [], {"scale_factor": 0}), (3, H)) == (3, None)


def test_a_pool_names_the_input_it_expects():
    # torch: MaxPool2d(2) on (2, 4): "non-empty 3D or 4D (batch mode) tensor expected for input"
    with pytest.raises(ShapeError, match=r"^MaxPool2d expects a 3-d input \(C, H, W\) per sample \(batch excluded\), "
                                         r"got 1-d shape \(4\)$"):
        output_shape("MaxPool2d", bind("MaxPool2d", [2], {}), (4,))


def test_an_adaptive_pool_to_zero_is_an_empty_output_not_an_argument_error():
    from convlint.layers import config_errors

    # torch: AdaptiveAvgPool2d(0) maps (2, 3, 4, 4) to an empty (2, 3, 0, 0)
    assert config_errors("AdaptiveAvgPool2d", {"output_size": 0}) == []
    assert output_shape("AdaptiveAvgPool2d", {"output_size": 0}, (3, 4, 4)) == (3, 0, 0)


def test_a_first_layer_without_channels_seeds_nothing():
    from convlint.engine import analyze_source

    source = "import torch.nn as nn\nm = nn.Sequential(nn.Conv2d(0, 8, 3), nn.ReLU())\n"
    assert analyze_source(source, "m.py", details=True).models[0].steps[0].in_shape is None


def test_unflatten_sizes_below_minus_one_are_rejected():
    from convlint.layers import config_errors

    # torch builds nn.Unflatten(1, (2, -2)) and fails when it runs: no size is -2
    assert config_errors("Unflatten", {"dim": 1, "unflattened_size": (2, -2)}) == [
        "unflattened_size entries must be positive or -1, got (2, -2)"]


def test_upsample_of_an_unresolved_mode_takes_up_to_three_spatial_dims():
    # torch: Upsample(scale_factor=2, mode="trilinear") maps (2, 3, 4, 5, 6) to (2, 3, 8, 10, 12)
    assert output_shape("Upsample", {"scale_factor": 2, "mode": UNKNOWN}, (3, 4, 5, 6)) == (3, 8, 10, 12)


def test_squeeze_of_the_first_batched_dim_by_a_negative_index_is_the_batch():
    # torch: (2, 1, 4).squeeze(-3) is (2, 1, 4): dim -3 is the batch, which shapes here do not carry
    assert output_shape("squeeze", {"dim": -3}, (1, 4)) is None


TENSOR_OPS = """import torch
import torch.nn as nn


# convlint: input=8x6x6
class Stack1(nn.Module):
    def forward(self, x):
        return torch.stack([x, x], dim=1)


# convlint: input=8x6x6
class StackLast(nn.Module):
    def forward(self, x):
        return torch.stack([x, x, x], dim=-1)


# convlint: input=8x6x6
class StackMid(nn.Module):
    def forward(self, x):
        return torch.stack([x, x], dim=2)


# convlint: input=1x6x6
class Expanded(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(4, 8, 1)

    def forward(self, x):
        return self.conv(x.expand(-1, 3, -1, -1))


# convlint: input=2x6x6
class Repeated(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(4, 8, 1)

    def forward(self, x):
        return self.conv(x.repeat(1, 3, 1, 1))


# convlint: input=3x6x6
class Scaled(nn.Module):
    def __init__(self):
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(1, 3, 1, 1))
        self.conv = nn.Conv2d(4, 8, 1)

    def forward(self, x):
        return self.conv(x * self.gamma)


# convlint: input=8x6x10
class Sliced(nn.Module):
    def forward(self, x):
        return x[:, :, 1:, ::2]
"""


def test_stack_expand_repeat_broadcast_and_slices():
    # torch, on a batch of 2: Stack1 (2, 2, 8, 6, 6), StackLast (2, 8, 6, 6, 3), StackMid (2, 8, 2, 6, 6),
    # Sliced (2, 8, 5, 5); Expanded, Repeated and Scaled raise at their Conv2d (3, 6 and 3 channels for 4)
    from convlint.engine import analyze_source, lint_source

    outputs = {m.name: m.steps[-1].out_shape for m in analyze_source(TENSOR_OPS, "ops.py", details=True).models}
    assert outputs == {"Stack1": (2, 8, 6, 6), "StackLast": (8, 6, 6, 3), "StackMid": (8, 2, 6, 6),
                       "Expanded": (8, 6, 6), "Repeated": (8, 6, 6), "Scaled": (8, 6, 6), "Sliced": (8, 5, 5)}
    assert [(f.span.line, f.message) for f in lint_source(TENSOR_OPS, "ops.py")] == [
        (27, "Conv2d expects 4 input channels but receives 3 (the output of the expand on line 30)"),
        (37, "Conv2d expects 4 input channels but receives 6 (the output of the repeat on line 40)"),
        (48, "Conv2d expects 4 input channels but receives 3 (the declared input)"),
    ]


KEEPING = """import torch
import torch.nn as nn


# convlint: input=3x6x6
class KeepExpand(nn.Module):
    def __init__(self):
        super().__init__()
        self.pool = nn.Conv2d(3, 5, 6)
        self.conv = nn.Conv2d(4, 8, 1)

    def forward(self, x):
        return self.conv(self.pool(x).expand(-1, -1, 4, 4))


# convlint: input=3x6x6
class KeepRepeat(nn.Module):
    def __init__(self):
        super().__init__()
        self.first = nn.Conv2d(3, 5, 1)
        self.conv = nn.Conv2d(4, 8, 1)

    def forward(self, x):
        return self.conv(self.first(x).repeat(1, 1, 2, 2))


# convlint: input=3x6x6
class KeepScale(nn.Module):
    def __init__(self):
        super().__init__()
        self.first = nn.Conv2d(3, 5, 1)
        self.gamma = nn.Parameter(torch.ones(1, 5, 1, 1))
        self.conv = nn.Conv2d(4, 8, 1)

    def forward(self, x):
        return self.conv(self.first(x) * self.gamma)
"""


def test_ops_that_keep_the_channels_keep_their_origin():
    # torch raises at each Conv2d(4, ...): it receives the 5 channels of the first layer, through an
    # expand of the spatial axes, a repeat of them, and a per-channel scale
    from convlint.engine import lint_source

    assert [(f.span.line, f.message) for f in lint_source(KEEPING, "keep.py")] == [
        (10, "Conv2d expects 4 input channels but receives 5 (out_channels of the Conv2d on line 9)"),
        (21, "Conv2d expects 4 input channels but receives 5 (out_channels of the Conv2d on line 20)"),
        (33, "Conv2d expects 4 input channels but receives 5 (out_channels of the Conv2d on line 31)"),
    ]


STACK_EDGES = """import torch
import torch.nn as nn


# convlint: input=8x6x6
class Net(nn.Module):
    def forward(self, x):
        a = torch.stack([x, x], dim=-2)
        b = torch.stack([x, x], dim=0)
        c = torch.stack([x, x], dim=5)
        return a, b, c
"""


def test_stack_before_the_last_axis_before_the_batch_and_out_of_range():
    # torch, on a batch of 2: dim=-2 gives (2, 8, 6, 2, 6); dim=0 (2, 2, 8, 6, 6), a new axis before
    # the batch (unknown here); dim=5 raises "Dimension out of range (expected to be in range of [-5, 4])"
    from convlint.engine import analyze_source

    steps = analyze_source(STACK_EDGES, "ops.py", details=True).models[0].steps
    assert [(s.kind, s.out_shape) for s in steps] == [("stack", (8, 6, 2, 6)), ("stack", None), ("stack", None)]
