"""Blocks built for a number of spatial dimensions nobody gives (monai's `spatial_dims`, a required
argument of the class): the factories give layers of unknown dimensions (ConvNd, BatchNormNd...),
and a tensor of unknown rank keeps what is exactly known of it (its channels, its last axis, its
spatial axes all 1 after an adaptive pool), so channel counts are followed and checked while no
spatial size is ever shown. The fixture is fixtures/zoo/monai/networks/nets/tinyencoder.py (our
own code, in monai's style). Every number was checked once with torch: `sys.path.insert(0,
"fixtures/zoo")`, TinyEncoder(d) for d = 1, 2, 3 on torch.zeros(2, 1, 16[, 16[, 16]]) is (2, 3),
its BatchNorm holds 64 parameters and its head 99; TokenMixer() holds 4,256 and maps (2, 5, 32)
to (2, 5, 32)."""

from __future__ import annotations

from pathlib import Path

import pytest

from convlint import layers as L
from convlint.engine import lint_source
from convlint.graph import Layer, Model, Op
from convlint.propagate import propagate
from convlint.summary.tables import summarize_source

TINYENCODER = Path(__file__).resolve().parent.parent / "fixtures" / "zoo" / "monai" / "networks" / "nets" / "tinyencoder.py"
SOURCE = TINYENCODER.read_text()


def findings(source: str) -> list[tuple[int, str, str]]:
    return [(f.span.line, f.code, f.message) for f in lint_source(source, str(TINYENCODER))]


def test_a_block_of_unknown_dimensions_is_silent_when_its_channels_chain():
    assert findings(SOURCE) == []


def test_its_head_is_known_after_an_adaptive_pool_to_one_and_no_spatial_size_is_shown():
    s = summarize_source(SOURCE.encode(), str(TINYENCODER), model_name="TinyEncoder")[0]
    assert s.output_shape == (3,)
    rows = {row.layer.split("(")[0]: row for row in s.rows}
    assert rows["torch.flatten"].output_shape == (32,)  # (N, 32, 1, ..., 1) flattened from dim 1
    assert rows["nn.Linear"].params["total"] == 99
    assert rows["Norm[Norm.BATCH, spatial_dims]"].params["total"] == 64  # 2 x 32, at any dimension
    stem = s.rows[0]
    assert stem.output_shape is None and stem.params is None and stem.macs is None  # its kernel: k^d weights


@pytest.mark.parametrize("old, new, expected", [
    # torch: TinyEncoder(2)(torch.zeros(2, 1, 8, 8)) raises "running_mean should contain 32 elements not 16"
    ("Norm[Norm.BATCH, spatial_dims](channels[1] * 2)", "Norm[Norm.BATCH, spatial_dims](channels[1])",
     (35, "CL001", "BatchNormNd expects 16 input channels but receives 32 (the output of the torch.cat on line 41)")),
    # torch: "Expected weight to be a vector of size equal to the number of channels in input, but got
    # weight of shape [8] and input of shape [2, 16, 8, 8]"
    ("self.norm2 = nn.GroupNorm(groups, out_channels)", "self.norm2 = nn.GroupNorm(groups, in_channels)",
     (16, "CL001", "GroupNorm expects 8 input channels but receives 16 (out_channels of the ConvNd on line 15)")),
    # torch: TokenMixer()(torch.zeros(2, 5, 32)) raises "mat1 and mat2 shapes cannot be multiplied (10x64 and 128x32)"
    ("self.fc2 = nn.Linear(mlp_dim, hidden_size)", "self.fc2 = nn.Linear(mlp_dim * 2, hidden_size)",
     (50, "CL001", "Linear expects 128 input features but receives 64 (out_features of the Linear on line 49)")),
])
def test_a_channel_count_that_does_not_chain_is_found_at_an_unknown_rank(old, new, expected):
    assert old in SOURCE
    assert findings(SOURCE.replace(old, new)) == [expected]


