"""Layers that do not slide a window: normalization, elementwise activations, flatten and
unflatten, dense layers, resampling, pixel and channel shuffles, padding."""

from __future__ import annotations

import math

from ..sizes import UNKNOWN, Sym
from .base import (
    Rule, ShapeError, Unranked, at_least, batched_dim, dim_range_error, divides, fmt_shape, int_or_none, int_or_unknown,
    known, product, show, zero_sized,
)


class Norm(Rule):
    """BatchNorm / InstanceNorm: per-channel statistics, shape unchanged."""

    channels_param = "num_features"
    keeps_unranked = True

    def errors(self, p):
        value = p["num_features"]
        if not int_or_unknown(value):
            return [f"num_features must be an int, got {show(value)}"]
        if isinstance(value, int) and value < 0:
            return [f"num_features must not be negative, got {value}"]
        return [zero_sized("num_features")] if value == 0 and not isinstance(value, bool) else []

    def count(self, p):
        c, affine, bias = int_or_none(p["num_features"]), p["affine"], p["bias"]
        if c is None or UNKNOWN in (affine, bias):
            return None
        return (c, c if bias else 0) if affine else (0, 0)


class GroupNorm(Rule):
    channels_param = "num_channels"
    keeps_unranked = True

    def needs_a_dim(self):
        return True

    def errors(self, p):
        groups, channels = p["num_groups"], p["num_channels"]
        errs = [f"{key} must be an int, got {show(p[key])}" for key in ("num_groups", "num_channels")
                if not int_or_unknown(p[key])]
        groups, channels = int_or_none(groups), int_or_none(channels)
        if groups is not None and groups <= 0:
            errs.append(f"num_groups must be positive, got {groups}")
        elif groups is not None and channels is not None and channels % groups:
            errs.append(f"num_channels ({channels}) must be divisible by num_groups ({groups})")
        return errs

    def count(self, p):
        c, affine, bias = int_or_none(p["num_channels"]), p["affine"], p["bias"]
        if c is None or UNKNOWN in (affine, bias):
            return None
        return (c, c if bias else 0) if affine else (0, 0)


def normalized_shape(value):
    if isinstance(value, int):
        return (value,)
    if isinstance(value, (tuple, list)) and all(int_or_unknown(v) for v in value):
        return tuple(value)
    return None


class LayerNorm(Rule):
    channels_param = "normalized_shape"
    keeps_unranked = True

    def errors(self, p):
        value = p["normalized_shape"]
        if value is UNKNOWN:
            return []
        dims = normalized_shape(value)
        if dims is None:
            return [f"normalized_shape must be an int or a tuple of ints, got {show(value)}"]
        if any(isinstance(v, int) and v < 0 for v in dims):
            return [f"normalized_shape must not be negative, got {show(value)}"]
        return []

    def output(self, p, shape):
        dims = normalized_shape(p["normalized_shape"])
        if dims is not None and len(shape) < len(dims):
            raise ShapeError(
                f"{self.name} over {len(dims)} trailing dims needs at least {len(dims)} dims per sample "
                f"(batch excluded), got {len(shape)}-d shape {fmt_shape(shape)}"
            )
        return shape

    def count(self, p):
        dims = normalized_shape(p["normalized_shape"])
        affine, bias = p["elementwise_affine"], p.get("bias", False)
        if dims is None or not known(dims) or UNKNOWN in (affine, bias):
            return None
        size = math.prod(dims)
        return (size, size if bias else 0) if affine else (0, 0)


# ---- shape-preserving layers with a twist


class Elementwise(Rule):
    """Activations, dropouts, Identity: the output has the input's shape."""

    keeps_unranked = True

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
            count = int_or_none(p["num_parameters"])
            if count is not None and count > 1 and len(shape) < 1:
                raise ShapeError(f"PReLU with {count} parameters needs a channel dimension, got shape ()")
        dim = p.get("dim")
        if isinstance(dim, int) and batched_dim(dim, len(shape)) is None:
            raise dim_range_error(self.name, dim, len(shape))
        return shape

    def count(self, p):
        if self.name == "PReLU":
            count = int_or_none(p["num_parameters"])
            return None if count is None else (count, 0)
        return (0, 0)


