"""Attention blocks run alone (timm's Attention, GCViT's WindowAttentionGlobal): `B, N, C = x.shape` is
read before the first Linear reads x, so x's rank is the one the code states and its last axis the
Linear's in_features; C is that size exactly, and the heads merged back with `reshape(B, N, C)` give
the output projection its features. The fixture is fixtures/token_attention.py (our own code). Every
number was checked once with torch 2.13: TokenAttention() holds 16,448 parameters (its proj 4,160)
and maps (2, 5, 64) to (2, 5, 64); PooledAttention() holds 7,642 (its head 490) and maps (2, 5, 48)
to (2, 10)."""

from __future__ import annotations

from pathlib import Path

import pytest

from convlint.engine import lint_source
from convlint.summary.tables import summarize_source

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "token_attention.py"
SOURCE = FIXTURE.read_text()


def findings(source: str) -> list[tuple[int, str, str]]:
    return [(f.span.line, f.code, f.message) for f in lint_source(source, str(FIXTURE))]


def summary(name: str):
    return summarize_source(SOURCE.encode(), str(FIXTURE), model_name=name)[0]


def test_the_blocks_are_silent():
    assert findings(SOURCE) == []


@pytest.mark.parametrize("name, merged, output, head, params", [
    ("TokenAttention", (None, 64), (None, 64), 4_160, 16_448),  # the token count is no fact: unknown, never guessed
    ("PooledAttention", (48,), (10,), 490, 7_642),  # C // num_heads read the same way: 12 per head
])
def test_the_sizes_read_before_the_first_linear_give_the_last_layer_its_features(name, merged, output, head, params):
    s = summary(name)
    assert s.output_shape == output
    last = s.rows[-1]
    assert last.kind == "Linear" and last.output_shape == output and last.params["total"] == head
    assert s.weights + s.biases == params
    assert s.rows[-2].kind == "view" and s.rows[-2].output_shape == merged


@pytest.mark.parametrize("old, new, expected", [
    # torch: TokenAttention()(torch.zeros(2, 5, 64)) raises
    # "mat1 and mat2 shapes cannot be multiplied (10x64 and 128x64)"
    ("self.proj = nn.Linear(dim, dim)", "self.proj = nn.Linear(dim * 2, dim)",
     (15, "CL001", "Linear expects 128 input features but receives 64 (the output of the reshape on line 22)")),
    # torch: PooledAttention()(torch.zeros(2, 5, 48)) raises
    # "mat1 and mat2 shapes cannot be multiplied (2x48 and 24x10)"
    ("self.head = nn.Linear(dim, out_features)", "self.head = nn.Linear(dim // 2, out_features)",
     (33, "CL001", "Linear expects 24 input features but receives 48 (the output of the reshape on line 40)")),
])
def test_a_projection_of_other_features_than_the_merged_heads_is_found(old, new, expected):
    assert old in SOURCE
    assert findings(SOURCE.replace(old, new)) == [expected]


def test_a_size_read_at_the_stated_rank_but_not_the_last_axis_stays_unknown():
    s = summary("TokenAttention")
    view = s.rows[1]
    assert view.kind == "view" and view.output_shape == (None, 3, 8, 8)  # N: unknown