def test_what_each_family_makes_of_a_tensor_of_unknown_rank():
    given = L.Unranked(channels=16, last=None, ones=False, rank=0)
    conv = L.bind("ConvNd", [16, 8, 3], {"padding": 1})
    assert L.unranked_output("ConvNd", conv, given) == L.Unranked(8, None, False, 0)
    pooled = L.unranked_output("AdaptiveAvgPoolNd", {"output_size": (1, 1, 1)}, given)
    assert pooled == L.Unranked(16, 1, True, 0)
    # a 1x1 convolution keeps every spatial size: still all 1 (an SE block's squeeze and excite)
    assert L.unranked_output("ConvNd", L.bind("ConvNd", [16, 4, 1], {}), pooled) == L.Unranked(4, 1, True, 0)
    # a Linear replaces the last axis; the channel axis is the last one at rank 2: no longer known
    assert L.unranked_output("Linear", L.bind("Linear", [1, 5], {}), pooled) == L.Unranked(None, 5, False, 0)
    assert L.unranked_output("GroupNorm", L.bind("GroupNorm", [4, 16], {}), given) == given
    assert L.unranked_output("MaxPoolNd", L.bind("MaxPoolNd", [2], {}), pooled) == L.Unranked(16, None, False, 0)
    # an Embedding adds an axis: of no other tensor's rank, its last axis the embedding's
    assert L.unranked_output("Embedding", L.bind("Embedding", [10, 4], {}), given) == L.Unranked(None, 4, False, None)


def layer_op(kind: str, args: list, inputs: tuple, output: int) -> Op:
    return Op("layer", inputs, output, None, Layer(kind, L.bind(kind, args, {}), None, None))


@pytest.mark.parametrize("width, second, channels", [
    (8, 1, 8),  # the conv's output added to itself: one rank, 8 channels
    # added to another input's of 8 channels: torch aligns them from the right, so one's channel axis may
    # meet the other's batch or a padded axis, where it raises or keeps 8 (torch.broadcast_shapes of every
    # pair of shapes (N, 8, ...) of ranks 2 to 5 with sizes 1, 2, 3, 8: 4,464 that broadcast, all (N, 8, ...))
    (8, 3, 8),
    (1, 3, None),  # of one channel each: the other's batch may broadcast over it ((N, 1, 5) + (N, 1): (N, N, 5))
])
def test_equal_channel_counts_other_than_one_broadcast_whatever_the_ranks(width, second, channels):
    ops = [layer_op("ConvNd", [1, width, 3], (0,), 1), Op("input", (), 2, None), layer_op("GroupNorm", [1, width], (2,), 3),
           Op("elementwise", (1, second), 4, None), layer_op("GroupNorm", [1, width], (4,), 5)]
    steps = propagate(Model("m", None, None, ops))
    assert [step.seeded for step in steps] == [True, False, True, False, False]
    assert steps[-1].received() == channels and steps[-1].in_shape is None


ALL, NEW = ("slice", None, None, None), ("new",)


def test_the_arms_of_a_branch_of_two_ranks_agree_on_their_channels():
    # `temb[:, :, None, None]` or `temb[:, :, None, None, None]` by spatial_dims, added to a map of unknown rank
    ops = [layer_op("ConvNd", [1, 8, 3], (0,), 1), Op("input", (), 2, None), Op("rank", (2,), 3, None, args={"rank": 1}),
           Op("index", (3,), 4, None, args={"spec": (ALL, NEW)}), layer_op("Linear", [1, 8], (4,), 5),
           Op("index", (5,), 6, None, args={"spec": (ALL, ALL, NEW, NEW)}),
           Op("index", (5,), 7, None, args={"spec": (ALL, ALL, NEW, NEW, NEW)}),
           Op("join", (6, 7), 8, None), Op("elementwise", (1, 8), 9, None), layer_op("GroupNorm", [2, 8], (9,), 10)]
    steps = propagate(Model("m", None, None, ops))
    assert [step.out_shape for step in steps[2:8]] == [(), (1,), (8,), (8, 1, 1), (8, 1, 1, 1), None]
    assert steps[7].output.unranked == L.Unranked(8, 1, True, None)
    assert steps[-1].received() == 8


