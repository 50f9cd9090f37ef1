"""torch's functions and tensor methods, as ops of the model being built: each is one entry of a
table keyed by its name. A function or method with a shape rule of its own is a row of the layer
table (`layers.FUNCTIONAL`: `F.relu`, `F.max_pool2d`; `layers.METHODS`); an elementwise one is an
entry of torch's own list (`pointwise.POINTWISE`: the result is the broadcast of its tensor
arguments); another that keeps the shape is a name in SHAPE_KEEPING; anything else is unknown."""

from __future__ import annotations

import ast
from math import prod
from typing import Any

from .. import layers as L
from ..graph import MODEL_INPUT, DimOf, Layer, SizeOf, batch_of, is_batch, is_read_size
from ..sizes import UNKNOWN
from . import fixed, sized
from .pointwise import POINTWISE
from .values import (
    ConstTensor, ListVal, Pieces, Raise, ShapeOf, SizedTensor, SizesOf, Tensor, as_param, int_value, is_tensor, numeric,
)

# torch functions of tensors that keep the shape and are not in torch's elementwise list
# (conversions and copies, activations of torch.nn.functional only, softmax along a dim, dropout)
SHAPE_KEEPING = {
    "contiguous", "detach", "float", "half", "double", "bfloat16", "to", "cuda", "cpu", "type_as",
    "requires_grad_", "zero_", "fill_", "gelu", "silu", "elu", "leaky_relu", "hardswish", "mish",
    "hardsigmoid", "relu6", "dropout", "softmax", "log_softmax", "batch_norm", "roll", "normalize",
    "group_norm", "instance_norm", "rms_norm", "local_response_norm",  # F.*, the weights given
    # in-place samplers, as initialisers use them (`torch.empty(1, n, d).normal_(std=0.02)`)
    "normal_", "uniform_", "bernoulli_", "exponential_", "geometric_", "cauchy_", "log_normal_", "random_",
    # a new tensor of the shape of the one given (a VAE's noise `torch.randn_like(z_sigma)`)
    "zeros_like", "ones_like", "empty_like", "full_like", "rand_like", "randn_like", "randint_like",
}
# questions whose answer is False when a model runs as ordinary Python (not scripted, traced,
# compiled or exported)
EAGER_FALSE = {
    "torch.jit.is_scripting", "torch.jit.is_tracing", "torch._C._get_tracing_state",
    "torch.compiler.is_compiling", "torch.compiler.is_dynamo_compiling", "torch._dynamo.is_compiling",
    "torch.onnx.is_in_onnx_export",
}
# torch functions that make a tensor of the sizes they are given
CONST_MAKERS = {"ones", "zeros", "empty", "rand", "randn", "full"}
REDUCTIONS = {"mean", "sum", "amax", "amin", "prod", "std", "var", "logsumexp", "norm"}
MAX_RANK_OPS = 2000  # a model longer than this is not propagated again to learn a rank
# x.<name>_() that change the shape of x in place, as x.<name>() would
IN_PLACE_RESHAPES = {"unsqueeze", "squeeze", "transpose", "swapaxes", "swapdims"}
ARITHMETIC = {"add": "Add", "mul": "Multiply", "sub": "Subtract", "div": "Divide"}


