"""An autoencoder of a sampled latent with a decoder conditioned on a segmentation map, in monai's
style, for a spatial_dims nobody gives (fixtures/zoo/monai/networks/nets/tinylatent.py, our own
code): a pad keeps the rank of a tensor of unknown rank (the layer after it gives the channels), noise
drawn with torch.randn_like has its tensor's shape, isinstance of a torch layer or of an instance of
a class whose every base we read is decided, and a free input resized (F.interpolate of the map to
the features' size) is read by the layer after the resize as a padded one is. Every number was checked
once with torch: `sys.path.insert(0, "fixtures/zoo")`, TinyLatent(d) for d = 1, 2, 3 maps
torch.zeros(2, 1, 8[, 8[, 8]]) and torch.zeros(2, 2, 8[, 8[, 8]]) to (2, 8, 4[, 4[, 4]]); each
mutant below raises in torch at d = 2 with the message quoted beside it."""

from __future__ import annotations

from pathlib import Path

import pytest

from convlint import layers as L
from convlint.engine import lint_source
from convlint.sizes import UNKNOWN
from convlint.summary.tables import summarize_source

TINYLATENT = Path(__file__).resolve().parent.parent / "fixtures/zoo/monai/networks/nets/tinylatent.py"
SOURCE = TINYLATENT.read_text()


def findings(source: str, path: Path = TINYLATENT) -> list[tuple[int, str, str]]:
    return [(f.span.line, f.code, f.message) for f in lint_source(source, str(path))]


def test_the_autoencoder_is_silent_when_its_channels_chain():
    assert findings(SOURCE) == []


@pytest.mark.parametrize("old, new, expected", [
    # past the pad of `(0, 1) * spatial_dims`; torch: "Expected weight to be a vector of size equal to the number
    # of channels in input, but got weight of shape [16] and input of shape [2, 8, 4, 4]"
    ("self.norm = nn.GroupNorm(4, channels)\n", "self.norm = nn.GroupNorm(4, channels * 2)\n",
     (51, "CL001", "GroupNorm expects 16 input channels but receives 8 (out_channels of the ConvNd on line 16)")),
    # past `z_mu + torch.randn_like(z_sigma) * z_sigma`; torch: "Given groups=1, weight of size [8, 8, 3, 3],
    # expected input[2, 4, 4, 4] to have 8 channels, but got 4 channels instead"
    ("Conv[Conv.CONV, spatial_dims](latent_channels, channels, 3, padding=1)",
     "Conv[Conv.CONV, spatial_dims](latent_channels * 2, channels, 3, padding=1)",
     (55, "CL001", "ConvNd expects 8 input channels but receives 4 (out_channels of the ConvNd on line 52)")),
    # past the decoder's blocks told apart by isinstance, the conditioned one among them; torch: "Expected weight
    # to be a vector of size equal to the number of channels in input, but got weight of shape [16] and input of
    # shape [2, 8, 4, 4]"
    ("            nn.GroupNorm(4, channels),\n", "            nn.GroupNorm(4, channels * 2),\n",
     (57, "CL001", "GroupNorm expects 16 input channels but receives 8 (out_channels of the ConvNd on line 55)")),
    # past the map resized to the features; torch: "Given groups=1, weight of size [8, 32, 3, 3], expected
    # input[2, 16, 4, 4] to have 32 channels, but got 16 channels instead"
    ("self.gamma = Conv[Conv.CONV, spatial_dims](hidden, channels, 3, padding=1)",
     "self.gamma = Conv[Conv.CONV, spatial_dims](hidden * 2, channels, 3, padding=1)",
     (27, "CL001", "ConvNd expects 32 input channels but receives 16 (out_channels of the ConvNd on line 26)")),
])
def test_a_channel_count_that_does_not_chain_is_found_past_each_construct(old, new, expected):
    assert SOURCE.count(old) == 1
    assert findings(SOURCE.replace(old, new)) == [expected]


def test_a_pad_keeps_the_rank_and_says_only_what_it_makes_of_the_last_axis():
    given = L.Unranked(channels=16, last=7, ones=False, rank=0)
    # F.pad(x, (0, 1, 0, 1)) of (N, 16, ..., 7): the last axis 8 (torch: F.pad(torch.zeros(2, 16, 5, 7), (0, 1, 0, 1))
    # is (2, 16, 6, 8)); which other axes it pads depends on the rank: the channels too at rank 3
    assert L.unranked_output("pad", L.bind("pad", [(0, 1, 0, 1)], {}), given) == L.Unranked(None, 8, False, 0)
    assert L.unranked_output("pad", L.bind("pad", [UNKNOWN], {}), given) == L.Unranked(None, None, False, 0)
    pooled = L.Unranked(channels=4, last=1, ones=True, rank=0)
    # torch: nn.ZeroPad2d((2, 3, 0, 0))(torch.zeros(2, 4, 1, 1)) is (2, 4, 1, 6)
    padded = L.unranked_output("ZeroPad2d", L.bind("ZeroPad2d", [(2, 3, 0, 0)], {}), pooled)
    assert padded == L.Unranked(None, 6, False, 0)


KNOWN_RANK = """\
import torch
import torch.nn as nn


class Gate(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 1)

    def forward(self, x, scale):
        return self.conv(x) * scale


class Noisy(nn.Module):
    def __init__(self):
        super().__init__()
        self.blocks = nn.ModuleList([nn.Conv2d(3, 8, 3, padding=1), Gate(8), nn.BatchNorm2d(8)])
        self.head = nn.Linear(8, 2)

    def forward(self, x):
        scale = torch.ones(1)
        for block in self.blocks:
            if isinstance(block, Gate):
                x = block(x, scale)
            else:
                x = block(x)
        x = x + torch.randn_like(x) * 0.1
        return self.head(x.mean(dim=(2, 3)))
"""


def test_isinstance_and_randn_like_at_a_known_rank():
    path = TINYLATENT.parent / "noisy.py"
    assert findings(KNOWN_RANK, path) == []
    # torch: Noisy()(torch.zeros(1, 3, 224, 224)) is (1, 2)
    assert summarize_source(KNOWN_RANK.encode(), str(path), model_name="Noisy")[0].output_shape == (2,)


@pytest.mark.parametrize("old, new, expected", [
    # past the gate the isinstance test picks; torch: "running_mean should contain 8 elements not 16"
    ("nn.BatchNorm2d(8)", "nn.BatchNorm2d(16)",
     (17, "CL001", "BatchNorm2d expects 16 input channels but receives 8 (out_channels of the Conv2d on line 8)")),
    # past the noise; torch: "mat1 and mat2 shapes cannot be multiplied (1x8 and 16x2)"
    ("nn.Linear(8, 2)", "nn.Linear(16, 2)",
     (18, "CL001", "Linear expects 16 input features but receives 8 (out_channels of the Conv2d on line 8)")),
])
def test_a_mismatch_past_isinstance_or_randn_like_at_a_known_rank(old, new, expected):
    assert findings(KNOWN_RANK.replace(old, new), TINYLATENT.parent / "noisy.py") == [expected]
