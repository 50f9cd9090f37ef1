"""Attention blocks (issue 14): matmul / bmm / `@`, class tokens expanded to the batch, x.dim(),
unbind, tensor_split, heads folded into the batch, flatten of a tensor of unknown rank. Every
finding exact to its line and message; every model run once in torch to confirm that torch raises
exactly where a finding is, and computes the output shape convlint follows."""

import importlib.util
import sys
from pathlib import Path

import pytest

from convlint.engine import analyze_source, lint_source
from convlint.products import matmul_shape
from convlint.sizes import var

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "attention_blocks.py"

# (line, check, message); the numbers checked against torch 2.13 running the fixture
EXPECTED = [
    (54, "channel-mismatch", "Linear expects 32 input features but receives 64 (the output of the indexing on line 59)"),
    (71, "shape-mismatch", "torch.cat along dim 1 needs equal sizes elsewhere, but gets (N, 1, 32) and (N, 16, 64)"),
    (86, "shape-mismatch", "matmul of (N, 64, 32) and (N, 16, 64): the last size of the first (32) must equal the "
                           "second-to-last size of the second (16)"),
    (107, "shape-mismatch", "@ of (N, 16, 64) and (48, 32): the last size of the first (64) must equal the "
                            "second-to-last size of the second (48)"),
    (137, "channel-mismatch", "Conv3d expects 8 input channels but receives 16 (the output of the reshape on line 143)"),
    (190, "channel-mismatch", "Linear expects 128 input features but receives 64 (out_features of the Linear on line 189)"),
    (213, "shape-mismatch", "MultiheadAttention expects query embeddings of 32 features but receives 64"),
    (254, "shape-mismatch", "MultiheadAttention expects key embeddings of 32 features but receives 16"),
    (272, "invalid-layer-config", "MultiheadAttention: embed_dim must be divisible by num_heads, got 64 and 5"),
    (282, "channel-mismatch", "Linear expects 8 input features but receives 48 (the output of the view on line 287)"),
    (309, "shape-mismatch", "@ of (N, 4, 17, 16) and (N, 4, 17, 16): the last size of the first (16) must equal the "
                            "second-to-last size of the second (17)"),
    (342, "channel-mismatch", "Linear expects 48 input features but receives 96 (the output of the reshape on line 352)"),
]
# model -> (the input torch runs it on, what convlint follows it to: an output shape, None (unknown) or
# "raises": a finding above is the error torch raises)
MODELS = {
    "TinyViT": ((3, 32, 32), (10,)),
    "NarrowHead": ((3, 32, 32), "raises"),
    "WideToken": ((3, 32, 32), "raises"),
    "CrossAttention": ((16, 8, 8), "raises"),
    "ProjectedTokens": ((16, 64), (16, 8)),
    "MisprojectedTokens": ((16, 64), "raises"),
    "BilinearPool": ((3, 16, 16), (5,)),
    "VideoTokens": ((3, 4, 16, 16), (8, 2, 2, 2)),  # heads folded into the batch: 4 rows per sample
    "VideoTokensWrongHeads": ((3, 4, 16, 16), "raises"),
    "BoxHead": ((16, 7, 7), (64,)),  # no declared input: flatten(1) gives (N, ?), fc6 takes it
    "MiswiredBoxHead": ((16, 7, 7), "raises"),
    "TokenMixer": ((16, 64), (16, 8)),
    "PatchEncoder": ((3, 32, 32), (10,)),
    "NarrowAttention": ((3, 32, 32), "raises"),
    "MemoryReader": ((64, 4, 4), (16, 64)),
    "MemoryReaderWrongSlots": ((64, 4, 4), "raises"),
    "ClipClassifier": ((6, 3, 16, 16), (5,)),  # frames folded into the batch by b * t, unfolded by b
    "ClipClassifierPerFrameHead": ((6, 3, 16, 16), "raises"),
    "FusedTokens": ((17, 64), (10,)),  # the batch moved second by permute(2, 0, 3, 1, 4), first again by unbind(0)
    "FusedTokensUntransposedKeys": ((17, 64), "raises"),
    "KernelTokens": ((10, 48), (4,)),  # F.scaled_dot_product_attention or the product spelled out: both (N, 3, 10, 16)
    "KernelTokensWideValues": ((10, 48), "raises"),
}


def _analysis():
    return analyze_source(FIXTURE.read_bytes(), str(FIXTURE), details=True)


