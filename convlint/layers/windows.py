"""Layers that slide a window: convolutions and pooling (their output sizes, the windows they
read, and which input positions no window reads)."""

from __future__ import annotations

import math

from ..sizes import UNKNOWN, ceildiv
from .base import (
    SPATIAL_NAMES, Rule, ShapeError, Window, axes, fmt_shape, int_or_none, int_or_unknown, show, tuple_text, zero_sized,
)


class Conv(Rule):
    channels_param = "in_channels"
    defines_channels = convolution = True

    def __init__(self, name, params, n, transposed):
        self.n, self.transposed = n, transposed
        self.macs = "input" if transposed else "output"  # a transposed conv applies its weights per input position
        super().__init__(name, params, rank=(n + 1,), spatial=n)

    def rank_text(self) -> str:
        return f"expects a {self.n + 1}-d input (C, {SPATIAL_NAMES[self.n]}) per sample (batch excluded)"

    def _geometry(self, p):
        n = self.n
        return (
            axes(p["kernel_size"], n, (n,)),
            axes(p["stride"], n, (1, n)),
            axes(p["dilation"], n, (1, n)),
        )

    def errors(self, p):
        n, errs = self.n, []
        in_c, out_c, groups = p["in_channels"], p["out_channels"], p["groups"]
        for key in ("in_channels", "out_channels", "groups"):
            if not int_or_unknown(p[key]):
                errs.append(f"{key} must be an int, got {show(p[key])}")
        in_c, out_c, groups = int_or_none(in_c), int_or_none(out_c), int_or_none(groups)
        if in_c is not None and in_c < 0:
            errs.append(f"in_channels must not be negative, got {in_c}")
        if out_c is not None and out_c < 0:
            errs.append(f"out_channels must be positive, got {out_c}")
        errs += [zero_sized(key) for key, value in (("in_channels", in_c), ("out_channels", out_c)) if value == 0]
        if groups is not None:
            if groups <= 0:
                errs.append(f"groups must be a positive integer, got {groups}")
            else:
                for key, value in (("in_channels", in_c), ("out_channels", out_c)):
                    if value is not None and value % groups:
                        errs.append(f"{key} ({value}) must be divisible by groups ({groups})")
        kernel, stride, dilation = self._geometry(p)
        for key, values, form in (("kernel_size", kernel, tuple_text(n) if n > 1 else "an int or a 1-tuple"),
                                  ("stride", stride, tuple_text(n)), ("dilation", dilation, tuple_text(n))):
            if values is False:
                errs.append(f"{key} must be {form}, got {show(p[key])}")
            elif any(v is not None and v <= 0 for v in values):
                errs.append(f"{key} must be positive, got {show(p[key])}")
        padding = p["padding"]
        if isinstance(padding, str):
            if self.transposed:
                errs.append(f"{self.name} does not accept string padding, got {padding!r}")
            elif padding not in ("same", "valid"):
                errs.append(f"padding must be 'same', 'valid', or {tuple_text(n)}; got {padding!r}")
            elif padding == "same" and stride and any(s is not None and s != 1 for s in stride):
                errs.append(f"padding='same' is not supported for strided convolutions (stride={show(p['stride'])})")
        else:
            values = axes(padding, n, (1, n))
            if values is False:
                errs.append(f"padding must be {tuple_text(n)}, got {show(padding)}")
            elif any(v is not None and v < 0 for v in values):
                errs.append(f"padding must not be negative, got {show(padding)}")
        mode = p["padding_mode"]
        if mode is not UNKNOWN:
            if mode not in ("zeros", "reflect", "replicate", "circular"):
                errs.append(f"padding_mode must be 'zeros', 'reflect', 'replicate' or 'circular', got {show(mode)}")
            elif self.transposed and mode != "zeros":
                errs.append(f"{self.name} only supports padding_mode='zeros', got {mode!r}")
        if self.transposed:
            out_pad = axes(p["output_padding"], n, (1, n))
            if out_pad is False:
                errs.append(f"output_padding must be {tuple_text(n)}, got {show(p['output_padding'])}")
            elif any(v is not None and v < 0 for v in out_pad):
                errs.append(f"output_padding must not be negative, got {show(p['output_padding'])}")
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
        return tuple((v, v) for v in axes(padding, n, (1, n)))

    def output(self, p, shape):
        self.check_rank(shape)
        out_c = int_or_none(p["out_channels"])
        kernel, stride, dilation = self._geometry(p)
        sizes = shape[1:]
        if self.transposed:
            pads = axes(p["padding"], self.n, (1, self.n))
            out_pad = axes(p["output_padding"], self.n, (1, self.n))
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

    def unranked(self, p, u):
        # a 1-wide window at stride 1 without padding keeps every spatial size (an SE block's 1x1 convs)
        pointwise = all(value == 1 or isinstance(value, (tuple, list)) and set(value) == {1}
                        for value in (p["kernel_size"], p["stride"])) and \
            all(value == 0 or isinstance(value, (tuple, list)) and set(value) == {0}
                for value in (p["padding"], p.get("output_padding", 0)))
        out = int_or_none(p["out_channels"])
        return u._replace(channels=out) if pointwise else u._replace(channels=out, last=None, ones=False)

    def windows(self, p, shape):
        if self.transposed:
            return []
        kernel, stride, dilation = self._geometry(p)
        pads = self._pads(p)
        return make_windows(self.n, shape, kernel, stride, dilation, pads, False)

    def count(self, p):
        in_c, out_c, groups = int_or_none(p["in_channels"]), int_or_none(p["out_channels"]), int_or_none(p["groups"])
        kernel = self._geometry(p)[0]
        if None in (in_c, out_c, groups) or kernel is False or None in kernel or p["bias"] is UNKNOWN:
            return None
        area = math.prod(kernel)
        if self.transposed:
            weights = in_c * (out_c // groups) * area
        else:
            weights = out_c * (in_c // groups) * area
        return weights, out_c if p["bias"] else 0


def make_windows(n, shape, kernel, stride, dilation, pads, ceil_mode):
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


def pool_size(size, k, s, pad, d, ceil_mode):
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


class Pool(Rule):
    def __init__(self, name, params, n, kind):
        self.n, self.kind = n, kind  # kind: "max", "avg" or "lp"
        super().__init__(name, params, rank=(n + 1,), spatial=n)

    def rank_text(self) -> str:
        return f"expects a {self.n + 1}-d input (C, {SPATIAL_NAMES[self.n]}) per sample (batch excluded)"

    def _geometry(self, p):
        n = self.n
        kernel = axes(p["kernel_size"], n, (1, n))
        stride = p["stride"]
        if stride is None or (isinstance(stride, (tuple, list)) and len(stride) == 0):
            stride = kernel  # torch: an absent stride means stride = kernel_size
        else:
            stride = axes(stride, n, (1, n))
        padding = axes(p.get("padding", 0), n, (1, n))
        dilation = axes(p.get("dilation", 1), n, (1, n))
        return kernel, stride, padding, dilation

    def errors(self, p):
        n, errs = self.n, []
        kernel, stride, padding, dilation = self._geometry(p)
        checks = [("kernel_size", kernel), ("stride", stride)]
        if self.kind == "max":
            checks.append(("dilation", dilation))
        for key, values in checks:
            if values is False:
                errs.append(f"{key} must be {tuple_text(n)}, got {show(p[key])}")
            elif any(v is not None and v <= 0 for v in values):
                errs.append(f"{key} must be positive, got {show(p[key])}")
        if "padding" in p:
            if padding is False:
                errs.append(f"padding must be {tuple_text(n)}, got {show(p['padding'])}")
            elif any(v is not None and v < 0 for v in padding):
                errs.append(f"padding must not be negative, got {show(p['padding'])}")
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
                    raise ShapeError(f"{self.name} input {fmt_shape(shape[1:])} is smaller than its kernel "
                                     f"({k}): avg_pool3d needs the unpadded input to be at least the kernel size")
        for size, k, s, pad, d in zip(shape[1:], kernel, stride, padding, dilation):
            if None in (size, k, s, pad, d) or ceil_mode is UNKNOWN:
                out.append(None)
            else:
                out.append(pool_size(size, k, s, pad, d, bool(ceil_mode)))
        return tuple(out)

    def unranked(self, p, u):
        return u._replace(last=None, ones=False)  # the channels are kept

    def windows(self, p, shape):
        kernel, stride, padding, dilation = self._geometry(p)
        if p["ceil_mode"] is UNKNOWN:
            return []
        pads = False if padding is False else tuple((v, v) for v in padding)
        return make_windows(self.n, shape, kernel, stride, dilation, pads, p["ceil_mode"])


class AdaptivePool(Rule):
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
            return [f"output_size of a 1-d adaptive pool must be an int, got {show(p['output_size'])}"]
        if sizes is False or not all(v is None or int_or_unknown(v) for v in sizes):
            return [f"output_size must be an int or a tuple of {self.n} ints or Nones; "
                    f"got {show(p['output_size'])}"]
        if any(isinstance(v, int) and v < 0 for v in sizes):
            return [f"output_size must not be negative, got {show(p['output_size'])}"]
        return []

    def unranked(self, p, u):
        value = p["output_size"]
        sizes = {value} if isinstance(value, int) else set(value) if isinstance(value, (tuple, list)) else {None}
        size = int_or_none(sizes.pop()) if len(sizes) == 1 and not isinstance(value, bool) else None
        return u._replace(last=size, ones=size == 1)  # every spatial axis the same size, the channels kept

    def output(self, p, shape):
        self.check_rank(shape)
        out = [shape[0]]
        for size, target in zip(shape[1:], self._sizes(p)):
            out.append(size if target is None else int_or_none(target))
        return tuple(out)


def skips_by_design(window: Window, outputs: int | None = None) -> bool:
    """Whether the windows leave positions between them unread whatever the size: a window smaller
    than its stride (a 1×1 stride-2 shortcut), or a dilation that shares a factor with the stride
    (every tap of a 3×3, dilation-2, stride-2 window lands on even positions) while some real
    position is read (`outputs` given): that the last ones go unread is no different."""
    if window.dilation * (window.kernel - 1) + 1 < window.stride:
        return True
    return window.kernel > 1 and math.gcd(window.dilation, window.stride) > 1 and \
        (outputs is None or dropped(window, outputs) < window.size)


def dropped(window: Window, outputs: int) -> int:
    """Real input positions past the last one any tap of any window reads (a dilated window's
    last taps may land in the padding, with real positions between them)."""
    last_read = -1
    for tap in range(window.kernel):
        offset = tap * window.dilation - window.pad_before
        latest = min(outputs - 1, (window.size - 1 - offset) // window.stride)  # last window whose tap is real
        if latest >= 0:
            last_read = max(last_read, latest * window.stride + offset)
    return max(0, window.size - 1 - last_read)


# ---- sliding blocks as columns (Unfold) and back (Fold)


def _block_geometry(p) -> tuple | None:
    """(kernel, dilation, padding, stride), two ints or Nones each, as torch's unfold takes them."""
    found = tuple(axes(p.get(key, UNKNOWN), 2, (2,)) for key in ("kernel_size", "dilation", "padding", "stride"))
    return None if False in found else found


def _blocks(sizes, geometry) -> list:
    """The number of sliding blocks along each spatial axis (None: unknown)."""
    out = []
    for size, k, d, pad, s in zip(sizes, *geometry):
        out.append(None if None in (size, k, d, pad, s) else (size + 2 * pad - d * (k - 1) - 1) // s + 1)
    return out


class ColumnUnfold(Rule):
    """(C, H, W) -> (C·kh·kw, L): every block a kernel-sized window reads, as one column."""

    rank = (3,)

    def output(self, p, shape):
        self.check_rank(shape)
        geometry = _block_geometry(p)
        if geometry is None:
            return (None, None)
        blocks = _blocks(shape[1:], geometry)
        if all(isinstance(b, int) for b in blocks) and min(blocks) < 1:
            raise ShapeError(f"Unfold of a {fmt_shape(shape[1:])} input with kernel_size {show(p['kernel_size'])} "
                             f"makes {blocks[0]}×{blocks[1]} blocks: torch needs at least one along each axis")
        kh, kw = geometry[0]
        channels = None if None in (shape[0], kh, kw) else shape[0] * kh * kw
        return (channels, None if None in blocks else blocks[0] * blocks[1])


class ColumnFold(Rule):
    """(C·kh·kw, L) -> (C, *output_size): columns summed back into an image; L must be the
    number of blocks of output_size."""

    rank = (2,)

    def output(self, p, shape):
        self.check_rank(shape)
        geometry, size = _block_geometry(p), axes(p.get("output_size", UNKNOWN), 2, (2,))
        if geometry is None or size is False:
            return (None, None, None)
        kh, kw = geometry[0]
        columns, length = shape
        channels = None
        if None not in (kh, kw) and isinstance(columns, int):
            if columns % (kh * kw):
                raise ShapeError(f"Fold's input has {columns} rows, not a multiple of the kernel's {kh}·{kw} = {kh * kw}")
            channels = columns // (kh * kw)
        blocks = _blocks(size, geometry)
        if None not in blocks and isinstance(length, int) and length != blocks[0] * blocks[1]:
            raise ShapeError(f"Fold to {show(p['output_size'])} takes {blocks[0]}·{blocks[1]} = {blocks[0] * blocks[1]} "
                             f"blocks, but its input has {length}")
        return (channels, *size)
