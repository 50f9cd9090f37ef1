"""Rules of tensor operations the mutation run of tools/mutants.py over the day's new code found
unpinned: x.unfold, F.pad by symbolic amounts, einsum, scaled_dot_product_attention. Shapes exclude
the batch; every number below was checked once against torch 2.13 (CPU, a batch of 2)."""

import pytest

from convlint.layers import ShapeError, output_shape
from convlint.products import attention_shape, einsum_shape
from convlint.sizes import var


def unfold(shape, dimension, size, step):
    return output_shape("unfold", {"dimension": dimension, "size": size, "step": step}, shape)


def test_unfold_makes_windows_along_one_axis_and_the_window_a_new_last_axis():
    # torch: zeros(2, 8, 10).unfold(2, 3, 2) -> (2, 8, 4, 3); unfold(-1, ...) the same
    assert unfold((8, 10), 2, 3, 2) == (8, 4, 3)
    assert unfold((8, 10), -1, 3, 2) == (8, 4, 3)
    assert unfold((8, 10), 1, 8, 1) == (1, 10, 8)  # one window of the whole axis
    assert unfold((8, 10), 2, 0, 1) == (8, 11, 0)  # empty windows, one per position and one more
    h = var("H")
    assert unfold((8, h), 2, 3, 1) == (8, h - 2, 3)


def test_unfold_along_the_batch_or_of_a_size_torch_rejects():
    assert unfold((8, 10), 0, 2, 1) is None  # along the batch: its size is not known here
    assert unfold((8, 10), -3, 2, 1) is None
    with pytest.raises(ShapeError, match="^maximum size for tensor at dimension 2 is 10 but size is 11$"):
        unfold((8, 10), 2, 11, 1)  # torch's own message


def test_constant_padding_by_symbolic_amounts_adds_both():
    # torch: F.pad(zeros(2, 8, 5, 13), (0, (-13) % 7, 0, (-5) % 7)) -> (2, 8, 7, 14)
    h, w, a, b = var("H"), var("W"), var("a"), var("b")
    params = {"pad": (a, b), "mode": "constant", "value": None}
    assert output_shape("pad", params, (8, h, w)) == (8, h, w + a + b)
    assert output_shape("pad", {**params, "pad": (0, 1, 0, 2)}, (8, 5, 13)) == (8, 7, 14)


def test_einsum_pairs_labels_and_rejects_sizes_that_disagree():
    # torch: einsum("bij,bjk->bik", zeros(2, 3, 4), zeros(2, 4, 6)) -> (2, 3, 6); with (2, 5, 6) it raises
    assert einsum_shape("bij,bjk->bik", [(3, 4), (4, 6)]) == (3, 6)
    assert einsum_shape("bij,bjk->bik", [(3, 4), (5, 6)]) is None
    # a size one operand does not know is its other's (torch raises unless they agree); one neither knows stays unknown
    assert einsum_shape("bij,bjk->bik", [(3, 4), (None, 6)]) == (3, 6)
    assert einsum_shape("bij,bjk->bik", [(None, 4), (4, 6)]) == (None, 6)


def test_attention_with_queries_and_keys_of_other_widths_is_not_followed():
    # torch: scaled_dot_product_attention of (2, 4, 5, 64) queries and (2, 4, 5, 32) keys raises
    length = var("L")
    assert attention_shape((4, length, 64), (4, length, 32), (4, length, 32)) is None
    assert attention_shape((4, length, 64), (4, length, 64), (4, length, 32)) == (4, length, 32)


def test_multihead_attention_needs_positive_int_sizes():
    # torch: MultiheadAttention(0, 2) and (8, 0) raise "embed_dim and num_heads must be greater than 0",
    # MultiheadAttention(8.0, 2) a TypeError making its weight
    from convlint.layers import config_errors

    assert config_errors("MultiheadAttention", {"embed_dim": 0, "num_heads": 2}) == [
        "embed_dim must be a positive int, got 0"]
    assert config_errors("MultiheadAttention", {"embed_dim": 8, "num_heads": 0}) == [
        "num_heads must be a positive int, got 0"]
    assert config_errors("MultiheadAttention", {"embed_dim": 8.0, "num_heads": 2}) == [
        "embed_dim must be a positive int, got 8.0"]
    assert config_errors("MultiheadAttention", {"embed_dim": 8, "num_heads": 2}) == []