NOT_FOLLOWED = """\
import torch.nn as nn
from mystery import make_conv


class Unit(nn.Sequential):
    def __init__(self):
        super().__init__()
        self.add_module("conv", make_conv(3, 64))
        self.add_module("norm", nn.BatchNorm2d(64))


# convlint: input=3x32x32
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.unit = Unit()

    def forward(self, x):
        return self.unit(x)
"""


def test_a_sequence_holding_a_module_we_cannot_follow_is_not_run_without_it():
    # the BatchNorm2d(64) reads what make_conv's module gives, not the 3 channels of the input
    assert lint_source(NOT_FOLLOWED, "unit.py") == []



TINYATTNUNET = TINYENCODER.parent / "tinyattnunet.py"
ATTN_SOURCE = TINYATTNUNET.read_text()


def attn_findings(source: str) -> list[tuple[int, str, str]]:
    return [(f.span.line, f.code, f.message) for f in lint_source(source, str(TINYATTNUNET))]


def test_a_diffusion_unet_of_unknown_dimensions_is_silent_when_its_channels_chain():
    # torch: TinyAttnUNet(2) maps (2, 1, 8, 8) and timesteps (2,) to (2, 1, 8, 8) with 10,953 parameters,
    # TinyAttnUNet(3) (2, 1, 4, 4, 4) to (2, 1, 4, 4, 4) with 27,369
    assert attn_findings(ATTN_SOURCE) == []


@pytest.mark.parametrize("old, new, expected", [
    # torch: "Expected weight to be a vector of size equal to the number of channels in input, but got
    # weight of shape [16] and input of shape [2, 8, 8, 8]": the out block, past the attention, the
    # upsampler run through super().forward() and the cat of the skip
    ("nn.GroupNorm(4, channels[0]), nn.SiLU()", "nn.GroupNorm(4, channels[1]), nn.SiLU()",
     [(85, "CL001", "GroupNorm expects 16 input channels but receives 8 (out_channels of the ConvNd on line 61)")]),
    # torch: "... weight of shape [16] and input of shape [2, 24, 8, 8]": the skip's channels forgotten;
    # the convolutions after the norm read the 24 channels too
    ("ResnetBlock(spatial_dims, channels[1] + channels[0], channels[0], temb_channels)",
     "ResnetBlock(spatial_dims, channels[1], channels[0], temb_channels)",
     [(53, "CL001", "GroupNorm expects 16 input channels but receives 24 (the output of the torch.cat on line 93)"),
      (54, "CL001", "ConvNd expects 16 input channels but receives 24 (the output of the torch.cat on line 93)"),
      (61, "CL001", "ConvNd expects 16 input channels but receives 24 (the output of the torch.cat on line 93)")]),
    # torch: "mat1 and mat2 shapes cannot be multiplied (128x16 and 48x16)": the map's tokens, channels last
    ("self.out_proj = nn.Linear(channels, channels)", "self.out_proj = nn.Linear(channels * 3, channels)",
     [(34, "CL001", "Linear expects 48 input features but receives 16 (the output of the torch.einsum on line 43)")]),
])
def test_a_diffusion_unet_s_channels_are_checked_through_attention_at_an_unknown_rank(old, new, expected):
    assert old in ATTN_SOURCE
    assert attn_findings(ATTN_SOURCE.replace(old, new)) == expected


def test_no_spatial_size_of_the_unknown_rank_is_shown():
    s = summarize_source(ATTN_SOURCE.encode(), str(TINYATTNUNET), model_name="TinyAttnUNet")[0]
    rows = [(row.line, row.output_shape) for row in s.rows]
    attention = rows.index((32, None))  # its GroupNorm, at the map's unknown rank
    assert rows[attention:attention + 13] == [
        (32, None), (40, (16, None)), (40, (None, 16)),  # the map as tokens: their count unknown, their width not
        (33, (None, 48)), (41, (None, 16)), (41, (None, 16)), (41, (None, 16)), (42, (None, None)), (43, (None, 16)),
        (34, (None, 16)), (44, (16, None)), (44, None), (45, None),  # reshaped back to the map's shape, rank unknown
    ]
    assert (66, (16, 1, 1)) in rows and (68, (16, 1, 1, 1)) in rows  # the time embedding of either branch
    assert s.output_shape is None and s.params is None
