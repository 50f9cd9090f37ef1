"""Shape rules, binding, argument checks and parameter counts of convlint.layers.

Every literal below was checked once against torch 2.13; when torch is
importable the table tests also re-check it live.
"""

import inspect
import warnings

import pytest

from convlint.layers import (
    ANY_DIMS, FOREIGN_LAYERS, FUNCTIONAL, LAYERS, REQUIRED, ShapeError, Window, bind, bind_functional, bind_method, config_errors,
    output_shape, parameter_count, windows,
)
from convlint.sizes import UNKNOWN, evaluate, var

H, W = var("H"), var("W")

# (layer, args, kwargs, input shape without batch, expected):
#   a tuple: the exact output shape;
#   "config": config_errors reports the arguments (torch rejects them whatever the input);
#   "shape": output_shape raises ShapeError (torch rejects this input);
#   "collapse": some output size is <= 0 (torch errors, or returns an empty tensor);
#   "zero": a layer of size 0: torch builds it with only a warning, config_errors reports it;
#   "rank": ShapeError because inputs are assumed batched, while torch would read
#           the batch as the channel dim of an unbatched input and run.
TABLE = [
    ("Conv2d", (1, 96, 11), {"stride": 4}, (1, 224, 224), (96, 54, 54)),
    ("Conv2d", (1, 8, 5, 2, 2), {}, (1, 28, 28), (8, 14, 14)),
    ("Conv2d", (3, 6, (3, 5)), {"stride": (2, 1), "padding": (1, 2), "dilation": (1, 2)}, (3, 17, 19), (6, 9, 15)),
    ("Conv2d", (4, 8, 3), {"groups": 2, "bias": False}, (4, 9, 10), (8, 7, 8)),
    ("Conv2d", (2, 4, 4), {"padding": "same"}, (2, 7, 8), (4, 7, 8)),
    ("Conv2d", (2, 4, 4), {"padding": "same", "dilation": 3}, (2, 5, 6), (4, 5, 6)),
    ("Conv2d", (2, 4, (2, 5)), {"padding": "same", "dilation": (2, 1)}, (2, 1, 3), (4, 1, 3)),
    ("Conv2d", (2, 4, 3), {"padding": "valid", "stride": 2}, (2, 8, 9), (4, 3, 4)),
    ("Conv2d", (2, 4, 3), {"padding": 2, "padding_mode": "reflect"}, (2, 5, 5), (4, 7, 7)),
    ("Conv2d", (2, 4, 3), {"padding": 5, "padding_mode": "reflect"}, (2, 5, 5), "shape"),
    ("Conv2d", (2, 4, 3), {"padding": 3, "padding_mode": "circular"}, (2, 3, 3), (4, 7, 7)),
    ("Conv2d", (2, 4, 3), {"padding": 4, "padding_mode": "circular"}, (2, 3, 3), "shape"),
    ("Conv2d", (2, 4, 3), {"padding": 7, "padding_mode": "replicate", "stride": 3}, (2, 3, 4), (4, 5, 6)),
    ("Conv2d", (2, 4, 4), {"padding": "same", "padding_mode": "circular"}, (2, 5, 6), (4, 5, 6)),
    ("Conv2d", (2, 4, 5), {}, (2, 3, 3), "collapse"),
    ("Conv2d", (2, 4, 5), {"padding": 1}, (2, 3, 3), (4, 1, 1)),
    ("Conv2d", (2, 4, 3), {}, (2, 8), "shape"),
    ("Conv2d", (4, 6, 3), {"groups": 4}, (4, 8, 8), "config"),
    ("Conv2d", (6, 4, 3), {"groups": 4}, (6, 8, 8), "config"),
    ("Conv2d", (2, 4, 3), {"stride": 2, "padding": "same"}, (2, 8, 8), "config"),
    ("Conv2d", (2, 4, 3), {"padding": "full"}, (2, 8, 8), "config"),
    ("Conv2d", (2, 4, 3), {"padding": -1}, (2, 8, 8), "config"),
    ("Conv2d", (2, 4, 3), {"stride": 0}, (2, 8, 8), "config"),
    ("Conv2d", (2, 4, (3, 3, 3)), {}, (2, 8, 8), "config"),
    ("Conv2d", (2, 4, 3), {"stride": (2,)}, (2, 8, 8), (4, 3, 3)),
    ("Conv1d", (3, 5, 4), {"stride": 3, "padding": 2, "dilation": 2}, (3, 50), (5, 16)),
    ("Conv1d", (3, 5, 4), {"padding": "same", "dilation": 2}, (3, 10), (5, 10)),
    ("Conv3d", (2, 3, (1, 3, 3)), {"stride": (1, 2, 2), "padding": (0, 1, 1)}, (2, 4, 9, 10), (3, 4, 5, 5)),
    ("ConvTranspose2d", (4, 2, 3), {"stride": 2, "padding": 1, "output_padding": 1}, (4, 7, 8), (2, 14, 16)),
    ("ConvTranspose2d", (4, 2, 4), {"stride": 2, "padding": 1}, (4, 5, 6), (2, 10, 12)),
    ("ConvTranspose2d", (4, 2, 3), {"stride": 1, "dilation": 2, "output_padding": 1}, (4, 4, 4), (2, 9, 9)),
    ("ConvTranspose2d", (4, 2, 3), {"stride": 2, "output_padding": 2}, (4, 4, 4), "config"),
    ("ConvTranspose2d", (1, 2, 1), {"padding": 1}, (1, 2, 2), "collapse"),
    ("ConvTranspose1d", (4, 6, 5), {"stride": 3, "padding": 2, "output_padding": 2, "groups": 2, "dilation": 2},
     (4, 7), (6, 25)),
    ("ConvTranspose3d", (2, 2, 2), {"stride": 2}, (2, 3, 4, 5), (2, 6, 8, 10)),
    ("MaxPool2d", (2, 2), {"ceil_mode": True}, (3, 5, 5), (3, 3, 3)),
    ("MaxPool2d", (2, 2), {"padding": 1, "ceil_mode": True}, (3, 5, 6), (3, 3, 4)),
    ("MaxPool2d", (3, 2), {"padding": 1}, (3, 112, 111), (3, 56, 56)),
    ("MaxPool2d", (3,), {"stride": 2, "ceil_mode": True}, (3, 6, 7), (3, 3, 3)),
    ("MaxPool2d", (3,), {"stride": 1, "padding": 1, "dilation": 2}, (3, 6, 7), (3, 4, 5)),
    ("MaxPool2d", (5,), {}, (1, 3, 3), "collapse"),
    ("MaxPool2d", (5,), {"ceil_mode": True}, (1, 3, 3), (1, 1, 1)),
    ("MaxPool2d", (3,), {"padding": 2}, (1, 8, 8), "config"),
    ("MaxPool2d", (2,), {}, (5, 5), "rank"),
    ("MaxPool1d", (2, 4), {"ceil_mode": True}, (1, 3), (1, 1)),
    ("MaxPool1d", (3, 2, 1), {"ceil_mode": True}, (2, 10), (2, 6)),
    ("MaxPool3d", (2,), {"stride": (1, 2, 2)}, (1, 4, 5, 6), (1, 3, 2, 3)),
    ("AvgPool2d", (3, 2, 1), {"ceil_mode": True}, (2, 6, 9), (2, 4, 5)),
    ("AvgPool2d", (2, 2), {"padding": 1, "ceil_mode": True, "count_include_pad": False}, (2, 5, 5), (2, 3, 3)),
    ("AvgPool2d", (2,), {"divisor_override": 0}, (2, 4, 4), "config"),
    ("AvgPool1d", (4, 3), {"padding": 2, "ceil_mode": True}, (2, 10), (2, 4)),
    ("AvgPool3d", (2,), {}, (1, 3, 4, 5), (1, 1, 2, 2)),
    ("LPPool2d", (2, 3, 2), {"ceil_mode": True}, (1, 7, 8), (1, 3, 4)),
    ("LPPool1d", (2, 3), {}, (1, 10), (1, 3)),
    ("AdaptiveAvgPool2d", ((None, 3),), {}, (2, 5, 7), (2, 5, 3)),
    ("AdaptiveAvgPool2d", (9,), {}, (2, 5, 7), (2, 9, 9)),
    ("AdaptiveMaxPool1d", (4,), {}, (2, 9), (2, 4)),
    ("AdaptiveAvgPool3d", ((1, 2, 3),), {}, (2, 5, 6, 7), (2, 1, 2, 3)),
    ("AdaptiveAvgPool2d", ((2, 2, 2),), {}, (2, 5, 7), "config"),
    ("AdaptiveMaxPool2d", (None,), {}, (2, 5, 7), "config"),
    ("BatchNorm2d", (3,), {}, (3, 4, 5), (3, 4, 5)),
    ("BatchNorm2d", (3,), {}, (3, 4), "shape"),
    ("BatchNorm1d", (3,), {}, (3,), (3,)),
    ("BatchNorm1d", (3,), {}, (3, 7), (3, 7)),
    ("BatchNorm1d", (3,), {}, (3, 7, 2), "shape"),
    ("InstanceNorm2d", (3,), {"affine": True}, (3, 4, 5), (3, 4, 5)),
    ("GroupNorm", (4, 16), {}, (16, 3, 3, 3), (16, 3, 3, 3)),
    ("GroupNorm", (3, 16), {}, (16, 3), "config"),
    ("LayerNorm", ((4, 5),), {}, (3, 4, 5), (3, 4, 5)),
    ("LayerNorm", ((4, 5),), {}, (5,), "shape"),
    ("LocalResponseNorm", (2,), {}, (3, 4), (3, 4)),
    ("LocalResponseNorm", (2,), {}, (3,), "shape"),
    ("Dropout", (0.2,), {}, (3, 4), (3, 4)),
    ("Dropout", (2,), {}, (3, 4), "config"),
    ("Dropout1d", (), {}, (3, 4, 5), "shape"),
    ("Dropout2d", (), {}, (3, 4, 5), (3, 4, 5)),
    ("ReLU", (), {"inplace": True}, (3, 4), (3, 4)),
    ("GELU", (), {"approximate": "tanh"}, (7,), (7,)),
    ("PReLU", (5,), {}, (5, 3), (5, 3)),
    ("Hardtanh", (-2.0, 2.0), {}, (2, 3), (2, 3)),
    ("Softmax", (1,), {}, (10,), (10,)),
    ("Softmax", (3,), {}, (10,), "shape"),
    ("LogSoftmax", (-1,), {}, (4, 10), (4, 10)),
    ("Softmax2d", (), {}, (3, 4, 5), (3, 4, 5)),
    ("GLU", (), {}, (3, 8), (3, 4)),
    ("GLU", (1,), {}, (3, 8), "shape"),
    ("GLU", (), {}, (3, 7), "shape"),
    ("Flatten", (), {}, (32, 4, 4), (512,)),
    ("Flatten", (2, 3), {}, (3, 4, 5), (3, 20)),
    ("Flatten", (-3, -2), {}, (3, 4, 5), (12, 5)),
    ("Flatten", (3, 1), {}, (3, 4, 5), "shape"),
    ("Flatten", (4,), {}, (3, 4, 5), "shape"),
    ("Unflatten", (1, (2, -1)), {}, (12, 3), (2, 6, 3)),
    ("Unflatten", (-1, (3, 1)), {}, (12, 3), (12, 3, 1)),
    ("Unflatten", (1, (5, -1)), {}, (12, 3), "shape"),
    ("Unflatten", (1, (-1, -1)), {}, (12, 3), "config"),
    ("Linear", (512, 10), {}, (512,), (10,)),
    ("Linear", (8, 3), {"bias": False}, (4, 5, 8), (4, 5, 3)),
    ("Linear", (8, 3), {}, (), "shape"),
    ("Identity", (1, 2), {"x": 3}, (3, 4), (3, 4)),
    ("Upsample", (), {"scale_factor": 2}, (3, 5, 7), (3, 10, 14)),
    ("Upsample", (), {"scale_factor": 1.5}, (3, 5, 7), (3, 7, 10)),
    ("Upsample", (), {"scale_factor": (2.2, 0.3333333333333333)}, (3, 5, 9), (3, 11, 3)),
    ("Upsample", (), {"size": (4, 6), "mode": "bilinear", "align_corners": True}, (3, 5, 7), (3, 4, 6)),
    ("Upsample", ((4, 6, 8),), {}, (3, 5, 7), "shape"),
    ("Upsample", (), {"scale_factor": 2, "mode": "linear"}, (3, 5, 7), "shape"),
    ("Upsample", (), {"scale_factor": 2, "mode": "trilinear"}, (3, 4, 5, 7), (3, 8, 10, 14)),
    ("Upsample", (), {"scale_factor": 2, "align_corners": True}, (3, 5, 7), "config"),
    ("Upsample", (), {}, (3, 5, 7), "config"),
    ("Upsample", (), {"scale_factor": 0.3}, (3, 2, 2), "collapse"),
    ("UpsamplingNearest2d", (), {"scale_factor": 3}, (3, 5, 7), (3, 15, 21)),
    ("UpsamplingBilinear2d", (), {"size": 9}, (3, 5, 7), (3, 9, 9)),
    ("PixelShuffle", (2,), {}, (8, 3, 5), (2, 6, 10)),
    ("PixelShuffle", (2,), {}, (6, 3, 5), "shape"),
    ("PixelUnshuffle", (2,), {}, (3, 4, 6), (12, 2, 3)),
    ("PixelUnshuffle", (2,), {}, (3, 5, 6), "shape"),
    ("ZeroPad2d", ((1, 2, 3, 4),), {}, (3, 5, 6), (3, 12, 9)),
    ("ZeroPad2d", ((-1, 2, 0, -3),), {}, (1, 5, 5), (1, 2, 6)),
    ("ZeroPad2d", ((-3, -3, 0, 0),), {}, (1, 5, 5), "collapse"),
    ("ZeroPad1d", (2,), {}, (4, 5), (4, 9)),
    ("ZeroPad1d", ((-3, 2),), {}, (4, 3), (4, 2)),
    ("ZeroPad1d", ((2, -3),), {}, (4, 2), "shape"),
    ("ReplicationPad1d", ((-3, 2),), {}, (4, 3), (4, 2)),
    ("ConstantPad3d", (1, 0.5), {}, (1, 2, 3, 4), (1, 4, 5, 6)),
    ("ConstantPad2d", ((1, 2, 3), 0.0), {}, (1, 2, 3), "config"),
    ("ReflectionPad2d", ((4, 4, 1, 1),), {}, (1, 5, 5), (1, 7, 13)),
    ("ReflectionPad2d", ((5, 0, 1, 1),), {}, (1, 5, 5), "shape"),
    ("ReflectionPad2d", (1,), {}, (5, 5, 5, 5), "shape"),
    ("ReflectionPad1d", (2,), {}, (5, 5), (5, 9)),
    ("ReplicationPad2d", (10,), {}, (1, 2, 2), (1, 22, 22)),
    ("ReplicationPad3d", ((1, 0, 2, 0, 3, 0),), {}, (1, 2, 2, 2), (1, 5, 4, 3)),
    ("CircularPad2d", ((2, 0, 1, 1),), {}, (1, 2, 2), (1, 4, 4)),
    ("CircularPad2d", ((3, 0, 0, 0),), {}, (1, 2, 2), "shape"),
    ("CircularPad1d", (1,), {}, (2, 3, 4), "shape"),
    ("Embedding", (10, 4), {}, (7,), (7, 4)),
    ("ChannelShuffle", (2,), {}, (4, 3, 3), (4, 3, 3)),
    ("ChannelShuffle", (3,), {}, (4, 3, 3), "shape"),
    # edges found by tools/mutants.py
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
    ("Upsample", (), {"scale_factor": 2}, (3, 4, 5, 7), (3, 8, 10, 14)),  # nearest, on a volume
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
    ("Unfold", (3,), {"padding": 1, "stride": 2}, (5, 7, 9), (45, 20)),
    ("Unfold", ((2, 3),), {"dilation": (1, 2)}, (4, 6, 8), (24, 20)),
    ("Unfold", (5,), {}, (3, 4, 4), "shape"),  # no block fits
    ("Unfold", (3,), {}, (3, 4), "rank"),
    ("Fold", ((7, 9), 3), {"padding": 1, "stride": 2}, (45, 20), (5, 7, 9)),
    ("Fold", ((7, 9), 3), {"padding": 1, "stride": 2}, (45, 21), "shape"),  # 4·5 blocks
    ("Fold", ((7, 9), 3), {"padding": 1, "stride": 2}, (44, 20), "shape"),  # not a multiple of 9
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
    assert outcome(name, args, kwargs, shape) == {"rank": "shape", "zero": "config"}.get(expected, expected)


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("case", TABLE, ids=case_id)
def test_table_agrees_with_torch(case):
    torch = pytest.importorskip("torch")
    name, args, kwargs, shape, expected = case
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            module = getattr(torch.nn, name)(*args, **kwargs)
            x = torch.zeros((2, *shape), dtype=torch.long if name == "Embedding" else torch.float32)
            result = tuple(module(x).shape[1:])
        except Exception:  # noqa: BLE001 - any rejection counts
            result = "rejected"
    if expected == "zero":  # torch builds a layer with no weights, with only a warning
        assert any("zero-element" in str(w.message) for w in caught)
    elif expected == "collapse":  # torch errors, or (ConvTranspose) returns an empty tensor
        assert result == "rejected" or 0 in result
    elif isinstance(expected, tuple):
        assert result == expected
    elif expected == "rank":
        assert result != "rejected"
    else:
        assert result == "rejected"


# ---- named scenarios


def run(name, shape, *args, **kwargs):
    return output_shape(name, bind(name, list(args), kwargs), shape)


def test_nin_stem():
    assert run("Conv2d", (1, 224, 224), 1, 96, 11, stride=4) == (96, 54, 54)
    assert [str(d) for d in run("Conv2d", (1, H, W), 1, 96, 11, stride=4)] == [
        "96", "⌊(H − 11)/4⌋ + 1", "⌊(W − 11)/4⌋ + 1"]


MNIST = [((1, 8, 5), {"padding": 2, "stride": 2}), ((8, 16, 3), {"padding": 1, "stride": 2}),
         ((16, 32, 3), {"padding": 1, "stride": 2}), ((32, 32, 3), {"padding": 1, "stride": 2})]


def test_mnist_chain_concrete_and_symbolic():
    shape, sym = (1, 28, 28), (1, H, W)
    concrete, symbolic = [], []
    for args, kwargs in MNIST:
        shape, sym = run("Conv2d", shape, *args, **kwargs), run("Conv2d", sym, *args, **kwargs)
        concrete.append(shape)
        symbolic.append(str(sym[1]))
    assert concrete == [(8, 14, 14), (16, 7, 7), (32, 4, 4), (32, 2, 2)]
    assert symbolic == ["⌊(H + 1)/2⌋", "⌊(H + 3)/4⌋", "⌊(H + 7)/8⌋", "⌊(H + 15)/16⌋"]
    assert evaluate(sym[1], {"H": 28}) == 2


def test_ceil_mode_corner_cases():
    # 5 → 3 with ceil_mode (floor would give 2)
    assert run("MaxPool2d", (1, 5, 5), 2, 2, ceil_mode=True) == (1, 3, 3)
    assert run("MaxPool2d", (1, 5, 5), 2, 2) == (1, 2, 2)
    # the last-window rule: ⌈(5 + 2 − 2)/2⌉ + 1 = 4 windows, but the 4th would
    # start at 6 >= 5 + 1 (outside input and left padding), so torch keeps 3
    assert run("MaxPool1d", (1, 5), 2, 2, padding=1, ceil_mode=True) == (1, 3)
    assert run("AvgPool1d", (1, 5), 2, 2, padding=1, ceil_mode=True) == (1, 3)
    # ⌈(3 − 2)/4⌉ + 1 = 2, the 2nd window would start at 4 >= 3
    assert run("MaxPool1d", (1, 3), 2, 4, ceil_mode=True) == (1, 1)
    # kernel larger than the input still gives one window in ceil mode
    assert run("MaxPool2d", (1, 3, 3), 5, ceil_mode=True) == (1, 1, 1)


# torch 2.13, MaxPool1d(k, s, padding=p, ceil_mode=True) on n = 1..11
CEIL_SWEEPS = {
    (2, 2, 1): [1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6],
    (2, 2, 0): [1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6],
    (3, 2, 1): [1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6],
}


@pytest.mark.parametrize("k, s, p", list(CEIL_SWEEPS))
def test_ceil_mode_symbolic_is_exact(k, s, p):
    (out,) = run("MaxPool1d", (1, H), k, s, padding=p, ceil_mode=True)[1:]
    assert [evaluate(out, {"H": n}) for n in range(1, 12)] == CEIL_SWEEPS[k, s, p]
    assert [run("MaxPool1d", (1, n), k, s, padding=p, ceil_mode=True)[1] for n in range(1, 12)] \
        == CEIL_SWEEPS[k, s, p]


def test_ceil_mode_symbolic_matches_concrete_everywhere():
    for k in range(1, 6):
        for s in range(1, 6):
            for d in (1, 2):
                for p in range(k // 2 + 1):
                    params = bind("MaxPool1d", [k, s, p, d], {"ceil_mode": True})
                    (sym,) = output_shape("MaxPool1d", params, (1, H))[1:]
                    for n in range(1, 40):
                        (value,) = output_shape("MaxPool1d", params, (1, n))[1:]
                        assert evaluate(sym, {"H": n}) == value, (k, s, d, p, n)


def test_same_padding_even_kernel_and_dilation():
    # torch pads d·(k − 1) in total, the smaller half first: k=4, d=3 → 4 before, 5 after
    params = bind("Conv2d", [2, 4, 4], {"padding": "same", "dilation": 3})
    assert output_shape("Conv2d", params, (2, 5, 6)) == (4, 5, 6)
    assert output_shape("Conv2d", params, (2, H, W)) == (4, H, W)
    (first, second) = windows("Conv2d", params, (2, H, W))
    assert (first.pad_before, first.pad_after) == (4, 5)
    params = bind("Conv2d", [2, 4, (2, 5)], {"padding": "same", "dilation": (2, 1)})
    pads = [(w.pad_before, w.pad_after) for w in windows("Conv2d", params, (2, 9, 9))]
    assert pads == [(1, 1), (2, 2)]


def test_same_padding_windows_match_torch():
    torch = pytest.importorskip("torch")
    for k, d in ((4, 3), ((2, 5), (2, 1)), (6, 1)):
        conv = torch.nn.Conv2d(1, 1, k, padding="same", dilation=d)
        reversed_pads = list(conv._reversed_padding_repeated_twice)  # (W before, W after, H before, H after)
        found = windows("Conv2d", bind("Conv2d", [1, 1, k], {"padding": "same", "dilation": d}), (1, 9, 9))
        assert reversed_pads == [found[1].pad_before, found[1].pad_after, found[0].pad_before, found[0].pad_after]


def test_conv_transpose_output_padding_and_symbolic_doubling():
    assert run("ConvTranspose2d", (4, 7, 8), 4, 2, 3, stride=2, padding=1, output_padding=1) == (2, 14, 16)
    assert run("ConvTranspose2d", (4, H, W), 4, 2, 3, stride=2, padding=1, output_padding=1) == (2, 2 * H, 2 * W)
    assert run("ConvTranspose2d", (4, H, W), 4, 2, 4, stride=2, padding=1) == (2, 2 * H, 2 * W)
    assert windows("ConvTranspose2d", bind("ConvTranspose2d", [4, 2, 3], {}), (4, 8, 8)) == []


# (layer, args, kwargs, (weights, biases)) as sum(p.numel()) splits them in torch 2.13
COUNTS = [
    ("Conv2d", (3, 64, 7), {"stride": 2, "padding": 3, "bias": False}, (9408, 0)),
    ("Conv2d", (32, 64, 3), {"groups": 4}, (4608, 64)),
    ("Conv2d", (32, 32, 3), {"groups": 32, "bias": False}, (288, 0)),
    ("Conv1d", (3, 5, 4), {}, (60, 5)),
    ("Conv3d", (2, 4, (1, 3, 3)), {}, (72, 4)),
    ("ConvTranspose2d", (16, 8, 4), {"groups": 2}, (1024, 8)),
    ("Linear", (512, 10), {}, (5120, 10)),
    ("Linear", (8, 3), {"bias": False}, (24, 0)),
    ("Bilinear", (3, 4, 5), {}, (60, 5)),
    ("BatchNorm2d", (64,), {}, (64, 64)),
    ("BatchNorm1d", (10,), {"affine": False}, (0, 0)),
    ("BatchNorm2d", (8,), {"bias": False}, (8, 0)),
    ("InstanceNorm2d", (8,), {}, (0, 0)),
    ("InstanceNorm2d", (8,), {"affine": True}, (8, 8)),
    ("GroupNorm", (4, 16), {}, (16, 16)),
    ("GroupNorm", (4, 16), {"affine": False}, (0, 0)),
    ("LayerNorm", ((4, 5),), {}, (20, 20)),
    ("LayerNorm", (8,), {"bias": False}, (8, 0)),
    ("LayerNorm", (8,), {"elementwise_affine": False}, (0, 0)),
    ("RMSNorm", (6,), {}, (6, 0)),
    ("PReLU", (), {}, (1, 0)),
    ("PReLU", (7,), {}, (7, 0)),
    ("Embedding", (10, 4), {}, (40, 0)),
    ("ReLU", (), {}, (0, 0)),
    ("MaxPool2d", (2,), {}, (0, 0)),
]


@pytest.mark.parametrize("name, args, kwargs, expected", COUNTS)
def test_parameter_count(name, args, kwargs, expected):
    assert parameter_count(name, bind(name, list(args), kwargs)) == expected


@pytest.mark.parametrize("name, args, kwargs, expected", COUNTS)
def test_parameter_count_agrees_with_torch(name, args, kwargs, expected):
    torch = pytest.importorskip("torch")
    module = getattr(torch.nn, name)(*args, **kwargs)
    weights = sum(p.numel() for n, p in module.named_parameters() if not n.endswith("bias"))
    biases = sum(p.numel() for n, p in module.named_parameters() if n.endswith("bias"))
    assert (weights, biases) == expected


def test_parameter_count_unknown_or_invalid():
    assert parameter_count("Conv2d", bind("Conv2d", [UNKNOWN, 8, 3], {})) is None
    assert parameter_count("Conv2d", bind("Conv2d", [4, 6, 3], {"groups": 4})) is None
    assert parameter_count("Linear", bind("Linear", [8, 3], {"bias": UNKNOWN})) is None


# ---- binding


def test_bind_positional_equals_keyword():
    positional = bind("Conv2d", [1, 8, 5, 2, 2], {})
    keyword = bind("Conv2d", [], {"in_channels": 1, "out_channels": 8, "kernel_size": 5, "stride": 2, "padding": 2})
    assert positional == keyword
    assert positional["dilation"] == 1 and positional["padding_mode"] == "zeros" and positional["device"] is None


def test_bind_rejects_what_torch_rejects():
    assert bind("Conv2d", [1, 8], {}) is None                                  # missing kernel_size
    assert bind("Conv2d", [1, 8, 3], {"kernal_size": 3}) is None              # unknown keyword
    assert bind("Conv2d", [1, 8, 3], {"in_channels": 1}) is None              # given twice
    assert bind("Conv2d", list(range(12)), {}) is None                        # too many
    assert bind("BatchNorm2d", [8, 1e-5, 0.1, True, True, None, None, False], {}) is None  # bias is keyword-only
    assert bind("BatchNorm2d", [8], {"bias": False})["bias"] is False
    assert bind("ReLU", [True], {}) == {"inplace": True}
    assert bind("Sigmoid", [1], {}) is None
    assert bind("Identity", [1, 2], {"anything": 3}) == {}
    assert bind("Threshold", [0.1], {}) is None


def test_bind_agrees_with_torch_on_rejections():
    torch = pytest.importorskip("torch")
    calls = [("Conv2d", [1, 8], {}), ("Conv2d", [1, 8, 3], {"in_channels": 1}),
             ("BatchNorm2d", [8, 1e-5, 0.1, True, True, None, None, False], {}),
             ("Sigmoid", [1], {}), ("MaxPool2d", [2, 2, 0, 1, False, True, 9], {}),
             ("Linear", [4], {"out_features": 2, "bias": False})]
    for name, args, kwargs in calls:
        try:
            getattr(torch.nn, name)(*args, **kwargs)
            accepted = True
        except TypeError:
            accepted = False
        assert (bind(name, args, kwargs) is not None) == accepted, (name, args, kwargs)


def test_layer_signatures_match_torch():
    torch = pytest.importorskip("torch")
    of_dims = {name: family for family, name in ANY_DIMS.items()}
    for name, spec in LAYERS.items():
        if name[:1].islower() or name in FOREIGN_LAYERS:  # a function's or tensor method's rule (pad,
            continue  # unsqueeze): no module; einops' Rearrange: not torch's
        # a layer of unknown dimensions binds as its family's 2-d class (all three have its signature
        # but AvgPool1d, which lacks divisor_override)
        signature = inspect.signature(getattr(torch.nn, f"{of_dims[name]}2d" if name in of_dims else name).__init__)
        theirs = tuple(
            (p.name, REQUIRED if p.default is p.empty else p.default)
            for p in list(signature.parameters.values())[1:]
            if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        )
        assert theirs == spec.params, name


# ---- argument checks


def test_config_errors_name_the_numbers():
    assert config_errors("Conv2d", bind("Conv2d", [4, 6, 3], {"groups": 4})) == [
        "out_channels (6) must be divisible by groups (4)"]
    assert config_errors("Conv2d", bind("Conv2d", [6, 8, 3], {"groups": 4})) == [
        "in_channels (6) must be divisible by groups (4)"]
    assert config_errors("Conv2d", bind("Conv2d", [2, 4, 3], {"stride": 2, "padding": "same"})) == [
        "padding='same' is not supported for strided convolutions (stride=2)"]
    assert config_errors("GroupNorm", bind("GroupNorm", [3, 16], {})) == [
        "num_channels (16) must be divisible by num_groups (3)"]
    assert config_errors("MaxPool2d", bind("MaxPool2d", [3], {"padding": 2})) == [
        "padding (2) must be at most half of kernel_size (3)"]
    assert config_errors("ConvTranspose2d", bind("ConvTranspose2d", [4, 2, 3], {"stride": 2, "output_padding": 2})) \
        == ["output_padding (2) must be smaller than either stride (2) or dilation (1)"]
    assert config_errors("Conv2d", bind("Conv2d", [1, 2, 3], {"padding_mode": "mirror"}))
    assert config_errors("Conv2d", bind("Conv2d", [1, 2, 0], {})) == ["kernel_size must be positive, got 0"]
    assert config_errors("ConvTranspose2d", bind("ConvTranspose2d", [1, 2, 3], {"padding_mode": "reflect"}))
    assert config_errors("GroupNorm", bind("GroupNorm", [0, 16], {})) == ["num_groups must be positive, got 0"]
    assert config_errors("Conv2d", bind("Conv2d", [1, 8, 3], {})) == []


def test_unknown_arguments_never_raise_or_report():
    params = bind("Conv2d", [UNKNOWN, 8, UNKNOWN], {"stride": (2, UNKNOWN), "groups": UNKNOWN})
    assert config_errors("Conv2d", params) == []
    assert output_shape("Conv2d", params, (3, 32, 32)) == (8, None, None)
    assert windows("Conv2d", params, (3, 32, 32)) == []
    params = bind("MaxPool2d", [2], {"ceil_mode": UNKNOWN})
    assert output_shape("MaxPool2d", params, (3, 9, 9)) == (3, None, None)
    assert output_shape("Linear", bind("Linear", [8, UNKNOWN], {}), (8,)) == (None,)
    assert output_shape("Upsample", bind("Upsample", [], {"scale_factor": UNKNOWN}), (3, 4, 4)) == (3, None, None)
    assert output_shape("ZeroPad2d", bind("ZeroPad2d", [UNKNOWN], {}), (3, 4, 4)) is None
    for name in LAYERS:
        params = {key: UNKNOWN for key, _ in LAYERS[name].params}
        assert config_errors(name, params) == [], name
        for shape in ((3, 8), (3, 8, 8), (3, 8, 8, 8)):
            try:
                output_shape(name, params, shape)
            except ShapeError:
                pass  # rank errors are input facts, not argument facts
        parameter_count(name, params)


def test_unknown_dims_and_unknown_rank_propagate():
    assert run("Conv2d", None, 1, 8, 3) is None
    assert run("Conv2d", (1, None, 28), 1, 8, 3) == (8, None, 26)
    assert run("Flatten", (8, None, 4)) == (None,)
    assert run("Linear", (None, 8), 8, 3) == (None, 3)


# ---- windows


def test_windows_for_sliding_layers():
    assert windows("Conv2d", bind("Conv2d", [1, 8, 3], {"stride": 2, "padding": 1}), (1, H, 28)) == [
        Window(1, H, 3, 2, 1, 1, 1, False), Window(2, 28, 3, 2, 1, 1, 1, False)]
    assert windows("MaxPool2d", bind("MaxPool2d", [3, 2], {"ceil_mode": True}), (1, 9, 9)) == [
        Window(1, 9, 3, 2, 1, 0, 0, True), Window(2, 9, 3, 2, 1, 0, 0, True)]
    assert windows("AvgPool1d", bind("AvgPool1d", [4], {}), None) == [Window(1, None, 4, 4, 1, 0, 0, False)]
    assert windows("LPPool2d", bind("LPPool2d", [2, 3], {}), (1, 9, 9))[0].stride == 3
    assert windows("ReLU", {}, (1, 9, 9)) == []
    assert windows("AdaptiveAvgPool2d", bind("AdaptiveAvgPool2d", [1], {}), (1, 9, 9)) == []


# ---- symbolic inputs through other layers


def test_symbolic_reshapes_and_resampling():
    assert [str(d) for d in run("Flatten", (32, H // 4, W // 4))] == ["32·⌊H/4⌋·⌊W/4⌋"]
    assert run("Flatten", (32, H, W), 0) is None  # merges the batch
    assert run("Upsample", (3, H, W), scale_factor=2) == (3, 2 * H, 2 * W)
    assert run("Upsample", (3, H, W), scale_factor=2.0) == (3, 2 * H, 2 * W)
    assert run("Upsample", (3, H, W), scale_factor=1.5) == (3, None, None)
    assert run("Upsample", (3, H, W), size=(7, 9)) == (3, 7, 9)
    assert run("AdaptiveAvgPool2d", (3, H, W), (None, 1)) == (3, H, 1)
    assert run("PixelShuffle", (12, H, W), 2) == (3, 2 * H, 2 * W)
    assert run("PixelUnshuffle", (3, 2 * H, 4 * W), 2) == (12, H, 2 * W)
    with pytest.raises(ShapeError, match="never"):
        run("PixelUnshuffle", (3, 2 * H + 1, W), 2)
    assert run("PixelUnshuffle", (3, H, W), 2) == (12, H // 2, W // 2)  # when torch accepts it
    assert run("GLU", (3, 2 * H)) == (3, H)
    with pytest.raises(ShapeError):
        run("GLU", (3, 2 * H + 1))
    assert run("Unflatten", (6 * H, 5), 1, (3, -1)) == (3, 2 * H, 5)
    assert run("ZeroPad2d", (3, H, W), (1, 2, 3, 4)) == (3, H + 7, W + 3)
    assert run("Linear", (H, 8), 8, 3) == (H, 3)


def test_output_size_collapse_is_returned_not_raised():
    assert run("Conv2d", (1, 3, 3), 1, 4, 5) == (4, -1, -1)
    assert run("MaxPool2d", (1, 3, 3), 5) == (1, 0, 0)
    assert run("ZeroPad1d", (1, 5), (-3, -3)) == (1, -1)


def test_rank_errors_name_the_shape():
    with pytest.raises(ShapeError, match=r"Conv2d expects a 3-d input \(C, H, W\).*2-d shape \(512, 4\)"):
        run("Conv2d", (512, 4), 512, 8, 3)
    with pytest.raises(ShapeError, match="BatchNorm1d expects a 1-d or 2-d input"):
        run("BatchNorm1d", (3, 4, 5), 3)
    with pytest.raises(ShapeError, match="at least 3 dims"):
        run("PixelShuffle", (3, 4), 2)


# ---- functional forms

# (function, args after the input, kwargs, input shape with batch, expected output without batch)
FUNCTIONAL_CASES = [
    ("max_pool2d", (2, 2, 1, 1, True), {}, (2, 3, 5, 6), (3, 3, 4)),
    ("max_pool2d", (3,), {"stride": 2, "ceil_mode": True}, (2, 3, 6, 7), (3, 3, 3)),
    ("avg_pool2d", (2,), {"padding": 1, "count_include_pad": False}, (2, 3, 5, 5), (3, 3, 3)),
    ("avg_pool1d", (4, 3, 2, True), {}, (2, 2, 10), (2, 4)),
    ("adaptive_avg_pool2d", ((None, 3),), {}, (2, 2, 5, 7), (2, 5, 3)),
    ("adaptive_max_pool1d", (4,), {}, (2, 2, 9), (2, 4)),
    ("interpolate", (), {"scale_factor": 1.5, "mode": "bilinear"}, (2, 3, 5, 7), (3, 7, 10)),
    ("interpolate", ((4, 6),), {}, (2, 3, 5, 7), (3, 4, 6)),
    ("pad", ((1, 2, 3, 4),), {}, (2, 3, 5, 6), (3, 12, 9)),
    ("pad", ((1, 1),), {"mode": "reflect"}, (2, 3, 5), (3, 7)),
    ("flatten", (1,), {}, (2, 3, 4, 5), (60,)),
    ("unflatten", (1, (2, -1)), {}, (2, 12, 3), (2, 6, 3)),
    ("softmax", (1,), {}, (2, 10), (10,)),
    ("relu", (), {"inplace": False}, (2, 3), (3,)),
    ("gelu", (), {"approximate": "tanh"}, (2, 3), (3,)),
    ("dropout", (0.2, False), {}, (2, 3), (3,)),
    ("glu", (-1,), {}, (2, 6), (3,)),
    ("layer_norm", ((3,),), {}, (2, 4, 3), (4, 3)),
    ("pixel_shuffle", (2,), {}, (2, 8, 2, 2), (2, 4, 4)),
]


@pytest.mark.parametrize("fname, args, kwargs, shape, expected", FUNCTIONAL_CASES)
def test_functional(fname, args, kwargs, shape, expected):
    layer, params = bind_functional(fname, list(args), kwargs)
    assert config_errors(layer, params) == []
    assert output_shape(layer, params, shape[1:]) == expected


@pytest.mark.parametrize("fname, args, kwargs, shape, expected", FUNCTIONAL_CASES)
def test_functional_agrees_with_torch(fname, args, kwargs, shape, expected):
    torch = pytest.importorskip("torch")
    function = getattr(torch.nn.functional, fname, None) or getattr(torch, fname)
    assert tuple(function(torch.zeros(shape), *args, **kwargs).shape[1:]) == expected


# (method, args, kwargs, input shape with batch, expected output without batch; "shape": torch raises;
# None: unknown, for a new axis before the batch)
METHOD_CASES = [
    ("unsqueeze", (1,), {}, (2, 3, 4, 5), (1, 3, 4, 5)),
    ("unsqueeze", (-1,), {}, (2, 3, 4, 5), (3, 4, 5, 1)),
    ("unsqueeze", (4,), {}, (2, 3, 4, 5), (3, 4, 5, 1)),
    ("unsqueeze", (-4,), {}, (2, 3, 4, 5), (1, 3, 4, 5)),
    ("unsqueeze", (), {"dim": 2}, (2, 3, 4, 5), (3, 1, 4, 5)),
    ("unsqueeze", (1,), {}, (2, 64), (1, 64)),
    ("unsqueeze", (5,), {}, (2, 3, 4, 5), "shape"),
    ("unsqueeze", (-6,), {}, (2, 3, 4, 5), "shape"),
    ("unsqueeze", (0,), {}, (2, 3, 4, 5), None),
    ("unsqueeze", (-5,), {}, (2, 3, 4, 5), None),
]


def method_outcome(name, args, kwargs, shape):
    layer, params = bind_method(name, list(args), kwargs)
    try:
        return output_shape(layer, params, shape[1:])
    except ShapeError:
        return "shape"


@pytest.mark.parametrize("name, args, kwargs, shape, expected", METHOD_CASES)
def test_method(name, args, kwargs, shape, expected):
    assert method_outcome(name, args, kwargs, shape) == expected


@pytest.mark.parametrize("name, args, kwargs, shape, expected", METHOD_CASES)
def test_method_agrees_with_torch(name, args, kwargs, shape, expected):
    torch = pytest.importorskip("torch")
    try:
        result = getattr(torch.zeros(shape), name)(*args, **kwargs).shape
    except IndexError:
        result = "shape"
    if expected is None:  # the new axis comes first: the batch is no longer dim 0
        assert result[0] == 1 and tuple(result[1:]) == shape
    else:
        assert (result if result == "shape" else tuple(result[1:])) == expected


def test_method_message_is_torchs():
    with pytest.raises(ShapeError, match=r"^unsqueeze: dimension out of range \(expected to be in range of \[-5, 4\], but got 5\)$"):
        output_shape("unsqueeze", {"dim": 5}, (3, 4, 5))


def test_functional_binding_rules():
    assert bind_functional("gelu", ["tanh"], {}) is None            # approximate is keyword-only
    assert bind_functional("max_pool2d", [], {}) is None            # kernel_size missing
    assert bind_functional("no_such_function", [], {}) is None
    layer, params = bind_functional("max_pool2d", [2, None, 0, 1, True], {})
    assert layer == "MaxPool2d" and params["ceil_mode"] is True and params["return_indices"] is False
    assert bind_functional("flatten", [], {}) == ("Flatten", {"start_dim": 0, "end_dim": -1})
    assert output_shape(*bind_functional("flatten", [], {}), (3, 4)) is None  # torch.flatten merges the batch
    assert bind_functional("unflatten", [1, (2, 3)], {})[1]["unflattened_size"] == (2, 3)
    layer, params = bind_functional("pad", [(1, 1)], {"mode": "reflect", "value": 0.0})
    assert config_errors(layer, params) == ["padding mode 'reflect' does not take a value argument"]
    layer, params = bind_functional("interpolate", [], {"scale_factor": 2, "mode": "nearest", "antialias": True})
    assert config_errors(layer, params)
    for fname, (layer, signature) in FUNCTIONAL.items():
        assert layer in LAYERS, fname
        assert all(len(entry) == 2 for entry in signature)


def test_torch_base_classes_are_torchs():
    torch = pytest.importorskip("torch")
    for name, spec in LAYERS.items():
        if name[:1].islower() or name in FOREIGN_LAYERS or name in ANY_DIMS.values():  # no torch class
            continue
        mro = {cls.__name__ for cls in getattr(torch.nn, name).__mro__} - {name, "Module", "object"}
        assert set(spec.torch_bases) == mro, name