class Tensors:
    """Ops on tensors (a mixin of the Extractor)."""

    def tensor_function(self, name: str, tensor: Tensor, args: list, kwargs: dict, node, functional: bool) -> Any:
        """`torch.<name>(tensor, *args)`, or `F.<name>(...)` when `functional`."""
        handler = TENSOR_FUNCTIONS.get(name) or (FUNCTIONAL_ONLY if functional else TORCH_FUNCTIONS).get(name)
        if handler is not None:
            return handler(self, name, tensor, args, kwargs, node)
        return self.other_function(name, tensor, args, kwargs, node)

    def other_function(self, name: str, tensor: Tensor, args: list, kwargs: dict, node) -> Any:
        bound = L.bind_functional(name, [as_param(a) for a in args], {k: as_param(v) for k, v in kwargs.items()})
        if bound is not None:
            return self.apply_rule(bound, tensor, node, read_sizes(L.bind_functional, name, args, kwargs))
        return self.other_method(name, tensor, args, kwargs, node)

    def apply_rule(self, bound: tuple[str, dict], tensor: Tensor, node, sized: dict | None = None) -> Tensor:
        """A function or method that a row of `layers` describes, as a layer op (`sized`: the
        arguments that are sizes read from tensors, which propagation resolves)."""
        kind, params = bound
        layer = Layer(kind, params, node, self.foreign_site or self.helper_site or node, file=self.code_file, functional=True)
        return self.emit("layer", (tensor.value,), node, layer, **({"sized": sized} if sized else {}))

    def tensor_method(self, tensor: Tensor, name: str, args: list, kwargs: dict, node) -> Any:
        if name == "get" and tensor.value == MODEL_INPUT:
            return UNKNOWN  # `data.get("features0")` of a dict of tensors: one, or None
        handler = TENSOR_METHODS.get(name)
        if handler is not None:
            return handler(self, name, tensor, args, kwargs, node)
        if name.endswith("_") and not name.endswith("__") and name not in POINTWISE and name not in SHAPE_KEEPING:
            return self.in_place(tensor, name, args, kwargs, node)
        return self.other_method(name, tensor, args, kwargs, node)

    def in_place(self, tensor: Tensor, name: str, args: list, kwargs: dict, node) -> Any:
        """`x.unsqueeze_(1)`, `x.transpose_(1, 2)`: the op writes into x's own value, so every name
        for x sees the change, as in torch; an in-place op we cannot follow (or one in an arm of an
        undecided branch) leaves x unknown."""
        if self.ops is None:
            return UNKNOWN
        before = len(self.ops)
        result = None
        if name[:-1] in IN_PLACE_RESHAPES and not self.speculative:
            result = self.tensor_method(tensor, name[:-1], args, kwargs, node)
        if not (is_tensor(result) and len(self.ops) == before + 1 and self.ops[-1].output == result.value):
            self.emit("unknown", (tensor.value,), node)
        self.ops[-1].output = tensor.value
        return tensor

    def other_method(self, name: str, tensor: Tensor, args: list, kwargs: dict, node) -> Any:
        bound = L.bind_method(name, [as_param(a) for a in args], {k: as_param(v) for k, v in kwargs.items()})
        if bound is not None:
            return self.apply_rule(bound, tensor, node, read_sizes(L.bind_method, name, args, kwargs))
        if name in POINTWISE:
            return self.pointwise(name, tensor, args, kwargs, node)
        if name in SHAPE_KEEPING:
            return tensor
        return self.unknown_result([tensor, *args], kwargs, node)

    def pointwise(self, name: str, tensor: Tensor, args: list, kwargs: dict, node) -> Any:
        """An elementwise function of torch's list: the broadcast of its tensor arguments (numbers
        keep the shape); an argument that may be a tensor we do not know makes it unknown."""
        counts, operands = POINTWISE[name]
        kwargs = {k: v for k, v in kwargs.items() if not (k == "inplace" and isinstance(v, bool))}  # F.* only
        if 1 + len(args) + len(kwargs) not in counts or "out" in kwargs:
            return self.unknown_result([tensor, *args], kwargs, node)
        result = tensor
        for value in [*args, *kwargs.values()]:
            if is_tensor(value) or isinstance(value, ConstTensor):
                result = self.emit("elementwise", (result.value, value.value), node, op=name, inplace=name.endswith("_")) \
                    if is_tensor(value) else self.emit("broadcast", (result.value,), node, const=value.shape, op=name)
            elif operands and not (numeric(value) or value is None or isinstance(value, bool)):
                return self.unknown_result([tensor, *args], kwargs, node)
        return result

    def index_tensor(self, tensor: Tensor, node, env) -> Any:
        """`x[:, :c]`, `x[..., 0::2, :]`, `x[:, 0]`, `x[:, None]`: basic indexing, as an op whose
        sizes propagation computes; a tensor or anything else as an index is unknown."""
        elements = node.slice.elts if type(node.slice) is ast.Tuple else [node.slice]
        spec = []
        for element in elements:
            if type(element) is ast.Slice:
                bounds = tuple(None if b is None else self.ev(b, env) for b in (element.lower, element.upper, element.step))
                if not all(b is None or int_value(b) or is_read_size(b) for b in bounds) or bounds[2] is not None \
                        and not (int_value(bounds[2]) and bounds[2] > 0):
                    return self.emit("unknown", (tensor.value,), node)
                spec.append(("slice", *bounds))
                continue
            if type(element) is ast.Constant and element.value is Ellipsis:
                spec.append(("ellipsis",))
                continue
            value = self.ev(element, env)
            if isinstance(value, str) and tensor.value == MODEL_INPUT and len(elements) == 1:
                return self.input_item(value, node)
            if value is None:
                spec.append(("new",))
            elif int_value(value) or is_read_size(value):
                spec.append(("index", value))
            else:
                return self.emit("unknown", (tensor.value,), node)
        return self.emit("index", (tensor.value,), node, spec=tuple(spec))

    def input_item(self, key: str, node) -> Any:
        """`data["image0"]` of a model called with a dict of tensors (kornia's matchers): a tensor
        of unknown shape, one per key, whose shape the first layer to read it sets."""
        items = self.__dict__.setdefault("input_items", {})
        ops, tensor = items.get(key, (None, None))
        if ops is not self.ops or self.ops is None:
            tensor = self.emit("input", (), node)
            items[key] = (self.ops, tensor)
        return tensor

    def shape_slice(self, tensor: Tensor, start, stop, step) -> Any:
        """`x.shape[-2:]` (the last sizes, whatever the rank), `x.size()[1:]` (at the rank the ops so
        far give the tensor: each size carries it, and is unknown at any other)."""
        if not all(b is None or int_value(b) for b in (start, stop, step)) or step not in (None, 1):
            return UNKNOWN
        if start is not None and start < 0 and (stop is None or stop < 0):
            return SizesOf(tuple(DimOf(tensor.value, axis) for axis in range(start, stop or 0)))
        rank = self.rank_of(tensor)
        if rank is None and start in (None, 0) and int_value(stop) and 0 < stop <= 2:
            # `x.shape[:2]` at a rank not known: the batch and the channels, which propagation may know
            # (of a tensor of unknown rank too); how many there are is no fact (SizesOf)
            return SizesOf((batch_of(tensor.value), DimOf(tensor.value, 1))[:stop])
        if rank is None:
            return UNKNOWN
        sizes = [batch_of(tensor.value)] + [DimOf(tensor.value, axis, rank) for axis in range(1, rank)]
        return SizesOf(tuple(sizes[start:stop]))

    def rank_of(self, tensor: Tensor) -> int | None:
        """The batched rank of a tensor as the ops so far give it at the declared input."""
        from ..propagate import Propagation

        if self.ops is None or len(self.ops) > MAX_RANK_OPS:
            return None
        run, done = self.rank_run if self.rank_run is not None else (None, [])
        if run is None or len(done) > len(self.ops) or any(self.ops[i] is not op or op.output != out
                                                           for i, (op, out) in enumerate(done[-1:], len(done) - 1)):
            run, done = Propagation(self.declared), []  # another model, or its last op rewritten in place
        for op in self.ops[len(done):]:
            run.step(op)
            done.append((op, op.output))
        self.rank_run = (run, done)
        shape = run.values.get(tensor.value)
        return None if shape is None or shape.shape is None else len(shape.shape) + 1

    def piece(self, pieces: Pieces, index: int, expected: int | None) -> Any:
        key = (index, expected)
        if key not in pieces.made:
            pieces.made[key] = self.emit(
                "split", (pieces.tensor.value,), pieces.node, call=pieces.call, mode=pieces.mode,
                param=tuple(v if int_value(v) or is_read_size(v) else None for v in pieces.param)
                if pieces.mode == "sections" else pieces.param,
                dim=pieces.dim, index=index, expected=expected,
            )
        return pieces.made[key]

    def view(self, tensor: Tensor, sizes: Any, node, call: str = "view") -> Any:
        if isinstance(sizes, ShapeOf):  # `x.reshape(shape)` of another tensor's `shape`: that shape, or torch raises
            return self.emit("view_as", (tensor.value, sizes.tensor.value), node, call=call)
        items = self.iterate(sizes)
        if items is None:
            return self.emit("unknown", (tensor.value,), node)
        if not all(int_value(s) or is_read_size(s) or is_batch(s) for s in items):
            # some size unknown (video swin's windows of an undecided length): the rank and the sizes
            # given are what torch makes, whatever the others are
            partial = tuple(s if int_value(s) or is_read_size(s) else None for s in items)
            return self.emit("view", (tensor.value,), node, sizes=(), partial=partial, call=call)
        return self.emit("view", (tensor.value,), node, sizes=tuple(items), call=call)

    def matmul(self, call: str, left: Any, right: Any, node) -> Any:
        """`a @ b`, torch.matmul, torch.bmm: of two tensors, or of a tensor and a parameter of known shape."""
        if is_tensor(left) and is_tensor(right):
            return self.emit("matmul", (left.value, right.value), node, call=call)
        tensor, const = (left, right) if is_tensor(left) else (right, left)
        if is_tensor(tensor) and isinstance(const, ConstTensor):
            return self.emit("matmul", (tensor.value,), node, call=call, const=const.shape, const_first=const is left)
        return self.unknown_result([left, right], {}, node)

    def concat(self, seq: Any, args, kwargs, node) -> Any:
        items = self.iterate(seq)
        dim = args[0] if args else kwargs.get("dim", kwargs.get("axis", 0))
        if items and all(isinstance(t, ConstTensor) for t in items):
            return fixed.concatenated(items, dim)  # a sin-cos table's pieces (their values not followed)
        if items is None or not items or not all(is_tensor(t) for t in items) or not isinstance(dim, int):
            tensors = [t for t in (items or []) if is_tensor(t)]
            return self.unknown_result(tensors, {}, node)
        return self.emit("cat", tuple(t.value for t in items), node, dim=dim)


