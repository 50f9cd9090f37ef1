"""Input-size searches over concrete sizes, with `propagate`: the smallest input a model accepts,
the sizes a Linear after the flatten pins, and the sizes that drop no real pixels.

Every answer is found by running the exact shape rules on concrete sizes, never by a formula
that could disagree with them. Sizes are searched per spatial axis with every spatial axis
equal (square images, cubes), which is what real inputs are; the searches stop early wherever
the arithmetic is monotone.
"""

from __future__ import annotations

import weakref
from dataclasses import replace
from math import lcm, prod

from . import layers as L
from .graph import MODEL_INPUT, Model
from .layers.shapes import normalized_shape
from .propagate import OPS, SPATIAL_NAMES, Step, symbolic_input
from .propagate import propagate as _propagate
from .sizes import evaluate, first_true, var

LIMIT = 4096  # largest side searched
PERIOD_LIMIT = 1024  # largest stride product for which the pixel congruence is computed
FLATTENING = ("flatten", "view")


_RUNS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # model -> {input shape: steps}
MAX_RUNS_PER_MODEL = 256


def propagate(model: Model, input_shape: tuple | None = None) -> list[Step]:
    """convlint.propagate.propagate, once per model and input shape: the searches below (the
    smallest input, the sizes a Linear pins, the sizes that drop no pixel) and the messages
    of several checks ask for the same sizes again and again. The steps are shared: read them,
    never change them."""
    runs = _RUNS.get(model)
    if runs is None:
        runs = _RUNS[model] = {}
    try:
        steps = runs.get(input_shape)
    except TypeError:  # an unhashable size
        return _propagate(model, input_shape)
    if steps is None:
        steps = _propagate(model, input_shape)
        if len(runs) < MAX_RUNS_PER_MODEL:
            runs[input_shape] = steps
    return steps


def symbolic_shape(model: Model) -> tuple | None:
    """(C, H, W) with symbolic sizes, from the layer that first reads the model input."""
    for op in model.ops:
        if op.kind == "layer" and MODEL_INPUT in op.inputs and op.layer is not None:
            return symbolic_input(op.layer.kind, op.layer.params or {})
    return None


def channels_and_rank(model: Model, shape: tuple | None = None) -> tuple[int, int] | None:
    """(channels, spatial rank) of the model input: from a given shape, else from its first layer."""
    if shape is not None and len(shape) >= 2:
        return shape[0], len(shape) - 1
    seeded = symbolic_shape(model)
    if seeded is None or len(seeded) < 2:
        return None
    return seeded[0], len(seeded) - 1


def cube(channels: int, rank: int, size: int) -> tuple[int, ...]:
    return (channels, *(size,) * rank)


def symbolic_cube(channels: int, rank: int) -> tuple:
    return (channels, *(var(n) for n in SPATIAL_NAMES[rank]))


def _concrete(shape) -> bool:
    return shape is not None and all(isinstance(d, int) for d in shape)


def _collapsed(step: Step) -> bool:
    return step.raw_shape is not None and any(isinstance(d, int) and d <= 0 for d in step.raw_shape)


def _channel_conflict(step: Step) -> bool:
    layer = step.op.layer
    spec = L.LAYERS.get(layer.kind) if layer is not None else None
    shape = step.in_shape
    if spec is None or spec.channels_param is None or not _concrete(shape) or not shape or not layer.params:
        return False
    declared = layer.params.get(spec.channels_param)
    if spec.channels_param == "normalized_shape":  # the trailing dims, not the channels
        dims = normalized_shape(declared)
        if dims is None or not all(isinstance(d, int) for d in dims):
            return False
        return len(shape) < len(dims) or tuple(shape[len(shape) - len(dims):]) != dims
    if not isinstance(declared, int) or isinstance(declared, bool):
        return False
    received = shape[-1] if spec.channels_param == "in_features" else shape[0]
    return received != declared


def accepts(steps: list[Step]) -> bool:
    """torch would run these steps: nothing collapses, nothing is rejected, channels chain, and
    every step's output shape is known (a verdict, not a hope; a view torch rejects, like
    `x.view(-1, N)` with the wrong N, has none)."""
    for step in steps:
        if step.error is not None or _collapsed(step):
            return False
        if step.op.kind == "layer" and _channel_conflict(step):
            return False
        if step.out_shape is None:
            return False
    return True


