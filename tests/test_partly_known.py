"""What stays known past a tensor that is not: torch.cat of tensors some of which are unknown
(torch takes only tensors of one rank, equal but along the axis joined), an elementwise product
with a tensor nothing is known of (aligned from the right: the last axis stays), a cat along the
last axis of tensors of unknown rank; and a class built as an example of its documentation shows,
written before a parameter was made required (monai's ViT examples leave out patch_size). Every
number was checked once with torch 2.13: TokenMixer()(torch.zeros(2, 16, 16, 16), torch.zeros(2,
5, 32), torch.zeros(2, 21, 8), torch.zeros(2, 21, 32)) is (2, 21, 10), PatchNet(in_channels=3,
patch_size=4)(torch.zeros(1, 3, 16, 16)) is (1, 10, 4, 4); each mutant raises as quoted beside it."""

from __future__ import annotations

import pytest

from convlint.engine import lint_source

TOKENS = """\
import torch
import torch.nn as nn


class TokenMixer(nn.Module):
    def __init__(self, channels=16, dim=32, context_dim=8, classes=10):
        super().__init__()
        self.stem = nn.Conv2d(channels, dim, 4, stride=4)
        self.context = nn.Linear(context_dim, dim)
        self.norm = nn.LayerNorm(dim)
        self.fuse = nn.Linear(dim * 2, dim)
        self.head = nn.Linear(dim, classes)

    def forward(self, x, prompts, memory, gate):
        tokens = self.stem(x).flatten(2).transpose(1, 2)
        tokens = torch.cat([tokens, prompts], dim=1)
        tokens = self.norm(tokens) * torch.sigmoid(gate)
        tokens = self.fuse(torch.cat([tokens, self.context(memory)], dim=-1))
        return self.head(tokens)
"""

PATCHES = '''\
import torch.nn as nn


class PatchNet(nn.Module):
    """Patches of an image, embedded and mixed.

    Examples::

        >>> net = PatchNet(in_channels=3)
    """

    def __init__(self, in_channels, patch_size, classes=10):
        super().__init__()
        width = in_channels * 8
        self.embed = nn.Conv2d(in_channels, width, patch_size, stride=patch_size)
        self.mix = nn.Conv2d(in_channels * 8, width, 1)
        self.head = nn.Conv2d(width, classes, 1)

    def forward(self, x):
        return self.head(self.mix(self.embed(x)))
'''


def findings(source: str) -> list[tuple[int, str, str]]:
    return [(f.span.line, f.code, f.message) for f in lint_source(source, "tokens.py")]


def test_the_token_mixer_is_silent_when_its_sizes_chain():
    assert findings(TOKENS) == []


@pytest.mark.parametrize("old, new, expected", [
    # past the cat with the prompts: "Given normalized_shape=[64], expected input with shape [*, 64], but got
    # input of size[2, 21, 32]"
    ("self.norm = nn.LayerNorm(dim)", "self.norm = nn.LayerNorm(dim * 2)",
     (10, "CL001", "LayerNorm expects trailing dimensions 64 but receives 32 (its input is ?×32)")),
    # past the product with the gate and the cat along the last axis: "mat1 and mat2 shapes cannot be
    # multiplied (42x64 and 96x32)"
    ("nn.Linear(dim * 2, dim)", "nn.Linear(dim * 3, dim)",
     (11, "CL001", "Linear expects 96 input features but receives 64 (the output of the torch.cat on line 18)")),
])
def test_a_size_known_past_an_unknown_tensor_is_checked(old, new, expected):
    assert findings(TOKENS.replace(old, new)) == [expected]


def test_the_axis_a_tensor_of_unknown_size_is_joined_along_stays_unknown():
    joined = TOKENS.replace("torch.cat([tokens, self.context(memory)], dim=-1)", "torch.cat([tokens, memory], dim=-1)")
    assert findings(joined) == []  # 32 + memory's last axis: 64 when it is 32, not known here
    channels = """\
import torch
import torch.nn as nn


class Fuse(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 32, 3, padding=1)
        self.mix = nn.Conv2d(48, 16, 1)

    def forward(self, x, skip):
        return self.mix(torch.cat([self.stem(x), skip], dim=1))
"""
    assert findings(channels) == []
    # along the batch the channels are the stem's: "Given groups=1, weight of size [16, 48, 1, 1], expected
    # input[3, 32, 8, 8] to have 48 channels, but got 32 channels instead"
    assert findings(channels.replace("dim=1", "dim=0")) == [
        (9, "CL001", "Conv2d expects 48 input channels but receives 32 (out_channels of the Conv2d on line 8)")]


def test_a_class_is_built_as_an_older_example_shows_the_missing_parameter_unknown():
    assert findings(PATCHES) == []
    # "Given groups=1, weight of size [24, 48, 1, 1], expected input[1, 24, 4, 4] to have 48 channels, but got
    # 24 channels instead"
    wrong = PATCHES.replace("nn.Conv2d(in_channels * 8, width, 1)", "nn.Conv2d(in_channels * 16, width, 1)")
    assert findings(wrong) == [
        (16, "CL001", "Conv2d expects 48 input channels but receives 24 (out_channels of the Conv2d on line 15)")]