def test_findings_are_exact():
    found = [(f.line, f.name, f.message) for f in lint_source(FIXTURE.read_bytes(), str(FIXTURE))]
    assert found == EXPECTED


@pytest.mark.parametrize("model", [m for m, (_, out) in MODELS.items() if out != "raises"])
def test_correct_models_are_followed(model):
    view = next(m for m in _analysis().models if m.name == model)
    assert view.steps[-1].out_shape == MODELS[model][1]


def test_a_tensor_whose_batch_moved_is_followed_only_back():
    from convlint.graph import Op
    from convlint.propagate import Propagation, TensorInfo

    view = next(m for m in _analysis().models if m.name == "FusedTokens")
    permute = next(s for s in view.steps if s.line == 307 and s.kind == "permute")
    piece = next(s for s in view.steps if s.line == 308 and s.kind == "split")
    assert (permute.out_shape, permute.step.output.shape, permute.step.output.batch_at) == (None, (3, 4, 17, 16), 1)
    assert (piece.out_shape, piece.step.output.batch_at) == ((4, 17, 16), 0)
    # any other op of a tensor whose batch is second is unknown: a Linear of it, say
    linear = next(s for s in view.steps if s.kind == "Linear").step.op
    run = Propagation((17, 64))
    run.values[7] = TensorInfo((3, 4, 17, 16), batch_at=1)
    assert run.step(Op("layer", (7,), 8, linear.node, linear.layer)).out_shape is None


def test_heads_fold_into_the_batch_and_the_pool_sees_one_head():
    view = next(m for m in _analysis().models if m.name == "VideoTokens")
    conv = next(s for s in view.steps if s.kind == "Conv3d" and s.line == 137)
    assert (conv.in_shape, conv.step.inputs[0].frames) == ((8, 2, 4, 4), 4)


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("model", sorted(MODELS))
def test_torch_agrees(model):
    torch = pytest.importorskip("torch")
    spec = importlib.util.spec_from_file_location("attention_blocks_fixture", FIXTURE)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    shape, expected = MODELS[model]
    try:
        with torch.no_grad():
            result = tuple(getattr(module, model)().eval()(torch.zeros(2, *shape)).shape[1:])
    except (RuntimeError, AssertionError):  # nn.MultiheadAttention asserts
        result = "raises"
    assert result == expected


def test_torch_rejects_the_head_count_at_construction():
    torch = pytest.importorskip("torch")
    with pytest.raises(AssertionError, match="embed_dim must be divisible by num_heads"):
        torch.nn.MultiheadAttention(64, 5)


# arguments of nn.MultiheadAttention -> (weights, biases) as torch counts model.parameters()
ATTENTION_COUNTS = [
    ({"embed_dim": 64, "num_heads": 4}, (16384, 256)),
    ({"embed_dim": 64, "num_heads": 8, "kdim": 16, "vdim": 16}, (10240, 256)),
    ({"embed_dim": 64, "num_heads": 4, "add_bias_kv": True, "bias": False}, (16384, 128)),
]


@pytest.mark.parametrize("kwargs, expected", ATTENTION_COUNTS)
def test_attention_parameter_count(kwargs, expected):
    from convlint.layers import bind, parameter_count

    assert parameter_count("MultiheadAttention", bind("MultiheadAttention", [], kwargs)) == expected


@pytest.mark.parametrize("kwargs, expected", ATTENTION_COUNTS)
def test_attention_parameter_count_is_torchs(kwargs, expected):
    torch = pytest.importorskip("torch")
    assert sum(p.numel() for p in torch.nn.MultiheadAttention(**kwargs).parameters()) == sum(expected)