def _no_collapse(steps: list[Step]) -> bool:
    return not any(_collapsed(s) for s in steps)


def _flatten_index(steps: list[Step]) -> tuple[int, int] | None:
    """(index of the first flatten of a spatial tensor, index of the Linear after it), when the
    first layer after it to set its own feature count is a Linear (a LazyLinear takes any)."""
    for f, step in enumerate(steps):
        flattening = step.op.kind in FLATTENING or (step.op.layer is not None and step.op.layer.kind == "Flatten")
        if not flattening or step.in_shape is None or len(step.in_shape) < 2 or step.output.unranked is not None \
                or step.out_shape is not None and len(step.out_shape) != 1:
            # a partial flatten (x.flatten(2) of tokens), a view of sizes not all known (its last
            # axis one of them): a Linear after it reads the last axis alone
            continue
        for later in range(f + 1, len(steps)):
            layer = steps[later].op.layer
            spec = L.LAYERS.get(layer.kind) if layer is not None else None
            if spec is None or not spec.defines_channels:
                continue
            features = (layer.params or {}).get("in_features") if layer.kind == "Linear" else None
            if isinstance(features, int) and not isinstance(features, bool):
                return f, later
            return None
        return None
    return None


def _features(steps: list[Step], f: int):
    shape = steps[f].in_shape if f < len(steps) else None
    return prod(shape) if _concrete(shape) else None


def smallest_collapse_free(model: Model, channels: int, rank: int) -> int | None:
    """The smallest side for which no layer's output collapses (monotone: binary search)."""
    if not _no_collapse(propagate(model, cube(channels, rank, LIMIT))):
        return None

    def ok(side: int) -> bool:
        return _no_collapse(propagate(model, cube(channels, rank, side)))

    guess = _symbolic_collapse_free(model, channels, rank)
    if guess is not None and ok(guess) and (guess == 1 or not ok(guess - 1)):
        return guess  # the exact rules confirm it: monotone, so it is the smallest
    return first_true(ok, 1, LIMIT)


def _symbolic_collapse_free(model: Model, channels: int, rank: int, sizes=None, high: int = LIMIT) -> int | None:
    """A guess at the smallest collapse-free side from one symbolic propagation: the smallest side
    at which every size expression is at least 1 (a guess: the caller confirms it with the rules).
    `sizes`: side -> the sizes of the axes (default: every axis that side)."""
    exprs = set()
    for step in propagate(model, symbolic_cube(channels, rank)):
        for d in step.raw_shape or ():
            if d is not None and not isinstance(d, int):
                exprs.add(d)
    names = SPATIAL_NAMES[rank]

    def fits(side: int) -> bool:
        env = sizes(side) if sizes is not None else dict.fromkeys(names, side)
        return all(evaluate(e, env) >= 1 for e in exprs)

    try:
        return first_true(fits, 1, high) if fits(high) else None
    except Exception:  # noqa: BLE001 - an expression that does not evaluate: no guess, the search decides
        return None


def _pin(model: Model, channels: int, rank: int):
    """(flatten index, linear index, symbolic flattened count, in_features) when a Linear after the
    flatten of a spatial tensor pins the input size; None otherwise."""
    symbolic = propagate(model, symbolic_cube(channels, rank))
    found = _flatten_index(symbolic)
    if found is None:
        return None
    f, linear = found
    shape = symbolic[f].in_shape
    if shape is None or any(d is None for d in shape) or _concrete(shape):
        return None  # unknown, or the same for every input (a global pool before the flatten)
    count = 1
    for d in shape:
        count = count * d
    return f, linear, count, symbolic[linear].op.layer.params["in_features"], symbolic


def _evaluate(count, rank: int, sizes) -> int:
    return evaluate(count, dict(zip(SPATIAL_NAMES[rank], sizes)))


