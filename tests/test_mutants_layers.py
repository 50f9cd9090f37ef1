"""Layer argument edges the mutation run of tools/mutants.py found unpinned.

Same table format as tests/test_layers.py; every row was checked once against torch 2.13
(CPU, a batch of 2, training mode), and is re-checked live when torch is importable.
"""

import warnings

import pytest

from convlint.layers import ShapeError, bind, bind_functional, config_errors, output_shape
from convlint.layers.base import zero_sized
from convlint.sizes import UNKNOWN

# (layer, args, kwargs, input shape without batch, expected): a tuple is the exact output shape;
# "config": config_errors reports the arguments; "shape": output_shape raises ShapeError;
# "collapse": some output size is <= 0; "zero": a layer of size 0, which torch builds with only a
# warning and convlint reports at construction.
TABLE = [
    ("ConvTranspose2d", (4, 2, 3), {"stride": 2, "output_padding": (1,)}, (4, 7, 8), (2, 16, 18)),
    ("ConvTranspose3d", (4, 2, 3), {"stride": 2, "output_padding": (1,)}, (4, 3, 4, 5), (2, 8, 10, 12)),
    ("Conv2d", (2, 4, 3), {"dilation": (2,)}, (2, 9, 10), (4, 5, 6)),
    ("Conv2d", (2, 4, 3), {"padding": (1,)}, (2, 9, 10), (4, 9, 10)),
    ("Conv3d", (2, 4, 3), {"padding": (1,), "dilation": (2,)}, (2, 7, 8, 9), (4, 5, 6, 7)),
    ("ConvTranspose2d", (2, 4, 3), {"padding": (1,), "dilation": (2,)}, (2, 7, 8), (4, 9, 10)),
    ("Conv1d", (2, 4, (3,)), {}, (2, 9), (4, 7)),
    ("Conv1d", (2, 4, (3, 3)), {}, (2, 9), "config"),
    ("Conv2d", (4, 4, 3), {"groups": 0}, (4, 5, 5), "config"),
    ("Conv2d", (4, 0, 3), {}, (4, 5, 5), "config"),
    ("ConvTranspose2d", (4, 2, 3), {"stride": 1, "dilation": 2, "output_padding": 2}, (4, 4, 4), "config"),
    ("ConvTranspose2d", (4, 2, 3), {"stride": 3, "dilation": 2, "output_padding": 2}, (4, 4, 4), (2, 16, 16)),
    ("MaxPool2d", (3,), {"padding": (1,)}, (3, 7, 8), (3, 3, 3)),
    ("AvgPool2d", (3,), {"padding": (1,)}, (3, 7, 8), (3, 3, 3)),
    ("MaxPool2d", (3,), {"padding": -1}, (3, 7, 8), "config"),
    ("AdaptiveAvgPool2d", (-1,), {}, (4, 7, 8), "config"),
    ("Dropout2d", (), {}, (), "shape"),
    ("Dropout3d", (), {}, (), ()),
    ("Dropout3d", (), {}, (5,), (5,)),
    ("Unflatten", (1, 4), {}, (12,), "config"),
    ("Unflatten", (1, (2, "a")), {}, (12,), "config"),
    ("PixelShuffle", (2,), {}, (3, 8, 5, 6), (3, 2, 10, 12)),
    ("PixelShuffle", (2,), {}, (2, 3, 8, 5, 6), (2, 3, 2, 10, 12)),
    ("PixelUnshuffle", (2,), {}, (3, 2, 4, 6), (3, 8, 2, 3)),
    ("ChannelShuffle", (1,), {}, (4, 3, 3), (4, 3, 3)),
    ("LocalResponseNorm", (0,), {}, (3, 4), "config"),
    ("LocalResponseNorm", (1,), {}, (3, 4), (3, 4)),
    ("PReLU", (3,), {}, (3,), (3,)),
    ("PReLU", (3,), {}, (), "shape"),
    ("PReLU", (1,), {}, (), ()),
    ("GroupNorm", (1, 1), {}, (), "shape"),
    ("GroupNorm", (2, 4), {}, (4,), (4,)),
    ("ZeroPad2d", (1,), {}, (3, 4, 5, 6), (3, 4, 7, 8)),
    ("LayerNorm", ((3, 0),), {}, (3, 0), "collapse"),  # torch: an empty (2, 3, 0) output
    ("Dropout", (0,), {}, (3, 4), (3, 4)),
    ("Dropout", (1,), {}, (3, 4), (3, 4)),
    ("Linear", (0, 4), {}, (3, 0), "zero"),  # torch builds it with a warning: reported at construction
    ("Linear", (4, 0), {}, (3, 4), "zero"),
    ("Softmax", (), {"dim": -4}, (3, 4, 5), (3, 4, 5)),
    ("Softmax", (), {"dim": 4}, (3, 4, 5), "shape"),
    ("Softmax", (), {"dim": -5}, (3, 4, 5), "shape"),
    ("Flatten", (1, -4), {}, (3, 4, 5), "shape"),
    ("ZeroPad2d", (1.5,), {}, (3, 5, 6), "config"),
    ("ZeroPad2d", (1,), {}, (5, 6), (7, 8)),
    ("ConstantPad1d", (2, 0.0), {}, (5,), (9,)),
    ("ZeroPad1d", ((-4, 2),), {}, (3, 4), (3, 2)),  # torch crops all 4, then pads 2
    ("ZeroPad1d", ((-5, 2),), {}, (3, 4), "shape"),
    ("ZeroPad1d", ((-2, -2),), {}, (3, 4), "collapse"),
]


def outcome(name, args, kwargs, shape):
    params = bind(name, list(args), kwargs)
    assert params is not None, "binding failed"
    if config_errors(name, params):
        return "config"
    try:
        out = output_shape(name, params, shape)
    except ShapeError:
        return "shape"
    if any(isinstance(d, int) and d <= 0 for d in out):
        return "collapse"
    return out


def case_id(case):
    name, args, kwargs, shape, _ = case
    return f"{name}{args}{kwargs or ''}@{shape}"


@pytest.mark.parametrize("case", TABLE, ids=case_id)
def test_table(case):
    name, args, kwargs, shape, expected = case
    assert outcome(name, args, kwargs, shape) == ("config" if expected == "zero" else expected)


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("case", TABLE, ids=case_id)
def test_table_agrees_with_torch(case):
    torch = pytest.importorskip("torch")
    name, args, kwargs, shape, expected = case
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            module = getattr(torch.nn, name)(*args, **kwargs)
            result = tuple(module(torch.zeros((2, *shape))).shape[1:])
        except Exception:  # noqa: BLE001 - any rejection counts
            result = "rejected"
    if expected == "zero":  # torch builds a layer with no weights, with only a warning
        assert any("zero-element" in str(w.message) for w in caught)
    elif expected == "collapse":
        assert result == "rejected" or 0 in result
    elif isinstance(expected, tuple):
        assert result == expected
    else:
        assert result == "rejected"


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
