"""A Linear or an Embedding of a tensor nothing is known of still makes its last axis: an embedding
of class indices (a second input whose shape no layer states) fed to an MLP and a LayerNorm is
followed and checked there (monai's VISTA3D class head). No channel axis is claimed for it: that
tensor may not even be batched. Every number was checked once with torch: ClassPrompt()(
torch.zeros(2, 32, 7, 7), torch.zeros(2, 5, dtype=torch.long)) is (2, 49, 5); the mutants raise
as quoted beside them."""

from __future__ import annotations

import pytest

from convlint import layers as L
from convlint.engine import lint_source
from convlint.graph import Layer, Model, Op
from convlint.propagate import propagate

PATH = "prompts.py"
SOURCE = """\
import torch
import torch.nn as nn


class ClassPrompt(nn.Module):
    def __init__(self, num_classes=10, dim=32, channels=32):
        super().__init__()
        self.embed = nn.Embedding(num_classes, dim)
        self.mlp = nn.Sequential(nn.Linear(dim, dim), nn.GELU(), nn.Linear(dim, channels))
        self.norm = nn.LayerNorm(channels)

    def forward(self, features, labels):
        prompts = self.norm(self.mlp(self.embed(labels)))
        return features.flatten(2).transpose(1, 2) @ prompts.transpose(-1, -2)
"""


def findings(source: str) -> list[tuple[int, str, str]]:
    return [(f.span.line, f.code, f.message) for f in lint_source(source, PATH)]


def test_the_class_prompt_is_silent_when_its_sizes_chain():
    assert findings(SOURCE) == []


@pytest.mark.parametrize("old, new, expected", [
    # torch: "mat1 and mat2 shapes cannot be multiplied (10x32 and 64x32)"
    ("nn.Linear(dim, dim), nn.GELU()", "nn.Linear(dim * 2, dim), nn.GELU()",
     (9, "CL001", "Linear expects 64 input features but receives 32 (the output of the Embedding on line 8)")),
    # torch: "Given normalized_shape=[64], expected input with shape [*, 64], but got input of size[2, 5, 32]"
    ("self.norm = nn.LayerNorm(channels)", "self.norm = nn.LayerNorm(dim * 2)",
     (10, "CL001",
      "LayerNorm expects trailing dimensions (64,) but receives (32,) (out_features of the Linear on line 9)")),
])
def test_a_size_that_does_not_chain_after_the_embedding_is_found(old, new, expected):
    assert findings(SOURCE.replace(old, new)) == [expected]


def test_what_a_linear_or_an_embedding_makes_of_a_tensor_nothing_is_known_of():
    nothing = L.Unranked()
    assert L.unranked_output("Linear", L.bind("Linear", [16, 5], {}), nothing) == L.Unranked(None, 5, False, None)
    assert L.unranked_output("Embedding", L.bind("Embedding", [10, 4], {}), nothing) == L.Unranked(None, 4, False, None)


def layer_op(kind: str, args: list, inputs: tuple, output: int) -> Op:
    return Op("layer", inputs, output, None, Layer(kind, L.bind(kind, args, {}), None, None))


def test_of_a_tensor_nothing_is_known_of_only_the_last_axis_is_kept():
    # a convolution's channels are axis 1 of a batched tensor: a tensor nothing is known of may not be one
    ops = [Op("unknown", (0,), 1, None), layer_op("ConvNd", [16, 8, 3], (1,), 2), layer_op("Linear", [16, 5], (1,), 3),
           layer_op("Embedding", [10, 4], (1,), 4)]
    steps = propagate(Model("m", None, None, ops))
    assert [step.output.unranked for step in steps] == [None, None, L.Unranked(None, 5, False, None),
                                                        L.Unranked(None, 4, False, None)]