def linear_fits(model: Model, channels: int, rank: int) -> dict | None:
    """The square sides for which the first Linear after the flatten receives exactly its
    in_features (each confirmed by propagation). None when the model has no such Linear, or
    when the flattened size does not depend on the input size."""
    pin = _pin(model, channels, rank)
    if pin is None:
        return None
    f, linear, count, wanted, symbolic = pin
    start = smallest_collapse_free(model, channels, rank) or 1
    fits = []
    for size in range(start, LIMIT + 1):
        value = _evaluate(count, rank, (size,) * rank)  # exact above the collapse-free size
        if value > wanted:
            break  # the flattened count never shrinks as the input grows
        if value == wanted and _features(propagate(model, cube(channels, rank, size)), f) == wanted:
            fits.append(size)
    return {"linear": symbolic[linear].op, "in_features": wanted, "flatten": symbolic[f].op, "sizes": fits}


def _axis_collapse_free(model: Model, channels: int, rank: int, axis: int, side: int) -> int:
    """The smallest size of one axis, the others at `side`, for which nothing collapses."""
    def ok(size):
        trial = [side] * rank
        trial[axis] = size
        return _no_collapse(propagate(model, (channels, *trial)))

    names = SPATIAL_NAMES[rank]
    guess = _symbolic_collapse_free(model, channels, rank, lambda size: {
        name: size if i == axis else side for i, name in enumerate(names)}, side)
    if guess is not None and ok(guess) and (guess == 1 or not ok(guess - 1)):
        return guess  # confirmed by the exact rules, as in smallest_collapse_free
    return first_true(ok, 1, side)


def minimum_input(model: Model, channels: int, rank: int) -> tuple[int, ...] | None:
    """The smallest (side, ...) torch accepts: the smallest cube first, then each axis alone
    with the others at that side. None when nothing up to LIMIT is accepted with known shapes."""
    if never_known(model):
        return None  # no size gives every shape: nothing would be accepted (and trying them all is slow)
    start = smallest_collapse_free(model, channels, rank)
    if start is None:
        return None
    pin = _pin(model, channels, rank)

    def accepted(sizes) -> bool:
        return accepts(propagate(model, (channels, *sizes)))

    side = None
    if pin is not None:
        _f, _linear, count, wanted, _ = pin
        for size in range(start, LIMIT + 1):
            value = _evaluate(count, rank, (size,) * rank)
            if value > wanted:
                return None
            if value == wanted and accepted((size,) * rank):
                side = size
                break
    else:
        side = next((s for s in range(start, start + 64) if accepted((s,) * rank)), None)
    if side is None:
        return None
    sides = [side] * rank
    for axis in range(rank):
        low = _axis_collapse_free(model, channels, rank, axis, side)
        for size in range(low, side):
            trial = [side] * rank
            trial[axis] = size
            if pin is not None and _evaluate(pin[2], rank, trial) != pin[3]:
                continue
            if accepted(trial):
                sides[axis] = size
                break
            if pin is None:
                break  # without a pin, acceptance above the collapse-free size is monotone
    return tuple(sides)


def never_known(model: Model) -> bool:
    """Some op's result is unknown whatever the input size: an operation convlint does not follow,
    or a layer it has no rule or no arguments for (propagate gives them an unknown result)."""
    for op in model.ops:
        if op.kind not in OPS:
            return True
        if op.kind == "layer" and (op.layer is None or op.layer.kind not in L.LAYERS or op.layer.params is None):
            return True
    return False


def stride_period(model: Model, channels: int, rank: int, start: int) -> int | None:
    """The period of the dropped-pixel pattern in the input size: the least common multiple, over
    the strided windows, of the product of the strides on the path from the input to it (the
    largest over axes). A window's output count depends on the input size only through the
    floor divisions of the windows before it, so each window's pattern repeats with that
    product; parallel branches multiply nothing (an Inception block's strided branches do not
    make each other's period longer)."""
    jumps: dict[int, int] = {MODEL_INPUT: 1}
    period = 1
    for step in propagate(model, cube(channels, rank, start)):
        op = step.op
        jump = 1
        for value in op.inputs:
            jump = lcm(jump, jumps.get(value, 1))
        layer = op.layer
        if op.kind == "layer" and layer is not None and layer.kind in RESAMPLERS and not _integral_scale(layer.params):
            return None  # a fractional scale (or a fixed size) floors: which real pixels survive has no period here
        if op.kind == "layer" and layer is not None and layer.kind in L.LAYERS and layer.params:
            strides = [w.stride for w in L.windows(layer.kind, layer.params, step.in_shape)]
            if strides:
                jump *= max(strides)
                period = lcm(period, jump)
                if period > PERIOD_LIMIT:
                    return None
        jumps[op.output] = jump
    return period