class GLU(Rule):
    defines_channels = True

    def output(self, p, shape):
        dim = p["dim"]
        if not isinstance(dim, int):
            return tuple(None for _ in shape)
        index = batched_dim(dim, len(shape))
        if index is None:
            raise dim_range_error(self.name, dim, len(shape))
        if index == 0:
            return shape  # halves the batch, which shapes here do not carry
        size = shape[index - 1]
        if isinstance(size, int) and size % 2:
            raise ShapeError(f"GLU halves dim {dim}, but its size {size} is odd")
        if isinstance(size, Sym) and divides(size, 2) is False:
            raise ShapeError(f"GLU halves dim {dim}, but its size {size} is always odd")
        out = list(shape)
        out[index - 1] = None if size is None else size // 2
        return tuple(out)


# ---- reshaping and dense layers


class Unsqueeze(Rule):
    """x.unsqueeze(dim): a new axis of size 1 before `dim` of the batched tensor (dim may also be
    one past the last axis)."""

    def output(self, p, shape):
        dim, ndim = p["dim"], len(shape) + 2  # the dims of the batched result
        if not isinstance(dim, int) or isinstance(dim, bool):
            return (None,) * (len(shape) + 1)
        if not -ndim <= dim < ndim:
            raise ShapeError(f"unsqueeze: dimension out of range (expected to be in range of [{-ndim}, {ndim - 1}], "
                             f"but got {dim})")
        index = dim + ndim if dim < 0 else dim
        if index == 0:
            return None  # a new leading axis: the batch is no longer first, which shapes here assume
        return (*shape[:index - 1], 1, *shape[index - 1:])


class Unfold(Rule):
    """x.unfold(dimension, size, step): the windows of `size` every `step` along `dimension`, the
    window a new last axis ((S - size) // step + 1 of them); along the batch it is unknown here."""

    def output(self, p, shape):
        dim, size, step, ndim = p["dimension"], p["size"], p["step"], len(shape) + 1
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (dim, size, step)) or not -ndim <= dim < ndim:
            return None
        if step <= 0:
            raise ShapeError(f"step is {step} but must be > 0")
        axis = dim % ndim
        if axis == 0 or size < 0:
            return None
        length = shape[axis - 1]
        if isinstance(length, int) and length < size:
            raise ShapeError(f"maximum size for tensor at dimension {axis} is {length} but size is {size}")
        windows = None if length is None else (length - size) // step + 1
        return (*shape[:axis - 1], windows, *shape[axis:], size)


class Squeeze(Rule):
    """x.squeeze(dim) / x.squeeze((d0, d1)): drops each named axis of size 1 (any other stays);
    x.squeeze(): every axis of size 1. The batch is never dropped here: an axis that may be it, or
    whose size may be 1 or not (a symbolic size), leaves the result unknown."""

    def output(self, p, shape):
        dim, ndim = p["dim"], len(shape) + 1  # the dims of the batched input
        if dim is None:
            if not all(isinstance(d, int) for d in shape):
                return None
            return tuple(d for d in shape if d != 1)
        dims = dim if isinstance(dim, tuple) else (dim,)
        if not all(isinstance(d, int) and not isinstance(d, bool) for d in dims):
            return None
        for d in dims:
            if not -ndim <= d < ndim:
                raise ShapeError(f"squeeze: dimension out of range (expected to be in range of [{-ndim}, {ndim - 1}], "
                                 f"but got {d})")
        axes = {d % ndim for d in dims}
        if 0 in axes or any(not isinstance(shape[a - 1], int) for a in axes):
            return None  # the batch, or a size that may be 1
        return tuple(size for i, size in enumerate(shape) if not (i + 1 in axes and size == 1))


class Flatten(Rule):
    defines_channels = True

    def output(self, p, shape):
        start, end = p["start_dim"], p["end_dim"]
        if not (isinstance(start, int) and isinstance(end, int)):
            return None
        first, last = batched_dim(start, len(shape)), batched_dim(end, len(shape))
        if first is None:
            raise dim_range_error(self.name, start, len(shape))
        if last is None:
            raise dim_range_error(self.name, end, len(shape))
        if first > last:
            raise ShapeError(
                f"{self.name}: start_dim ({start}) comes after end_dim ({end}) for a {len(shape) + 1}-d batched input"
            )
        if first == last:
            return shape
        if first == 0:
            return None  # merges the batch into the features: sizes unknown per sample
        merged = product(shape[first - 1:last])
        return (*shape[:first - 1], merged, *shape[last:])