def _with_sizes(value: Any) -> Any:
    """A layer argument as as_param makes it, but keeping the sizes read from tensors."""
    if isinstance(value, SizesOf):
        value = value.items
    if isinstance(value, ListVal) and not value.lost:
        value = tuple(value.items)
    if isinstance(value, tuple):
        return tuple(_with_sizes(v) for v in value)
    return value if is_read_size(value) else as_param(value)


def _has_read_size(value: Any) -> bool:
    return is_read_size(value) or isinstance(value, tuple) and any(_has_read_size(v) for v in value)


def read_sizes(bind, name: str, args: list, kwargs: dict) -> dict:
    """The arguments of a layer row that are sizes read from tensors (`F.avg_pool2d(x, x.size(2))`,
    `interpolate(x, size=skip.shape[-2:])`), by parameter."""
    if not any(_has_read_size(_with_sizes(v)) for v in [*args, *kwargs.values()]):
        return {}
    bound = bind(name, [_with_sizes(a) for a in args], {k: _with_sizes(v) for k, v in kwargs.items()})
    return {} if bound is None else {k: v for k, v in bound[1].items() if _has_read_size(v)}


# ---- the ops, each handler(interp, name, tensor, args, kwargs, node)


def _size(interp, name, tensor, args, kwargs, node):
    if not args and not kwargs:
        return ShapeOf(tensor)
    axis = args[0] if args else kwargs.get("dim")
    if axis == 0:
        return batch_of(tensor.value)
    return DimOf(tensor.value, axis) if isinstance(axis, int) else UNKNOWN


