"""The exact shape rule, argument binding, argument checks and parameter count of
each supported ``torch.nn`` layer, without importing torch.

Shapes exclude the batch dimension: a Conv2d input is ``(C, H, W)``.  Each entry
is an int, a ``Sym`` or None (unknown); a whole shape may be None (unknown rank).
Inputs are assumed batched: a layer whose batched input would have the batch in
a non-batch role (a 2-d ``(H, W)`` into Conv2d, which torch would read as an
unbatched ``(C, H, W)``) is a rank error.  Dimension arguments (Flatten's
``start_dim``, Softmax's ``dim``...) index the batched tensor, as in torch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .sizes import UNKNOWN, Sym, ceildiv, residues

__all__ = [
    "REQUIRED",
    "LayerSpec",
    "LAYERS",
    "ShapeError",
    "Window",
    "bind",
    "output_shape",
    "config_errors",
    "windows",
    "parameter_count",
    "FUNCTIONAL",
    "bind_functional",
]


class _Required:
    _instance = None

    def __new__(cls):
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "REQUIRED"

    def __reduce__(self):
        return (_Required, ())


REQUIRED = _Required()  # default of a parameter that has none

_MAX_RANK = 8  # "at least k dims" is spelled as the ranks k.._MAX_RANK


class ShapeError(Exception):
    """torch would reject this input shape (other than channel mismatch or collapse)."""


@dataclass(frozen=True)
class LayerSpec:
    name: str
    params: tuple  # ((name, default or REQUIRED), ...) in torch's __init__ order
    channels_param: str | None
    rank: tuple | None  # accepted no-batch ranks; None: any rank >= 1
    spatial: int


@dataclass(frozen=True)
class Window:
    axis: int
    size: object  # int | Sym | None
    kernel: int
    stride: int
    dilation: int
    pad_before: int
    pad_after: int
    ceil_mode: bool


# --------------------------------------------------------------------------- small helpers


def _known(value) -> bool:
    if value is UNKNOWN:
        return False
    if isinstance(value, (tuple, list)):
        return all(_known(v) for v in value)
    return True


def _int(value):
    """value if it is a known int, else None."""
    return value if isinstance(value, int) else None


def _is_int_or_unknown(value) -> bool:
    return value is UNKNOWN or isinstance(value, int)


def _axes(value, n: int, lengths: tuple):
    """An int-or-tuple argument as n per-axis ints (None = unknown entry).

    Returns False when torch would reject the form (wrong length, not ints).
    """
    if value is UNKNOWN:
        return (None,) * n
    if isinstance(value, int):
        return (value,) * n
    if isinstance(value, (tuple, list)) and len(value) in lengths:
        if not all(_is_int_or_unknown(v) for v in value):
            return False
        entries = tuple(None if v is UNKNOWN else v for v in value)
        return entries * n if len(entries) == 1 and n != 1 else entries
    return False


def _show(value) -> str:
    """An argument as the user wrote it, for messages."""
    if isinstance(value, list):
        value = tuple(value)
    return repr(value)


def _fmt_shape(shape) -> str:
    return "(" + ", ".join("?" if d is None else str(d) for d in shape) + ")"


def _tuple_text(n: int) -> str:
    return "an int" if n == 1 else f"an int or a tuple of {n} ints"


def _prod(values):
    total = 1
    for v in values:
        if v is None:
            return None
        total = total * v
    return total


def _batched_dim(dim: int, rank: int):
    """Normalise a batched-tensor dim index for a no-batch shape of `rank` dims;
    None when out of range."""
    ndim = rank + 1
    if not -ndim <= dim < ndim:
        return None
    return dim + ndim if dim < 0 else dim


def _dim_range_error(name: str, dim: int, rank: int) -> ShapeError:
    ndim = rank + 1
    return ShapeError(
        f"{name}: dim {dim} is out of range for a {ndim}-d batched input "
        f"(valid dims are {-ndim} to {ndim - 1})"
    )


def _divides(size, divisor: int):
    """True/False when `divisor` always/never divides `size`; None when it depends."""
    found = residues(size, divisor)
    if found is None:
        return None
    if found == {0}:
        return True
    if 0 not in found:
        return False
    return None


# --------------------------------------------------------------------------- rules


class _Rule:
    """Shape rule of one layer class; subclasses override what differs."""

    rank: tuple | None = None
    spatial = 0
    channels_param: str | None = None
    keyword_only: tuple = ()
    accepts_anything = False  # Identity takes and ignores any arguments

    def __init__(self, name: str, params: tuple, **options):
        self.name = name
        self.params = params
        for key, value in options.items():
            setattr(self, key, value)
        self.spec = LayerSpec(name, params, self.channels_param, self.rank, self.spatial)

    # Defaults, overridden per family.
    def errors(self, p: dict) -> list:
        return []

    def output(self, p: dict, shape: tuple):
        self.check_rank(shape)
        return shape

    def windows(self, p: dict, shape) -> list:
        return []

    def count(self, p: dict):
        return (0, 0)

    def check_rank(self, shape) -> None:
        if self.rank is not None and len(shape) not in self.rank:
            raise ShapeError(f"{self.name} {self.rank_text()}, got {len(shape)}-d shape {_fmt_shape(shape)}")
        if self.rank is None and len(shape) < 1 and self.needs_a_dim():
            raise ShapeError(
                f"{self.name} needs at least one dimension besides the batch, got a 0-d shape ()"
            )

    def needs_a_dim(self) -> bool:
        return False

    def rank_text(self) -> str:
        ranks = self.rank
        if len(ranks) > 2 and ranks[-1] == _MAX_RANK:
            return f"expects at least {ranks[0]} dims per sample (batch excluded)"
        listed = " or ".join(f"{r}-d" for r in ranks)
        return f"expects a {listed} input per sample (batch excluded)"


def _at_least(k: int) -> tuple:
    return tuple(range(k, _MAX_RANK + 1))


_SPATIAL_NAMES = {1: "L", 2: "H, W", 3: "D, H, W"}


# ---- convolutions


class _Conv(_Rule):
    channels_param = "in_channels"

    def __init__(self, name, params, n, transposed):
        self.n, self.transposed = n, transposed
        super().__init__(name, params, rank=(n + 1,), spatial=n)

    def rank_text(self) -> str:
        return f"expects a {self.n + 1}-d input (C, {_SPATIAL_NAMES[self.n]}) per sample (batch excluded)"

    def _geometry(self, p):
        n = self.n
        return (
            _axes(p["kernel_size"], n, (n,)),
            _axes(p["stride"], n, (1, n)),
            _axes(p["dilation"], n, (1, n)),
        )

    def errors(self, p):
        n, errs = self.n, []
        in_c, out_c, groups = p["in_channels"], p["out_channels"], p["groups"]
        for key in ("in_channels", "out_channels", "groups"):
            if not _is_int_or_unknown(p[key]):
                errs.append(f"{key} must be an int, got {_show(p[key])}")
        in_c, out_c, groups = _int(in_c), _int(out_c), _int(groups)
        if in_c is not None and in_c < 0:
            errs.append(f"in_channels must not be negative, got {in_c}")
        if out_c is not None and out_c <= 0:
            errs.append(f"out_channels must be positive, got {out_c}")
        if groups is not None:
            if groups <= 0:
                errs.append(f"groups must be a positive integer, got {groups}")
            else:
                for key, value in (("in_channels", in_c), ("out_channels", out_c)):
                    if value is not None and value % groups:
                        errs.append(f"{key} ({value}) must be divisible by groups ({groups})")
        kernel, stride, dilation = self._geometry(p)
        for key, values, form in (("kernel_size", kernel, _tuple_text(n) if n > 1 else "an int or a 1-tuple"),
                                  ("stride", stride, _tuple_text(n)), ("dilation", dilation, _tuple_text(n))):
            if values is False:
                errs.append(f"{key} must be {form}, got {_show(p[key])}")
            elif any(v is not None and v <= 0 for v in values):
                errs.append(f"{key} must be positive, got {_show(p[key])}")
        padding = p["padding"]
        if isinstance(padding, str):
            if self.transposed:
                errs.append(f"{self.name} does not accept string padding, got {padding!r}")
            elif padding not in ("same", "valid"):
                errs.append(f"padding must be 'same', 'valid', or {_tuple_text(n)}; got {padding!r}")
            elif padding == "same" and stride and any(s is not None and s != 1 for s in stride):
                errs.append(f"padding='same' is not supported for strided convolutions (stride={_show(p['stride'])})")
        else:
            values = _axes(padding, n, (1, n))
            if values is False:
                errs.append(f"padding must be {_tuple_text(n)}, got {_show(padding)}")
            elif any(v is not None and v < 0 for v in values):
                errs.append(f"padding must not be negative, got {_show(padding)}")
        mode = p["padding_mode"]
        if mode is not UNKNOWN:
            if mode not in ("zeros", "reflect", "replicate", "circular"):
                errs.append(f"padding_mode must be 'zeros', 'reflect', 'replicate' or 'circular', got {_show(mode)}")
            elif self.transposed and mode != "zeros":
                errs.append(f"{self.name} only supports padding_mode='zeros', got {mode!r}")
        if self.transposed:
            out_pad = _axes(p["output_padding"], n, (1, n))
            if out_pad is False:
                errs.append(f"output_padding must be {_tuple_text(n)}, got {_show(p['output_padding'])}")
            elif any(v is not None and v < 0 for v in out_pad):
                errs.append(f"output_padding must not be negative, got {_show(p['output_padding'])}")
            elif stride and dilation:
                for op, s, d in zip(out_pad, stride, dilation):
                    if None not in (op, s, d) and op >= s and op >= d:
                        errs.append(
                            f"output_padding ({op}) must be smaller than either stride ({s}) or dilation ({d})"
                        )
                        break
        return errs

    def _pads(self, p):
        """Per-axis (before, after) padding, None entries when unknown."""
        n, padding = self.n, p["padding"]
        if padding == "valid":
            return ((0, 0),) * n
        if padding == "same":
            # torch pads d·(k − 1) in total, the smaller half first
            kernel, _, dilation = self._geometry(p)
            pads = []
            for k, d in zip(kernel, dilation):
                total = None if None in (k, d) else d * (k - 1)
                pads.append((None, None) if total is None else (total // 2, total - total // 2))
            return tuple(pads)
        return tuple((v, v) for v in _axes(padding, n, (1, n)))

    def output(self, p, shape):
        self.check_rank(shape)
        out_c = _int(p["out_channels"])
        kernel, stride, dilation = self._geometry(p)
        sizes = shape[1:]
        if self.transposed:
            pads = _axes(p["padding"], self.n, (1, self.n))
            out_pad = _axes(p["output_padding"], self.n, (1, self.n))
            out = []
            for size, k, s, d, pad, op in zip(sizes, kernel, stride, dilation, pads, out_pad):
                if None in (size, k, s, d, pad, op):
                    out.append(None)
                else:
                    out.append((size - 1) * s - 2 * pad + d * (k - 1) + op + 1)
            return (out_c, *out)
        pads = self._pads(p)
        self._check_padding_mode(p, sizes, pads)
        out = []
        for size, k, s, d, (before, after) in zip(sizes, kernel, stride, dilation, pads):
            if None in (size, k, s, d, before, after):
                out.append(None)
            else:
                out.append((size + before + after - d * (k - 1) - 1) // s + 1)
        return (out_c, *out)

    def _check_padding_mode(self, p, sizes, pads):
        mode = p["padding_mode"]
        for axis, (size, (before, after)) in enumerate(zip(sizes, pads), start=1):
            if not isinstance(size, int) or before is None:
                continue
            if mode == "reflect" and max(before, after) >= size:
                raise ShapeError(
                    f"{self.name} with padding_mode='reflect' needs padding smaller than the input: "
                    f"padding {max(before, after)} on a dimension of size {size}"
                )
            if mode == "circular" and max(before, after) > size:
                raise ShapeError(
                    f"{self.name} with padding_mode='circular' cannot pad {max(before, after)} "
                    f"on a dimension of size {size} (it would wrap around more than once)"
                )

    def windows(self, p, shape):
        if self.transposed:
            return []
        kernel, stride, dilation = self._geometry(p)
        pads = self._pads(p)
        return _make_windows(self.n, shape, kernel, stride, dilation, pads, False)

    def count(self, p):
        in_c, out_c, groups = _int(p["in_channels"]), _int(p["out_channels"]), _int(p["groups"])
        kernel = self._geometry(p)[0]
        if None in (in_c, out_c, groups) or kernel is False or None in kernel or p["bias"] is UNKNOWN:
            return None
        area = math.prod(kernel)
        if self.transposed:
            weights = in_c * (out_c // groups) * area
        else:
            weights = out_c * (in_c // groups) * area
        return weights, out_c if p["bias"] else 0


def _make_windows(n, shape, kernel, stride, dilation, pads, ceil_mode):
    if False in (kernel, stride, dilation) or pads is False:
        return []
    first = len(shape) - n if shape is not None else 1
    result = []
    for i in range(n):
        k, s, d, (before, after) = kernel[i], stride[i], dilation[i], pads[i]
        if None in (k, s, d, before, after):
            return []
        size = shape[first + i] if shape is not None else None
        result.append(Window(first + i, size, k, s, d, before, after, bool(ceil_mode)))
    return result


# ---- pooling


def _pool_size(size, k, s, pad, d, ceil_mode):
    """PyTorch's pooling_output_shape, exact on Syms too."""
    span = size + 2 * pad - d * (k - 1) - 1
    if not ceil_mode:
        return span // s + 1
    if isinstance(size, int):  # torch's own steps
        out = ceildiv(span, s) + 1
        # the last window must start inside the input or the left padding
        return out - 1 if (out - 1) * s >= size + pad else out
    # Symbolically: torch's out − 1 is A = ⌈span/s⌉, minus one when A ≥ ⌈(size + pad)/s⌉.
    # With B = ⌊(size + pad − 1)/s⌋ that is min(A, B), and A − B ∈ {0, 1} or
    # A <= B depending only on t = d·(k − 1) + 1 − pad (>= 1 as pad <= k/2):
    # A = ⌊(size + pad − 1 + s − t)/s⌋, so min(A, B) = B when t <= s, else A.
    threshold = d * (k - 1) + 1 - pad
    if threshold <= s:
        return (size + pad - 1) // s + 1
    return ceildiv(span, s) + 1


