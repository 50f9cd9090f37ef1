"""Each module built at most twice per file: a class called a third time with the same arguments
(plain values, or values every instance shares: a torch class, a class of the file, a partial of
them) at the same call, in the same context, gets a copy of what the second call built (the
first is not copied: most constructions happen once), and is charged the steps that one took (as
calls.call_pure does for zoo helpers), so what the budget lets a file build stays the same. A timm file's fifty variants build the same blocks with the same widths over and over.

A construction is kept only when nothing outside the new module tree saw it: no ops emitted, no
zoo configuration set, no tensors of a run or closures of its own in the tree."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any, NamedTuple

from ..graph import Layer
from ..sizes import UNKNOWN, Sym
from .values import (
    BUFFER, SOME_NUMBER, ArrayVal, BoundMethod, ClassInfo, ConstTensor, Container, DictVal, EnumMember, Function,
    Instance, Lazy, ListVal, ModuleRef, OneOf, Partial, Qual, SetVal, SizedTensor,
    ValuedTensor, next_serial,
)

MAX_KEPT = 4096  # constructions kept per file
UNSEEN, UNKEEPABLE = object(), object()  # a construction's key not met yet; met, but its tree cannot be kept


class Kept(NamedTuple):
    """A construction as it was first built, copied: its module tree, the layers it registered (in
    order), the helper_layers it left (None: it left the caller's), the steps it took, and what
    tells its own objects from those it shares (born after `serial`; the layers in `layers`)."""

    module: Instance
    registered: list[Layer]
    helper_layers: dict | None
    steps: int
    serial: int
    layers: set[int]


class Unkeyable(Exception):
    """An argument whose identity or contents a key cannot stand for."""


def key_of(value: Any) -> Any:
    """An argument as part of a construction's key (Unkeyable: it cannot be one). Plain values by
    type and value (0, 0.0 and False apart); what every instance shares as itself: a torch name, a
    class or enum member of the code, a function of a module (not a closure), an unknown value;
    a partial by what it holds."""
    kind = type(value)
    if kind in _PLAIN:
        return kind, value
    if kind is tuple:
        return tuple(map(key_of, value))
    if kind in _KEYED_AS_THEMSELVES:
        return value
    if kind is Function and value.env.parent is None:
        return value  # the function itself stays alive in the key: its id is never reused
    if kind is Partial:
        return Partial, key_of(value.func), tuple(map(key_of, value.args)), \
            tuple(sorted((name, key_of(v)) for name, v in value.kwargs.items()))
    raise Unkeyable


class Unkeepable(Exception):
    """The tree holds something a copy would not reproduce."""


_PLAIN = frozenset({int, float, str, bool, type(None)})
_KEYED_AS_THEMSELVES = frozenset({Qual, ClassInfo, EnumMember, ModuleRef, type(UNKNOWN), type(SOME_NUMBER)})
# immutable, or shared by every instance as by the first
_SHARED = frozenset({int, float, str, bool, type(None), bytes, complex, Sym, Qual, ClassInfo, EnumMember, ModuleRef,
                     Lazy, type(UNKNOWN), type(BUFFER), type(SOME_NUMBER)})


class Copier:
    """Copies the objects a construction made (born after `serial`, or a layer it made), sharing
    those that existed before it, as the first construction shared them (`own`: whether a layer is
    one the construction made)."""

    def __init__(self, serial: int, own: Callable[[Layer], bool]) -> None:
        self.serial = serial
        self.own = own
        self.copies: dict[int, Any] = {}

    def __call__(self, value: Any) -> Any:
        kind = type(value)
        if kind in _SHARED:
            return value
        if kind is tuple:
            return tuple(map(self, value))
        done = self.copies.get(id(value))
        if done is not None:
            return done
        if kind is Layer:
            if not self.own(value):
                return value
            copy = replace(value, params=dict(value.params) if value.params is not None else None, attrs={})
            self.copies[id(value)] = copy
            copy.attrs.update({k: self(v) for k, v in value.attrs.items()})
            return copy
        if kind is Instance:
            if value.born <= self.serial:
                return value
            copy = replace(value, attrs={}, children=None, child_names=list(value.child_names), order=list(value.order),
                           born=next_serial(), base=None)
            self.copies[id(value)] = copy
            copy.attrs.update({k: self(v) for k, v in value.attrs.items()})
            copy.children = None if value.children is None else [self(c) for c in value.children]
            copy.base = self(value.base)
            return copy
        if kind is Container:
            if value.born <= self.serial:
                return value
            copy = replace(value, children=[], keys=None if value.keys is None else list(value.keys), attrs={},
                           born=next_serial())
            self.copies[id(value)] = copy
            copy.children.extend(map(self, value.children))
            copy.attrs.update({k: self(v) for k, v in value.attrs.items()})
            return copy
        if kind is ListVal or kind is SetVal:
            if value.born <= self.serial:
                return value
            copy = kind([], born=next_serial(), lost=value.lost)
            self.copies[id(value)] = copy
            copy.items.extend(map(self, value.items))
            return copy
        if kind is DictVal:
            if value.born <= self.serial:
                return value
            copy = DictVal(list(map(self, value.keys)), [], born=next_serial(), lost=value.lost, maybe=set(value.maybe))
            self.copies[id(value)] = copy
            copy.values.extend(map(self, value.values))
            return copy
        if kind is ConstTensor or kind is ValuedTensor:  # an nn.Parameter is counted once per object
            copy = self.copies[id(value)] = replace(value, owner=self(value.owner))
            return copy
        if kind is SizedTensor and value.parameter is not None:  # of sizes not followed, none read off a run
            copy = self.copies[id(value)] = replace(value)
            return copy
        if kind is Function:
            if value.env.parent is not None:
                raise Unkeepable  # a closure made in the constructor would still see the first module
            return value
        if kind is BoundMethod:
            return BoundMethod(self(value.self_value), self(value.func))
        if kind is Partial:
            return Partial(self(value.func), list(map(self, value.args)), {k: self(v) for k, v in value.kwargs.items()})
        if kind is OneOf:
            return OneOf(tuple(map(self, value.options)))
        if kind is ArrayVal:
            return ArrayVal(list(value.items))
        raise Unkeepable  # tensors of a model's run, views of them: they belong to the first build


def keep(module: Instance, registered: list[Layer], helper_layers: dict | None, steps: int, serial: int,
         own: Callable[[Layer], bool]) -> Kept:
    """What a construction built, copied before anyone changes it (Unkeepable: it cannot be)."""
    serial_now = next_serial()
    copier = Copier(serial, own)
    module, registered, helper_layers = _copy(copier, module, registered, helper_layers)
    own = {id(copy) for copy in copier.copies.values() if type(copy) is Layer}
    return Kept(module, registered, helper_layers, steps, serial_now, own)


def copy_kept(kept: Kept) -> tuple[Instance, list[Layer], dict | None]:
    """A fresh copy of a kept construction: the module, its registered layers in order, and the
    helper_layers it leaves."""
    return _copy(Copier(kept.serial, lambda layer: id(layer) in kept.layers), kept.module, kept.registered, kept.helper_layers)


def _copy(copier: Copier, module: Instance, registered: list[Layer], helper_layers: dict | None):
    module = copier(module)
    registered = [copier(layer) for layer in registered]
    if helper_layers is not None:
        helper_layers = {node: [copier(layer) for layer in layers] for node, layers in helper_layers.items()}
    return module, registered, helper_layers