def _chunk_or_split(interp, name, tensor, args, kwargs, node):
    first = "chunks" if name == "chunk" else ("split_size" if "split_size" in kwargs else "split_size_or_sections")
    param = args[0] if args else kwargs.get(first)
    dim = args[1] if len(args) > 1 else kwargs.get("dim", 0)
    if not int_value(dim) or len(args) > 2 or set(kwargs) - {first, "dim"}:
        return interp.unknown_result([tensor, *args], kwargs, node)
    if isinstance(param, (ListVal, tuple)):
        sizes = tuple(param.items if isinstance(param, ListVal) else param)
        if name == "chunk" or not sizes or not all(int_value(v) or is_read_size(v) or v is UNKNOWN for v in sizes):
            return interp.unknown_result([tensor, *args], kwargs, node)
        return Pieces(tensor, name, "sections", sizes, dim, node)
    if not int_value(param) or param <= 0:
        return interp.unknown_result([tensor, *args], kwargs, node)
    return Pieces(tensor, name, name, param, dim, node)


def _dim(interp, name, tensor, args, kwargs, node):  # x.dim(): the rank, when the ops so far give it
    rank = None if args or kwargs else interp.rank_of(tensor)
    return UNKNOWN if rank is None else rank


def _unbind(interp, name, tensor, args, kwargs, node):  # x.unbind(dim): the slices x.select(dim, i)
    dim = args[0] if args else kwargs.get("dim", 0)
    if not int_value(dim) or len(args) > 1 or set(kwargs) - {"dim"}:
        return interp.unknown_result([tensor, *args], kwargs, node)
    return Pieces(tensor, name, "unbind", None, dim, node)


def _tensor_split(interp, name, tensor, args, kwargs, node):
    """`torch.tensor_split(x, (i, j), dim)`: the pieces x[..., :i], x[..., i:j], x[..., j:] along
    dim (a count of sections instead of indices: unknown)."""
    indices = args[0] if args else kwargs.get("indices", kwargs.get("tensor_indices_or_sections"))
    dim = args[1] if len(args) > 1 else kwargs.get("dim", 0)
    indices = tuple(indices.items) if isinstance(indices, ListVal) and not indices.lost else indices
    if not isinstance(indices, tuple) or not all(int_value(i) for i in indices) or not int_value(dim) \
            or len(args) > 2 or set(kwargs) - {"indices", "tensor_indices_or_sections", "dim"}:
        return interp.unknown_result([tensor, *args], kwargs, node)
    whole = ("slice", None, None, None)
    before = (whole,) * dim if dim >= 0 else (("ellipsis",),)
    after = () if dim >= 0 else (whole,) * (-dim - 1)
    bounds = [None, *indices, None]
    return tuple(interp.emit("index", (tensor.value,), node, spec=(*before, ("slice", start, stop, None), *after))
                 for start, stop in zip(bounds, bounds[1:]))


def _permute(interp, name, tensor, args, kwargs, node):
    dims = args[0] if len(args) == 1 and isinstance(args[0], (ListVal, tuple)) else tuple(args)
    dims = kwargs.get("dims", dims) if not args else dims
    dims = tuple(dims.items) if isinstance(dims, ListVal) else dims
    if not isinstance(dims, tuple) or not dims or not all(int_value(d) for d in dims):
        return interp.unknown_result([tensor, *args], kwargs, node)
    return interp.emit("permute", (tensor.value,), node, dims=dims, call=name)


def _transpose(interp, name, tensor, args, kwargs, node):
    a = args[0] if args else kwargs.get("dim0")
    b = args[1] if len(args) > 1 else kwargs.get("dim1")
    if not (int_value(a) and int_value(b)) or len(args) > 2:
        return interp.unknown_result([tensor, *args], kwargs, node)
    return interp.emit("permute", (tensor.value,), node, swap=(a, b), call=name)


def _view(interp, name, tensor, args, kwargs, node):
    sizes = args[0] if len(args) == 1 and isinstance(args[0], (tuple, ListVal, ShapeOf, SizesOf)) else tuple(args)
    return interp.view(tensor, sizes, node, name)


def _reshape(interp, name, tensor, args, kwargs, node):  # torch.reshape(x, shape)
    return interp.view(tensor, args[0] if len(args) == 1 else tuple(args), node, name)