class _Pool(_Rule):
    def __init__(self, name, params, n, kind):
        self.n, self.kind = n, kind  # kind: "max", "avg" or "lp"
        super().__init__(name, params, rank=(n + 1,), spatial=n)

    def rank_text(self) -> str:
        return f"expects a {self.n + 1}-d input (C, {_SPATIAL_NAMES[self.n]}) per sample (batch excluded)"

    def _geometry(self, p):
        n = self.n
        kernel = _axes(p["kernel_size"], n, (1, n))
        stride = p["stride"]
        if stride is None or (isinstance(stride, (tuple, list)) and len(stride) == 0):
            stride = kernel  # torch: an absent stride means stride = kernel_size
        else:
            stride = _axes(stride, n, (1, n))
        padding = _axes(p.get("padding", 0), n, (1, n))
        dilation = _axes(p.get("dilation", 1), n, (1, n))
        return kernel, stride, padding, dilation

    def errors(self, p):
        n, errs = self.n, []
        kernel, stride, padding, dilation = self._geometry(p)
        checks = [("kernel_size", kernel), ("stride", stride)]
        if self.kind == "max":
            checks.append(("dilation", dilation))
        for key, values in checks:
            if values is False:
                errs.append(f"{key} must be {_tuple_text(n)}, got {_show(p[key])}")
            elif any(v is not None and v <= 0 for v in values):
                errs.append(f"{key} must be positive, got {_show(p[key])}")
        if "padding" in p:
            if padding is False:
                errs.append(f"padding must be {_tuple_text(n)}, got {_show(p['padding'])}")
            elif any(v is not None and v < 0 for v in padding):
                errs.append(f"padding must not be negative, got {_show(p['padding'])}")
            elif kernel:
                for pad, k in zip(padding, kernel):
                    if None not in (pad, k) and pad > k // 2:
                        errs.append(f"padding ({pad}) must be at most half of kernel_size ({k})")
                        break
        if p.get("divisor_override") == 0:
            errs.append("divisor_override must not be zero")
        return errs

    def output(self, p, shape):
        self.check_rank(shape)
        kernel, stride, padding, dilation = self._geometry(p)
        ceil_mode = p["ceil_mode"]
        out = [shape[0]]
        if self.kind == "avg" and self.n == 3:  # avg_pool3d alone checks the unpadded input against the kernel
            for size, k in zip(shape[1:], kernel):
                if isinstance(size, int) and isinstance(k, int) and size < k:
                    raise ShapeError(f"{self.name} input {_fmt_shape(shape[1:])} is smaller than its kernel "
                                     f"({k}): avg_pool3d needs the unpadded input to be at least the kernel size")
        for size, k, s, pad, d in zip(shape[1:], kernel, stride, padding, dilation):
            if None in (size, k, s, pad, d) or ceil_mode is UNKNOWN:
                out.append(None)
            else:
                out.append(_pool_size(size, k, s, pad, d, bool(ceil_mode)))
        return tuple(out)

    def windows(self, p, shape):
        kernel, stride, padding, dilation = self._geometry(p)
        if p["ceil_mode"] is UNKNOWN:
            return []
        pads = False if padding is False else tuple((v, v) for v in padding)
        return _make_windows(self.n, shape, kernel, stride, dilation, pads, p["ceil_mode"])