class Unflatten(Rule):
    defines_channels = True

    def errors(self, p):
        sizes = p["unflattened_size"]
        if sizes is UNKNOWN:
            return []
        if not isinstance(sizes, (tuple, list)) or not all(int_or_unknown(v) for v in sizes):
            return [f"unflattened_size must be a tuple of ints, got {show(sizes)}"]
        if len(sizes) == 0:
            return ["unflattened_size must not be empty"]
        if sum(1 for v in sizes if v == -1) > 1:
            return [f"unflattened_size can infer only one dimension (one -1), got {show(sizes)}"]
        if any(isinstance(v, int) and v < -1 for v in sizes):
            return [f"unflattened_size entries must be positive or -1, got {show(sizes)}"]
        return []

    def output(self, p, shape):
        dim, sizes = p["dim"], p["unflattened_size"]
        if not isinstance(dim, int):
            return None
        index = batched_dim(dim, len(shape))
        if index is None:
            raise dim_range_error(self.name, dim, len(shape))
        if index == 0 or not isinstance(sizes, (tuple, list)):
            return None
        size = shape[index - 1]
        sizes = [None if v is UNKNOWN else v for v in sizes]
        known = [v for v in sizes if v is not None and v != -1]
        product = math.prod(known)
        fits = f"sizes {show(tuple(p['unflattened_size']))} don't multiply up to the size of dim {dim} ({size})"
        if -1 in sizes:
            inferred = None
            if None not in sizes and size is not None:
                if product == 0 or (isinstance(size, int) and size % product):
                    raise ShapeError(f"{self.name}: {fits}")
                if isinstance(size, Sym) and divides(size, product) is False:
                    raise ShapeError(f"{self.name}: {fits}")
                inferred = size // product
            sizes[sizes.index(-1)] = inferred
        elif None not in sizes and isinstance(size, int) and product != size:
            raise ShapeError(f"{self.name}: {fits}")
        return (*shape[:index - 1], *sizes, *shape[index:])


class Dense(Rule):
    """Linear, Bilinear: the last dim is replaced; Embedding: a dim is appended."""
    defines_channels = True

    def __init__(self, name, params, size_keys, appends=False, **options):
        self.size_keys, self.appends = size_keys, appends  # size_keys multiply to the weight count
        super().__init__(name, params, **options)

    def needs_a_dim(self):
        return not self.appends

    def errors(self, p):
        errs = []
        for key in self.size_keys:
            value = p[key]
            if not int_or_unknown(value):
                errs.append(f"{key} must be an int, got {show(value)}")
            elif isinstance(value, int) and value < 0:
                errs.append(f"{key} must not be negative, got {value}")
            elif value == 0 and self.name in ("Linear", "Bilinear") and not isinstance(value, bool):
                errs.append(zero_sized(key))
        return errs

    def output(self, p, shape):
        self.check_rank(shape)
        out = int_or_none(p[self.size_keys[-1]])
        return (*shape, out) if self.appends else (*shape[:-1], out)

    def unranked(self, p, u):
        if self.appends:  # Embedding adds an axis: of no other tensor's rank, its last axis the embedding's
            size = int_or_none(p[self.size_keys[-1]])
            return None if size is None else Unranked(last=size)
        if len(self.size_keys) != 2:
            return None  # Bilinear takes two tensors
        # the channel axis is the last one at rank 2, kept at any other: not known
        return u._replace(channels=None, last=int_or_none(p[self.size_keys[-1]]), ones=False)

    def count(self, p):
        sizes = [int_or_none(p[key]) for key in self.size_keys]
        bias = p.get("bias", False)
        if None in sizes or bias is UNKNOWN:
            return None
        return math.prod(sizes), sizes[-1] if bias else 0