def _flatten(interp, name, tensor, args, kwargs, node):
    explicit = bool(args) or "start_dim" in kwargs
    start = args[0] if args else kwargs.get("start_dim", 0)
    end = args[1] if len(args) > 1 else kwargs.get("end_dim", -1)
    if not isinstance(start, int) or not isinstance(end, int):
        return interp.emit("unknown", (tensor.value,), node)
    return interp.emit("flatten", (tensor.value,), node, start_dim=start, end_dim=end, explicit=explicit)


def _reduce(interp, name, tensor, args, kwargs, node):
    dims = args[0] if args else kwargs.get("dim", kwargs.get("axis"))
    keepdim = args[1] if len(args) > 1 else kwargs.get("keepdim", False)
    if isinstance(dims, ListVal):
        dims = tuple(dims.items)
    if isinstance(dims, int):
        dims = (dims,)
    if not isinstance(dims, tuple) or not all(isinstance(d, int) for d in dims) or not isinstance(keepdim, bool):
        return interp.emit("unknown", (tensor.value,), node)
    return interp.emit("reduce", (tensor.value,), node, dims=dims, keepdim=keepdim)


def _reduce_pair(interp, name, tensor, args, kwargs, node):
    """torch.std_mean(x, dim, *, correction, keepdim) and var_mean: the two reductions, as a tuple
    (kornia's descriptors standardise their patches with it)."""
    if len(args) > 1 or set(kwargs) - {"dim", "correction", "unbiased", "keepdim"}:
        return interp.unknown_result([tensor, *args], kwargs, node)
    first = name.partition("_")[0]
    return tuple(_reduce(interp, kind, tensor, args, kwargs, node) for kind in (first, "mean"))


def _elementwise_extreme(fallback: str):
    """torch.max(x, other) / x.min(other) of two tensors: torch.maximum / minimum (kornia's TLU takes
    the max with a parameter); with a dim they are reductions with indices, as before."""
    def handler(interp, name, tensor, args, kwargs, node):
        if len(args) == 1 and not kwargs and (is_tensor(args[0]) or isinstance(args[0], ConstTensor)):
            return interp.pointwise(f"{name}imum", tensor, args, {}, node)
        return getattr(interp, fallback)(name, tensor, args, kwargs, node)
    return handler


def _unfold(interp, name, tensor, args, kwargs, node):  # x.unfold(dimension, size, step): sliding windows
    bound = dict(zip(("dimension", "size", "step"), args), **kwargs)
    if len(args) > 3 or set(bound) != {"dimension", "size", "step"} or len(bound) != len(args) + len(kwargs):
        return interp.unknown_result([tensor, *args], kwargs, node)
    return interp.apply_rule(("unfold", bound), tensor, node)


def _arithmetic_method(interp, name, tensor, args, kwargs, node):  # x.add(y), x.mul_(y)
    if len(args) != 1:
        return interp.other_method(name, tensor, args, kwargs, node)
    return interp.binary(ARITHMETIC[name.rstrip("_")], tensor, args[0], node)


def _arithmetic_function(interp, name, tensor, args, kwargs, node):  # torch.add(x, y)
    if not args:
        return interp.other_function(name, tensor, args, kwargs, node)
    return interp.binary(ARITHMETIC[name], tensor, args[0], node)


def _matmul_method(interp, name, tensor, args, kwargs, node):  # x.matmul(y), x.bmm(y)
    other = args[0] if len(args) == 1 and not kwargs else kwargs.get("other", kwargs.get("mat2")) if not args else None
    if other is None or len(kwargs) > 1:
        return interp.unknown_result([tensor, *args], kwargs, node)
    return interp.matmul(name, tensor, other, node)


_ATTENTION_ARGS = ("key", "value", "attn_mask", "dropout_p", "is_causal", "scale", "enable_gqa")


def _attention(interp, name, tensor, args, kwargs, node):  # F.scaled_dot_product_attention(query, key, value, ...)
    given = {**dict(zip(_ATTENTION_ARGS, args)), **kwargs}
    key, value = given.get("key"), given.get("value")
    if len(args) > len(_ATTENTION_ARGS) or set(kwargs) - set(_ATTENTION_ARGS) or not (is_tensor(key) and is_tensor(value)) \
            or given.get("enable_gqa", False) is not False:
        return interp.unknown_result([tensor, *args], kwargs, node)
    return interp.emit("attention", (tensor.value, key.value, value.value), node)


_GRID_SAMPLE_ARGS = ("grid", "mode", "padding_mode", "align_corners")


def _grid_sample(interp, name, tensor, args, kwargs, node):  # F.grid_sample(input, grid, mode, padding_mode, ...)
    given = {**dict(zip(_GRID_SAMPLE_ARGS, args)), **kwargs}
    grid = given.get("grid")
    if len(args) > len(_GRID_SAMPLE_ARGS) or set(kwargs) - set(_GRID_SAMPLE_ARGS) or not is_tensor(grid):
        return interp.unknown_result([tensor, *args], kwargs, node)
    return interp.emit("grid_sample", (tensor.value, grid.value), node)  # the options change values, not the shape