# (a, b, const, const_first, expected) with batched shapes (batch 2 first) as torch sees them;
# "raises": torch rejects it and convlint says why; None: unknown to convlint (the batch takes part)
MATMUL_CASES = [
    ((2, 4, 3, 8), (2, 4, 8, 5), None, False, (4, 3, 5)),
    ((2, 4, 3, 8), (2, 1, 8, 5), None, False, (4, 3, 5)),     # a size-1 batch dim broadcasts
    ((2, 1, 3, 8), (2, 6, 8, 5), None, False, (6, 3, 5)),
    ((2, 3, 8), (2, 8, 5), None, False, (3, 5)),
    ((2, 3, 8), (2, 7, 5), None, False, "raises"),
    ((2, 4, 3, 8), (2, 3, 8, 5), None, False, "raises"),       # batch dims 4 and 3
    ((2, 3, 8), (2, 8), None, False, None),                    # (N, 8) is a matrix of N rows
    ((2, 4, 3, 8), (2, 8, 5), None, False, None),              # ranks differ: the batch meets the 4
    ((2, 3, 8), None, (8, 5), False, (3, 5)),
    ((2, 8), None, (8, 5), False, (5,)),                       # (N, 8) @ (8, 5): the batch is the rows
    ((2, 3, 8), None, (8,), False, (3,)),
    ((2, 3, 8), None, (7, 5), False, "raises"),
    ((2, 8, 5), None, (3, 8), True, (3, 5)),
    ((2, 8, 5), None, (8,), True, (5,)),
    ((2, 8, 5), None, (3, 7), True, "raises"),
    ((2, 8), None, (3, 2), True, None),                        # W @ (N, 8): the batch is the inner size
    ((2, 3, 8), None, (4, 8, 5), False, None),                 # the parameter's own batch dim meets N
]


def _static(a, b, const, const_first):
    shape, error = matmul_shape("matmul", a[1:], None if b is None else b[1:], const=const, const_first=const_first)
    return "raises" if error else shape


def _torch(torch, a, b, const, const_first):
    left, right = torch.zeros(a), torch.zeros(b if const is None else const)
    if const_first:
        left, right = right, left
    try:
        return tuple(torch.matmul(left, right).shape[1:])
    except RuntimeError:
        return "raises"


@pytest.mark.parametrize("a, b, const, const_first, expected", MATMUL_CASES)
def test_matmul_rule(a, b, const, const_first, expected):
    assert _static(a, b, const, const_first) == expected


@pytest.mark.parametrize("a, b, const, const_first, expected", MATMUL_CASES)
def test_matmul_rule_agrees_with_torch(a, b, const, const_first, expected):
    torch = pytest.importorskip("torch")
    result = _torch(torch, a, b, const, const_first)
    assert result == expected if expected is not None else True


def test_bmm_takes_3d_operands_only():
    assert matmul_shape("bmm", (3, 8), (8, 5)) == ((3, 5), None)
    assert matmul_shape("bmm", (4, 3, 8), (4, 8, 5)) == (None, None)



def test_matmul_batch_dims_of_symbolic_sizes():
    h, w = var("H"), var("W")
    # torch runs (H, 3, 8) @ (4, 8, 5) only for H of 1 or 4, and both give a batch dim of 4
    assert matmul_shape("matmul", (h, 3, 8), (4, 8, 5)) == ((4, 3, 5), None)
    assert matmul_shape("matmul", (4, 3, 8), (h, 8, 5)) == ((4, 3, 5), None)
    assert matmul_shape("matmul", (h, 3, 8), (w, 8, 5)) == ((None, 3, 5), None)
    assert matmul_shape("matmul", (h, 3, 8), (h, 8, 5)) == ((h, 3, 5), None)
    assert matmul_shape("matmul", (1, 3, 8), (h, 8, 5)) == ((h, 3, 5), None)

ATTRIBUTES = Path(__file__).resolve().parent.parent / "fixtures" / "layer_attributes.py"


def test_layer_attributes_fixture():
    # torch: AttributeStem gives (2, 10); BorrowedWeight raises "mat1 and mat2 shapes cannot be
    # multiplied (128x16 and 64x16)"
    found = [(f.line, f.name, f.message) for f in lint_source(ATTRIBUTES.read_bytes(), str(ATTRIBUTES))]
    assert found == [(32, "channel-mismatch", "Linear expects 64 input features but receives 16 (the output of "
                                              "the transpose on line 35)")]
    view = next(m for m in analyze_source(ATTRIBUTES.read_bytes(), str(ATTRIBUTES), details=True).models
                if m.name == "AttributeStem")
    # F.conv2d / F.linear with a layer's weight: the steps of that layer, at its line
    assert [(s.line, s.kind, s.out_shape) for s in view.steps if s.kind in ("Conv2d", "Linear")] == [
        (20, "Conv2d", (16, 8, 8)), (16, "Linear", (64, 96)), (17, "Linear", (10,))]


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_layer_attributes_fixture_under_torch():
    torch = pytest.importorskip("torch")
    spec = importlib.util.spec_from_file_location("layer_attributes_fixture", ATTRIBUTES)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert tuple(module.AttributeStem()(torch.zeros(2, 3, 32, 32)).shape) == (2, 10)
    with pytest.raises(RuntimeError, match="cannot be multiplied"):
        module.BorrowedWeight()(torch.zeros(2, 3, 32, 32))


