"""What propagation knows of a tensor (TensorInfo) and of one op run (Step), and the input a
layer implies when none is declared."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .. import layers as L
from ..graph import Op
from ..sizes import UNKNOWN, Sym, var

Shape = tuple  # sizes without the batch dimension: int, Sym or None (unknown) each

SPATIAL_NAMES = {1: ("L",), 2: ("H", "W"), 3: ("D", "H", "W")}


@dataclass(frozen=True)
class TensorInfo:
    shape: Shape | None  # None: unknown rank
    origin: Op | None = None  # the op that set the channel (or feature) count
    flat_from: tuple[Shape, Op] | None = None  # (shape before, the flatten) for a flattened tensor
    pair_from: Op | None = None  # not a tensor: the (values, indices) pair of a pool with return_indices
    frames: int | Sym = 1  # rows of this tensor's batch per sample of the model input (a view folding frames or
    # windows into it: swin's `reshape(B * num_windows, ...)` with num_windows read off the input, a Sym)
    batch_at: int = 0  # where the batch is (`qkv.permute(2, 0, 3, 1, 4)` moves it): shape is the other axes in order
    unranked: L.Unranked | None = None  # shape None: what is known all the same (its channels, its last axis)
    lead: int | None = None  # not the model's tensor: the size of its leading axis, which is no batch


UNKNOWN_TENSOR = TensorInfo(None)


@dataclass
class Step:
    op: Op
    inputs: list[TensorInfo]
    output: TensorInfo
    raw_shape: Shape | None = None  # what the layer rule computed, collapsed sizes included
    error: str | None = None  # an input-dependent rejection torch would raise
    seeded: bool = False  # its input's shape is the one its own declaration implies (nothing else fixes it)

    @property
    def in_shape(self) -> Shape | None:
        return self.inputs[0].shape if self.inputs and not self.inputs[0].batch_at else None

    @property
    def out_shape(self) -> Shape | None:
        """The shape after the batch (None while the batch is not first: no check or table reads it)."""
        return self.output.shape if not self.output.batch_at else None

    @property
    def kind(self) -> str:
        return self.op.layer.kind if self.op.layer is not None else self.op.kind

    def received(self, last: bool = False) -> Any:
        """The size of the input's channel axis (`last`: of its last axis) where the batch is first,
        known even when the rank is not; None: unknown."""
        incoming = self.inputs[0] if self.inputs else None
        if incoming is None or incoming.batch_at:
            return None
        if incoming.shape is not None:
            return (incoming.shape[-1] if last else incoming.shape[0]) if incoming.shape else None
        unranked = incoming.unranked
        return None if unranked is None else unranked.last if last else unranked.channels


def symbolic_input(kind: str, params: dict) -> Shape | None:
    """The input a layer expects when nothing is declared: its channels, then symbolic sizes; the
    channels unknown (None) when its own count is (a class built from its defaults alone, whose
    `in_channels` no code gives: what it outputs does not depend on them)."""
    spec = L.LAYERS.get(kind)
    if spec is None or spec.channels_param is None or spec.rank is None:
        return None
    channels = params.get(spec.channels_param)
    if channels is UNKNOWN or channels is None:
        channels = None
    elif not isinstance(channels, int) or isinstance(channels, bool) or channels <= 0:
        return None
    names = SPATIAL_NAMES.get(spec.rank[-1] - 1)  # every such layer takes (C, spatial...), C alone never
    return (channels, *(var(n) for n in names)) if names else None


def unranked_input(kind: str, params: dict, value: int) -> L.Unranked | None:
    """What a layer that takes any rank (GroupNorm, LayerNorm, Linear, a monai conv of unknown
    dimensions) declares of the free input it is the first to read: its channels or its last axis,
    the rank the input's own; None for a layer of a known rank (symbolic_input's) or one that says nothing."""
    spec = L.LAYERS.get(kind)
    if spec is None or spec.rank is not None or spec.channels_param is None:
        return None
    size = params.get(spec.channels_param)
    if isinstance(size, (tuple, list)) and size:  # LayerNorm's normalized_shape
        size = size[-1]
    size = size if isinstance(size, int) and not isinstance(size, bool) and size > 0 else None
    if spec.channels_param in ("in_features", "normalized_shape"):
        return L.Unranked(last=size, rank=value) if size is not None else None
    return L.Unranked(channels=size, rank=value)