RESAMPLERS = {"Upsample", "UpsamplingNearest2d", "UpsamplingBilinear2d"}  # F.interpolate is an Upsample row


def _integral_scale(params: dict | None) -> bool:
    """An upsampling by whole factors (`scale_factor=2`, `(2, 2)`, `2.0`), no fixed `size`."""
    if not params or params.get("size") is not None:
        return False
    scale = params.get("scale_factor")
    factors = scale if isinstance(scale, (tuple, list)) else (scale,)
    return all(isinstance(f, (int, float)) and not isinstance(f, bool) and f >= 1 and float(f).is_integer()
               for f in factors)


def drops(step: Step) -> set[int]:
    """The spatial axes (1-based in the shape) on which this step never reads some real input."""
    layer = step.op.layer
    if step.op.kind != "layer" or layer is None or not layer.params or step.raw_shape is None:
        return set()
    lost = set()
    for window in L.windows(layer.kind, layer.params, step.in_shape):
        outputs = step.raw_shape[window.axis]
        if not isinstance(window.size, int) or not isinstance(outputs, int) or outputs < 1:
            continue
        if L.skips_by_design(window, outputs):
            continue
        if L.dropped(window, outputs):
            lost.add(window.axis)
    return lost


def drop_table(model: Model, channels: int, rank: int) -> tuple[int, int, list[dict[int, set[int]]]] | None:
    """(start, period, per size in start..start+period-1: {step index: axes that lose pixels})."""
    start = smallest_collapse_free(model, channels, rank)
    if start is None:
        return None
    period = stride_period(model, channels, rank, start)
    if period is None:
        return None
    fast = _symbolic_drop_table(model, channels, rank, start, period)
    if fast is not None:
        return start, period, fast
    return start, period, _concrete_drop_table(model, channels, rank, start, period)


def _concrete_drop_table(model: Model, channels: int, rank: int, start: int, period: int) -> list[dict[int, set[int]]]:
    """The drop table by one propagation per size."""
    table = []
    for size in range(start, start + period):
        lost = {}
        for index, step in enumerate(propagate(model, cube(channels, rank, size))):
            axes = drops(step)
            if axes:
                lost[index] = axes
        table.append(lost)
    return table


def _symbolic_drop_table(model: Model, channels: int, rank: int, start: int, period: int) -> list[dict[int, set[int]]] | None:
    """The drop table from one symbolic propagation: each strided window's input and output sizes
    as exact expressions in the input's sides, evaluated per size (the floor arithmetic is exact
    at and above the collapse-free size). None when some window's sizes are not expressions the
    run gives (a rule that needs a concrete size), or when an expression evaluated at `start`
    does not give what the concrete run gives: then the caller propagates every size."""
    symbolic = propagate(model, symbolic_cube(channels, rank))
    concrete = propagate(model, cube(channels, rank, start))
    if len(symbolic) != len(concrete):
        return None
    names = SPATIAL_NAMES[rank]
    windows = []  # (step index, [(axis, input size, output size), ...])
    for index, (sym, real) in enumerate(zip(symbolic, concrete)):
        layer = real.op.layer
        if real.op.kind != "layer" or layer is None or not layer.params or real.raw_shape is None:
            continue
        real_windows = L.windows(layer.kind, layer.params, real.in_shape)
        if not real_windows:
            continue
        if sym.raw_shape is None or sym.in_shape is None:
            return None
        sym_windows = L.windows(layer.kind, layer.params, sym.in_shape)
        if len(sym_windows) != len(real_windows):
            return None
        axes = []
        for w, r in zip(sym_windows, real_windows):
            if L.skips_by_design(w):
                continue  # skips pixels by design (drops() does not report it)
            size, outputs = w.size, sym.raw_shape[w.axis]
            if size is None or outputs is None:
                return None
            at_start = dict.fromkeys(names, start)
            if evaluate(size, at_start) != r.size or evaluate(outputs, at_start) != real.raw_shape[w.axis]:
                return None
            axes.append((w, size, outputs))
        if axes:
            windows.append((index, axes))
    # the same window on the same sizes recurs (a block repeated per stage): each is computed once per size
    kinds = {}
    keyed = []
    for index, axes in windows:
        entries = []
        for w, n, outputs in axes:
            key = (replace(w, size=None), n, outputs)
            kinds.setdefault(key, None)
            entries.append((w.axis, key))
        keyed.append((index, entries))
    table = []
    for size in range(start, start + period):
        env = dict.fromkeys(names, size)
        value = {}
        losing = set()
        for key in kinds:
            w, n, outputs = key
            for expr in (n, outputs):
                if expr not in value:
                    value[expr] = evaluate(expr, env)
            count = value[outputs]
            if count >= 1 and L.dropped(replace(w, size=value[n]), count):
                losing.add(key)
        lost = {}
        for index, entries in keyed:
            for axis, key in entries:
                if key in losing:
                    lost.setdefault(index, set()).add(axis)
        table.append(lost)
    return table