class _AdaptivePool(_Rule):
    def __init__(self, name, params, n):
        self.n = n
        super().__init__(name, params, rank=(n + 1,), spatial=n)

    def _sizes(self, p):
        value, n = p["output_size"], self.n
        if value is UNKNOWN:
            return (UNKNOWN,) * n
        if isinstance(value, int):  # a bare None is rejected; only tuple entries may be None
            return (value,) * n
        if isinstance(value, (tuple, list)) and len(value) == n:
            return tuple(value)
        return False

    def errors(self, p):
        sizes = self._sizes(p)
        if self.n == 1 and sizes is not False and None in sizes:  # only the 2-d and 3-d pools keep a None size
            return [f"output_size of a 1-d adaptive pool must be an int, got {_show(p['output_size'])}"]
        if sizes is False or not all(v is None or _is_int_or_unknown(v) for v in sizes):
            return [f"output_size must be an int or a tuple of {self.n} ints or Nones; "
                    f"got {_show(p['output_size'])}"]
        if any(isinstance(v, int) and v < 0 for v in sizes):
            return [f"output_size must not be negative, got {_show(p['output_size'])}"]
        return []

    def output(self, p, shape):
        self.check_rank(shape)
        out = [shape[0]]
        for size, target in zip(shape[1:], self._sizes(p)):
            out.append(size if target is None else _int(target))
        return tuple(out)


# ---- normalisation


class _Norm(_Rule):
    """BatchNorm / InstanceNorm: per-channel statistics, shape unchanged."""

    channels_param = "num_features"

    def errors(self, p):
        value = p["num_features"]
        if not _is_int_or_unknown(value):
            return [f"num_features must be an int, got {_show(value)}"]
        if isinstance(value, int) and value < 0:
            return [f"num_features must not be negative, got {value}"]
        return []

    def count(self, p):
        c, affine, bias = _int(p["num_features"]), p["affine"], p["bias"]
        if c is None or UNKNOWN in (affine, bias):
            return None
        return (c, c if bias else 0) if affine else (0, 0)


