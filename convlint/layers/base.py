"""The base of every layer rule: the argument marker REQUIRED, ShapeError, a layer's facts
(LayerSpec) and the sliding windows it reads (Window), the small helpers rules share, and Rule."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

from ..sizes import UNKNOWN, residues


class Required:
    _instance = None

    def __new__(cls):
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "REQUIRED"

    def __reduce__(self):
        return (Required, ())


REQUIRED = Required()  # default of a parameter that has none

MAX_RANK = 8  # "at least k dims" is spelled as the ranks k..MAX_RANK


class ShapeError(Exception):
    """torch would reject this input shape (other than channel mismatch or collapse)."""


@dataclass(frozen=True)
class LayerSpec:
    """What convlint knows of one layer class besides its shape rule; every room reads it here."""

    name: str
    params: tuple  # ((name, default or REQUIRED), ...) in torch's __init__ order
    channels_param: str | None
    rank: tuple | None  # accepted no-batch ranks; None: any rank >= 1
    spatial: int
    defines_channels: bool = False  # its output's channel (feature) count is its own, not its input's
    convolution: bool = False  # Conv1d..3d and ConvTranspose1d..3d
    transposed: bool = False
    macs: str | None = None  # multiply-accumulates: weights times positions of its "output", "input" or "features"
    torch_bases: tuple = ()  # its torch.nn base classes besides itself and nn.Module (for isinstance)


class Unranked(NamedTuple):
    """What is known of a batched tensor whose rank is not (a monai block built for a `spatial_dims`
    nobody gives): the size of its channel axis (axis 1), of its last axis, whether every axis after
    the channel axis has size 1 (after an adaptive pool to 1), and `rank`: the tensor value whose
    rank it has (tensors of the same `rank` broadcast axis by axis; None: no other tensor's)."""

    channels: Any = None
    last: Any = None
    ones: bool = False
    rank: int | None = None


@dataclass(frozen=True)
class Window:
    axis: int
    size: object  # int | Sym | None
    kernel: int
    stride: int
    dilation: int
    pad_before: int
    pad_after: int
    ceil_mode: bool


# --------------------------------------------------------------------------- small helpers


def known(value) -> bool:
    if value is UNKNOWN:
        return False
    if isinstance(value, (tuple, list)):
        return all(known(v) for v in value)
    return True


def int_or_none(value):
    """value if it is a known int, else None."""
    return value if isinstance(value, int) else None


def int_or_unknown(value) -> bool:
    return value is UNKNOWN or isinstance(value, int)


def axes(value, n: int, lengths: tuple):
    """An int-or-tuple argument as n per-axis ints (None = unknown entry).

    Returns False when torch would reject the form (wrong length, not ints).
    """
    if value is UNKNOWN:
        return (None,) * n
    if isinstance(value, int):
        return (value,) * n
    if isinstance(value, (tuple, list)) and len(value) in lengths:
        if not all(int_or_unknown(v) for v in value):
            return False
        entries = tuple(None if v is UNKNOWN else v for v in value)
        return entries * n if len(entries) == 1 and n != 1 else entries
    return False


def show(value) -> str:
    """An argument as the user wrote it, for messages."""
    if isinstance(value, list):
        value = tuple(value)
    return repr(value)


def fmt_shape(shape) -> str:
    return "(" + ", ".join("?" if d is None else str(d) for d in shape) + ")"


def tuple_text(n: int) -> str:
    return "an int" if n == 1 else f"an int or a tuple of {n} ints"


def product(values):
    total = 1
    for v in values:
        if v is None:
            return None
        total = total * v
    return total


def batched_dim(dim: int, rank: int):
    """Normalise a batched-tensor dim index for a no-batch shape of `rank` dims;
    None when out of range."""
    ndim = rank + 1
    if not -ndim <= dim < ndim:
        return None
    return dim + ndim if dim < 0 else dim


def dim_range_error(name: str, dim: int, rank: int) -> ShapeError:
    ndim = rank + 1
    return ShapeError(
        f"{name}: dim {dim} is out of range for a {ndim}-d batched input "
        f"(valid dims are {-ndim} to {ndim - 1})"
    )


def zero_sized(key: str) -> str:
    """torch builds a layer of size 0 with only a warning ("Initializing zero-element tensors is a
    no-op"): it has no weights, and it fails or yields nothing when it runs."""
    return f"{key} is 0: torch builds a layer with no weights (it only warns), which fails or yields an empty tensor when it runs"


def divides(size, divisor: int):
    """True/False when `divisor` always/never divides `size`; None when it depends."""
    found = residues(size, divisor)
    if found is None:
        return None
    if found == {0}:
        return True
    if 0 not in found:
        return False
    return None


# --------------------------------------------------------------------------- rules


class Rule:
    """Shape rule of one layer class; subclasses override what differs."""

    rank: tuple | None = None
    spatial = 0
    channels_param: str | None = None
    keyword_only: tuple = ()
    accepts_anything = False  # Identity takes and ignores any arguments
    defines_channels = False
    convolution = False
    transposed = False
    macs: str | None = None
    torch_bases: tuple = ()

    def __init__(self, name: str, params: tuple, **options):
        self.name = name
        self.params = params
        for key, value in options.items():
            setattr(self, key, value)
        self.spec = LayerSpec(name, params, self.channels_param, self.rank, self.spatial, self.defines_channels,
                              self.convolution, self.transposed, self.macs, self.torch_bases)

    # Defaults, overridden per family.
    def errors(self, p: dict) -> list:
        return []

    def output(self, p: dict, shape: tuple):
        self.check_rank(shape)
        return shape

    def windows(self, p: dict, shape) -> list:
        return []

    def count(self, p: dict):
        return (0, 0)

    keeps_unranked = False  # a layer that keeps its input's shape: a tensor of unknown rank stays as it is

    def unranked(self, p: dict, u: Unranked) -> Unranked | None:
        """What the layer makes of a tensor of unknown rank `u` tells of, exactly at every rank it
        accepts (None: nothing). Rank is kept by every layer that says something."""
        return u if self.keeps_unranked else None

    def check_rank(self, shape) -> None:
        if self.rank is not None and len(shape) not in self.rank:
            raise ShapeError(f"{self.name} {self.rank_text()}, got {len(shape)}-d shape {fmt_shape(shape)}")
        if self.rank is None and len(shape) < 1 and self.needs_a_dim():
            raise ShapeError(
                f"{self.name} needs at least one dimension besides the batch, got a 0-d shape ()"
            )

    def needs_a_dim(self) -> bool:
        return False

    def rank_text(self) -> str:
        ranks = self.rank
        if len(ranks) > 2 and ranks[-1] == MAX_RANK:
            return f"expects at least {ranks[0]} dims per sample (batch excluded)"
        listed = " or ".join(f"{r}-d" for r in ranks)
        return f"expects a {listed} input per sample (batch excluded)"


def at_least(k: int) -> tuple:
    return tuple(range(k, MAX_RANK + 1))


SPATIAL_NAMES = {1: "L", 2: "H, W", 3: "D, H, W"}


# ---- convolutions


class AnyDims(Rule):
    """A layer of a family whose number of spatial dimensions the code leaves unknown (monai's
    `Conv[Conv.CONV, spatial_dims]` for a spatial_dims no caller gives): the family's signature and
    channel argument, no output at a known rank nor weights (both need the number it lacks), and
    what the family does to a tensor of unknown rank. `base`: the family's 2-d rule."""

    def __init__(self, name: str, base: Rule):
        self.base = base
        # its multiply-accumulates are those of its family, which need the weights (unknown here)
        self.channels_param, self.defines_channels, self.macs = base.channels_param, base.defines_channels, base.macs
        super().__init__(name, base.params, keyword_only=base.keyword_only)

    def output(self, p, shape):
        return None

    def count(self, p):
        return None if self.base.convolution else self.base.count(p)  # a kernel's weights: one per dimension

    def unranked(self, p, u):
        return self.base.unranked(p, u)


class LazyRule(Rule):
    """A lazy layer (nn.LazyConv2d, nn.LazyLinear...): its base layer's rule, with the argument it
    leaves out (in_channels, in_features, num_features) taken from the input it first receives."""

    def __init__(self, name: str, base: Rule, inferred: str, axis: int, **defaults):
        self.base, self.inferred, self.axis = base, inferred, axis
        for fact in ("rank", "spatial", "defines_channels", "convolution", "transposed", "macs"):
            setattr(self, fact, getattr(base, fact))
        params = tuple((k, defaults.get(k, v)) for k, v in base.params if k != inferred)
        super().__init__(name, params, keyword_only=base.keyword_only)

    def given(self, p: dict, shape) -> dict:
        return {**p, self.inferred: shape[self.axis] if shape else UNKNOWN}

    def errors(self, p):
        return self.base.errors({**p, self.inferred: UNKNOWN})

    def output(self, p, shape):
        return self.base.output(self.given(p, shape), shape)

    def windows(self, p, shape):
        return self.base.windows(self.given(p, shape), shape)

    def count(self, p):
        return None  # its weights take their size from the first input
