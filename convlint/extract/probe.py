"""A module called on a tensor of known shape while a model is built, not run: torchvision's
`retrieve_out_channels(backbone, size)` runs the backbone on `torch.zeros((1, 3, h, w))` to learn
the channels of its feature maps, which size the detection head. The module runs in a model of
its own at that input; each tensor it returns becomes a tensor of the full shape propagation
gives it, not the model's (unknown where any size is not a known number)."""

from __future__ import annotations

from typing import Any

from .. import layers as L
from ..graph import MODEL_INPUT
from ..sizes import UNKNOWN
from .values import JUMPS, ConstTensor, DictVal, ListVal, Tensor


def probe(interp, module: Any, const: ConstTensor, node) -> Any:
    from ..propagate import Propagation

    if interp.probing or len(const.shape) < 2 or not all(isinstance(d, int) and d > 0 for d in const.shape):
        return UNKNOWN
    saved = (interp.ops, interp.counter, interp.declared, interp.rank_run, interp.scope, interp.mode, dict(interp.applied))
    interp.ops, interp.counter, interp.declared, interp.rank_run, interp.scope, interp.mode = \
        [], MODEL_INPUT + 1, const.shape[1:], None, [], False
    interp.probing = True
    try:
        result = interp.apply(module, [Tensor(MODEL_INPUT)], {}, node)
        ops = interp.ops
    except JUMPS:
        return UNKNOWN
    finally:
        interp.ops, interp.counter, interp.declared, interp.rank_run, interp.scope, interp.mode, applied = saved
        interp.applied.clear()
        interp.applied.update(applied)  # what a probe called is not what the model's run calls
        interp.probing = False
    run = Propagation(const.shape[1:])
    if not all(_accepted(run.step(op)) for op in ops):
        return UNKNOWN  # torch raises on this input: no tensor comes out
    return _fixed(result, run.values, const.shape[0])


def _accepted(step) -> bool:
    """Whether torch runs the step as far as its shape tells: no error, and a layer receives the
    channels (the features) it is built for when both are known."""
    if step.error is not None:
        return False
    spec = L.LAYERS.get(step.kind) if step.op.layer is not None else None
    if spec is None or spec.channels_param is None or not step.op.layer.params:
        return True
    wanted = step.op.layer.params.get(spec.channels_param)
    wanted = wanted[-1] if isinstance(wanted, (tuple, list)) and wanted else wanted
    received = step.received(last=spec.channels_param in ("in_features", "normalized_shape"))
    return not (isinstance(wanted, int) and isinstance(received, int) and wanted != received)


def _fixed(value: Any, values: dict, batch: int, depth: int = 0) -> Any:
    """The probe's result with each of its tensors as a tensor of known full shape."""
    if isinstance(value, Tensor):
        info = values.get(value.value)
        shape = None if info is None or info.batch_at or info.frames != 1 else info.shape
        if shape is None or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape):
            return UNKNOWN
        return ConstTensor((batch, *shape))
    if depth > 4:
        return UNKNOWN
    if isinstance(value, DictVal) and not value.lost and not value.maybe:
        return DictVal(list(value.keys), [_fixed(v, values, batch, depth + 1) for v in value.values])
    if isinstance(value, ListVal) and not value.lost:
        return ListVal([_fixed(v, values, batch, depth + 1) for v in value.items])
    if isinstance(value, tuple):
        return tuple(_fixed(v, values, batch, depth + 1) for v in value)
    return UNKNOWN if isinstance(value, (Tensor, DictVal, ListVal)) else value
