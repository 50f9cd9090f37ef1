"""A tensor's rank stated only by a guard that raises otherwise (`if timesteps.ndim != 1: raise`),
a model whose forward takes a second tensor (a diffusion UNet's timesteps), and a parameter of a
partly known shape (a position embedding of as many tokens as an image size nobody gives). The
fixture is fixtures/zoo/monai/networks/nets/tinydiffusion.py (our own code, in monai's style).
Every number was checked once with torch (numpy's prod stood in by math.prod):
TinyTimeUNet(1)(torch.zeros(2, 1, 8, 8), torch.tensor([1, 500])) is (2, 64, 8, 8) with 43,744
parameters; TinyPatchEmbedding(3, (32, 32), (8, 8))(torch.zeros(2, 3, 32, 32)) is (2, 16, 96)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from convlint.engine import lint_source
from convlint.extract.guards import raising_guard, stated_rank
from convlint.sizes import var
from convlint.summary.tables import summarize_source

TINYDIFFUSION = Path(__file__).resolve().parent.parent / "fixtures" / "zoo" / "monai" / "networks" / "nets" / "tinydiffusion.py"
SOURCE = TINYDIFFUSION.read_text()


def findings(source: str) -> list[tuple[int, str, str]]:
    return [(f.span.line, f.code, f.message) for f in lint_source(source, str(TINYDIFFUSION))]


def rows(name: str) -> list[tuple[int, tuple | None]]:
    s = summarize_source(SOURCE.encode(), str(TINYDIFFUSION), model_name=name)[0]
    return [(row.line, row.output_shape) for row in s.rows]


def test_the_fixture_is_silent():
    assert findings(SOURCE) == []


def test_the_timesteps_have_the_rank_their_guard_states_and_the_time_embedding_is_followed():
    h, w = var("H"), var("W")
    assert rows("TinyTimeUNet") == [  # the timesteps, a further parameter, have no row of their own
        (15, ()),  # past the guard: (N,)
        (20, (1,)), (20, (16,)), (21, (32,)),  # the sinusoidal embedding of half_dim 16, cos then sin
        (31, (128,)), (31, (128,)), (31, (128,)), (28, (32, h, w)), (33, (32,)), (42, (32, 1, 1)),
        (42, (32, h, w)), (34, (32, h, w)), (35, (64, h, w)),
    ]


def test_a_position_embedding_of_unknown_tokens_keeps_the_width():
    assert rows("TinyPatchEmbedding")[:5] == [(50, (96, None, None)), (56, (96, None)), (56, (None, 96)),
                                              (57, (None, 96)), (52, (None, 96))]
    s = summarize_source(SOURCE.encode(), str(TINYDIFFUSION), model_name="TinyPatchEmbedding")[0]
    embedding = [row for row in s.rows if row.path == "position_embeddings"]
    assert [row.params_unknown for row in embedding] == [True]  # its count depends on the tokens: never a number
    assert s.params is None


@pytest.mark.parametrize("old, new, expected", [
    # torch: "mat1 and mat2 shapes cannot be multiplied (2x128 and 32x32)"
    ("nn.Linear(time_embed_dim, channels[0])", "nn.Linear(channels[0], channels[0])",
     (33, "CL001", "Linear expects 32 input features but receives 128 (out_features of the Linear on line 31)")),
    # torch: "mat1 and mat2 shapes cannot be multiplied (2x34 and 32x128)"
    ("torch.arange(start=0, end=half_dim, dtype=torch.float32)",
     "torch.arange(start=0, end=half_dim + 1, dtype=torch.float32)",
     (31, "CL001", "Linear expects 32 input features but receives 34 (the output of the torch.cat on line 21)")),
    # torch: "Given normalized_shape=[192], expected input with shape [*, 192], but got input of size[2, 16, 96]"
    ("self.norm = nn.LayerNorm(hidden_size)", "self.norm = nn.LayerNorm(hidden_size * 2)",
     (52, "CL001", "LayerNorm expects trailing dimensions 192 but receives 96 (its input is ?×96)")),
])
def test_a_mismatch_past_a_guard_or_a_partial_parameter_is_found_at_its_line(old, new, expected):
    assert old in SOURCE
    assert findings(SOURCE.replace(old, new)) == [expected]


def test_an_undecided_guard_of_another_rank_or_without_a_raise_states_nothing():
    # the rank stated is the one the guard lets through; a test of a range, an else arm, or an arm
    # that does more than raise states none
    changed = SOURCE.replace("if timesteps.ndim != 1:", "if timesteps.ndim < 1:")
    assert rows_of(changed)[1][1] is None
    changed = SOURCE.replace('        raise ValueError("Timesteps should be a 1d-array")\n',
                             '        timesteps = timesteps.flatten(1)\n')
    assert [shape for line, shape in rows_of(changed) if line == 31] == [None, None, None]


def rows_of(source: str) -> list[tuple[int, tuple | None]]:
    s = summarize_source(source.encode(), str(TINYDIFFUSION), model_name="TinyTimeUNet")[0]
    return [(row.line, row.output_shape) for row in s.rows]


@pytest.mark.parametrize("code, holds, expected", [
    ("t.ndim == 4", True, ("t", 4)), ("t.ndim != 4", False, ("t", 4)), ("4 == t.dim()", True, ("t", 4)),
    ("len(t.shape) != 3", False, ("t", 3)), ("len(t.size()) == 5", True, ("t", 5)),
    ("not t.ndimension() == 2", False, ("t", 2)),
    ("t.ndim != 4", True, None), ("t.ndim == 4", False, None), ("t.ndim > 3", True, None),
    ("t.ndim == True", True, None), ("t.ndim == 0", True, None), ("self.t.ndim == 4", True, None),
    ("t.ndim == 4 == u.ndim", True, None),
])
def test_the_tests_that_state_a_rank(code, holds, expected):
    found = stated_rank(ast.parse(code, mode="eval").body, holds)
    assert (found if found is None else (found[0].id, found[1])) == expected


def test_only_an_if_that_raises_and_has_no_else_is_a_guard():
    guard = raising_guard(ast.parse("if x.dim() != 4:\n    raise ValueError").body[0])
    assert (guard[0].id, guard[1]) == ("x", 4)
    assert raising_guard(ast.parse("if x.dim() != 4:\n    raise ValueError\nelse:\n    pass").body[0]) is None
    assert raising_guard(ast.parse("if x.dim() != 4:\n    x = x[None]").body[0]) is None


GUARDED_INPUT = """\
import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)
        self.norm = nn.BatchNorm2d(8)

    def forward(self, x):
        assert x.dim() == 4, "a batch of images"
        if x.ndim != 4:
            raise ValueError(x.shape)
        return self.norm(self.conv(x))