# (layer, args, kwargs, attribute, what torch 2.13's layer holds: a tuple, a str, or a tensor's shape as
# ("tensor", shape), None for no bias)
LAYER_ATTRIBUTES = [
    ("Conv2d", (3, 8, 3), {"stride": 2}, "kernel_size", (3, 3)),
    ("Conv2d", (3, 8, 3), {"stride": 2}, "stride", (2, 2)),
    ("Conv2d", (3, 8, 3), {"stride": 2}, "padding", (0, 0)),
    ("Conv2d", (3, 8, 3), {"stride": 2}, "weight", ("tensor", (8, 3, 3, 3))),
    ("Conv2d", (3, 8, 3), {"stride": 2}, "bias", ("tensor", (8,))),
    ("Conv1d", (4, 8, 5), {"padding": "same", "bias": False}, "padding", "same"),
    ("Conv1d", (4, 8, 5), {"padding": "same", "bias": False}, "bias", None),
    ("Conv3d", (2, 4, (1, 3, 3)), {"groups": 2}, "weight", ("tensor", (4, 1, 1, 3, 3))),
    ("ConvTranspose2d", (8, 4, 2), {"groups": 2}, "weight", ("tensor", (8, 2, 2, 2))),
    ("ConvTranspose2d", (8, 4, 2), {"groups": 2}, "bias", ("tensor", (4,))),
    ("Linear", (5, 7), {"bias": False}, "weight", ("tensor", (7, 5))),
    ("Linear", (5, 7), {"bias": False}, "bias", None),
]


def _shown(value):
    from convlint.extract.values import ConstTensor

    return ("tensor", tuple(value.shape)) if isinstance(value, ConstTensor) or hasattr(value, "numel") else value


@pytest.mark.parametrize("kind, args, kwargs, name, expected", LAYER_ATTRIBUTES)
def test_layer_attribute(kind, args, kwargs, name, expected):
    from convlint.extract.nn import layer_attribute
    from convlint.graph import Layer
    from convlint.layers import bind

    assert _shown(layer_attribute(Layer(kind, bind(kind, list(args), kwargs), None, None), name)) == expected


@pytest.mark.parametrize("kind, args, kwargs, name, expected", LAYER_ATTRIBUTES)
def test_layer_attribute_is_torchs(kind, args, kwargs, name, expected):
    torch = pytest.importorskip("torch")
    assert _shown(getattr(getattr(torch.nn, kind)(*args, **kwargs), name)) == expected


@pytest.mark.parametrize("query, key, value, expected", [
    ((3, 10, 16), (3, 7, 16), (3, 7, 8), (3, 10, 8)),
    ((10, 16), (7, 16), (7, 8), (10, 8)),
    ((3, 10, 16), (3, 7, 12), (3, 7, 8), None),  # torch raises: queries and keys of different widths
    ((3, 10, 16), (3, 7, 16), (3, 6, 8), None),  # torch raises: 7 keys, 6 values
    ((4, 10, 16), (2, 7, 16), (2, 7, 8), None),  # grouped heads (enable_gqa): not followed
])
def test_scaled_dot_product_attention_rule(query, key, value, expected):
    from convlint.products import attention_shape

    assert attention_shape(query, key, value) == expected


@pytest.mark.parametrize("query, key, value, expected", [
    ((3, 10, 16), (3, 7, 16), (3, 7, 8), (3, 10, 8)),
    ((10, 16), (7, 16), (7, 8), (10, 8)),
    ((3, 10, 16), (3, 7, 12), (3, 7, 8), None),
    ((3, 10, 16), (3, 7, 16), (3, 6, 8), None),
])
def test_scaled_dot_product_attention_rule_is_torchs(query, key, value, expected):
    torch = pytest.importorskip("torch")
    try:
        out = torch.nn.functional.scaled_dot_product_attention(*(torch.zeros(2, *s) for s in (query, key, value)))
        result = tuple(out.shape[1:])
    except RuntimeError:
        result = None
    assert result == expected