class _GroupNorm(_Rule):
    channels_param = "num_channels"

    def needs_a_dim(self):
        return True

    def errors(self, p):
        groups, channels = p["num_groups"], p["num_channels"]
        errs = [f"{key} must be an int, got {_show(p[key])}" for key in ("num_groups", "num_channels")
                if not _is_int_or_unknown(p[key])]
        groups, channels = _int(groups), _int(channels)
        if groups is not None and groups <= 0:
            errs.append(f"num_groups must be positive, got {groups}")
        elif groups is not None and channels is not None and channels % groups:
            errs.append(f"num_channels ({channels}) must be divisible by num_groups ({groups})")
        return errs

    def count(self, p):
        c, affine, bias = _int(p["num_channels"]), p["affine"], p["bias"]
        if c is None or UNKNOWN in (affine, bias):
            return None
        return (c, c if bias else 0) if affine else (0, 0)


def _normalized_shape(value):
    if isinstance(value, int):
        return (value,)
    if isinstance(value, (tuple, list)) and all(_is_int_or_unknown(v) for v in value):
        return tuple(value)
    return None


class _LayerNorm(_Rule):
    channels_param = "normalized_shape"

    def errors(self, p):
        value = p["normalized_shape"]
        if value is UNKNOWN:
            return []
        dims = _normalized_shape(value)
        if dims is None:
            return [f"normalized_shape must be an int or a tuple of ints, got {_show(value)}"]
        if any(isinstance(v, int) and v < 0 for v in dims):
            return [f"normalized_shape must not be negative, got {_show(value)}"]
        return []

    def output(self, p, shape):
        dims = _normalized_shape(p["normalized_shape"])
        if dims is not None and len(shape) < len(dims):
            raise ShapeError(
                f"{self.name} over {len(dims)} trailing dims needs at least {len(dims)} dims per sample "
                f"(batch excluded), got {len(shape)}-d shape {_fmt_shape(shape)}"
            )
        return shape

    def count(self, p):
        dims = _normalized_shape(p["normalized_shape"])
        affine, bias = p["elementwise_affine"], p.get("bias", False)
        if dims is None or not _known(dims) or UNKNOWN in (affine, bias):
            return None
        size = math.prod(dims)
        return (size, size if bias else 0) if affine else (0, 0)


# ---- shape-preserving layers with a twist


class _Elementwise(_Rule):
    """Activations, dropouts, Identity: the output has the input's shape."""

    def __init__(self, name, params, rank=None, min_rank=0, **options):
        self.min_rank = min_rank
        super().__init__(name, params, rank=rank, **options)

    def needs_a_dim(self):
        return self.min_rank > 0

    def errors(self, p):
        if "p" in p and isinstance(p["p"], (int, float)) and not 0 <= p["p"] <= 1:
            return [f"dropout probability must be between 0 and 1, got {p['p']}"]
        if self.name == "LocalResponseNorm" and isinstance(p["size"], int) and p["size"] <= 0:
            return [f"size must be positive, got {p['size']}"]
        if self.name == "Hardtanh":
            low, high = p["min_val"], p["max_val"]
            if isinstance(low, (int, float)) and isinstance(high, (int, float)) and high <= low:
                return [f"max_val ({high}) must be greater than min_val ({low})"]
        return []

    def output(self, p, shape):
        self.check_rank(shape)
        if self.name == "PReLU":
            count = _int(p["num_parameters"])
            if count is not None and count > 1 and len(shape) < 1:
                raise ShapeError(f"PReLU with {count} parameters needs a channel dimension, got shape ()")
        dim = p.get("dim")
        if isinstance(dim, int) and _batched_dim(dim, len(shape)) is None:
            raise _dim_range_error(self.name, dim, len(shape))
        return shape

    def count(self, p):
        if self.name == "PReLU":
            count = _int(p["num_parameters"])
            return None if count is None else (count, 0)
        return (0, 0)


class _GLU(_Rule):
    def output(self, p, shape):
        dim = p["dim"]
        if not isinstance(dim, int):
            return tuple(None for _ in shape)
        index = _batched_dim(dim, len(shape))
        if index is None:
            raise _dim_range_error(self.name, dim, len(shape))
        if index == 0:
            return shape  # halves the batch, which shapes here do not carry
        size = shape[index - 1]
        if isinstance(size, int) and size % 2:
            raise ShapeError(f"GLU halves dim {dim}, but its size {size} is odd")
        if isinstance(size, Sym) and _divides(size, 2) is False:
            raise ShapeError(f"GLU halves dim {dim}, but its size {size} is always odd")
        out = list(shape)
        out[index - 1] = None if size is None else size // 2
        return tuple(out)


# ---- reshaping and dense layers


class _Flatten(_Rule):
    def output(self, p, shape):
        start, end = p["start_dim"], p["end_dim"]
        if not (isinstance(start, int) and isinstance(end, int)):
            return None
        first, last = _batched_dim(start, len(shape)), _batched_dim(end, len(shape))
        if first is None:
            raise _dim_range_error(self.name, start, len(shape))
        if last is None:
            raise _dim_range_error(self.name, end, len(shape))
        if first > last:
            raise ShapeError(
                f"{self.name}: start_dim ({start}) comes after end_dim ({end}) for a {len(shape) + 1}-d batched input"
            )
        if first == last:
            return shape
        if first == 0:
            return None  # merges the batch into the features: sizes unknown per sample
        merged = _prod(shape[first - 1:last])
        return (*shape[:first - 1], merged, *shape[last:])


class _Unflatten(_Rule):
    def errors(self, p):
        sizes = p["unflattened_size"]
        if sizes is UNKNOWN:
            return []
        if not isinstance(sizes, (tuple, list)) or not all(_is_int_or_unknown(v) for v in sizes):
            return [f"unflattened_size must be a tuple of ints, got {_show(sizes)}"]
        if len(sizes) == 0:
            return ["unflattened_size must not be empty"]
        if sum(1 for v in sizes if v == -1) > 1:
            return [f"unflattened_size can infer only one dimension (one -1), got {_show(sizes)}"]
        if any(isinstance(v, int) and v < -1 for v in sizes):
            return [f"unflattened_size entries must be positive or -1, got {_show(sizes)}"]
        return []

    def output(self, p, shape):
        dim, sizes = p["dim"], p["unflattened_size"]
        if not isinstance(dim, int):
            return None
        index = _batched_dim(dim, len(shape))
        if index is None:
            raise _dim_range_error(self.name, dim, len(shape))
        if index == 0 or not isinstance(sizes, (tuple, list)):
            return None
        size = shape[index - 1]
        sizes = [None if v is UNKNOWN else v for v in sizes]
        known = [v for v in sizes if v is not None and v != -1]
        product = math.prod(known)
        fits = f"sizes {_show(tuple(p['unflattened_size']))} don't multiply up to the size of dim {dim} ({size})"
        if -1 in sizes:
            inferred = None
            if None not in sizes and size is not None:
                if product == 0 or (isinstance(size, int) and size % product):
                    raise ShapeError(f"{self.name}: {fits}")
                if isinstance(size, Sym) and _divides(size, product) is False:
                    raise ShapeError(f"{self.name}: {fits}")
                inferred = size // product
            sizes[sizes.index(-1)] = inferred
        elif None not in sizes and isinstance(size, int) and product != size:
            raise ShapeError(f"{self.name}: {fits}")
        return (*shape[:index - 1], *sizes, *shape[index:])