"""


def test_a_guard_on_the_model_input_leaves_the_first_layer_to_give_its_shape():
    s = summarize_source(GUARDED_INPUT.encode(), "net.py")[0]
    h, w = var("H"), var("W")
    assert [(row.line, row.output_shape) for row in s.rows] == [
        (11, None), (12, None), (7, (8, h - 2, w - 2)), (8, (8, h - 2, w - 2))]
    assert findings_of(GUARDED_INPUT.replace("nn.BatchNorm2d(8)", "nn.BatchNorm2d(4)")) == [
        (8, "CL001", "BatchNorm2d expects 4 input channels but receives 8 (out_channels of the Conv2d on line 7)")]


def findings_of(source: str) -> list[tuple[int, str, str]]:
    return [(f.span.line, f.code, f.message) for f in lint_source(source, "net.py")]


SINCOS = """\
import torch
import torch.nn as nn


class SinCosEmbedding(nn.Module):
    def __init__(self, grid=4, embed_dim=16, temperature=10000.0):
        super().__init__()
        grid_h, grid_w = torch.meshgrid(torch.arange(grid, dtype=torch.float32), torch.arange(grid, dtype=torch.float32))
        omega = 1.0 / (temperature ** (torch.arange(embed_dim // 4, dtype=torch.float32) / (embed_dim // 4)))
        out_h = torch.einsum("m,d->md", [grid_h.flatten(), omega])
        out_w = torch.einsum("m,d->md", [grid_w.flatten(), omega])
        pos = torch.cat([torch.sin(out_w), torch.cos(out_w), torch.sin(out_h), torch.cos(out_h)], dim=1)[None, :, :]
        self.position_embeddings = nn.Parameter(pos)
        self.position_embeddings.requires_grad = False
        self.head = nn.Linear(embed_dim, 4)

    def forward(self, x):
        return self.head(x + self.position_embeddings)
"""


def test_a_sin_cos_position_table_has_its_shape():
    # torch: the table is (1, 16, 16), 256 parameters (frozen, still counted by parameters()), 324 in all;
    # SinCosEmbedding()(torch.zeros(2, 16, 16)) is (2, 16, 4)
    s = summarize_source(SINCOS.encode(), "sincos.py", input_shape=(16, 16))[0]
    assert (s.params, s.output_shape) == (324, (16, 4))
    # torch: "mat1 and mat2 shapes cannot be multiplied (32x16 and 32x4)"
    wrong = SINCOS.replace("nn.Linear(embed_dim, 4)", "nn.Linear(embed_dim * 2, 4)")
    assert [(f.span.line, f.code, f.message) for f in lint_source(wrong, "sincos.py", input_shape=(16, 16))] == [
        (15, "CL001", "Linear expects 32 input features but receives 16 (the declared input)")]