def _unknown_cat(interp, name, tensor, args, kwargs, node):  # torch.cat(x): not a sequence of tensors
    return interp.unknown_result([tensor], kwargs, node)


def _conv(interp, name, tensor, args, kwargs, node):  # F.conv2d(x, weight, bias, stride, padding, dilation, groups)
    n = int(name[-2])
    names = ("weight", "bias", "stride", "padding", "dilation", "groups")
    if len(args) > len(names) or set(kwargs) - set(names):
        return interp.unknown_result([tensor, *args], kwargs, node)
    given = {**dict(zip(names, args)), **kwargs}
    weight, groups = given.get("weight"), given.get("groups", 1)
    if not isinstance(weight, ConstTensor) or len(weight.shape) != n + 2 or not int_value(groups) or groups < 1:
        return interp.unknown_result([tensor, *args], kwargs, node)
    out_channels, per_group, *kernel = weight.shape
    params = {k: as_param(given[k]) for k in ("stride", "padding", "dilation") if k in given}
    bound = L.bind(f"Conv{n}d", [per_group * groups, out_channels, tuple(kernel)],
                   {**params, "groups": groups, "bias": given.get("bias") is not None})
    if bound is None:
        return interp.unknown_result([tensor, *args], kwargs, node)
    return interp.apply_rule((f"Conv{n}d", bound), tensor, node)


def _linear(interp, name, tensor, args, kwargs, node):  # F.linear(x, weight, bias)
    given = {**dict(zip(("weight", "bias"), args)), **kwargs}
    weight = given.get("weight")
    if len(args) > 2 or set(kwargs) - {"weight", "bias"} or not isinstance(weight, ConstTensor) or len(weight.shape) != 2:
        return interp.unknown_result([tensor, *args], kwargs, node)
    if weight.owner is not None and weight.owner.kind == "Linear":
        return interp.emit("layer", (tensor.value,), node, weight.owner)  # F.linear(x, self.fc.weight): self.fc
    out_features, in_features = weight.shape
    return interp.apply_rule(("Linear", {"in_features": in_features, "out_features": out_features,
                                         "bias": given.get("bias") is not None}), tensor, node)


def _sizes_argument(args, kwargs, key="size"):
    """`x.expand(a, b)`, `x.expand((a, b))`, `x.expand(size=(a, b))`: the sizes, or None."""
    sizes = args[0] if len(args) == 1 and isinstance(args[0], (tuple, ListVal, SizesOf)) else tuple(args)
    if not args and set(kwargs) == {key}:
        sizes = kwargs[key]
    elif kwargs:
        return None
    sizes = tuple(sizes.items) if isinstance(sizes, (ListVal, SizesOf)) else sizes
    if not isinstance(sizes, tuple) or not sizes or not all(int_value(s) or is_read_size(s) or is_batch(s) for s in sizes):
        return None
    return sizes


def _expand(interp, name, tensor, args, kwargs, node):  # x.expand(-1, -1, h, w), x.repeat(1, 1, 2, 2)
    sizes = _sizes_argument(args, kwargs, "size" if name == "expand" else "repeats")
    if sizes is None:
        return interp.unknown_result([tensor, *args], kwargs, node)
    return interp.emit(name, (tensor.value,), node, sizes=sizes)


def _expand_as(interp, name, tensor, args, kwargs, node):  # x.expand_as(y)
    other = args[0] if len(args) == 1 and not kwargs else kwargs.get("other") if not args else None
    if not is_tensor(other):
        return interp.unknown_result([tensor, *args], kwargs, node)
    return interp.emit("expand", (tensor.value, other.value), node, sizes=None)


def _stack(interp, args, kwargs, node):  # torch.stack([a, b], dim)
    items = interp.iterate(args[0]) if args else None
    dim = args[1] if len(args) > 1 else kwargs.get("dim", 0)
    known_shapes = fixed.stacked(items, dim) if items is not None and len(args) <= 2 and not set(kwargs) - {"dim"} else None
    if known_shapes is not None:
        return known_shapes  # tensors of known shape, not the model's
    if items is None or not items or not all(is_tensor(t) for t in items) or not int_value(dim) or len(args) > 2 \
            or set(kwargs) - {"dim"}:
        return interp.unknown_result([t for t in (items or []) if is_tensor(t)], {}, node)
    return interp.emit("stack", tuple(t.value for t in items), node, dim=dim)


AXIS_OPS = {"chunk": _chunk_or_split, "split": _chunk_or_split, "permute": _permute, "tensor_split": _tensor_split,
            **dict.fromkeys(("transpose", "swapaxes", "swapdims"), _transpose)}
