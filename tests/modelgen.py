"""Random PyTorch CNN models *as Python source*, plus a PyTorch oracle for them.

Used by ``tests/test_differential.py`` to prove that convlint's static shape
engine agrees with what PyTorch actually does.

A generated model looks like::

    import torch.nn as nn

    # convlint: input=3x17x9
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, stride=2),
        nn.ReLU(),
        ...
    )

with exactly one layer per line, so layer ``i`` sits on line
``FIRST_LAYER_LINE + i``.

The strategy keeps its own (deliberately independent, pure-Python) shape
tracker so that it can chain layers correctly: about 80% of the models are
generated "valid" (every parameter chosen so that the tracker says PyTorch
will accept it) and about 20% carry one injected fault (wrong channels, wrong
``in_features``, groups that do not divide, kernel larger than the input,
pool padding > half the window, ``padding='same'`` with stride, bad
``output_padding``, a layer of the wrong dimensionality, ...).  The tracker
only steers the distribution: the *oracle* (``run_torch``) is PyTorch itself.

Nothing here imports torch at module level; the oracle functions import it
lazily so that the generator can be used (and tested) without torch.
"""

from __future__ import annotations

import math
import re
import warnings
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st

MAX_CH = 16  # channels stay small so that torch is fast
FIRST_LAYER_LINE = 5  # 1 import, 2 blank, 3 directive, 4 "model = nn.Sequential("
# Per-dimension cap on spatial sizes that *valid* layers may grow to.
SPATIAL_CAP = {1: 96, 2: 48, 3: 16}
# Input spatial size ranges per dimensionality (small and odd sizes included).
INPUT_MAX = {1: 40, 2: 40, 3: 12}
FLAT_CAP = 12_000  # don't Flatten (in valid mode) into more features than this


# --------------------------------------------------------------------------- #
# Model specification
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class Layer:
    kind: str  # torch.nn class name, e.g. "Conv2d"
    expr: str  # constructor call as it appears in the source


@dataclass(frozen=True)
class ModelSpec:
    ndim: int  # 1, 2 or 3 spatial dims of the declared input
    input_shape: tuple[int, ...]  # without batch
    layers: tuple[Layer, ...]
    fault: str | None = None  # injected fault ("kind@index"), None when generated valid

    @property
    def directive(self) -> str:
        return "# convlint: input=" + "x".join(str(v) for v in self.input_shape)

    @property
    def source(self) -> str:
        lines = ["import torch.nn as nn", "", self.directive, "model = nn.Sequential("]
        lines += [f"    {layer.expr}," for layer in self.layers]
        lines.append(")")
        return "\n".join(lines) + "\n"

    def line_of(self, index: int) -> int:
        return FIRST_LAYER_LINE + index

    def __repr__(self) -> str:  # hypothesis prints this for falsifying examples
        return f"ModelSpec(fault={self.fault!r}, source='''\n{self.source}''')"


_KIND_RE = re.compile(r"^\s*nn\.(\w+)\(")


def spec_from_source_layers(input_shape: tuple[int, ...], exprs: list[str]) -> ModelSpec:
    """Build a spec from hand-written layer expressions (for regression examples)."""
    layers = []
    for expr in exprs:
        m = _KIND_RE.match(expr)
        assert m, expr
        layers.append(Layer(m.group(1), expr.strip()))
    return ModelSpec(ndim=len(input_shape) - 1, input_shape=tuple(input_shape), layers=tuple(layers))


# --------------------------------------------------------------------------- #
# Reference shape arithmetic (the generator's own tracker)
# --------------------------------------------------------------------------- #


def conv_out(size: int, k: int, s: int, p: int, d: int) -> int:
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


def conv_transpose_out(size: int, k: int, s: int, p: int, d: int, op: int) -> int:
    return (size - 1) * s - 2 * p + d * (k - 1) + op + 1