class _Dense(_Rule):
    """Linear, Bilinear: the last dim is replaced; Embedding: a dim is appended."""

    def __init__(self, name, params, size_keys, appends=False, **options):
        self.size_keys, self.appends = size_keys, appends  # size_keys multiply to the weight count
        super().__init__(name, params, **options)

    def needs_a_dim(self):
        return not self.appends

    def errors(self, p):
        errs = []
        for key in self.size_keys:
            value = p[key]
            if not _is_int_or_unknown(value):
                errs.append(f"{key} must be an int, got {_show(value)}")
            elif isinstance(value, int) and value < 0:
                errs.append(f"{key} must not be negative, got {value}")
        return errs

    def output(self, p, shape):
        self.check_rank(shape)
        out = _int(p[self.size_keys[-1]])
        return (*shape, out) if self.appends else (*shape[:-1], out)

    def count(self, p):
        sizes = [_int(p[key]) for key in self.size_keys]
        bias = p.get("bias", False)
        if None in sizes or bias is UNKNOWN:
            return None
        return math.prod(sizes), sizes[-1] if bias else 0


# ---- resampling


_MODE_RANKS = {
    "nearest": (2, 3, 4), "nearest-exact": (2, 3, 4), "area": (2, 3, 4),
    "linear": (2,), "bilinear": (3,), "bicubic": (3,), "trilinear": (4,), "lanczos": (3,),
}
_INTERPOLATING = ("linear", "bilinear", "bicubic", "trilinear")


class _Upsample(_Rule):
    def __init__(self, name, params, mode=None, **options):
        self.fixed_mode = mode
        ranks = _MODE_RANKS[mode] if mode else (2, 3, 4)
        super().__init__(name, params, rank=ranks, **options)

    def _mode(self, p):
        return self.fixed_mode or p.get("mode", "nearest")

    def errors(self, p):
        errs = []
        size, scale, mode = p["size"], p["scale_factor"], self._mode(p)
        align = True if self.fixed_mode == "bilinear" else p.get("align_corners")
        if size is None and scale is None:
            errs.append("either size or scale_factor must be given")
        elif size is not None and scale is not None and UNKNOWN not in (size, scale):
            errs.append("only one of size and scale_factor may be given")
        if size is not None and _known(size) and not (
            isinstance(size, int) or (isinstance(size, (tuple, list)) and all(isinstance(v, int) for v in size))
        ):
            errs.append(f"size must be an int or a tuple of ints, got {_show(size)}")
        if mode is not UNKNOWN and mode not in _MODE_RANKS:
            errs.append(f"mode {mode!r} is not one of {', '.join(_MODE_RANKS)}")
        elif mode is not UNKNOWN and align not in (None, UNKNOWN) and mode not in _INTERPOLATING:
            errs.append(f"align_corners can only be set with the interpolating modes "
                        f"(linear, bilinear, bicubic, trilinear), not with mode {mode!r}")
        if p.get("recompute_scale_factor") is True and size is not None:
            errs.append("recompute_scale_factor is not meaningful with an explicit size")
        antialias = p.get("antialias", False)
        if antialias is True and mode not in (UNKNOWN, "bilinear", "bicubic", "lanczos"):
            errs.append(f"antialias is restricted to the bilinear, bicubic and lanczos modes, not {mode!r}")
        if mode == "lanczos" and antialias is False:
            errs.append("mode 'lanczos' requires antialias=True")
        return errs

    def output(self, p, shape):
        mode = self._mode(p)
        if mode is UNKNOWN:
            if len(shape) not in (2, 3, 4):
                raise ShapeError(f"{self.name} expects a 2-, 3- or 4-d input per sample (batch excluded), "
                                 f"got {len(shape)}-d shape {_fmt_shape(shape)}")
        elif len(shape) not in _MODE_RANKS[mode]:
            allowed = " or ".join(f"{r}-d" for r in _MODE_RANKS[mode])
            raise ShapeError(f"{self.name} with mode {mode!r} expects a {allowed} input per sample "
                             f"(batch excluded), got {len(shape)}-d shape {_fmt_shape(shape)}")
        if p.get("antialias") is True and len(shape) != 3:
            raise ShapeError(f"antialias needs a 3-d input per sample (C, H, W), got {len(shape)}-d")
        n = len(shape) - 1
        size, scale = p["size"], p["scale_factor"]
        if size is not None:
            targets = self._per_axis(size, n, "size", shape)
            return (shape[0], *(_int(v) for v in targets))
        factors = self._per_axis(scale, n, "scale_factor", shape)
        out = [shape[0]]
        for dim, factor in zip(shape[1:], factors):
            out.append(_scaled(dim, factor))
        return tuple(out)

    def _per_axis(self, value, n, key, shape):
        if isinstance(value, (tuple, list)):
            if len(value) != n:
                raise ShapeError(
                    f"{self.name}: {key} {_show(tuple(value))} has {len(value)} entries but the input has "
                    f"{n} spatial dims {_fmt_shape(shape[1:])}"
                )
            return tuple(value)
        return (value,) * n


def _scaled(size, factor):
    """torch's output size for a scale factor: the double product, truncated."""
    if size is None or factor is UNKNOWN or not isinstance(factor, (int, float)):
        return None
    if isinstance(size, int):
        return int(float(size) * float(factor))
    if float(factor).is_integer() and factor > 0:
        return size * int(factor)
    return None