# x.<name>(...)
TENSOR_METHODS = {
    "size": _size, "dim": _dim, "unbind": _unbind, **AXIS_OPS, "expand": _expand, "repeat": _expand,
    "expand_as": _expand_as, "view": _view, "reshape": _view, "flatten": _flatten,
    **dict.fromkeys(REDUCTIONS, _reduce),
    **dict.fromkeys(("add", "mul", "sub", "div", "add_", "mul_"), _arithmetic_method),
    "matmul": _matmul_method, "bmm": _matmul_method, **dict.fromkeys(("max", "min"), _elementwise_extreme("other_method")),
    "unfold": _unfold, **dict.fromkeys(sized.MAKERS, sized.new_tensor),
}
# torch.<name>(x, ...) and F.<name>(x, ...)
TENSOR_FUNCTIONS = {
    "flatten": _flatten, "cat": _unknown_cat, "concat": _unknown_cat, **dict.fromkeys(REDUCTIONS, _reduce),
    **dict.fromkeys(ARITHMETIC, _arithmetic_function), "reshape": _reshape,
    "conv1d": _conv, "conv2d": _conv, "conv3d": _conv, "linear": _linear,
    "scaled_dot_product_attention": _attention,
}
FUNCTIONAL_ONLY = {"grid_sample": _grid_sample}  # F.<name>(x, ...) only: torch has no such function
TORCH_FUNCTIONS = {**AXIS_OPS, "matmul": _matmul_method, "bmm": _matmul_method,  # torch.<name>(x, ...) only
                   "std_mean": _reduce_pair, "var_mean": _reduce_pair,
                   **dict.fromkeys(("max", "min"), _elementwise_extreme("other_function"))}


