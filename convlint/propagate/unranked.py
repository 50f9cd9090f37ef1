"""Tensors of unknown rank (TensorInfo.unranked): the ops that keep something of them known."""

from __future__ import annotations

from .. import layers as L
from ..graph import Op
from ..sizes import CONFLICT, broadcast_size
from .tensors import TensorInfo


def _unranked_layer(op: Op, inputs: list[TensorInfo]) -> TensorInfo | None:
    layer, incoming = op.layer, inputs[0]
    if len(inputs) != 1 or incoming.shape is not None or layer.params is None or layer.kind not in L.LAYERS \
            or layer.params.get("return_indices") is True:
        return None
    if incoming.unranked is None:
        # of a tensor nothing is known of (not even that it is batched: no channel axis), only the last
        # axis a Linear or an Embedding makes (an embedding of class indices fed to an MLP)
        found = L.unranked_output(layer.kind, layer.params, L.Unranked())
        last = found.last if found is not None and isinstance(found.last, int) else None
        return None if last is None else TensorInfo(None, op, unranked=L.Unranked(last=last))
    found = L.unranked_output(layer.kind, layer.params, incoming.unranked)
    if found is None or found == L.Unranked():
        return None  # (one of another tensor's rank, nothing else known: a layer after it may tell its channels)
    return TensorInfo(None, op if L.LAYERS[layer.kind].defines_channels else incoming.origin, unranked=found)


def _same_rank(inputs: list[TensorInfo]) -> list[L.Unranked] | None:
    """The inputs' Unranked when each has one and all have the same rank (None: not known to)."""
    found = [i.unranked for i in inputs]
    if any(u is None or u.rank is None for u in found) or len({u.rank for u in found}) != 1:
        return None
    return found


def _described(inputs: list[TensorInfo], unknown_ok: bool = False) -> list[L.Unranked] | None:
    """Each input as an Unranked, one of a known shape too (of no other tensor's rank: a branch's
    arms of ranks 4 and 5); None when one is not known at all (unless `unknown_ok`: as an Unranked
    that knows nothing) or has no channel axis."""
    found = []
    for i in inputs:
        if i.frames != 1 or i.batch_at or i.pair_from is not None:
            return None  # a batch of other rows than the model's samples: not described here
        if i.shape is not None and len(i.shape) >= 1:
            found.append(L.Unranked(i.shape[0], i.shape[-1], all(d == 1 for d in i.shape[1:]), None))
        elif i.shape is None and i.unranked is not None:
            found.append(i.unranked)
        elif i.shape is None and unknown_ok:
            found.append(L.Unranked())
        else:
            return None
    return found


def _broadcast_any_ranks(op: Op, inputs: list[TensorInfo]) -> TensorInfo | None:
    """Tensors not known to share a rank, combined elementwise: torch aligns them from the right, so
    their last axes meet, and equal channel counts other than 1 stay (where one tensor's channel axis
    meets the other's batch or a padded axis, torch raises or keeps them; checked with
    torch.broadcast_shapes over ranks 2 to 5); the rank is the larger one's, not known. A tensor
    nothing is known of still meets the other's last axis (a residual around a block whose last
    Linear gives it): a size other than 1 there stays."""
    found = _described(inputs, unknown_ok=True)
    if found is None or op.args.get("inplace"):
        return None
    a, b = found
    channels = a.channels if a.channels == b.channels and isinstance(a.channels, int) and a.channels != 1 else None
    last = broadcast_size(a.last, b.last)
    last = None if last is CONFLICT else last
    if channels is None and last is None:
        return None
    return TensorInfo(None, inputs[0].origin if channels is not None else None, unranked=L.Unranked(channels, last))


def _unranked_elementwise(op: Op, inputs: list[TensorInfo]) -> TensorInfo | None:
    found = _same_rank(inputs)
    if found is None:
        return _broadcast_any_ranks(op, inputs)
    a, b = found
    sizes = [broadcast_size(x, y) for x, y in ((a.channels, b.channels), (a.last, b.last))]
    channels, last = (None if size is CONFLICT else size for size in sizes)
    result = L.Unranked(channels, last, a.ones and b.ones, a.rank)
    if op.args.get("inplace") and result != a:
        return None  # an in-place op cannot grow its tensor (torch raises)
    return TensorInfo(None, inputs[0].origin, unranked=result)


def _unranked_join(op: Op, inputs: list[TensorInfo]) -> TensorInfo | None:
    """Either arm's tensor: what both arms know of it, whatever their ranks."""
    found = _described(inputs)
    if found is None:
        return None
    a, b = found
    agreed = L.Unranked(a.channels if a.channels == b.channels else None, a.last if a.last == b.last else None,
                        a.ones and b.ones, a.rank if a.rank == b.rank else None)
    if agreed == L.Unranked():
        return None
    return TensorInfo(None, inputs[0].origin if inputs[0].origin is inputs[1].origin else None, unranked=agreed)


def _unranked_cat(op: Op, inputs: list[TensorInfo]) -> TensorInfo | None:
    """torch.cat along the channels (dim 1) or the last axis (dim -1): their sizes there add up,
    whatever is known of their ranks (torch raises unless they have one; at rank 2 the channel axis
    is the last axis, so the other one is not known)."""
    found, dim = _described(inputs), op.args.get("dim")
    if found is None or dim not in (1, -1):
        return None
    sizes = [u.channels if dim == 1 else u.last for u in found]
    if not all(isinstance(size, int) for size in sizes):
        return None
    rank = next((u.rank for u in found if u.rank is not None), None)
    if dim == 1:
        return TensorInfo(None, op, unranked=L.Unranked(sum(sizes), None, all(u.ones for u in found), rank))
    return TensorInfo(None, op, unranked=L.Unranked(None, sum(sizes), False, rank))


UNRANKED = {"layer": _unranked_layer, "elementwise": _unranked_elementwise, "join": _unranked_join,
            "cat": _unranked_cat}