def pool_out(size: int, k: int, s: int, p: int, d: int, ceil_mode: bool) -> int:
    eff = d * (k - 1) + 1
    num = size + 2 * p - eff
    if ceil_mode:
        out = -(-num // s) + 1
        if (out - 1) * s >= size + p:  # last window must start inside input or left padding
            out -= 1
    else:
        out = num // s + 1
    return out


def _prod(values) -> int:
    return math.prod(values)


# --------------------------------------------------------------------------- #
# Rendering helpers
# --------------------------------------------------------------------------- #


def _tuple_src(values) -> str:
    values = list(values)
    if len(values) == 1:
        return f"({_val_src(values[0])},)"
    return "(" + ", ".join(_val_src(v) for v in values) + ")"


def _val_src(v) -> str:
    return repr(v)


def _render(draw, cls: str, params: list[tuple[str, str | None, bool]], *, max_pos: int | None = None) -> str:
    """Render ``nn.cls(...)``.

    ``params`` lists (name, source, is_default) in positional order; a param
    whose source is None is never rendered.  Non-default params are always
    rendered, default ones sometimes (explicitly spelled out).  A random-length
    prefix of the rendered params is passed positionally.
    """
    included = []
    for name, src, is_default in params:
        if src is None:
            included.append(False)
        elif not is_default:
            included.append(True)
        else:
            included.append(draw(st.integers(0, 5)) == 0)
    prefix = 0
    while prefix < len(params) and included[prefix]:
        prefix += 1
    if max_pos is not None:
        prefix = min(prefix, max_pos)
    # Mostly positional up to the third argument, sometimes all keywords or all positional.
    choice = draw(st.sampled_from(["natural", "natural", "natural", "keywords", "positional"]))
    if choice == "natural":
        npos = min(prefix, 3 if max_pos is None else max_pos)
    elif choice == "keywords":
        npos = 0
    else:
        npos = prefix
    args = []
    for i, (name, src, _) in enumerate(params):
        if not included[i]:
            continue
        args.append(src if i < npos else f"{name}={src}")
    return f"nn.{cls}(" + ", ".join(args) + ")"


def _draw_dims(draw, bounds: list[tuple[int, int]], *, uniform_weight: int = 2, default: int | None = None):
    """Draw one int per spatial dim within per-dim bounds.

    Returns (values, source).  Often the same value for all dims rendered as a
    plain int; sometimes a tuple.  When ``default`` is given and lies within
    every bound, it is picked with a fair probability.
    """
    d = len(bounds)
    lo = max(b[0] for b in bounds)
    hi = min(b[1] for b in bounds)
    if default is not None and lo <= default <= hi and draw(st.integers(0, 2)) == 0:
        return (default,) * d, str(default)
    if lo <= hi and draw(st.integers(0, uniform_weight)) != 0:
        v = draw(st.integers(lo, hi))
        if draw(st.integers(0, 4)) == 0:
            return (v,) * d, _tuple_src((v,) * d)
        return (v,) * d, str(v)
    values = tuple(draw(st.integers(b[0], b[1])) for b in bounds)
    if d == 1 and draw(st.booleans()):
        return values, str(values[0])
    return values, _tuple_src(values)


def _spatial_rank(shape) -> int:
    return len(shape) - 1


# --------------------------------------------------------------------------- #
# Valid layer generators: (draw, shape) -> (Layer, new_shape)
# --------------------------------------------------------------------------- #


def gen_relu(draw, shape):
    expr = draw(st.sampled_from(["nn.ReLU()", "nn.ReLU()", "nn.ReLU(inplace=True)", "nn.ReLU(True)"]))
    return Layer("ReLU", expr), shape


def gen_flatten(draw, shape):
    if len(shape) >= 3 and draw(st.integers(0, 5)) == 0:
        expr = draw(st.sampled_from(["nn.Flatten(2)", "nn.Flatten(start_dim=2)"]))
        return Layer("Flatten", expr), (shape[0], _prod(shape[1:]))
    expr = draw(
        st.sampled_from(["nn.Flatten()", "nn.Flatten()", "nn.Flatten()", "nn.Flatten(1)", "nn.Flatten(start_dim=1)", "nn.Flatten(1, -1)"])
    )
    return Layer("Flatten", expr), (_prod(shape),)


def gen_linear(draw, shape, in_features: int | None = None):
    f_in = shape[-1] if in_features is None else in_features
    f_out = draw(st.integers(1, MAX_CH))
    bias = draw(st.integers(0, 3)) != 0
    expr = _render(
        draw,
        "Linear",
        [("in_features", str(f_in), False), ("out_features", str(f_out), False), ("bias", "False" if not bias else "True", bias)],
    )
    return Layer("Linear", expr), tuple(shape[:-1]) + (f_out,)


def gen_batchnorm(draw, shape, features: int | None = None, dims: int | None = None):
    d = max(1, _spatial_rank(shape)) if dims is None else dims
    c = shape[0] if features is None else features
    extras = draw(
        st.sampled_from(["", "", "", "", ", eps=1e-3", ", momentum=0.01", ", affine=False", ", track_running_stats=False"])
    )
    if draw(st.integers(0, 4)) == 0:
        expr = f"nn.BatchNorm{d}d(num_features={c}{extras})"
    else:
        expr = f"nn.BatchNorm{d}d({c}{extras})"
    return Layer(f"BatchNorm{d}d", expr), shape


def _draw_groups(draw, c_in: int) -> int:
    divisors = [g for g in range(1, c_in + 1) if c_in % g == 0]
    mode = draw(st.sampled_from(["one", "one", "one", "div", "depthwise"]))
    if mode == "one":
        return 1
    if mode == "depthwise":
        return c_in
    return draw(st.sampled_from(divisors))


def _padding_mode_param(draw, pads: tuple[int, ...], sizes: tuple[int, ...], same: bool):
    """Pick a padding_mode that torch will accept for this geometry."""
    choice = draw(st.sampled_from(["zeros"] * 12 + ["zeros!", "replicate", "circular", "reflect"]))
    if choice == "zeros":
        return None, True
    if choice == "zeros!":
        return "'zeros'", False
    if same:
        return None, True  # keep it simple: extra constraints of 'same' + reflect are not modelled here
    if choice == "reflect" and all(p < s for p, s in zip(pads, sizes)):
        return "'reflect'", False
    if choice == "circular" and all(p <= s for p, s in zip(pads, sizes)):
        return "'circular'", False
    if choice == "replicate":
        return "'replicate'", False
    return None, True


def gen_conv(draw, shape, *, c_in_src: int | None = None, groups: int | None = None, force=None):
    """A ConvNd that is valid for ``shape`` (unless the caller overrides something)."""
    d = _spatial_rank(shape)
    c, sizes = shape[0], shape[1:]
    g = _draw_groups(draw, c) if groups is None else groups
    c_out = g * draw(st.integers(1, max(1, MAX_CH // g)))
    force = force or {}
    dil, dil_src = _draw_dims(draw, [(1, 3)] * d, default=1)
    pad_kind = force.get("pad_kind") or draw(st.sampled_from(["int", "int", "none", "tuple", "same", "same", "valid"]))
    if pad_kind == "same":
        pads = None
        k, k_src = _draw_dims(draw, [(1, 6)] * d)
        stride, stride_src = (1,) * d, "1"
        if force.get("stride"):
            stride, stride_src = force["stride"]
        pad_src = "'same'"
        out_sizes = sizes
    else:
        if pad_kind in ("none", "valid"):
            pads, pad_src = (0,) * d, ("'valid'" if pad_kind == "valid" else "0")
        else:
            pads, pad_src = _draw_dims(draw, [(0, 3)] * d, default=0)
            if pad_kind == "tuple" and pad_src.isdigit():
                pad_src = _tuple_src(pads)
        kmax = [max(1, min(7, (s + 2 * p - 1) // dd + 1)) for s, p, dd in zip(sizes, pads, dil)]
        k, k_src = _draw_dims(draw, [(1, km) for km in kmax])
        if "kernel" in force:
            k, k_src = force["kernel"]
        stride, stride_src = _draw_dims(draw, [(1, 4)] * d, default=1)
        out_sizes = tuple(conv_out(s, kk, ss, p, dd) for s, kk, ss, p, dd in zip(sizes, k, stride, pads, dil))
    pm_src, pm_default = _padding_mode_param(draw, pads or (0,) * d, sizes, pad_kind == "same")
    bias = draw(st.integers(0, 3)) != 0
    c_in_text = str(c if c_in_src is None else c_in_src)
    expr = _render(
        draw,
        f"Conv{d}d",
        [
            ("in_channels", c_in_text, False),
            ("out_channels", str(c_out), False),
            ("kernel_size", k_src, False),
            ("stride", stride_src, stride == (1,) * d),
            ("padding", pad_src, pad_src in ("0",)),
            ("dilation", dil_src, dil == (1,) * d),
            ("groups", str(g), g == 1),
            ("bias", "True" if bias else "False", bias),
            ("padding_mode", pm_src, pm_default),
        ],
    )
    return Layer(f"Conv{d}d", expr), (c_out,) + tuple(out_sizes)


def gen_conv_transpose(draw, shape, *, c_in_src: int | None = None, groups: int | None = None, force=None):
    d = _spatial_rank(shape)
    c, sizes = shape[0], shape[1:]
    force = force or {}
    g = _draw_groups(draw, c) if groups is None else groups
    c_out = g * draw(st.integers(1, max(1, MAX_CH // g)))
    cap = SPATIAL_CAP[d]
    k, k_src = _draw_dims(draw, [(1, 5)] * d)
    dil, dil_src = _draw_dims(draw, [(1, 2)] * d, default=1)
    # Growth cap: stride 1 along dims that would get too big.
    smax = [1 if s * 3 + 8 > cap else 3 for s in sizes]
    stride, stride_src = _draw_dims(draw, [(1, sm) for sm in smax], default=1)
    opmax = [max(ss, dd) - 1 for ss, dd in zip(stride, dil)]
    op, op_src = _draw_dims(draw, [(0, om) for om in opmax], default=0)
    if "output_padding" in force:
        op, op_src = force["output_padding"]
    pads, pad_src = _draw_dims(draw, [(0, 2)] * d, default=0)
    # Repair: output must be >= 1.
    if "padding" in force:
        pads, pad_src = force["padding"]
    else:
        fixed = tuple(
            min(p, ((s - 1) * ss + dd * (kk - 1) + o) // 2) for p, s, ss, dd, kk, o in zip(pads, sizes, stride, dil, k, op)
        )
        if fixed != pads:
            pads, pad_src = fixed, _tuple_src(fixed)
    out_sizes = tuple(
        conv_transpose_out(s, kk, ss, p, dd, o) for s, kk, ss, p, dd, o in zip(sizes, k, stride, pads, dil, op)
    )
    bias = draw(st.integers(0, 3)) != 0
    c_in_text = str(c if c_in_src is None else c_in_src)
    expr = _render(
        draw,
        f"ConvTranspose{d}d",
        [
            ("in_channels", c_in_text, False),
            ("out_channels", str(c_out), False),
            ("kernel_size", k_src, False),
            ("stride", stride_src, stride == (1,) * d),
            ("padding", pad_src, pads == (0,) * d),
            ("output_padding", op_src, op == (0,) * d),
            ("groups", str(g), g == 1),
            ("bias", "True" if bias else "False", bias),
            ("dilation", dil_src, dil == (1,) * d),
        ],
    )
    return Layer(f"ConvTranspose{d}d", expr), (c_out,) + out_sizes


def gen_pool(draw, shape, *, kind: str | None = None, force=None):
    d = _spatial_rank(shape)
    c, sizes = shape[0], shape[1:]
    force = force or {}
    kind = kind or draw(st.sampled_from(["max", "avg"]))
    k, _ = _draw_dims(draw, [(1, 6)] * d)
    if kind == "max":
        dil, _ = _draw_dims(draw, [(1, 2)] * d, default=1, uniform_weight=6)
    else:
        dil = (1,) * d
    pads, _ = _draw_dims(draw, [(0, 3)] * d, default=0)
    k, pads = list(k), list(pads)
    for i in range(d):
        # Repair until torch accepts it: pad <= kernel_size // 2 (torch uses the
        # kernel size here, not the dilated window, for every MaxPool/AvgPool),
        # padded input >= dilated window, and -- avg_pool3d only -- the unpadded
        # input >= kernel size.
        if kind == "avg" and d == 3:
            k[i] = min(k[i], sizes[i])
        while True:
            eff = dil[i] * (k[i] - 1) + 1
            pmax = k[i] // 2
            pads[i] = min(pads[i], pmax)
            if sizes[i] + 2 * pads[i] >= eff:
                break
            if pads[i] < pmax:
                pads[i] += 1
            else:
                k[i] -= 1
    k, pads = tuple(k), tuple(pads)
    if "kernel" in force:
        k = force["kernel"]
    if "padding" in force:
        pads = force["padding"]
    stride_default = draw(st.booleans())
    if stride_default:
        stride, stride_src = k, None
    else:
        stride, stride_src = _draw_dims(draw, [(1, 4)] * d)
    ceil_mode = draw(st.booleans())
    if "ceil_mode" in force:
        ceil_mode = force["ceil_mode"]

    def src_of(vals):
        if all(v == vals[0] for v in vals) and draw(st.integers(0, 3)) != 0:
            return str(vals[0])
        return _tuple_src(vals) if d > 1 or draw(st.booleans()) else str(vals[0])

    k_src = src_of(k)
    pad_src = src_of(pads)
    if stride_default:
        stride_src_r, stride_is_default = ("None" if draw(st.integers(0, 3)) == 0 else None), True
    else:
        stride_src_r, stride_is_default = stride_src, False
    out_sizes = tuple(pool_out(s, kk, ss, p, dd, ceil_mode) for s, kk, ss, p, dd in zip(sizes, k, stride, pads, dil))
    if kind == "max":
        params = [
            ("kernel_size", k_src, False),
            ("stride", stride_src_r, stride_is_default),
            ("padding", pad_src, pads == (0,) * d),
            ("dilation", src_of(dil), dil == (1,) * d),
            ("return_indices", None, True),
            ("ceil_mode", "True" if ceil_mode else "False", not ceil_mode),
        ]
        cls = f"MaxPool{d}d"
    else:
        cip = draw(st.integers(0, 4)) != 0
        params = [
            ("kernel_size", k_src, False),
            ("stride", stride_src_r, stride_is_default),
            ("padding", pad_src, pads == (0,) * d),
            ("ceil_mode", "True" if ceil_mode else "False", not ceil_mode),
            ("count_include_pad", "True" if cip else "False", cip),
        ]
        cls = f"AvgPool{d}d"
    if stride_src_r is None:
        # stride omitted entirely: later params must be keywords
        expr = _render(draw, cls, params, max_pos=1)
    else:
        expr = _render(draw, cls, params)
    return Layer(cls, expr), (c,) + out_sizes


def gen_adaptive(draw, shape):
    d = _spatial_rank(shape)
    c, sizes = shape[0], shape[1:]
    kind = draw(st.sampled_from(["Avg", "Avg", "Max"]))
    if draw(st.integers(0, 2)) != 0:
        v = draw(st.integers(1, 7))
        out = (v,) * d
        src = str(v) if draw(st.integers(0, 3)) != 0 else _tuple_src(out)
    else:  # None = keep that size (not accepted by the 1-d adaptive pools)
        vals = [draw(st.one_of(st.integers(1, 7), st.none())) if d > 1 else draw(st.integers(1, 7)) for _ in range(d)]
        out = tuple(s if v is None else v for v, s in zip(vals, sizes))
        src = _tuple_src(vals)
    if draw(st.integers(0, 4)) == 0:
        expr = f"nn.Adaptive{kind}Pool{d}d(output_size={src})"
    else:
        expr = f"nn.Adaptive{kind}Pool{d}d({src})"
    return Layer(f"Adaptive{kind}Pool{d}d", expr), (c,) + out


_FLOAT_SCALES = (0.5, 1.5, 2.5, 0.29, 0.7, 0.57, 1.1, 0.3333333333333333)
_INTERP_MODES = {1: ["linear"], 2: ["bilinear", "bicubic"], 3: ["trilinear"]}


def gen_upsample(draw, shape):
    d = _spatial_rank(shape)
    c, sizes = shape[0], shape[1:]
    cap = SPATIAL_CAP[d]
    how = draw(st.sampled_from(["scale", "scale", "scale_tuple", "size", "size_tuple", "scale_float"]))
    floats = [f for f in _FLOAT_SCALES if all(1 <= math.floor(s * f) <= cap for s in sizes)]
    if how == "scale_float" and floats:  # beyond integer scales: torch floors size * scale in floating point
        sf = draw(st.sampled_from(floats))
        out = tuple(math.floor(s * sf) for s in sizes)
        arg = f"scale_factor={sf!r}"
    elif how == "scale":
        sf = draw(st.integers(1, 3))
        while sf > 1 and max(sizes) * sf > cap:
            sf -= 1
        out = tuple(s * sf for s in sizes)
        arg = f"scale_factor={sf}"
    elif how == "scale_tuple":
        sfs = tuple(draw(st.integers(1, 3)) for _ in sizes)
        sfs = tuple(1 if s * f > cap else f for s, f in zip(sizes, sfs))
        out = tuple(s * f for s, f in zip(sizes, sfs))
        arg = f"scale_factor={_tuple_src(sfs)}"
    elif how == "size":
        v = draw(st.integers(1, min(cap, 40)))
        out = (v,) * d
        arg = draw(st.sampled_from([f"size={v}", f"size={v}", f"size={_tuple_src(out)}"]))
    else:
        out = tuple(draw(st.integers(1, min(cap, 40))) for _ in sizes)
        arg = draw(st.sampled_from([f"size={_tuple_src(out)}", _tuple_src(out)]))
    mode = draw(st.sampled_from(["default"] * 4 + ["nearest", "nearest-exact", "interp", "interp_ac"]))
    if mode == "default":
        expr = f"nn.Upsample({arg})"
    elif mode in ("nearest", "nearest-exact"):
        expr = f"nn.Upsample({arg}, mode='{mode}')"
    else:
        m = draw(st.sampled_from(_INTERP_MODES[d]))
        ac = ", align_corners=True" if mode == "interp_ac" else ""
        expr = f"nn.Upsample({arg}, mode='{m}'{ac})"
    return Layer("Upsample", expr), (c,) + out


def gen_pixel_shuffle(draw, shape):
    c, h, w = shape
    options = [r for r in (1, 2, 3, 4) if c % (r * r) == 0 and max(h, w) * r <= SPATIAL_CAP[2]] or [1]
    r = draw(st.sampled_from(options))
    expr = f"nn.PixelShuffle({r})" if draw(st.integers(0, 3)) else f"nn.PixelShuffle(upscale_factor={r})"
    return Layer("PixelShuffle", expr), (c // (r * r), h * r, w * r)


VALID_GENERATORS = {
    "relu": gen_relu,
    "flatten": gen_flatten,
    "linear": gen_linear,
    "batchnorm": gen_batchnorm,
    "conv": gen_conv,
    "convT": gen_conv_transpose,
    "pool": gen_pool,
    "adaptive": gen_adaptive,
    "upsample": gen_upsample,
    "pixelshuffle": gen_pixel_shuffle,
}

# Weights (in the order shrinking prefers: first = simplest).
DEFAULT_WEIGHTS = {
    "relu": 6,
    "conv": 26,
    "pool": 16,
    "batchnorm": 7,
    "convT": 7,
    "adaptive": 5,
    "upsample": 5,
    "pixelshuffle": 4,
    "flatten": 5,
    "linear": 4,
}
# For the dropped-pixels property: lots of Conv2d / pooling, few shape-growers.
POOLING_WEIGHTS = {
    "relu": 4,
    "conv": 30,
    "pool": 30,
    "batchnorm": 2,
    "convT": 2,
    "adaptive": 1,
    "upsample": 3,
    "pixelshuffle": 2,
    "flatten": 0,
    "linear": 0,
}


def _applicable(kind: str, shape) -> bool:
    r = len(shape)
    if r == 1:  # flat features
        return kind in ("relu", "linear", "batchnorm", "flatten")
    if kind == "pixelshuffle":
        return r == 3
    if kind == "linear":
        return shape[-1] <= 64
    if kind == "flatten":
        return _prod(shape) <= FLAT_CAP
    return True


def _pick_kind(draw, shape, weights) -> str:
    options = []
    for kind, w in weights.items():
        if w and _applicable(kind, shape):
            if len(shape) == 1 and kind == "linear":
                w *= 6
            if len(shape) > 1 and kind == "linear":
                w = 1
            options += [kind] * w
    return draw(st.sampled_from(options))


# --------------------------------------------------------------------------- #
# Fault generators: (draw, shape) -> (Layer, guessed_next_shape)
# --------------------------------------------------------------------------- #


def _wrong(draw, right: int, lo: int = 1) -> int:
    delta = draw(st.sampled_from([1, -1, 2, 3, -2, 5, 8]))
    v = right + delta
    if v < lo or v == right:
        v = right + abs(delta)
    return v


def fault_channels(draw, shape):
    if len(shape) == 1:
        return gen_batchnorm(draw, shape, features=_wrong(draw, shape[0]))
    which = draw(st.sampled_from(["conv", "conv", "convT", "bn"]))
    wrong = _wrong(draw, shape[0])
    if which == "bn":
        return gen_batchnorm(draw, shape, features=wrong)
    if which == "convT":
        return gen_conv_transpose(draw, shape, c_in_src=wrong, groups=1)
    return gen_conv(draw, shape, c_in_src=wrong, groups=1)


def fault_linear(draw, shape):
    if len(shape) > 1 and draw(st.booleans()):
        # Linear applied to a (non-flattened) feature map: last dim mismatch
        return gen_linear(draw, shape, in_features=_wrong(draw, shape[-1]))
    flat = (_prod(shape),)
    return gen_linear(draw, flat, in_features=_wrong(draw, flat[0]))


def fault_groups(draw, shape):
    c = shape[0]
    d = _spatial_rank(shape)
    bad_in = [g for g in range(2, 9) if c % g]
    which = draw(st.sampled_from(["in", "out"])) if c > 1 else "in"
    if which == "in" and bad_in:
        g = draw(st.sampled_from(bad_in))
        c_out = g * draw(st.integers(1, 2))
    else:
        divs = [g for g in range(2, c + 1) if c % g == 0] or [2]
        g = draw(st.sampled_from(divs))
        c_out = g * draw(st.integers(1, 2)) + draw(st.integers(1, g - 1))
    k = draw(st.integers(1, 3))
    cls = draw(st.sampled_from([f"Conv{d}d", f"Conv{d}d", f"ConvTranspose{d}d"]))
    if draw(st.booleans()):
        expr = f"nn.{cls}({c}, {c_out}, {k}, groups={g})"
    else:
        expr = f"nn.{cls}(in_channels={c}, out_channels={c_out}, kernel_size={k}, groups={g})"
    return Layer(cls, expr), shape


def fault_kernel_too_big(draw, shape):
    d = _spatial_rank(shape)
    c, sizes = shape[0], shape[1:]
    dim = draw(st.integers(0, d - 1))
    p = draw(st.integers(0, 1))
    dil = draw(st.sampled_from([1, 1, 2]))
    # need dil*(k-1)+1 > size+2p
    kmin = (sizes[dim] + 2 * p) // dil + 1
    while dil * (kmin - 1) + 1 <= sizes[dim] + 2 * p:
        kmin += 1
    kk = kmin + draw(st.integers(0, 2))
    ks = tuple(kk if i == dim else min(3, sizes[i]) for i in range(d))
    ks_src = str(kk) if all(v == kk for v in ks) else _tuple_src(ks)
    c_out = draw(st.integers(1, 8))
    parts = [str(c), str(c_out), ks_src]
    if p:
        parts.append(f"padding={p}")
    if dil > 1:
        parts.append(f"dilation={dil}")
    return Layer(f"Conv{d}d", f"nn.Conv{d}d(" + ", ".join(parts) + ")"), (c_out,) + tuple(1 for _ in sizes)


def fault_pool_too_small(draw, shape):
    d = _spatial_rank(shape)
    c, sizes = shape[0], shape[1:]
    dim = draw(st.integers(0, d - 1))
    kk = sizes[dim] + draw(st.integers(1, 3))
    ks = tuple(kk if i == dim else 1 for i in range(d))
    kind = draw(st.sampled_from(["Max", "Avg"]))
    ks_src = str(kk) if all(v == kk for v in ks) else _tuple_src(ks)
    extra = draw(st.sampled_from(["", ", ceil_mode=True", ", stride=1"]))
    return Layer(f"{kind}Pool{d}d", f"nn.{kind}Pool{d}d({ks_src}{extra})"), (c,) + tuple(1 for _ in sizes)


def fault_pool_padding(draw, shape):
    d = _spatial_rank(shape)
    if draw(st.integers(0, 2)) == 0:
        # dilated max-pool: padding fits the dilated window but not kernel_size // 2,
        # which is the limit torch actually enforces
        kk = draw(st.integers(2, 4))
        dil = draw(st.integers(2, 3)) if kk > 2 else 3
        eff = dil * (kk - 1) + 1
        p = draw(st.integers(kk // 2 + 1, eff // 2))
        return Layer(f"MaxPool{d}d", f"nn.MaxPool{d}d({kk}, stride=1, padding={p}, dilation={dil})"), shape
    kind = draw(st.sampled_from(["Max", "Avg"]))
    kk = draw(st.integers(1, 5))
    p = kk // 2 + draw(st.integers(1, 2))
    return Layer(f"{kind}Pool{d}d", f"nn.{kind}Pool{d}d({kk}, stride={draw(st.integers(1, 3))}, padding={p})"), shape


def fault_avgpool3d_small(draw, shape):
    """avg_pool3d (only it) requires the *unpadded* input to be >= kernel_size."""
    sizes = shape[1:]
    dim = min(range(3), key=lambda i: sizes[i])
    kk = sizes[dim] + draw(st.integers(1, 2))
    p = kk // 2  # padded input fits the window
    ks = tuple(kk if i == dim else 1 for i in range(3))
    return Layer("AvgPool3d", f"nn.AvgPool3d({_tuple_src(ks)}, stride=1, padding={_tuple_src(tuple(p if i == dim else 0 for i in range(3)))})"), shape


def fault_adaptive_none_1d(draw, shape):
    kind = draw(st.sampled_from(["Avg", "Max"]))
    arg = draw(st.sampled_from(["(None,)", "None"]))
    return Layer(f"Adaptive{kind}Pool1d", f"nn.Adaptive{kind}Pool1d({arg})"), shape


def fault_same_stride(draw, shape):
    d = _spatial_rank(shape)
    c = shape[0]
    s = draw(st.integers(2, 3))
    c_out = draw(st.integers(1, 8))
    k = draw(st.integers(1, 4))
    return Layer(f"Conv{d}d", f"nn.Conv{d}d({c}, {c_out}, {k}, stride={s}, padding='same')"), (c_out,) + shape[1:]


def fault_conv_transpose_output_padding(draw, shape):
    d = _spatial_rank(shape)
    c = shape[0]
    s = draw(st.integers(1, 3))
    dil = draw(st.integers(1, 2))
    op = max(s, dil) + draw(st.integers(0, 1))
    c_out = draw(st.integers(1, 8))
    parts = [str(c), str(c_out), str(draw(st.integers(1, 4)))]
    if s > 1 or draw(st.booleans()):
        parts.append(f"stride={s}")
    parts.append(f"output_padding={op}")
    if dil > 1:
        parts.append(f"dilation={dil}")
    return Layer(f"ConvTranspose{d}d", f"nn.ConvTranspose{d}d(" + ", ".join(parts) + ")"), (c_out,) + shape[1:]


def fault_conv_transpose_empty(draw, shape):
    d = _spatial_rank(shape)
    c, sizes = shape[0], shape[1:]
    s = draw(st.integers(1, 2))
    k = draw(st.integers(1, 3))
    # output = (L-1)s - 2p + (k-1) + 1 <= 0  <=>  2p >= (L-1)s + k
    smallest = min(sizes)
    p = -(-((smallest - 1) * s + k) // 2) + draw(st.integers(0, 1))
    c_out = draw(st.integers(1, 8))
    return Layer(f"ConvTranspose{d}d", f"nn.ConvTranspose{d}d({c}, {c_out}, {k}, stride={s}, padding={p})"), (c_out,) + sizes


def fault_pixel_shuffle(draw, shape):
    c = shape[0]
    options = [r for r in (2, 3) if c % (r * r)]
    r = draw(st.sampled_from(options or [2]))
    return Layer("PixelShuffle", f"nn.PixelShuffle({r})"), shape


# Which layer dimensionalities torch accepts for a given *batched* tensor rank R.
def _wrong_rank_dims(rank_with_batch: int) -> list[int]:
    # Conv/pool of dimensionality d accept R == d+2 (batched) and R == d+1 (unbatched:
    # torch would then read the batch dim as channels). Avoid both.
    return [d for d in (1, 2, 3) if rank_with_batch not in (d + 1, d + 2)]


def fault_wrong_rank(draw, shape):
    rank = len(shape) + 1
    d = draw(st.sampled_from(_wrong_rank_dims(rank)))
    c = shape[0]
    which = draw(st.sampled_from(["conv", "conv", "maxpool", "avgpool", "adaptive", "bn"]))
    if which == "conv":
        c_out = draw(st.integers(1, 8))
        return Layer(f"Conv{d}d", f"nn.Conv{d}d({c}, {c_out}, {draw(st.integers(1, 3))})"), shape
    if which == "maxpool":
        return Layer(f"MaxPool{d}d", f"nn.MaxPool{d}d({draw(st.integers(1, 3))})"), shape
    if which == "avgpool":
        return Layer(f"AvgPool{d}d", f"nn.AvgPool{d}d({draw(st.integers(1, 3))})"), shape
    if which == "adaptive":
        return Layer(f"AdaptiveAvgPool{d}d", f"nn.AdaptiveAvgPool{d}d({draw(st.integers(1, 4))})"), shape
    # BatchNorm1d accepts rank 2 and 3; BatchNorm2d only 4; BatchNorm3d only 5.
    ok = {1: (2, 3), 2: (4,), 3: (5,)}
    bad = [dd for dd in (1, 2, 3) if rank not in ok[dd]]
    dd = draw(st.sampled_from(bad))
    return Layer(f"BatchNorm{dd}d", f"nn.BatchNorm{dd}d({c})"), shape


def fault_upsample(draw, shape):
    d = _spatial_rank(shape)
    wrong_len = [n for n in (1, 2, 3) if n != d]
    how = draw(st.sampled_from(["size", "scale", "mode"]))
    if how == "mode":
        modes = [m for dd, ms in _INTERP_MODES.items() if dd != d for m in ms]
        return Layer("Upsample", f"nn.Upsample(scale_factor=2, mode='{draw(st.sampled_from(modes))}')"), shape
    n = draw(st.sampled_from(wrong_len))
    vals = tuple(draw(st.integers(1, 4)) for _ in range(n))
    if how == "size":
        return Layer("Upsample", f"nn.Upsample(size={_tuple_src(vals)})"), shape
    return Layer("Upsample", f"nn.Upsample(scale_factor={_tuple_src(vals)})"), shape


def fault_reflect_padding(draw, shape):
    d = _spatial_rank(shape)
    c, sizes = shape[0], shape[1:]
    p = min(sizes) + draw(st.integers(0, 2))
    c_out = draw(st.integers(1, 8))
    mode = draw(st.sampled_from(["reflect", "reflect", "circular"]))
    if mode == "circular":
        p += 1
    k = 1
    return (
        Layer(f"Conv{d}d", f"nn.Conv{d}d({c}, {c_out}, {k}, padding={p}, padding_mode='{mode}')"),
        (c_out,) + tuple(s + 2 * p for s in sizes),
    )


def fault_wild(draw, shape):
    """A layer whose parameters ignore the incoming shape entirely."""
    d = draw(st.integers(1, 3))
    cls = draw(st.sampled_from(["Conv", "ConvTranspose", "MaxPool", "AvgPool"]))
    k = draw(st.integers(1, 9))
    s = draw(st.integers(1, 4))
    p = draw(st.integers(0, 4))
    if cls in ("Conv", "ConvTranspose"):
        cin, cout = draw(st.integers(1, MAX_CH)), draw(st.integers(1, MAX_CH))
        return Layer(f"{cls}{d}d", f"nn.{cls}{d}d({cin}, {cout}, {k}, stride={s}, padding={p})"), shape
    ceil = draw(st.booleans())
    return Layer(f"{cls}{d}d", f"nn.{cls}{d}d({k}, stride={s}, padding={p}, ceil_mode={ceil})"), shape


FAULTS = {
    "channels": fault_channels,
    "linear": fault_linear,
    "groups": fault_groups,
    "kernel_too_big": fault_kernel_too_big,
    "pool_too_small": fault_pool_too_small,
    "pool_padding": fault_pool_padding,
    "same_stride": fault_same_stride,
    "convT_output_padding": fault_conv_transpose_output_padding,
    "convT_empty": fault_conv_transpose_empty,
    "pixel_shuffle": fault_pixel_shuffle,
    "wrong_rank": fault_wrong_rank,
    "upsample": fault_upsample,
    "reflect_padding": fault_reflect_padding,
    "wild": fault_wild,
    "avgpool3d_small": fault_avgpool3d_small,
    "adaptive_none_1d": fault_adaptive_none_1d,
}


def _fault_applicable(name: str, shape) -> bool:
    r = len(shape)
    if r == 1:
        return name in ("channels", "linear", "wrong_rank")
    if name == "pixel_shuffle":
        return r == 3 and shape[0] % 4 != 0
    if name == "avgpool3d_small":
        return r == 4 and min(shape[1:]) <= 6
    if name == "adaptive_none_1d":
        return r == 2
    return True


# --------------------------------------------------------------------------- #
# The strategy
# --------------------------------------------------------------------------- #


@st.composite
def model_specs(draw, ndims=(1, 2, 2, 2, 3), weights=None, fault_percent: int = 22, max_layers: int = 8):
    """Random ``ModelSpec``s (see module docstring)."""
    weights = DEFAULT_WEIGHTS if weights is None else weights
    ndim = draw(st.sampled_from(ndims))
    channels = draw(st.one_of(st.integers(1, 4), st.integers(1, MAX_CH)))
    hi = INPUT_MAX[ndim]
    first = draw(st.one_of(st.integers(1, 8), st.integers(1, hi)))
    if ndim > 1 and draw(st.booleans()):
        sizes = (first,) * ndim  # square / cube
    else:
        sizes = (first,) + tuple(draw(st.one_of(st.integers(1, 8), st.integers(1, hi))) for _ in range(ndim - 1))
    shape = (channels,) + sizes
    n_layers = draw(st.integers(1, max_layers))
    fault_at = None
    if fault_percent and draw(st.integers(0, 99)) >= 100 - fault_percent:
        fault_at = draw(st.integers(0, n_layers - 1))
    layers = []
    fault = None
    for i in range(n_layers):
        if i == fault_at:
            names = [n for n in FAULTS if _fault_applicable(n, shape)]
            name = draw(st.sampled_from(names))
            layer, shape = FAULTS[name](draw, shape)
            fault = f"{name}@{i}"
        else:
            kind = _pick_kind(draw, shape, weights)
            layer, shape = VALID_GENERATORS[kind](draw, shape)
        layers.append(layer)
    return ModelSpec(ndim=ndim, input_shape=(channels,) + sizes, layers=tuple(layers), fault=fault)


# --------------------------------------------------------------------------- #
# The PyTorch oracle
# --------------------------------------------------------------------------- #

# Input ranks (with batch) that each dimensioned layer treats as *batched*.
# Any other rank either raises or (worse) makes torch read the batch dim as
# channels/features -- we count the latter as "torch rejects it" too.
BATCHED_RANKS = {}
for _d in (1, 2, 3):
    for _name in ("Conv", "ConvTranspose", "MaxPool", "AvgPool", "AdaptiveAvgPool", "AdaptiveMaxPool"):
        BATCHED_RANKS[f"{_name}{_d}d"] = {_d + 2}
BATCHED_RANKS.update({"BatchNorm1d": {2, 3}, "BatchNorm2d": {4}, "BatchNorm3d": {5}, "PixelShuffle": {4}})


NON_TENSOR = "not a tensor"  # recorded shape of a layer output/input that is not a single tensor


class _Misread(Exception):
    """Torch accepted the input only by reading the batch dim as channels."""


class _EmptyOutput(Exception):
    """Torch silently produced a tensor with a zero-sized dimension."""


@dataclass
class TorchOutcome:
    in_shapes: list  # per layer: shape without batch, or None if the layer did not run
    out_shapes: list
    raised_at: int | None = None  # index of the first layer torch rejected
    phase: str | None = None  # "construct" | "forward" | "misread" | "empty"
    error: str | None = None
    modules: list = field(default_factory=list)  # constructed layers (prefix on construct error)

    @property
    def ran(self) -> bool:
        return self.raised_at is None

    @property
    def category(self) -> str:
        return "runs" if self.ran else f"raises ({self.phase})"


def _layer_namespace():
    import torch.nn as nn

    return {"nn": nn}


def run_torch(spec: ModelSpec, batch: int = 2) -> TorchOutcome:
    """Execute the generated source in PyTorch and record what happened."""
    import torch

    n = len(spec.layers)
    outcome = TorchOutcome(in_shapes=[None] * n, out_shapes=[None] * n)
    namespace: dict[str, Any] = {}
    try:
        exec(compile(spec.source, "<generated model>", "exec"), namespace)
        model = namespace["model"]
        modules = list(model)
        assert len(modules) == n
    except Exception as exc:  # find which constructor raised by building layers one by one
        modules = []
        ns = _layer_namespace()
        for i, layer in enumerate(spec.layers):
            try:
                modules.append(eval(layer.expr, ns))
            except Exception as exc2:
                outcome.raised_at, outcome.phase = i, "construct"
                outcome.error = f"{type(exc2).__name__}: {exc2}"
                break
        else:
            raise AssertionError(f"source failed to execute but every layer constructs: {exc!r}")
        model = torch.nn.Sequential(*modules)  # the prefix before the bad layer, for its shapes
    outcome.modules = modules

    state = {"misread": None}

    def pre_hook(i, kind):
        def hook(module, args):
            x = args[0]
            if not isinstance(x, torch.Tensor):
                outcome.in_shapes[i] = NON_TENSOR
                return
            outcome.in_shapes[i] = tuple(x.shape[1:])
            accepted = BATCHED_RANKS.get(kind)
            state["misread"] = accepted is not None and x.dim() not in accepted

        return hook

    def post_hook(i):
        def hook(module, args, out):
            if state["misread"]:
                raise _Misread(f"input of rank {args[0].dim()} only accepted by reading the batch as channels")
            if not isinstance(out, torch.Tensor):  # e.g. MaxPool2d(return_indices=True): a tuple
                outcome.out_shapes[i] = NON_TENSOR
                return
            if out.numel() == 0:
                raise _EmptyOutput(f"output shape {tuple(out.shape)} is empty")
            outcome.out_shapes[i] = tuple(out.shape[1:])

        return hook

    handles = []
    for i, module in enumerate(modules):
        kind = type(module).__name__
        handles.append(module.register_forward_pre_hook(pre_hook(i, kind)))
        handles.append(module.register_forward_hook(post_hook(i)))
    model.eval()
    x = torch.zeros(batch, *spec.input_shape)
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. 'same' + even kernel performance notes
            model(x)
    except Exception as exc:
        first = next(i for i in range(len(modules)) if outcome.out_shapes[i] is None)
        if outcome.raised_at is None:  # (on a construct error the constructor failure stays the answer)
            outcome.raised_at = first
            outcome.phase = "misread" if isinstance(exc, _Misread) else "empty" if isinstance(exc, _EmptyOutput) else "forward"
            outcome.error = f"{type(exc).__name__}: {exc}"
        # any recorded in_shape of the failing layer is fine to keep; out stays None
    finally:
        for h in handles:
            h.remove()
    return outcome


# --------------------------------------------------------------------------- #
# Dropped-pixel measurement (2-d)
# --------------------------------------------------------------------------- #

DROP_KINDS = ("Conv2d", "MaxPool2d", "AvgPool2d")


def _pair(v) -> tuple[int, int]:
    if isinstance(v, (tuple, list)):
        return (int(v[0]), int(v[-1])) if len(v) == 2 else (int(v[0]), int(v[0]))
    return (int(v), int(v))


def window_and_stride(module) -> tuple[tuple[int, int], tuple[int, int]]:
    """Per-dim (window extent d*(k-1)+1, stride) of a Conv2d/MaxPool2d/AvgPool2d."""
    k = _pair(module.kernel_size)
    s = _pair(module.stride if module.stride is not None else module.kernel_size)
    d = _pair(getattr(module, "dilation", 1))
    return tuple(dd * (kk - 1) + 1 for kk, dd in zip(k, d)), s


def _trailing_false(flags) -> int:
    n = 0
    for f in reversed(list(flags)):
        if f:
            break
        n += 1
    return n


def _axis_layer(module, axis: int):
    """A 1-channel copy of a Conv2d/MaxPool2d/AvgPool2d that keeps its geometry along ``axis``
    (0: rows, 1: columns) and reads everything along the other axis (kernel 1, stride 1, no pad).

    The three layers are separable per axis, so this measures each axis on its own -- even
    when the other axis reads nothing at all."""
    import torch.nn as nn

    kind = type(module).__name__

    def keep(value, trivial):
        v = _pair(value)[axis]
        return (v, trivial) if axis == 0 else (trivial, v)

    stride = module.stride if module.stride is not None else module.kernel_size
    if kind == "Conv2d":
        padding = module.padding if isinstance(module.padding, str) else keep(module.padding, 0)
        return nn.Conv2d(
            1, 1, keep(module.kernel_size, 1), keep(stride, 1), padding, keep(module.dilation, 1),
            bias=False, padding_mode=module.padding_mode,
        )
    if kind == "MaxPool2d":
        return nn.MaxPool2d(
            keep(module.kernel_size, 1), keep(stride, 1), keep(module.padding, 0), keep(module.dilation, 1),
            ceil_mode=module.ceil_mode,
        )
    return nn.AvgPool2d(
        keep(module.kernel_size, 1), keep(stride, 1), keep(module.padding, 0),
        ceil_mode=module.ceil_mode, count_include_pad=module.count_include_pad,
    )


def _unread_along(module, n: int, axis: int) -> int:
    import torch

    m = _axis_layer(module, axis)
    shape = (n, 1) if axis == 0 else (1, n)
    if isinstance(m, torch.nn.MaxPool2d):
        # Indicator inputs: sample i holds a single 1 at position i, zeros elsewhere.
        # Max-pool padding is -inf, so an output is > 0 iff some window read position i.
        x = torch.zeros(n, 1, *shape)
        for i in range(n):
            x[(i, 0, i, 0) if axis == 0 else (i, 0, 0, i)] = 1.0
        with torch.no_grad():
            read = (m(x).flatten(1).amax(dim=1) > 0).tolist()
        return _trailing_false(read)
    if isinstance(m, torch.nn.Conv2d):
        with torch.no_grad():
            m.weight.fill_(1.0)  # with a positive input the gradient is > 0 exactly where read
    x = (torch.rand(1, 1, *shape) + 0.5).requires_grad_(True)
    m(x).sum().backward()
    read = (x.grad.flatten() > 0).tolist()
    return _trailing_false(read)


def unread_trailing(module, in_shape) -> tuple[int, int]:
    """How many trailing rows / columns of the (real) input the layer never reads (torch measured)."""
    _, h, w = in_shape
    return _unread_along(module, h, 0), _unread_along(module, w, 1)


def expected_dropped(module, in_shape) -> tuple[int, int]:
    """Trailing unread (rows, cols) that convlint should report (0 where by design)."""
    rows, cols = unread_trailing(module, in_shape)
    window, stride = window_and_stride(module)
    kernel, dilation = _pair(module.kernel_size), _pair(getattr(module, "dilation", 1))
    # a window smaller than its stride, or taps spaced by a multiple of a factor of the stride
    # (dilation 2, stride 2: even positions only) that read some real position, skips positions
    # between windows by design
    unread, sizes = (rows, cols), in_shape[1:]
    by_design = [window[i] < stride[i] or kernel[i] > 1 and math.gcd(dilation[i], stride[i]) > 1
                 and unread[i] < sizes[i] for i in (0, 1)]
    return 0 if by_design[0] else rows, 0 if by_design[1] else cols