def const_method(interp, const: ConstTensor, name: str, args: list, kwargs: dict, node) -> Any:
    """A method of a tensor of known shape (a parameter): reshaping it keeps it known."""
    shape = const.shape
    if name in fixed.METHODS:
        return fixed.METHODS[name](const, args, kwargs)
    if name in ("view", "reshape") and not kwargs:
        sizes = args[0] if len(args) == 1 and isinstance(args[0], (tuple, ListVal)) else tuple(args)
        sizes = tuple(sizes.items) if isinstance(sizes, ListVal) else sizes
        if not sizes or not all(int_value(s) and (s >= 0 or s == -1) for s in sizes) or sizes.count(-1) > 1:
            return UNKNOWN
        numel, known = prod(shape), prod(s for s in sizes if s != -1)
        if -1 in sizes:
            if known == 0 or numel % known:
                return UNKNOWN
            sizes = tuple(numel // known if s == -1 else s for s in sizes)
        return ConstTensor(sizes, integral=fixed.integral(const)) if prod(sizes) == numel else UNKNOWN
    if name == "unsqueeze" and len(args) == 1 and not kwargs and int_value(args[0]) \
            and -len(shape) - 1 <= args[0] <= len(shape):
        index = args[0] % (len(shape) + 1)
        return ConstTensor(shape[:index] + (1,) + shape[index:], integral=fixed.integral(const))
    if name == "expand":
        sizes = _sizes_argument(args, kwargs)
        if sizes is not None and is_batch(sizes[0]) and interp.ops is not None:
            # the class token of a transformer: a parameter grown along a new (or size-1) batch axis
            return interp.emit("constant", (), node, const=shape, sizes=sizes)
        return UNKNOWN
    if name == "repeat":
        return batch_repeat(interp, shape, args, kwargs, node)
    if name == "size" and not kwargs:
        if not args:
            return shape
        return shape[args[0]] if len(args) == 1 and int_value(args[0]) and -len(shape) <= args[0] < len(shape) else UNKNOWN
    if name in POINTWISE and POINTWISE[name][1] and not name.endswith("_") and interp.ops is not None:
        first = next((k for k, a in enumerate(args) if is_tensor(a)), None)
        if first is not None:
            # `torch.addcmul(self.bias, self.weight, x)` (timm's GRN, ResMLP's Affine): the broadcast of them all,
            # whichever comes first; from the first tensor of the graph, with the parameter in its place
            return interp.pointwise(name, args[first], [*args[:first], const, *args[first + 1:]], kwargs, node)
    if (name in SHAPE_KEEPING or name in POINTWISE and not POINTWISE[name][1]) and name not in ("to", "type_as"):
        return const if all(numeric(a) or a is None or isinstance(a, (bool, str)) for a in [*args, *kwargs.values()]) else UNKNOWN
    return UNKNOWN


def batch_repeat(interp, shape: tuple, args: list, kwargs: dict, node) -> Any:
    """`token.repeat(B, 1, 1)` of a tensor that is not the model's, B read off one of the model's
    tensors: the tensor tiled, then grown along its size-1 first axis to that tensor's batch, a
    batch of the model's samples (a grid of a feature map's pixels, `grid[None].repeat(b, 1, 1, 1)`:
    its sizes read off a tensor resolved in propagation)."""
    repeats = _sizes_argument(args, kwargs, "repeats")
    if repeats is None or not is_batch(repeats[0]) or len(repeats) < len(shape) or interp.ops is None \
            or not all(int_value(r) and r >= 0 for r in repeats[1:]):
        return UNKNOWN
    padded = (1,) * (len(repeats) - len(shape)) + tuple(shape)  # torch aligns the repeats from the right
    if padded[0] != 1:
        return UNKNOWN
    grown = (1, *(_times(size, r) for size, r in zip(padded[1:], repeats[1:])))
    return interp.emit("constant", (), node, const=grown, sizes=(repeats[0], *(-1,) * (len(grown) - 1)), call="repeat")


def _times(size: Any, count: int) -> Any:
    """An axis of `size` repeated `count` times (a size not followed stays so)."""
    if int_value(size):
        return size * count
    if count == 1:
        return size
    return SizeOf("*", size, count) if is_read_size(size) else UNKNOWN


# ---- torch functions by qualified name, each hook(interp, args, kwargs, node)


def _assert(interp, args, kwargs, node):
    if not args:
        return interp.unknown_result(args, kwargs, node)
    if interp.truth(args[0]) is False:
        raise Raise  # torch._assert(False, ...) raises: this path is not taken
    return None


def _annotate(interp, args, kwargs, node):  # torch.jit.annotate(List[Tensor], []): the value, for TorchScript's types
    return args[1] if len(args) == 2 and not kwargs else interp.unknown_result(args, kwargs, node)


def _matmul(interp, args, kwargs, node, call):  # torch.matmul(a, b), torch.bmm(a, b)
    given = {**dict(zip(("input", "other" if call == "matmul" else "mat2"), args)), **kwargs}
    if len(args) > 2 or set(given) != {"input", "other" if call == "matmul" else "mat2"}:
        return interp.unknown_result([*args, *kwargs.values()], {}, node)
    return interp.matmul(call, given["input"], given["other" if call == "matmul" else "mat2"], node)


def _cat(interp, args, kwargs, node):
    if not args:
        return interp.unknown_result(args, kwargs, node)
    return interp.concat(args[0], args[1:], kwargs, node)


def _arithmetic(interp, args, kwargs, node, op):
    if len(args) < 2:
        return interp.unknown_result(args, kwargs, node)
    return interp.binary(op, args[0], args[1], node)


_CONST_KEYWORDS = {"size", "dtype", "device", "requires_grad", "fill_value", "layout", "pin_memory"}


def _const(interp, args, kwargs, node, full=False):
    if full:  # torch.full(size, fill_value)
        sizes = args[0] if args else kwargs.get("size")
    else:
        sizes = args[0] if len(args) == 1 and isinstance(args[0], (tuple, ListVal)) else tuple(args)
    sizes = kwargs.get("size", sizes) if not args else sizes
    sizes = tuple(sizes.items) if isinstance(sizes, ListVal) else sizes
    if isinstance(sizes, tuple) and sizes and all(int_value(d) and d >= 0 for d in sizes) and set(kwargs) <= _CONST_KEYWORDS:
        return ConstTensor(sizes)
    if isinstance(sizes, tuple) and sizes and all(sized.is_size(d) for d in sizes) and set(kwargs) <= _CONST_KEYWORDS:
        return sized.made(sizes)  # `torch.zeros((1, hp, wp, 1))` of sizes read off a tensor
    if sized.is_partial(sizes) and set(kwargs) <= _CONST_KEYWORDS:
        return SizedTensor(sizes)
    return UNKNOWN


FUNCTION_CTX = "torch.autograd.function.FunctionCtx"  # the ctx an autograd Function's forward is given
# what the ctx keeps is for backward: the forward pass sees nothing of it
CTX_CALLS = dict.fromkeys((f"{FUNCTION_CTX}.{m}" for m in ("save_for_backward", "mark_dirty", "mark_non_differentiable",
                                                             "set_materialize_grads")), lambda *_: None)
QUAL_CALLS = {**dict.fromkeys(EAGER_FALSE, lambda *_: False), "torch._assert": _assert, "torch.jit.annotate": _annotate,
              **CTX_CALLS}
def _einsum(interp, args, kwargs, node):  # torch.einsum("bhqd,bhkd->bhqk", q, k), or its operands as a list
    operands = args[1:]
    if len(operands) == 1 and isinstance(operands[0], (tuple, ListVal)):
        operands = tuple(operands[0].items) if isinstance(operands[0], ListVal) else operands[0]
    if not kwargs and args and all(isinstance(o, ConstTensor) for o in operands):
        return fixed.einsum(args[0], list(operands))
    if kwargs or not args or not isinstance(args[0], str) or not operands or not all(is_tensor(o) for o in operands):
        return interp.unknown_result([*args[1:], *kwargs.values()], {}, node)
    return interp.emit("einsum", tuple(o.value for o in operands), node, equation=args[0])


QUAL_FALLBACKS = {
    **dict.fromkeys(("torch.cat", "torch.concat", "torch.concatenate"), _cat), "torch.stack": _stack,
    "torch.einsum": _einsum,
    **{f"torch.{call}": (lambda interp, args, kwargs, node, call=call: _matmul(interp, args, kwargs, node, call))
       for call in ("matmul", "bmm")},
    **{f"torch.{name}": (lambda interp, args, kwargs, node, op=op: _arithmetic(interp, args, kwargs, node, op))
       for name, op in ARITHMETIC.items()},
    **{f"torch.{name}": (lambda interp, args, kwargs, node, full=name == "full": _const(interp, args, kwargs, node, full))
       for name in CONST_MAKERS},
}