class Attention(Rule):
    """nn.MultiheadAttention(query, key, value): the output has the query's shape (its last dim
    embed_dim); per sample a (L, E) query (batch_first) or an (N, E) row of a (L, N, E) one, or an
    unbatched (E,) row; key and value of the same rank, their last dims kdim and vdim."""
    rank = (1, 2)
    defines_channels = True

    def errors(self, p):
        embed, heads = p["embed_dim"], p["num_heads"]
        errs = [f"{key} must be a positive int, got {show(p[key])}" for key in ("embed_dim", "num_heads")
                if not int_or_unknown(p[key]) or isinstance(p[key], int) and p[key] <= 0]
        if not errs and isinstance(embed, int) and isinstance(heads, int) and embed % heads:
            errs.append(f"embed_dim must be divisible by num_heads, got {embed} and {heads}")
        return errs

    def output(self, p, shape):
        self.check_rank(shape)
        self.check_last(shape, p["embed_dim"], "query")
        return shape

    def check_operands(self, p, query, key, value) -> None:
        """Raise as torch does for a key or value that cannot meet the query."""
        for name, shape, size in (("key", key, p["kdim"]), ("value", value, p["vdim"])):
            if shape is None:
                continue
            if len(shape) != len(query):
                raise ShapeError(f"{self.name} expects a {name} of the query's rank ({len(query) + 1}-d), "
                                 f"got {len(shape) + 1}-d")
            self.check_last(shape, p["embed_dim"] if size is None else size, name)

    def check_last(self, shape, size, name) -> None:
        if isinstance(size, int) and isinstance(shape[-1], int) and shape[-1] != size:
            raise ShapeError(f"{self.name} expects {name} embeddings of {size} features but receives {shape[-1]}")

    def count(self, p):
        embed, kdim, vdim = (int_or_none(p[k]) for k in ("embed_dim", "kdim", "vdim"))
        if embed is None or UNKNOWN in (p["bias"], p["add_bias_kv"]) or None in (
                kdim if p["kdim"] is not None else 0, vdim if p["vdim"] is not None else 0):
            return None
        inputs = embed + (embed if kdim is None else kdim) + (embed if vdim is None else vdim)
        bias = 4 * embed if p["bias"] else 0
        return embed * inputs + embed * embed, bias + (2 * embed if p["add_bias_kv"] else 0)


# ---- resampling


MODE_RANKS = {
    "nearest": (2, 3, 4), "nearest-exact": (2, 3, 4), "area": (2, 3, 4),
    "linear": (2,), "bilinear": (3,), "bicubic": (3,), "trilinear": (4,), "lanczos": (3,),
}
INTERPOLATING = ("linear", "bilinear", "bicubic", "trilinear")


class Upsample(Rule):
    def __init__(self, name, params, mode=None, **options):
        self.fixed_mode = mode
        ranks = MODE_RANKS[mode] if mode else (2, 3, 4)
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
        if size is not None and known(size) and not (
            isinstance(size, (int, Sym)) or (isinstance(size, (tuple, list)) and all(isinstance(v, (int, Sym)) for v in size))
        ):
            errs.append(f"size must be an int or a tuple of ints, got {show(size)}")
        if mode is not UNKNOWN and mode not in MODE_RANKS:
            errs.append(f"mode {mode!r} is not one of {', '.join(MODE_RANKS)}")
        elif mode is not UNKNOWN and align not in (None, UNKNOWN) and mode not in INTERPOLATING:
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

    def unranked(self, p, u):
        return u._replace(last=None, ones=False)  # the channels are kept

    def output(self, p, shape):
        mode = self._mode(p)
        if mode is UNKNOWN:
            if len(shape) not in (2, 3, 4):
                raise ShapeError(f"{self.name} expects a 2-, 3- or 4-d input per sample (batch excluded), "
                                 f"got {len(shape)}-d shape {fmt_shape(shape)}")
        elif len(shape) not in MODE_RANKS[mode]:
            allowed = " or ".join(f"{r}-d" for r in MODE_RANKS[mode])
            raise ShapeError(f"{self.name} with mode {mode!r} expects a {allowed} input per sample "
                             f"(batch excluded), got {len(shape)}-d shape {fmt_shape(shape)}")
        if p.get("antialias") is True and len(shape) != 3:
            raise ShapeError(f"antialias needs a 3-d input per sample (C, H, W), got {len(shape)}-d")
        n = len(shape) - 1
        size, scale = p["size"], p["scale_factor"]
        if size is not None:
            targets = self._per_axis(size, n, "size", shape)
            return (shape[0], *(v if isinstance(v, Sym) else int_or_none(v) for v in targets))
        factors = self._per_axis(scale, n, "scale_factor", shape)
        out = [shape[0]]
        for dim, factor in zip(shape[1:], factors):
            out.append(scaled(dim, factor))
        return tuple(out)

    def _per_axis(self, value, n, key, shape):
        if isinstance(value, (tuple, list)):
            if len(value) != n:
                raise ShapeError(
                    f"{self.name}: {key} {show(tuple(value))} has {len(value)} entries but the input has "
                    f"{n} spatial dims {fmt_shape(shape[1:])}"
                )
            return tuple(value)
        return (value,) * n


def scaled(size, factor):
    """torch's output size for a scale factor: the double product, truncated."""
    if size is None or factor is UNKNOWN or not isinstance(factor, (int, float)):
        return None
    if isinstance(size, int):
        return int(float(size) * float(factor))
    if float(factor).is_integer() and factor > 0:
        return size * int(factor)
    return None


