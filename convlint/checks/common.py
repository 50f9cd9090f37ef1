"""What channel-mismatch and misplaced-flatten both ask of a Linear's step."""

from __future__ import annotations

from math import prod

from .. import layers as L
from ..sizes import is_concrete
from ..sizing import fitting_text, linear_fits


def flattened_too_early(step) -> bool:
    """A Linear whose in_features is the channel count of a tensor flattened with its spatial size."""
    flat = step.inputs[0].flat_from
    if flat is None or flat[0] is None or len(flat[0]) < 2 or step.in_shape is None:
        return False
    before = flat[0]
    declared = (step.op.layer.params or {}).get("in_features")
    return (
        declared == before[0]
        and all(is_concrete(d) for d in before)
        and prod(before) != before[0]
        and step.in_shape[-1] != declared
    )


def linear_without_flatten(step) -> bool:
    """A Linear applied to a (C, H, W) or (C, D, H, W) conv-family output."""
    shape, origin = step.in_shape, step.inputs[0].origin
    if shape is None or len(shape) < 3 or origin is None or origin.layer is None:
        return False
    origin_spec = L.LAYERS.get(origin.layer.kind)
    return origin_spec is not None and origin_spec.spatial >= 1


def fitting_inputs(run, step) -> str:
    """'; only inputs of 1×32×32 to 1×35×35 fit it' when the Linear after the flatten pins the input size."""
    if run.input_shape is None or len(run.input_shape) < 2:
        return ""
    channels, rank = run.input_shape[0], len(run.input_shape) - 1
    found = linear_fits(run.model, channels, rank)
    if found is None or found["linear"] is not step.op:
        return ""
    return f"; {fitting_text(channels, rank, found['sizes'])}"
