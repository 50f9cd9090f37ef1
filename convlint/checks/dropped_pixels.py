"""A strided window that does not land on the far edge never reads the last rows and columns.

For a window of size d·(k−1)+1 sliding with stride s over n + 2p inputs, PyTorch computes
⌊(n + 2p − d·(k−1) − 1)/s⌋ + 1 outputs. When the division leaves a remainder r, the last r
positions are never read: PyTorch silently drops them at the bottom and right edges of every
image. Only real pixels count: a remainder that falls on the far-side padding loses nothing.
A window smaller than its stride (a 1×1 stride-2 shortcut), or dilated by a multiple of a factor
of its stride (3×3, dilation 2, stride 2: only even positions), skips pixels by design and is not
reported, nor is a window over a tensor that another layer of the model reads whole: a branch
pooled beside the main path (a gate, an attention summary) then loses nothing the model does not see.

Bad:
    # convlint: input=1x224x224
    model = nn.Sequential(nn.Conv2d(1, 96, 11, stride=4))  # (224 − 11)/4 + 1 = 54.25

Good:
    # convlint: input=1x227x227
    model = nn.Sequential(nn.Conv2d(1, 96, 11, stride=4))  # (227 − 11)/4 + 1 = 55
"""

from __future__ import annotations

from .. import layers as L
from ..context import fmt_shape, is_model_input

CODE = "CL002"
NAME = "dropped-pixels"
SEVERITY = "warning"

AXIS_WORDS = {1: ("position",), 2: ("row", "column"), 3: ("slice", "row", "column")}
EDGES = {1: "at the end", 2: "at the bottom and right edges", 3: "at the back, bottom and right edges"}


def check(ctx):
    for run, _index, step in ctx.layer_steps():
        layer = step.op.layer
        shape = step.in_shape
        if layer.params is None or shape is None or step.raw_shape is None:
            continue
        windows = L.windows(layer.kind, layer.params, shape)
        copies_pixels = layer.params.get("padding_mode", "zeros") != "zeros"
        if copies_pixels and any(w.pad_before or w.pad_after for w in windows):
            continue  # reflect/replicate/circular padding copies real pixels: what is read is another question
        losses = []
        for window in windows:
            outputs = step.raw_shape[window.axis]
            if not _ints(window.size, outputs) or outputs < 1:
                continue
            if L.skips_by_design(window, outputs):
                continue  # skips pixels between windows by design; the edge is no different
            lost = L.dropped(window, outputs)
            if lost:
                losses.append((window, outputs, lost))
        if losses and not _read_whole_elsewhere(run, step):
            yield layer, _message(layer, shape, losses, is_model_input(step.op))


def _read_whole_elsewhere(run, step) -> bool:
    """Whether another sliding layer of the run reads the step's input to its far edges (every
    window lands on the last position: none dropped, none skipped)."""
    source = step.op.inputs[0]
    for other in run.steps:
        if other is step or other.op.kind != "layer" or other.op.speculative or other.op.inputs[:1] != (source,):
            continue
        layer = other.op.layer
        if layer.params is None or other.in_shape is None or other.raw_shape is None:
            continue
        windows = L.windows(layer.kind, layer.params, other.in_shape)
        if windows and all(_ints(w.size, other.raw_shape[w.axis]) and not L.skips_by_design(w, other.raw_shape[w.axis])
                           and not L.dropped(w, other.raw_shape[w.axis]) for w in windows):
            return True
    return False


def _message(layer, shape, losses, first: bool) -> str:
    spatial = shape[1:]
    rank = len(spatial)
    words = AXIS_WORDS.get(rank, ("position",) * rank)
    arithmetic = []
    for window, outputs, _ in losses:
        text = _arithmetic(window, outputs)
        if text not in arithmetic:
            arithmetic.append(text)
    parts = [f"{lost} {_plural(words[w.axis - 1], lost)}" for w, _, lost in losses]
    fix = _fix(layer, shape, losses, first)
    return (
        f"{'; '.join(arithmetic)}: the last {' and '.join(parts)} of {'the' if first else 'its'} {fmt_shape(spatial)} input "
        f"are never read (PyTorch drops them {EDGES.get(rank, 'at the far edges')}, not at random)"
        + (f"; {fix} reads every pixel" if fix else "")
    )


def _arithmetic(window: L.Window, outputs: int) -> str:
    effective = window.dilation * (window.kernel - 1) + 1
    if window.pad_before == window.pad_after:
        padding = f"2·{window.pad_before}"
    else:
        padding = f"{window.pad_before} + {window.pad_after}"
    from fractions import Fraction  # only when there is something to say

    exact = Fraction(window.size + window.pad_before + window.pad_after - effective, window.stride) + 1
    return f"({window.size} + {padding} − {effective})/{window.stride} + 1 = {_decimal(exact)}, floored to {outputs}"


def _fix(layer, shape, losses, first: bool) -> str:
    """The smallest symmetric padding, or the nearest larger input, that loses no real pixel."""
    suggestions = []
    padding = _smallest_padding(layer, shape, losses)
    if padding is not None:
        suggestions.append(f"padding={padding}")
    sizes = list(shape)
    for window, _, _ in losses:
        for grow in range(1, window.stride + 1):
            if _loses(layer, _with(shape, window.axis, window.size + grow), window.axis) == 0:
                sizes[window.axis] = window.size + grow
                break
    if sizes != list(shape):
        suggestions.append(f"an input of {fmt_shape(sizes[1:])}" + ("" if first else " to this layer"))
    return " or ".join(suggestions)


def _smallest_padding(layer, shape, losses):
    current = layer.params.get("padding")
    if not isinstance(current, int) or isinstance(current, bool):
        return None
    stride = max(w.stride for w, _, _ in losses)
    for extra in range(1, stride + 1):
        params = dict(layer.params, padding=current + extra)
        if L.config_errors(layer.kind, params):
            return None
        if all(_loses(layer, shape, w.axis, params) == 0 for w, _, _ in losses):
            return current + extra
    return None


def _loses(layer, shape, axis, params=None) -> int:
    params = params or layer.params
    try:
        out = L.output_shape(layer.kind, params, tuple(shape))
    except L.ShapeError:
        return -1
    for window in L.windows(layer.kind, params, tuple(shape)):
        if window.axis == axis and out is not None and _ints(out[axis]) and out[axis] >= 1:
            return L.dropped(window, out[axis])
    return -1


def _with(shape, axis, size):
    return tuple(size if i == axis else d for i, d in enumerate(shape))


def _ints(*values) -> bool:
    return all(isinstance(v, int) and not isinstance(v, bool) for v in values)


def _plural(word: str, count: int) -> str:
    return word if count == 1 else word + "s"


def _decimal(value) -> str:  # a Fraction
    if value.denominator == 1:
        return str(value.numerator)
    return f"{float(value):.4f}".rstrip("0").rstrip(".")