def reduce_congruence(good: set[int], period: int) -> tuple[int, list[int]]:
    """(m, residues mod m) with m the smallest divisor of period describing the same set."""
    for m in sorted(d for d in range(1, period + 1) if period % d == 0):
        residues = {r % m for r in good}
        if {r for r in range(period) if r % m in residues} == good:
            return m, sorted(residues)
    return period, sorted(good)


def congruence_text(name: str, m: int, residues: list[int]) -> str:
    if m == 1:
        return f"every {name}"
    if not residues:
        return f"no {name}"
    return f"{name} ≡ {' or '.join(map(str, residues))} (mod {m})"


def nearest(m: int, residues: list[int], target: int, low: int) -> list[int]:
    """The nearest sizes at or above `low` satisfying the congruence: `target` itself if it does,
    else the nearest below (if any) and above."""
    if not residues:
        return []
    ok = set(residues)
    if target % m in ok and target >= low:
        return [target]
    out = []
    below = next((s for s in range(target - 1, max(low, 1) - 1, -1) if s % m in ok), None)
    if below is not None:
        out.append(below)
    above = next(s for s in range(max(target + 1, low), max(target + 1, low) + m + 1) if s % m in ok)
    out.append(above)
    return out


def good_sizes(model: Model, channels: int, rank: int, step_index: int | None = None) -> list | None:
    """Per spatial axis, (m, residues): the input sides for which no layer (or only the layer at
    `step_index`) drops real pixels. None when unknown."""
    found = drop_table(model, channels, rank)
    if found is None:
        return None
    start, period, table = found
    out = []
    for axis in range(1, rank + 1):
        good = set()
        for offset, lost in enumerate(table):
            relevant = [axes for index, axes in lost.items() if step_index is None or index == step_index]
            if not any(axis in axes for axes in relevant):
                good.add((start + offset) % period)
        out.append(reduce_congruence(good, period))
    return out


def side_ranges(sizes: list[int]) -> list[tuple[int, int]]:
    ranges: list[tuple[int, int]] = []
    for size in sizes:
        if ranges and size == ranges[-1][1] + 1:
            ranges[-1] = (ranges[-1][0], size)
        else:
            ranges.append((size, size))
    return ranges


def fitting_text(channels: int, rank: int, sizes: list[int]) -> str:
    """'only inputs of 1×32×32 to 1×35×35 fit it' (square sizes searched)."""
    if not sizes:
        return f"no square input up to {LIMIT} fits the Linear's in_features"
    shown = []
    for low, high in side_ranges(sizes)[:4]:
        a = "×".join(map(str, cube(channels, rank, low)))
        b = "×".join(map(str, cube(channels, rank, high)))
        shown.append(a if low == high else f"{a} to {b}")
    more = " …" if len(side_ranges(sizes)) > 4 else ""
    return f"only inputs of {', '.join(shown)}{more} fit the Linear's in_features"