class PixelShuffle(Rule):
    defines_channels = True

    def __init__(self, name, params, key, up):
        self.key, self.up = key, up
        super().__init__(name, params, rank=at_least(3))

    def errors(self, p):
        r = p[self.key]
        if not int_or_unknown(r):
            return [f"{self.key} must be an int, got {show(r)}"]
        if isinstance(r, int) and r <= 0:
            return [f"{self.key} must be positive, got {r}"]
        return []

    def output(self, p, shape):
        self.check_rank(shape)
        r = int_or_none(p[self.key])
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
        if isinstance(size, Sym) and divides(size, divisor) is False:
            raise ShapeError(f"{self.name} needs the {what} ({size}) to be divisible by {of} ({divisor}), "
                             f"which it never is")


class ChannelShuffle(Rule):
    def errors(self, p):
        groups = p["groups"]
        if isinstance(groups, int) and groups <= 0:
            return [f"groups must be positive, got {groups}"]
        return []

    def output(self, p, shape):
        self.check_rank(shape)
        groups, channels = int_or_none(p["groups"]), shape[0]
        if groups and isinstance(channels, int) and channels % groups:
            raise ShapeError(f"ChannelShuffle needs the channels ({channels}) to be divisible by groups ({groups})")
        return shape


# ---- padding


class Pad(Rule):
    """ZeroPad/ConstantPad/ReflectionPad/ReplicationPad/CircularPad and F.pad."""

    def __init__(self, name, params, n, mode, key="padding"):
        self.n, self.fixed_mode, self.key = n, mode, key
        if mode == "constant":
            rank = at_least(n)
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
        if isinstance(value, (tuple, list)) and all(int_or_unknown(v) or isinstance(v, Sym) for v in value):
            # a symbolic amount: read off the input (swin's pad to a multiple of the window)
            return tuple(None if v is UNKNOWN else v for v in value)
        return False

    def errors(self, p):
        pads, mode = self._padding(p), self._mode(p)
        errs = []
        if pads is False:
            errs.append(f"{self.key} must be an int or a tuple of ints, got {show(p[self.key])}")
        elif pads is not None and len(pads) % 2:
            errs.append(f"padding length must be divisible by 2, got {len(pads)} values {show(p[self.key])}")
        if mode is not UNKNOWN and mode not in ("constant", "reflect", "replicate", "circular"):
            errs.append(f"padding mode must be 'constant', 'reflect', 'replicate' or 'circular', got {show(mode)}")
        elif mode in ("reflect", "replicate", "circular") and p.get("value") not in (None, UNKNOWN):
            errs.append(f"padding mode {mode!r} does not take a value argument")
        return errs

    def unranked(self, p, u):
        # a pad keeps the rank whatever it pads; which axes it reaches depends on the rank (the channel
        # axis too when it pads as many pairs as axes after the batch), so only the last axis stays known
        pads = self._padding(p)
        if not pads or None in pads[:2] or not all(isinstance(v, int) for v in pads[:2]):
            return u._replace(channels=None, last=None, ones=False)
        last = u.last + pads[0] + pads[1] if isinstance(u.last, int) else None
        return u._replace(channels=None, last=last if last is None or last > 0 else None, ones=False)

    def output(self, p, shape):
        pads, mode = self._padding(p), self._mode(p)
        if pads is None or mode is UNKNOWN:
            return None
        pairs = len(pads) // 2
        rank = len(shape)
        if self.fixed_mode == "circular" and rank not in (self.n, self.n + 1):
            raise ShapeError(f"{self.name} {self.rank_text()}, got {rank}-d shape {fmt_shape(shape)}")
        if mode == "constant":
            if rank < pairs:
                raise ShapeError(f"{self.name} pads {pairs} dims but the input has {rank} dims per sample "
                                 f"(batch excluded): {fmt_shape(shape)}")
        elif rank not in (pairs, pairs + 1):
            raise ShapeError(f"{mode} padding of {pairs} dims expects a {pairs}-d or {pairs + 1}-d input "
                             f"per sample (batch excluded), got {rank}-d shape {fmt_shape(shape)}")
        out = list(shape)
        for i in range(pairs):
            before, after = pads[2 * i], pads[2 * i + 1]
            axis = rank - 1 - i
            size = shape[axis]
            if None in (before, after, size):
                out[axis] = None
                continue
            if not (isinstance(before, int) and isinstance(after, int)):
                # symbolic amounts come from the sizes they pad (read off the input): torch's
                # own checks of them are not decided here, only the sum
                out[axis] = size + before + after if mode == "constant" else None
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
