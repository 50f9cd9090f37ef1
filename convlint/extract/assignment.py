"""Binding values to targets: names, attributes (a module registers its sub-modules), subscripts,
unpacking, and `del`."""

from __future__ import annotations

import ast
from typing import Any

from .. import layers as L
from ..graph import DimOf, Layer, batch_of
from ..sizes import UNKNOWN
from . import fixed
from .nn import module_kind
from .values import (
    ConstTensor, Container, DictVal, Env, Instance, ListVal, Pieces, ShapeOf, ValuedTensor, as_param, int_value, is_lost,
    known, lose,
)


class Assignment:
    """Assigning and deleting (a mixin of the Extractor)."""

    def assign(self, target: ast.AST, value: Any, env: Env) -> None:
        kind = type(target)
        if kind is ast.Name:
            env.vars[target.id] = value
        elif kind is ast.Tuple or kind is ast.List:
            elements = target.elts
            items = self.unpack(value, len(elements))
            for i, element in enumerate(elements):
                if type(element) is ast.Starred:
                    self.havoc_target(element.value, env)
                else:
                    self.assign(element, items[i] if items is not None else UNKNOWN, env)
        elif kind is ast.Attribute:
            owner = self.ev(target.value, env)
            if isinstance(owner, Instance):
                self.set_attr(owner, target.attr, value)
            elif isinstance(owner, Layer):
                self.set_layer_attr(owner, target.attr, value)
            elif isinstance(owner, Container) and not is_lost(owner) and module_kind(value):
                self.set_child(owner, target.attr, value)  # `model.features.conv0 = nn.Conv2d(1, 64, 7)`
            elif isinstance(owner, Container) and not is_lost(owner) and module_kind(value) is False:
                self.touch(owner, target.attr)
                owner.attrs[target.attr] = value  # torchvision's detection recipes: `backbone.out_channels = 1280`
            elif isinstance(owner, Container):
                owner.attrs.pop(target.attr, None)  # a value we do not know replaces the one we did
        elif kind is ast.Subscript:
            owner = self.ev(target.value, env)
            key = self.subscript_key(target, env)
            if isinstance(owner, DictVal) and not owner.lost and known(key):
                self.touch(owner, key)
                owner.maybe.discard(key)
                owner.put(key, value)
            elif isinstance(owner, ListVal) and not owner.lost and int_value(key) and -len(owner.items) <= key < len(owner.items):
                self.touch(owner)
                owner.items[key] = value
            elif isinstance(owner, Container) and not is_lost(owner):
                self.set_item(owner, key, value)
            elif isinstance(owner, Instance):
                self.set_instance_item(owner, key, value)
            elif isinstance(owner, (ListVal, DictVal)):
                self.havoc_target(target.value, env)
            elif isinstance(owner, ValuedTensor) and type(target.value) is ast.Name:
                # `t[:, 0] += 6` writes into t: its values are no longer these (torch keeps its dtype)
                self.assign(target.value, ConstTensor(owner.shape, integral=fixed.integral(owner)), env)

    def set_item(self, owner: Container, key: Any, value: Any) -> None:
        """`model.classifier[1] = nn.Linear(1280, 10)`, `blocks["head"] = ...`: torch replaces that
        child (a ModuleDict adds a new key); anything else leaves its contents unknown."""
        if not module_kind(value):
            lose(owner, None)
        elif owner.kind in ("Sequential", "ModuleList") and int_value(key) and -len(owner.children) <= key < len(owner.children):
            self.touch(owner)
            owner.children[key] = value
        elif owner.kind == "ModuleDict" and isinstance(key, str):
            self.set_child(owner, key, value)
        else:
            lose(owner, None)

    def set_instance_item(self, owner: Instance, key: Any, value: Any) -> None:
        """`model.features[0][0] = nn.Conv2d(1, 32, 3)` on a Sequential subclass: its child by
        position (or by name); anything else leaves what it holds unknown."""
        names = owner.child_names if owner.children is not None else []
        base = owner.cls.torch_base() if owner.cls.lookup("__setitem__") is None else None  # (its own: unknown)
        if base in ("Sequential", "ModuleList") and int_value(key) and -len(names) <= key < len(names) \
                and module_kind(value):
            self.set_attr(owner, names[key], value)
        elif base == "ModuleDict" and isinstance(key, str) and module_kind(value):
            self.set_attr(owner, key, value)
        else:
            lose(owner, None)

    def set_child(self, owner: Container, name: str, value: Any) -> None:
        """A module set under a name: the child of that name replaced, else a new last child."""
        self.touch(owner)
        names = owner.keys if owner.keys is not None else [str(i) for i in range(len(owner.children))]
        if name in names:
            owner.children[names.index(name)] = value
        else:
            names.append(name)
            owner.children.append(value)
        owner.keys = names

    def set_layer_attr(self, layer: Layer, name: str, value: Any) -> None:
        """`pool.ceil_mode = True`: the layer's forward reads the new value. Sizes fixed at
        construction (a Conv's in_channels: its weight keeps the old shape) become unknown, and so
        does anything changed in an arm of an undecided branch (the change is shared by both arms)."""
        if layer.params is None or name not in layer.params:
            layer.attrs[name] = value if self.speculative == 0 else UNKNOWN
            return
        if name in L.FORWARD_READ and self.speculative == 0:
            layer.params[name] = as_param(value)
        else:
            layer.params[name] = UNKNOWN

    def set_attr(self, owner: Instance, name: str, value: Any) -> None:
        """torch registers a module assigned to an attribute as a child, in assignment order."""
        self.touch(owner, name)
        # (an instance of a class that is no module, timm's FeatureInfo, is a plain attribute)
        child = owner.children is not None and isinstance(value, (Layer, Container, Instance)) \
            and module_kind(value) is not False
        if child:
            self.touch(owner)
        if module_kind(value) and name not in owner.order:
            owner.order.append(name)
        if child:
            if name in owner.child_names:
                owner.children[owner.child_names.index(name)] = value
            else:
                owner.child_names.append(name)
                owner.children.append(value)
        owner.attrs[name] = value

    def unpack(self, value: Any, count: int) -> list | None:
        if isinstance(value, Pieces):  # `a, b = x.chunk(2, 1)`: exactly `count` pieces, or it raises
            if value.count is not None and value.count != count:
                return None
            return [self.piece(value, i, count) for i in range(count)]
        if isinstance(value, ShapeOf):
            return [batch_of(value.tensor.value)] + [DimOf(value.tensor.value, i, count) for i in range(1, count)]
        items = self.iterate(value)
        return items if items is not None and len(items) == count else None

    def delete(self, target: ast.AST, env: Env) -> None:
        """`del d[key]` removes a known key; anything else deleted is forgotten."""
        if type(target) in (ast.Tuple, ast.List):
            for element in target.elts:
                self.delete(element, env)
            return
        if type(target) is ast.Subscript:
            owner = self.ev(target.value, env)
            key = self.subscript_key(target, env)
            if isinstance(owner, (ListVal, DictVal, Container)):
                self.touch(owner)
            if isinstance(owner, DictVal) and owner.maybe:
                owner.lost = True
            if is_lost(owner):
                return
            if isinstance(owner, DictVal) and known(key) and key in owner.keys:
                index = owner.keys.index(key)
                del owner.keys[index], owner.values[index]
                return
            if isinstance(owner, ListVal) and int_value(key) and -len(owner.items) <= key < len(owner.items):
                del owner.items[key]
                return
            if isinstance(owner, Container) and owner.kind in ("Sequential", "ModuleList") and int_value(key) \
                    and -len(owner.children) <= key < len(owner.children):
                del owner.children[key]
                if owner.keys is not None:
                    del owner.keys[key]
                return
        self.havoc_target(target, env)

    def bind_name(self, alias: ast.alias, value: Any, env: Env) -> None:
        name = alias.asname or alias.name
        if "." not in name:
            env.vars[name] = value
