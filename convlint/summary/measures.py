"""What summary measures of each step: the receptive field per spatial axis, the multiply-
accumulates, and the memory of a model's parameters and activations (the rules are in
convlint.summary.tables' docstring)."""

from __future__ import annotations

from .. import layers as L
from ..propagate import OPS, Step

GLOBAL = "all"  # a receptive field that covers the whole input (after a flatten or a global pool)


# ---- receptive field: per spatial axis (size, jump, start), GLOBAL, or None (unknown)


def identity_field(shape):
    if shape is None or len(shape) < 2:
        return None
    return tuple((1, 1, 0.0) for _ in shape[1:])


def receptive_field(step: Step, incoming: list):
    op, shape, out = step.op, step.in_shape, step.out_shape
    if not incoming or any(f is None for f in incoming):
        return None
    if any(f == GLOBAL for f in incoming):
        return GLOBAL
    if len(incoming) > 1:
        return incoming[0] if all(f == incoming[0] for f in incoming) else _merge(incoming)
    rf = incoming[0]
    if op.kind in ("flatten", "reduce") or (op.kind == "view" and (out is None or len(out) < len(shape or ()))):
        return GLOBAL
    if op.kind != "layer" or op.layer is None or op.layer.kind not in L.LAYERS or op.layer.params is None:
        return None
    kind = op.layer.kind
    if kind in ("Flatten", "Linear"):
        return GLOBAL if shape is not None else None
    windows = L.windows(kind, op.layer.params, shape)
    if windows:
        result = list(rf)
        for w in windows:
            i = w.axis - 1
            if not 0 <= i < len(result):
                return None
            size, jump, start = result[i]
            span = w.dilation * (w.kernel - 1)
            result[i] = (size + span * jump, jump * w.stride, start + (span / 2 - w.pad_before) * jump)
        return tuple(result)
    if kind.startswith("Adaptive") and out is not None and shape is not None:
        if all(d == 1 for d in out[1:]):
            return GLOBAL
        return rf if tuple(out[1:]) == tuple(shape[1:]) else None
    if shape is not None and out is not None and len(shape) == len(out) and tuple(shape[1:]) == tuple(out[1:]):
        return rf  # elementwise, norms, 1-to-1 layers
    return None


def _merge(fields):
    if not all(isinstance(f, tuple) and len(f) == len(fields[0]) for f in fields):
        return None
    merged = []
    for axis in zip(*fields):
        if len({a[1] for a in axis}) != 1:
            return None
        merged.append(max(axis, key=lambda a: a[0]))
    return tuple(merged)


def field_view(rf):
    if rf is None:
        return None
    if rf == GLOBAL:
        return {"size": GLOBAL}
    return {"size": [a[0] for a in rf], "jump": [a[1] for a in rf], "start": [_num(a[2]) for a in rf]}


def _num(value: float):
    return int(value) if float(value).is_integer() else value


# ---- counts


def numel(shape):
    if shape is None or any(d is None for d in shape):
        return None
    total = 1
    for d in shape:
        total = total * d
    return total


def macs(step: Step):
    """Multiply-accumulates as forward hooks on Conv*/Linear count them: output.numel() ×
    in_channels/groups × prod(kernel) for a convolution (weights × output positions), output.numel() ×
    in_features for a Linear, weights × input positions for a transposed convolution (its real
    count); 0 for every other layer and operation (norms, pools, activations, additions, cat);
    None when unknown: an operation convlint does not follow, or a layer it has no rule for."""
    op, layer = step.op, step.op.layer
    if op.kind != "layer":
        return 0 if op.kind in OPS else None
    spec = L.LAYERS.get(layer.kind) if layer is not None else None
    if spec is None:
        return None
    if spec.macs is None:
        return 0
    count = L.parameter_count(layer.kind, layer.params) if layer.params else None
    if count is None:
        return None
    weights = count[0]
    if spec.macs == "features":
        leading = step.in_shape[:-1] if step.in_shape is not None else None
        positions = numel(leading) if leading is not None else None
    elif spec.macs == "input":
        positions = numel(step.in_shape[1:]) if step.in_shape is not None else None
    else:
        positions = numel(step.out_shape[1:]) if step.out_shape is not None else None
    return None if positions is None else per_sample(weights * positions, step)


def activations(step: Step):
    """The elements of a step's output for one sample of the model input."""
    return per_sample(numel(step.out_shape), step)


def per_sample(count, step: Step):
    """A count of one row of a step's batch times the rows each sample of the model input has in
    it (the windows or frames folded into the batch, raft's two images stacked in one)."""
    rows = step.output.frames * (step.output.lead or 1)  # a tensor that is not the model's: all its rows, once
    return count if count is None or rows == 1 else count * rows


def memory_estimate(shape, rows: list, params: int) -> dict | None:
    """fp32 memory at batch 1 of the input `shape`, the parameters and the rows' activations."""
    if shape is None:
        return None
    acts = [numel(shape)] + [r.activations for r in rows if r.called]
    if any(not isinstance(a, int) for a in acts):
        return None
    peak = max((a + b for a, b in zip(acts, acts[1:])), default=acts[0])
    return {
        "bytes_per_number": 4,
        "inference_bytes": 4 * (params + peak),
        "training_bytes": 4 * (3 * params + 2 * sum(acts[1:])),
        "inference_formula": "4 B × (parameters + the largest two consecutive activations)",
        "training_formula": "4 B × (3 × parameters [weights, gradients, optimizer state] + 2 × the sum of activations)",
    }
