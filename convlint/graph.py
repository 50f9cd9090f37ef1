"""The model representation: what extraction produces and propagation reads.

A `Model` is a straight-line program over tensor values. Extraction has already
unrolled loops, inlined helpers and sub-modules, and turned both arms of an
uncertain `if` into a `join`; what remains is a list of `Op`s, each reading
tensor values by number and writing one new value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import ast

MODEL_INPUT = 0  # the value number of the tensor a model is called with


@dataclass(eq=False)
class Layer:
    """A torch.nn layer as the source constructs it."""

    kind: str  # torch.nn class name, e.g. "Conv2d"
    params: dict[str, Any] | None  # bound arguments (None: the call does not bind)
    node: ast.AST  # the constructor call
    site: ast.AST  # where a mistake in it is reported: node, or the helper call that made it
    speculative: bool = False  # built in an arm of a branch we could not decide
    attrs: dict[str, Any] = field(default_factory=dict)  # other attributes the code set on it afterwards
    file: str | None = None  # the other file whose code built it (its node is a node of that file)
    via: ast.AST | None = None  # the innermost call of this file's code that led to this construction
    entry: ast.AST | None = None  # the call that made the config object of the loop iteration that built it
    guessed: bool = False  # built for a model made from its defaults alone, some argument (or **kwargs) made up
    functional: bool = False  # a function's call (F.layer_norm(x, shape, self.weight)): weights it is given are a module's


@dataclass(eq=False)
class Op:
    """One step of a model: `output = <kind>(*inputs)`, with `args` as its kind reads them.

    The kinds are the keys of `propagate.OPS`, each with its shape rule: "layer" applies `layer`
    (a torch.nn layer, or a function or tensor method mapped to one in `layers`); any other kind
    ("unknown", "input") has an unknown result.
    """

    kind: str
    inputs: tuple[int, ...]
    output: int
    node: ast.AST
    layer: Layer | None = None
    args: dict[str, Any] = field(default_factory=dict)
    speculative: bool = False  # in an arm of a branch we could not decide: may never run
    scope: Any = None  # the module (container or instance) whose forward emitted it; None: the model's own
    origin: tuple[str, int] | None = None  # (file, line) of the code that emitted it, when another file's


@dataclass(frozen=True)
class _Batch:
    """The batch size, as `x.size(0)` or `x.shape[0]` yields it; `source`: the tensor value it was
    read from (once frames are folded into a batch, batches differ: whose it is tells which)."""

    source: int | None = None

    def __repr__(self) -> str:
        return "BATCH"


BATCH = _Batch()


def is_batch(value: Any) -> bool:
    return isinstance(value, _Batch)


def batch_of(value: int) -> _Batch:
    """The batch size of tensor value `value`."""
    return _Batch(value)


@dataclass(frozen=True)
class DimOf:
    """`x.size(axis)` of tensor value `value`, resolved during propagation (axis counts the batch;
    `rank`: the batched rank the code read it at, as `b, c, h, w = x.shape` states it: at any other
    rank the size is unknown)."""

    value: int
    axis: int
    rank: int | None = None


@dataclass(frozen=True)
class SizeOf:
    """Arithmetic over sizes read from tensors (`c * h * w`, `h // p`), resolved with them during
    propagation: op is "+", "-", "*", "//" or "%", each side an int, a DimOf or a SizeOf."""

    op: str
    left: Any
    right: Any


def is_read_size(value: Any) -> bool:
    """A size read from a tensor, or arithmetic over one (not BATCH: its value is never known)."""
    return isinstance(value, (DimOf, SizeOf))


@dataclass(eq=False)
class Model:
    name: str
    node: ast.AST  # the statement that defines it: assignment, def or class
    declared_input: tuple[int, ...] | None
    ops: list[Op]
    output: int | None = None
    layers: list[Layer] = field(default_factory=list)  # every layer constructed, applied or not
    errors: list[tuple[ast.AST, str, str]] = field(default_factory=list)  # (node, check name, message) found while extracting
    registered: list[Layer] = field(default_factory=list)  # the layers torch's model.parameters() reaches, called or not
    registered_complete: bool = False  # registered is all of them (nothing unfollowed may hold more)
    training: bool = False  # run in training mode: a second run of a model whose forward reads self.training
    part_of: str | None = None  # a sub-module the model's run never called, run on its own (name: model.path)
    paths: dict[int, str] = field(default_factory=dict)  # id of a module value -> its name in torch's named_modules() ("" the model)
    kinds: dict[str, str] = field(default_factory=dict)  # module path -> its class name ("Sequential", "BasicBlock")
    sites: dict[str, Any] = field(default_factory=dict)  # module path -> the call that built it, when known
    inside: str | None = None  # another model of the file has this one among its sub-modules (a block, a helper's)
    configured: tuple[tuple, str] | None = None  # (the input a zoo configures it for, what says so): State.configured

    @property
    def root(self) -> bool:
        """A model the file defines for use: not a part of another model. `--input` is the input of
        these only (a block's input is what the model around it gives it)."""
        return self.part_of is None and self.inside is None
