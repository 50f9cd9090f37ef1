"""A layer declares a different number of input channels or features than it receives.

PyTorch raises a `RuntimeError` at the first forward pass, often minutes into a run.
convlint compares each layer's declaration (Conv/ConvTranspose `in_channels`, BatchNorm and
InstanceNorm `num_features`, GroupNorm `num_channels`, Linear `in_features`, LayerNorm
`normalized_shape`) with what the layers before it produce.

Bad:
    nn.Sequential(
        nn.Conv2d(3, 16, 3),
        nn.Conv2d(32, 64, 3),  # expects 32 channels, receives 16
    )

Good:
    nn.Sequential(
        nn.Conv2d(3, 16, 3),
        nn.Conv2d(16, 64, 3),
    )
"""

from __future__ import annotations

from .. import layers as L
from ..context import fmt_shape, spec
from ..sizes import is_concrete
from .common import fitting_inputs, flattened_too_early, linear_without_flatten

CODE = "CL001"
NAME = "channel-mismatch"
SEVERITY = "error"

PRODUCER_PARAM = {"Linear": "out_features", "Bilinear": "out_features"}


def check(ctx):
    for run, index, step in ctx.layer_steps():
        layer_spec = spec(step)
        shape = step.in_shape
        if layer_spec is None or layer_spec.channels_param is None or not step.op.layer.params:
            continue
        is_linear = layer_spec.channels_param in ("in_features", "normalized_shape")  # reads the last axis
        if shape is None and (step.inputs[0].unranked is None or is_linear and _spatial_origin(step)):
            continue  # of unknown rank: its channels and last axis, unless a window layer made that axis spatial
        if shape is not None and layer_spec.rank is not None and len(shape) not in layer_spec.rank:
            continue  # a wrong rank is misplaced-flatten's or shape-mismatch's to report
        declared = step.op.layer.params.get(layer_spec.channels_param)
        kind = ctx.subject(step.op.layer)
        if layer_spec.channels_param == "normalized_shape" and shape is not None:
            message = _layer_norm(ctx, run, step, kind, declared)
            if message:
                yield step.op.layer, message
            continue
        if layer_spec.channels_param == "normalized_shape" and isinstance(declared, (tuple, list)) and len(declared) == 1:
            declared = declared[0]
        if not _is_int(declared):
            continue
        received = step.received(last=is_linear)
        if not _is_int(received) or received == declared:
            continue
        if is_linear and shape is not None and (flattened_too_early(step) or linear_without_flatten(step)):
            continue
        if layer_spec.channels_param == "normalized_shape":
            yield step.op.layer, f"{kind} expects trailing dimensions ({declared},) but receives ({received},) " \
                f"({_source(ctx, step, run)})"
            continue
        unit = "input features" if is_linear else "input channels"
        message = f"{kind} expects {declared} {unit} but receives {received} ({_source(ctx, step, run)})"
        message += fitting_inputs(run, step) if is_linear else ""
        if step.inputs[0].origin is None and run.input_source is not None:
            yield step.op.layer, message  # the file's tensor or the layer: which one is wrong, only its author knows
        else:
            yield step.op.layer, message, _fix_hint(run, index, step, layer_spec, declared, received)


def _fix_hint(run, index, step, layer_spec, declared, received) -> dict | None:
    """What `--fix` needs: which argument of the call at the finding's span to set to what.
    None when the layer is built elsewhere than where it is reported (a helper's call)."""
    layer = step.op.layer
    if layer.site is not layer.node:
        return None
    names = [name for name, _default in layer_spec.params]
    param = layer_spec.channels_param
    return {
        "action": "set-argument",
        "kind": layer.kind,
        "param": param,
        "position": names.index(param) if param in names else None,
        "declared": declared,
        "value": received,
        "model": run.model.name,
        "order": index,
    }


def _spatial_origin(step) -> bool:
    """The input's last axis may be spatial: the layer that set it slides a window (or is of
    unknown dimensions), and what follows it is misplaced-flatten's to judge."""
    origin = step.inputs[0].origin
    origin_spec = None if origin is None or origin.layer is None else L.LAYERS.get(origin.layer.kind)
    return origin_spec is not None and (origin_spec.spatial >= 1 or origin.layer.kind in L.ANY_DIMS_KINDS)


def _source(ctx, step, run) -> str:
    incoming = step.inputs[0]
    origin = incoming.origin
    if incoming.flat_from is not None and incoming.flat_from[0] is not None:
        before, flatten = incoming.flat_from
        return f"{fmt_shape(before, '·')} flattened by {ctx.describe(flatten)}"
    if origin is None and step.in_shape is not None and run.input_source is not None:
        return f"the input: {run.input_source}"
    if origin is None:
        return "the declared input" if step.in_shape is not None else "the input"
    if origin.kind == "fixed":  # a tensor not the model's (a buffer of coordinates)
        return f"the {fmt_shape(origin.args['shape'], '×')} tensor {ctx.at(ctx.line_of(origin.node), None)}"
    if origin.layer is not None:
        param = _out_param(origin.layer.kind)
        loop = _previous_iteration(ctx, origin, step)
        if param and loop is not None:
            return f"{param} of the {origin.layer.kind} this line built in the previous iteration of the loop on line {loop}"
        if param:
            return f"{param} of {ctx.describe(origin)}"
    return f"the output of {ctx.describe(origin)}"


def _previous_iteration(ctx, origin, step) -> int | None:
    """The loop's line when the layer that sets the channels is another layer the same call built,
    in an earlier iteration of the loop around it (`the Conv2d on line 31` for a layer on line 31
    would read as if the layer fed itself)."""
    layer = step.op.layer
    if origin.layer is layer or origin.layer.node is not layer.node or layer.file is not None:
        return None
    return ctx.positions.loop_around(layer.node)


def _out_param(kind: str) -> str | None:
    kind = kind.removeprefix("Lazy")
    if kind.startswith(("Conv", "ConvTranspose")):
        return "out_channels"
    return PRODUCER_PARAM.get(kind)


def _layer_norm(ctx, run, step, kind: str, declared) -> str | None:
    shape = step.in_shape
    normalized = (declared,) if _is_int(declared) else declared
    if not isinstance(normalized, tuple) or not normalized or not all(_is_int(d) for d in normalized):
        return None
    if len(normalized) > len(shape):
        return None
    trailing = shape[len(shape) - len(normalized):]
    if not all(is_concrete(d) for d in trailing) or tuple(trailing) == normalized:
        return None
    # the channel's origin explains the sizes only when the channel axis is among them
    source = _source(ctx, step, run) if len(normalized) == len(shape) else f"its input is {fmt_shape(shape)}"
    return f"{kind} expects trailing dimensions {fmt_shape(normalized)} but receives {fmt_shape(trailing)} ({source})"


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
