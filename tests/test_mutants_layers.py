"""Layer argument edges the mutation run of tools/mutants.py found unpinned.

Same table format as tests/test_layers.py; every row was checked once against torch 2.13
(CPU, a batch of 2, training mode), and is re-checked live when torch is importable.
"""


import pytest

from convlint.layers import ShapeError, bind, bind_functional, config_errors, output_shape
from convlint.layers.base import zero_sized
from convlint.sizes import UNKNOWN

# (their table rows are in tests/test_layers.py, TABLE: the edges after "found by tools/mutants.py")
def test_argument_messages():
    assert config_errors("AdaptiveAvgPool2d", {"output_size": -1}) == ["output_size must not be negative, got -1"]
    assert config_errors("Unflatten", {"dim": 1, "unflattened_size": 4}) == [
        "unflattened_size must be a tuple of ints, got 4"]
    assert config_errors("Unflatten", {"dim": 1, "unflattened_size": (2, "a")}) == [
        "unflattened_size must be a tuple of ints, got (2, 'a')"]
    assert config_errors("Conv1d", bind("Conv1d", [2, 4, (3, 3)], {})) == [
        "kernel_size must be an int or a 1-tuple, got (3, 3)"]  # torch: a 4-d weight for a 3-d input
    assert config_errors("Conv2d", bind("Conv2d", [2, 4, (3, 3, 3)], {})) == [
        "kernel_size must be an int or a tuple of 2 ints, got (3, 3, 3)"]
    # torch: Conv2d(-1, 4, 3) cannot create its weight [4, -1, 3, 3]; Conv2d(0, 4, 3) constructs
    assert config_errors("Conv2d", bind("Conv2d", [-1, 4, 3], {})) == ["in_channels must not be negative, got -1"]
    assert config_errors("Conv2d", bind("Conv2d", [0, 4, 3], {})) == [zero_sized("in_channels")]
    assert config_errors("Conv2d", bind("Conv2d", [4, 4, 3], {"groups": 0})) == [
        "groups must be a positive integer, got 0"]  # torch: ValueError "groups must be a positive integer"
    assert config_errors("ConvTranspose2d", bind("ConvTranspose2d", [4, 2, 3], {"dilation": 2, "output_padding": 2})) == [
        "output_padding (2) must be smaller than either stride (1) or dilation (2)"]
    assert config_errors("MaxPool2d", bind("MaxPool2d", [3], {"padding": -1})) == ["padding must not be negative, got -1"]
    # torch: LayerNorm(0) and Linear(0, 4) construct; -1 cannot create the weight
    assert config_errors("LayerNorm", {"normalized_shape": 0}) == []
    assert config_errors("LayerNorm", {"normalized_shape": -1}) == ["normalized_shape must not be negative, got -1"]
    assert config_errors("Linear", {"in_features": 0, "out_features": 4}) == [zero_sized("in_features")]
    assert config_errors("Linear", {"in_features": -1, "out_features": 4}) == ["in_features must not be negative, got -1"]
    assert config_errors("ZeroPad2d", {"padding": 1.5}) == ["padding must be an int or a tuple of ints, got 1.5"]
    assert config_errors("ChannelShuffle", {"groups": 0}) == ["groups must be positive, got 0"]
    assert config_errors("ChannelShuffle", {"groups": 1}) == []
    with pytest.raises(ShapeError, match=r"^Dropout2d needs at least one dimension besides the batch, got a 0-d shape \(\)$"):
        output_shape("Dropout2d", {}, ())


def test_unflatten_with_an_inferred_entry_beside_an_unknown_one():
    # the -1 cannot be inferred while another entry is unknown; the rank is still known
    assert output_shape("Unflatten", {"dim": 1, "unflattened_size": (-1, UNKNOWN)}, (12,)) == (None, None)
    assert output_shape("Unflatten", {"dim": 1, "unflattened_size": (-1, 3)}, (12,)) == (4, 3)  # torch: (2, 4, 3)
    assert output_shape("Unflatten", {"dim": 2, "unflattened_size": (UNKNOWN, 3)}, (5, 12)) == (5, None, 3)


def test_dim_range_messages():
    # torch: "Dimension out of range (expected to be in range of [-4, 3], but got 4)"
    with pytest.raises(ShapeError) as raised:
        output_shape("Softmax", {"dim": 4}, (3, 4, 5))
    assert str(raised.value) == "Softmax: dim 4 is out of range for a 4-d batched input (valid dims are -4 to 3)"
    with pytest.raises(ShapeError) as raised:
        output_shape("Flatten", {"start_dim": 1, "end_dim": -4}, (3, 4, 5))
    assert str(raised.value) == "Flatten: start_dim (1) comes after end_dim (-4) for a 4-d batched input"
    assert output_shape("Flatten", {"start_dim": -4}, (3, 4, 5)) is None  # merges the batch


def test_upsample_with_an_unresolved_mode_takes_any_rank_a_mode_takes():
    # torch: Upsample(scale_factor=2) on (2, 3, 5) gives (2, 3, 10); every mode takes 2- to 4-d per sample
    assert output_shape("Upsample", {"scale_factor": 2, "mode": UNKNOWN}, (3, 5)) == (3, 10)
    assert output_shape("Upsample", {"scale_factor": 2, "mode": UNKNOWN}, (3, 5, 6)) == (3, 10, 12)
    assert output_shape("Upsample", {"scale_factor": 2, "mode": UNKNOWN}, (3, 5, 6, 7)) == (3, 10, 12, 14)
    with pytest.raises(ShapeError) as raised:
        output_shape("Upsample", {"scale_factor": 2, "mode": UNKNOWN}, (3,))
    assert str(raised.value) == "Upsample expects a 2-, 3- or 4-d input per sample (batch excluded), got 1-d shape (3)"


def test_a_functional_call_takes_the_layer_defaults_it_does_not_name():
    # F.layer_norm(x, (4,)) has no elementwise_affine argument: the rest are LayerNorm's defaults
    assert bind_functional("layer_norm", [(4,)], {}) == ("LayerNorm", {
        "normalized_shape": (4,), "eps": 1e-05, "elementwise_affine": True, "bias": True, "device": None, "dtype": None})