class _PixelShuffle(_Rule):
    def __init__(self, name, params, key, up):
        self.key, self.up = key, up
        super().__init__(name, params, rank=_at_least(3))

    def errors(self, p):
        r = p[self.key]
        if not _is_int_or_unknown(r):
            return [f"{self.key} must be an int, got {_show(r)}"]
        if isinstance(r, int) and r <= 0:
            return [f"{self.key} must be positive, got {r}"]
        return []

    def output(self, p, shape):
        self.check_rank(shape)
        r = _int(p[self.key])
        lead, (c, h, w) = shape[:-3], shape[-3:]
        if r is None:
            return (*lead, None, None, None)
        if self.up:
            self._require(c, r * r, "channel dimension", "the square of upscale_factor")
            return (*lead, None if c is None else c // (r * r),
                    None if h is None else h * r, None if w is None else w * r)
        self._require(h, r, "height", "downscale_factor")
        self._require(w, r, "width", "downscale_factor")
        return (*lead, None if c is None else c * r * r,
                None if h is None else h // r, None if w is None else w // r)

    def _require(self, size, divisor, what, of):
        if isinstance(size, int) and size % divisor:
            raise ShapeError(f"{self.name} needs the {what} ({size}) to be divisible by {of} ({divisor})")
        if isinstance(size, Sym) and _divides(size, divisor) is False:
            raise ShapeError(f"{self.name} needs the {what} ({size}) to be divisible by {of} ({divisor}), "
                             f"which it never is")


class _ChannelShuffle(_Rule):
    def errors(self, p):
        groups = p["groups"]
        if isinstance(groups, int) and groups <= 0:
            return [f"groups must be positive, got {groups}"]
        return []

    def output(self, p, shape):
        self.check_rank(shape)
        groups, channels = _int(p["groups"]), shape[0]
        if groups and isinstance(channels, int) and channels % groups:
            raise ShapeError(f"ChannelShuffle needs the channels ({channels}) to be divisible by groups ({groups})")
        return shape


# ---- padding


class _Pad(_Rule):
    """ZeroPad/ConstantPad/ReflectionPad/ReplicationPad/CircularPad and F.pad."""

    def __init__(self, name, params, n, mode, key="padding"):
        self.n, self.fixed_mode, self.key = n, mode, key
        if mode == "constant":
            rank = _at_least(n)
        else:
            rank = (n, n + 1)
        super().__init__(name, params, rank=rank if n else None)

    def _mode(self, p):
        return self.fixed_mode or p["mode"]

    def _padding(self, p):
        value = p[self.key]
        if value is UNKNOWN:
            return None
        if isinstance(value, int):
            return (value,) * (2 * self.n)
        if isinstance(value, (tuple, list)) and all(_is_int_or_unknown(v) for v in value):
            return tuple(None if v is UNKNOWN else v for v in value)
        return False

    def errors(self, p):
        pads, mode = self._padding(p), self._mode(p)
        errs = []
        if pads is False:
            errs.append(f"{self.key} must be an int or a tuple of ints, got {_show(p[self.key])}")
        elif pads is not None and len(pads) % 2:
            errs.append(f"padding length must be divisible by 2, got {len(pads)} values {_show(p[self.key])}")
        if mode is not UNKNOWN and mode not in ("constant", "reflect", "replicate", "circular"):
            errs.append(f"padding mode must be 'constant', 'reflect', 'replicate' or 'circular', got {_show(mode)}")
        elif mode in ("reflect", "replicate", "circular") and p.get("value") not in (None, UNKNOWN):
            errs.append(f"padding mode {mode!r} does not take a value argument")
        return errs

    def output(self, p, shape):
        pads, mode = self._padding(p), self._mode(p)
        if pads is None or mode is UNKNOWN:
            return None
        pairs = len(pads) // 2
        rank = len(shape)
        if self.fixed_mode == "circular" and rank not in (self.n, self.n + 1):
            raise ShapeError(f"{self.name} {self.rank_text()}, got {rank}-d shape {_fmt_shape(shape)}")
        if mode == "constant":
            if rank < pairs:
                raise ShapeError(f"{self.name} pads {pairs} dims but the input has {rank} dims per sample "
                                 f"(batch excluded): {_fmt_shape(shape)}")
        elif rank not in (pairs, pairs + 1):
            raise ShapeError(f"{mode} padding of {pairs} dims expects a {pairs}-d or {pairs + 1}-d input "
                             f"per sample (batch excluded), got {rank}-d shape {_fmt_shape(shape)}")
        out = list(shape)
        for i in range(pairs):
            before, after = pads[2 * i], pads[2 * i + 1]
            axis = rank - 1 - i
            size = shape[axis]
            if None in (before, after, size):
                out[axis] = None
                continue
            if isinstance(size, int) and mode == "reflect" and max(before, after) >= size:
                raise ShapeError(f"reflection padding {max(before, after)} must be smaller than "
                                 f"the dimension it pads (size {size})")
            cropped = -min(before, 0) - min(after, 0)
            if isinstance(size, int) and mode == "constant" and cropped > size and size + before + after > 0:
                # torch crops negative padding first, so the crop alone must fit
                # (a result <= 0 is reported as a collapse instead)
                raise ShapeError(f"negative padding ({before}, {after}) crops {cropped} from a dimension "
                                 f"of size {size}")
            if isinstance(size, int) and mode == "circular" and max(before, after) > size:
                raise ShapeError(f"circular padding {max(before, after)} is larger than the dimension "
                                 f"it pads (size {size}): it would wrap around more than once")
            out[axis] = size + before + after
        return tuple(out)


# --------------------------------------------------------------------------- the table

R = REQUIRED
_DEVICE = (("device", None), ("dtype", None))
_INPLACE = (("inplace", False),)
_RULES: dict = {}


def _add(rule: _Rule) -> None:
    _RULES[rule.name] = rule


for _n in (1, 2, 3):
    _add(_Conv(f"Conv{_n}d", (("in_channels", R), ("out_channels", R), ("kernel_size", R), ("stride", 1),
                              ("padding", 0), ("dilation", 1), ("groups", 1), ("bias", True),
                              ("padding_mode", "zeros"), *_DEVICE), _n, transposed=False))
    _add(_Conv(f"ConvTranspose{_n}d", (("in_channels", R), ("out_channels", R), ("kernel_size", R), ("stride", 1),
                                       ("padding", 0), ("output_padding", 0), ("groups", 1), ("bias", True),
                                       ("dilation", 1), ("padding_mode", "zeros"), *_DEVICE), _n, transposed=True))
    _add(_Pool(f"MaxPool{_n}d", (("kernel_size", R), ("stride", None), ("padding", 0), ("dilation", 1),
                                 ("return_indices", False), ("ceil_mode", False)), _n, "max"))
    _avg = (("kernel_size", R), ("stride", None), ("padding", 0), ("ceil_mode", False), ("count_include_pad", True))
    _add(_Pool(f"AvgPool{_n}d", _avg + ((("divisor_override", None),) if _n > 1 else ()), _n, "avg"))
    _add(_Pool(f"LPPool{_n}d", (("norm_type", R), ("kernel_size", R), ("stride", None), ("ceil_mode", False)),
               _n, "lp"))
    _add(_AdaptivePool(f"AdaptiveAvgPool{_n}d", (("output_size", R),), _n))
    _add(_AdaptivePool(f"AdaptiveMaxPool{_n}d", (("output_size", R), ("return_indices", False)), _n))
    _norm = (("num_features", R), ("eps", 1e-5), ("momentum", 0.1))
    _add(_Norm(f"BatchNorm{_n}d", _norm + (("affine", True), ("track_running_stats", True), *_DEVICE, ("bias", True)),
               rank={1: (1, 2), 2: (3,), 3: (4,)}[_n], keyword_only=("bias",)))
    _add(_Norm(f"InstanceNorm{_n}d", _norm + (("affine", False), ("track_running_stats", False), *_DEVICE,
                                              ("bias", True)), rank=(_n + 1,), keyword_only=("bias",)))
    # torch: Dropout2d (training) rejects an input with nothing but the batch, Dropout3d unsqueezes it and runs
    _add(_Elementwise(f"Dropout{_n}d", (("p", 0.5), *_INPLACE), rank=(2,) if _n == 1 else None,
                      min_rank=1 if _n == 2 else 0))
    _pad_kinds = (("ZeroPad", "constant", ()), ("ConstantPad", "constant", (("value", R),)),
                  ("ReflectionPad", "reflect", ()), ("ReplicationPad", "replicate", ()),
                  ("CircularPad", "circular", ()))
    for _prefix, _mode, _extra in _pad_kinds:
        _add(_Pad(f"{_prefix}{_n}d", (("padding", R), *_extra), _n, _mode))

_add(_GroupNorm("GroupNorm", (("num_groups", R), ("num_channels", R), ("eps", 1e-5), ("affine", True), *_DEVICE,
                              ("bias", True)), keyword_only=("bias",)))
_add(_LayerNorm("LayerNorm", (("normalized_shape", R), ("eps", 1e-5), ("elementwise_affine", True), ("bias", True),
                              *_DEVICE)))
_add(_LayerNorm("RMSNorm", (("normalized_shape", R), ("eps", None), ("elementwise_affine", True), *_DEVICE)))
_add(_Elementwise("LocalResponseNorm", (("size", R), ("alpha", 1e-4), ("beta", 0.75), ("k", 1.0)),
                  rank=_at_least(2)))

for _name, _params in {
    "Dropout": (("p", 0.5), *_INPLACE),
    "AlphaDropout": (("p", 0.5), *_INPLACE),
    "FeatureAlphaDropout": (("p", 0.5), *_INPLACE),
    "ReLU": _INPLACE, "ReLU6": _INPLACE, "SELU": _INPLACE, "SiLU": _INPLACE, "Mish": _INPLACE,
    "Hardswish": _INPLACE, "Hardsigmoid": _INPLACE,
    "LeakyReLU": (("negative_slope", 0.01), *_INPLACE),
    "ELU": (("alpha", 1.0), *_INPLACE),
    "CELU": (("alpha", 1.0), *_INPLACE),
    "GELU": (("approximate", "none"),),
    "Sigmoid": (), "Tanh": (), "Softsign": (), "Tanhshrink": (), "LogSigmoid": (),
    "Hardtanh": (("min_val", -1.0), ("max_val", 1.0), *_INPLACE, ("min_value", None), ("max_value", None)),
    "Softplus": (("beta", 1.0), ("threshold", 20.0)),
    "Threshold": (("threshold", R), ("value", R), *_INPLACE),
    "Hardshrink": (("lambd", 0.5),), "Softshrink": (("lambd", 0.5),),
    "RReLU": (("lower", 0.125), ("upper", 1 / 3), *_INPLACE),
    "PReLU": (("num_parameters", 1), ("init", 0.25), *_DEVICE),
    "Softmax": (("dim", None),), "LogSoftmax": (("dim", None),), "Softmin": (("dim", None),),
}.items():
    _add(_Elementwise(_name, _params))
_add(_Elementwise("Softmax2d", (), rank=(3,)))
_add(_Elementwise("Identity", (), accepts_anything=True))
_add(_GLU("GLU", (("dim", -1),)))
_add(_Flatten("Flatten", (("start_dim", 1), ("end_dim", -1))))
_add(_Unflatten("Unflatten", (("dim", R), ("unflattened_size", R))))
_add(_Dense("Linear", (("in_features", R), ("out_features", R), ("bias", True), *_DEVICE),
            ("in_features", "out_features"), channels_param="in_features"))
_add(_Dense("Bilinear", (("in1_features", R), ("in2_features", R), ("out_features", R), ("bias", True), *_DEVICE),
            ("in1_features", "in2_features", "out_features"), channels_param="in1_features"))
_add(_Dense("Embedding", (("num_embeddings", R), ("embedding_dim", R), ("padding_idx", None), ("max_norm", None),
                          ("norm_type", 2.0), ("scale_grad_by_freq", False), ("sparse", False), ("_weight", None),
                          ("_freeze", False), *_DEVICE), ("num_embeddings", "embedding_dim"), appends=True))
_add(_Upsample("Upsample", (("size", None), ("scale_factor", None), ("mode", "nearest"), ("align_corners", None),
                            ("recompute_scale_factor", None))))
_add(_Upsample("UpsamplingNearest2d", (("size", None), ("scale_factor", None)), mode="nearest"))
_add(_Upsample("UpsamplingBilinear2d", (("size", None), ("scale_factor", None)), mode="bilinear"))
_add(_PixelShuffle("PixelShuffle", (("upscale_factor", R),), "upscale_factor", up=True))
_add(_PixelShuffle("PixelUnshuffle", (("downscale_factor", R),), "downscale_factor", up=False))
_add(_ChannelShuffle("ChannelShuffle", (("groups", R),), rank=_at_least(2)))
# F.pad has no module of its own; its rule goes by this functional-only name.
_add(_Pad("pad", (("pad", R), ("mode", "constant"), ("value", None)), 0, None, key="pad"))
del R

LAYERS: dict = {name: rule.spec for name, rule in _RULES.items()}


# --------------------------------------------------------------------------- binding


def _bind(params: tuple, keyword_only: tuple, args: list, kwargs: dict):
    positional = [name for name, _ in params if name not in keyword_only]
    if len(args) > len(positional):
        return None
    bound = dict(zip(positional, args))
    names = {name for name, _ in params}
    for key, value in kwargs.items():
        if key not in names or key in bound:
            return None
        bound[key] = value
    for name, default in params:
        if name not in bound:
            if default is REQUIRED:
                return None
            bound[name] = default
    return bound


def bind(name: str, args: list, kwargs: dict) -> dict | None:
    """Bind constructor arguments as torch's signature would; None if torch would
    reject the call (too many arguments, unknown or repeated keyword, missing one)."""
    rule = _RULES[name]
    if rule.accepts_anything:
        return {}
    return _bind(rule.params, rule.keyword_only, list(args), dict(kwargs))


def _resolved(rule: _Rule, params: dict) -> dict:
    """params with defaults filled in; a missing required argument is UNKNOWN."""
    full = {key: (UNKNOWN if default is REQUIRED else default) for key, default in rule.params}
    full.update(params)
    return full


# --------------------------------------------------------------------------- public rules


def output_shape(name: str, params: dict, shape):
    """Exact output shape (batch excluded) for an input `shape`; None when unknown.

    Raises ShapeError when torch would reject the input for a reason other than
    a channel mismatch or an output size collapsing to <= 0 (which is returned).
    """
    rule = _RULES[name]
    if shape is None:
        return None
    shape = tuple(shape)
    p = _resolved(rule, params)
    if rule.errors(p):
        return None
    return rule.output(p, shape)


def config_errors(name: str, params: dict) -> list:
    """Input-independent arguments torch rejects at construction or first call."""
    rule = _RULES[name]
    return rule.errors(_resolved(rule, params))


def windows(name: str, params: dict, shape) -> list:
    """One Window per spatial axis for sliding layers (Conv*, *Pool*), else []."""
    rule = _RULES[name]
    p = _resolved(rule, params)
    if rule.errors(p):
        return []
    if shape is not None:
        shape = tuple(shape)
        if rule.rank is not None and len(shape) not in rule.rank:
            return []
    return rule.windows(p, shape)


def parameter_count(name: str, params: dict):
    """(weights, biases) as sum(p.numel()) splits them in torch; None if unknown."""
    rule = _RULES[name]
    p = _resolved(rule, params)
    if rule.errors(p):
        return None
    return rule.count(p)


# --------------------------------------------------------------------------- functional forms

_POOL_ARGS = (("kernel_size", REQUIRED), ("stride", None), ("padding", 0))
_DROPOUT_ARGS = (("p", 0.5), ("training", True), ("inplace", False))
_SOFTMAX_ARGS = (("dim", None), ("_stacklevel", 3), ("dtype", None))

FUNCTIONAL: dict = {
    "relu": ("ReLU", _INPLACE),
    "relu6": ("ReLU6", _INPLACE),
    "gelu": ("GELU", (("approximate", "none"),)),
    "silu": ("SiLU", _INPLACE),
    "mish": ("Mish", _INPLACE),
    "sigmoid": ("Sigmoid", ()),
    "tanh": ("Tanh", ()),
    "hardswish": ("Hardswish", _INPLACE),
    "hardsigmoid": ("Hardsigmoid", _INPLACE),
    "leaky_relu": ("LeakyReLU", (("negative_slope", 0.01), *_INPLACE)),
    "elu": ("ELU", (("alpha", 1.0), *_INPLACE)),
    "selu": ("SELU", _INPLACE),
    "softmax": ("Softmax", _SOFTMAX_ARGS),
    "log_softmax": ("LogSoftmax", _SOFTMAX_ARGS),
    "softmin": ("Softmin", _SOFTMAX_ARGS),
    "glu": ("GLU", (("dim", -1),)),
    "dropout": ("Dropout", _DROPOUT_ARGS),
    "dropout1d": ("Dropout1d", _DROPOUT_ARGS),
    "dropout2d": ("Dropout2d", _DROPOUT_ARGS),
    "dropout3d": ("Dropout3d", _DROPOUT_ARGS),
    "avg_pool1d": ("AvgPool1d", _POOL_ARGS + (("ceil_mode", False), ("count_include_pad", True))),
    "interpolate": ("Upsample", (("size", None), ("scale_factor", None), ("mode", "nearest"),
                                 ("align_corners", None), ("recompute_scale_factor", None), ("antialias", False))),
    "pad": ("pad", (("pad", REQUIRED), ("mode", "constant"), ("value", None))),
    "layer_norm": ("LayerNorm", (("normalized_shape", REQUIRED), ("weight", None), ("bias", None), ("eps", 1e-5))),
    "flatten": ("Flatten", (("start_dim", 0), ("end_dim", -1))),  # torch.flatten / Tensor.flatten
    "unflatten": ("Unflatten", (("dim", REQUIRED), ("sizes", REQUIRED))),
    "pixel_shuffle": ("PixelShuffle", (("upscale_factor", REQUIRED),)),
    "pixel_unshuffle": ("PixelUnshuffle", (("downscale_factor", REQUIRED),)),
}
_MAX_POOL_ARGS = _POOL_ARGS + (("dilation", 1), ("ceil_mode", False), ("return_indices", False))
_AVG_POOL_ARGS = _POOL_ARGS + (("ceil_mode", False), ("count_include_pad", True), ("divisor_override", None))
for _n in (1, 2, 3):
    FUNCTIONAL[f"max_pool{_n}d"] = (f"MaxPool{_n}d", _MAX_POOL_ARGS)
    if _n > 1:  # avg_pool1d has no divisor_override
        FUNCTIONAL[f"avg_pool{_n}d"] = (f"AvgPool{_n}d", _AVG_POOL_ARGS)
    FUNCTIONAL[f"adaptive_avg_pool{_n}d"] = (f"AdaptiveAvgPool{_n}d", (("output_size", REQUIRED),))
    FUNCTIONAL[f"adaptive_max_pool{_n}d"] = (f"AdaptiveMaxPool{_n}d", (("output_size", REQUIRED),
                                                                       ("return_indices", False)))

_FUNCTIONAL_KEYWORD_ONLY = {"gelu": ("approximate",)}
# Function argument -> layer parameter, where the names differ (None: not a layer parameter).
_FUNCTIONAL_RENAMES = {
    "unflatten": {"sizes": "unflattened_size"},
    "layer_norm": {"weight": None, "bias": None},
}


def bind_functional(fname: str, args: list, kwargs: dict):
    """Bind a torch.nn.functional / torch.* call (arguments after the input
    tensor) and return (layer name whose rule applies, its params), or None."""
    if fname not in FUNCTIONAL:
        return None
    layer, signature = FUNCTIONAL[fname]
    kwargs = {k: v for k, v in kwargs.items() if k != "input"}
    bound = _bind(signature, _FUNCTIONAL_KEYWORD_ONLY.get(fname, ()), list(args), kwargs)
    if bound is None:
        return None
    renames = _FUNCTIONAL_RENAMES.get(fname, {})
    params = {key: default for key, default in _RULES[layer].params if default is not REQUIRED}
    for key, value in bound.items():
        target = renames.get(key, key)
        if target is not None:
            params[target] = value
    return layer, params
