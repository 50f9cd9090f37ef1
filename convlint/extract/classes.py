"""Classes and instances of the code being read: attribute lookup along the MRO (methods,
static and class methods, properties, Enum members), construction, and `super()`."""

from __future__ import annotations

import ast
from typing import Any

from .. import layers as L
from ..graph import Layer
from ..sizes import UNKNOWN
from ..syntax import dotted_name
from . import memo, tensors, zoo
from .nn import ABSENT, CONTAINER_METHODS, inherits_forward, layer_attribute, layer_class, torch_class
from .state import MAX_CALL_DEPTH, STEP_BUDGET
from .values import (
    MISSING, ArrayVal, BoundMethod, ClassInfo, ConstTensor, Container, DictVal, EnumMember, Function, Instance, Lazy,
    ListVal, MethodRef, ModuleRef, Partial, Qual, Raise, ShapeOf, SizedTensor, Super, Tensor, is_enum, is_lost,
    known, next_serial,
)

METHOD_DECORATORS = {
    "staticmethod": "staticmethod", "classmethod": "classmethod", "property": "property",
    "cached_property": "property", "functools.cached_property": "property",
}


def method_kind(node: ast.FunctionDef) -> str | None:
    """How a class attribute defined by `def` behaves: "staticmethod", "classmethod", "property",
    "unknown" (a property's setter or deleter, which replaces it) or None (a plain method; other
    decorators, such as torch.jit's, are taken to return the function as it is)."""
    for decorator in node.decorator_list:
        name = dotted_name(decorator)
        if name is None:
            continue
        if name in METHOD_DECORATORS:
            return METHOD_DECORATORS[name]
        if name.endswith((".setter", ".deleter", ".getter")):
            return "unknown"
    return None


AUTOGRAD_FUNCTIONS = ("torch.autograd.Function", "torch.autograd.function.Function")  # (a memory-efficient Swish's)


class Classes:
    """Attributes, instances and super() (a mixin of the Extractor)."""

    def attribute(self, owner: Any, name: str, node: ast.AST | None = None) -> Any:
        if type(owner) is Instance:  # the commonest owner (`self.`) first; no class derives from Instance
            if name in owner.attrs:
                return owner.attrs[name]
            value = owner.cls.lookup(name)
            if isinstance(value, Function):
                kind = method_kind(value.node)
                if kind == "staticmethod":
                    return value
                if kind == "classmethod":
                    return BoundMethod(owner.cls, value)
                if kind == "property":
                    return UNKNOWN if node is None else self.call_function(value, [owner], {}, node)
                return UNKNOWN if kind == "unknown" else BoundMethod(owner, value)
            if value is not None:
                return value
            if owner.base is not None:
                value = layer_attribute(owner.base, name)
                if value is not ABSENT:
                    return value
            if name == "training" and self.mode is not None and owner.cls.torch_base() is not None:
                self.mode_read = True  # the model's forward depends on its mode: it is built in both
                return self.mode
            hook = zoo.item_hook(self, owner, zoo.CLASS_ATTRIBUTES)  # a zoo class's __getattr__
            value = None if hook is None else hook(self, owner, name)
            return MethodRef(owner, name) if value is None else value
        if owner is UNKNOWN:  # (no case below takes it)
            return UNKNOWN
        if isinstance(owner, ModuleRef):
            if owner.name is not None:
                dotted = f"{owner.name}.{name}"
                if self.importable(dotted):
                    value = self.imported(dotted)  # a submodule (`torchvision.models.detection`) or a hook
                    return self.resolve(value) if type(value) is Lazy else value
            return self.module_attr(owner.globals, name, owner.path)
        if isinstance(owner, Qual):
            if name == "__name__" and torch_class(owner.name) is not None:
                return torch_class(owner.name)
            value = self.imported(f"{owner.name}.{name}")
            return self.resolve(value) if type(value) is Lazy else value
        if isinstance(owner, Partial):  # timm's get_norm_layer unbinds a partial to rebind it
            if name == "func":
                return owner.func
            if name == "args":
                return tuple(owner.args)
            if name == "keywords":
                return DictVal(list(owner.kwargs), list(owner.kwargs.values()))
            return UNKNOWN
        if isinstance(owner, EnumMember):
            if name in ("value", "_value_"):
                return owner.value
            if name in ("name", "_name_"):
                return owner.name
            value = owner.cls.lookup(name)
            if isinstance(value, Function):
                kind = method_kind(value.node)
                if kind == "property":
                    return UNKNOWN if node is None else self.call_function(value, [owner], {}, node)
                if kind == "staticmethod":
                    return value
                if kind == "unknown":
                    return UNKNOWN
                return BoundMethod(owner.cls if kind == "classmethod" else owner, value)
            return UNKNOWN
        if isinstance(owner, (ClassInfo, Function)) and name == "__name__":
            return owner.node.name
        if isinstance(owner, ClassInfo):
            value = owner.lookup(name)
            if is_enum(owner) and name in owner.attrs and not name.startswith("_") \
                    and not isinstance(value, (Function, ClassInfo)):
                member = owner.members.get(id(value))
                if member is None:  # aliases (DEFAULT = V1) are the same member
                    member = owner.members[id(value)] = EnumMember(owner, name, value)
                return member
            if isinstance(value, Function):
                kind = method_kind(value.node)
                if kind == "classmethod":
                    return BoundMethod(owner, value)
                if kind in ("property", "unknown"):
                    return UNKNOWN
            if value is None and name == "apply" and owner.derives_from(*AUTOGRAD_FUNCTIONS):
                forward = owner.lookup("forward")
                if isinstance(forward, Function) and method_kind(forward.node) == "staticmethod":
                    # what apply returns is what the static forward does to the arguments; its ctx keeps
                    # what backward reads, nothing the forward pass sees
                    return Partial(forward, [Qual(tensors.FUNCTION_CTX)], {})
            return UNKNOWN if value is None else value
        if isinstance(owner, Tensor):
            if name == "shape":
                return ShapeOf(owner)
            if name == "ndim":  # x.dim() as an attribute (smp's channels-first LayerNorm branches on it)
                rank = self.rank_of(owner)
                return UNKNOWN if rank is None else rank
            return MethodRef(owner, name)
        if isinstance(owner, (ConstTensor, SizedTensor)):  # a parameter of known shape, a mask of read sizes
            return owner.shape if name == "shape" else MethodRef(owner, name)
        if isinstance(owner, Layer) and name in owner.attrs:
            return owner.attrs[name]
        if isinstance(owner, Layer) and (value := layer_attribute(owner, name)) is not ABSENT:
            return value
        if isinstance(owner, Container) and name in owner.attrs:
            return owner.attrs[name]
        if isinstance(owner, Container) and owner.keys is not None and name in owner.keys and not is_lost(owner) \
                and name not in CONTAINER_METHODS:
            return owner.children[owner.keys.index(name)]  # a named child (`self.layer0.pool`), as torch's __getattr__
        if isinstance(owner, (ListVal, DictVal, Container, Super, ArrayVal, str)):
            return MethodRef(owner, name)
        return UNKNOWN

    def enum_members(self, cls: ClassInfo) -> list | None:
        """The members of an Enum class, each with a known value (None: some value is not known)."""
        members = [self.attribute(cls, name) for name, value in cls.attrs.items()
                   if not name.startswith("_") and not isinstance(value, (Function, ClassInfo))]
        return members if all(isinstance(m, EnumMember) and known(m.value) for m in members) else None

    def enum_lookup(self, cls: ClassInfo, args, kwargs) -> Any:
        """`Mode("linear")`: the member of that value (a member given is itself); a ValueError else."""
        members = self.enum_members(cls)
        if len(args) != 1 or kwargs or members is None:
            return UNKNOWN
        value = args[0]
        if isinstance(value, EnumMember):
            return value if value.cls is cls else UNKNOWN
        if not known(value):
            return UNKNOWN
        found = next((m for m in members if m.value == value), None)
        if found is None:
            if cls.lookup("_missing_") is not None:
                return UNKNOWN  # its own answer for a value no member has
            raise Raise
        return found

    def instantiate(self, cls: ClassInfo, args, kwargs, node, defaults_only=False) -> Any:
        if is_enum(cls):
            return self.enum_lookup(cls, args, kwargs)
        key = self.construction_key(cls, args, kwargs, node, defaults_only)
        if key is None:
            return self.build_instance(cls, args, kwargs, node, defaults_only)
        kept = self.constructions.get(key, memo.UNSEEN)
        if kept is memo.UNSEEN:  # most constructions happen once: only a second one is kept
            if len(self.constructions) < memo.MAX_KEPT:
                self.constructions[key] = None
            return self.build_instance(cls, args, kwargs, node, defaults_only)
        if type(kept) is memo.Kept and self.steps + kept.steps <= STEP_BUDGET:
            instance, registered, helper_layers = memo.copy_kept(kept)
            for layer in registered:
                self.layers[id(layer)] = layer
                self.layer_log.append(id(layer))
            if helper_layers is not None:
                self.helper_layers = helper_layers
            self.steps += kept.steps
            return instance
        serial, steps, built, ops = next_serial(), self.steps, len(self.layer_log), self.counter
        helper_layers, configured, oldest_changed = self.helper_layers, self.configured, self.oldest_changed
        self.oldest_changed = float("inf")
        try:
            instance = self.build_instance(cls, args, kwargs, node, defaults_only)
        finally:
            changed_older = self.oldest_changed <= serial
            self.oldest_changed = min(oldest_changed, self.oldest_changed)
        if kept is None:
            self.constructions[key] = memo.UNKEEPABLE
            if type(instance) is Instance and self.counter == ops and self.configured is configured \
                    and not changed_older:
                new = set(self.layer_log[built:])
                registered = [self.layers[i] for i in self.layer_log[built:]]
                left = None if self.helper_layers is helper_layers else self.helper_layers
                try:
                    self.constructions[key] = memo.keep(instance, registered, left, self.steps - steps, serial,
                                                        lambda layer: id(layer) in new or id(layer) not in self.layers)
                except memo.Unkeepable:
                    pass
        return instance

    def construction_key(self, cls: ClassInfo, args, kwargs, node, defaults_only) -> tuple | None:
        """What a construction's result depends on besides the code: its arguments (memo.key_of), and
        where and in what context it is built (which decides where its layers report, and at what
        depth of undecided branches); None when it is not kept (arguments a key cannot stand for, no
        __init__ of its own)."""
        if not isinstance(cls.lookup("__init__"), Function) or dataclass_init(cls) is not None:
            return None
        try:
            arguments = memo.key_of(tuple(args)), memo.key_of(tuple(sorted(kwargs.items())))
        except memo.Unkeyable:
            return None
        return (cls, node, arguments, defaults_only, self.guessing, self.speculative,
                self.foreign_site, self.code_file, self.call_stack[-1] if self.call_stack else None, self.config_entry(),
                self.depth, tuple(self.catching), self.mode, self.helper_site is None)

    def build_instance(self, cls: ClassInfo, args, kwargs, node, defaults_only=False) -> Any:
        instance = Instance(cls, site=self.foreign_site or node)
        base = cls.torch_base()
        if base in ("Sequential", "ModuleList", "ModuleDict"):
            instance.children = []
        made = dataclass_init(cls)
        if made is not None:
            return instance if self.init_dataclass(made, instance, args, kwargs, node, defaults_only) else UNKNOWN
        init = cls.lookup("__init__")
        if isinstance(init, Function):
            result = self.call_function(init, [instance, *args], kwargs, node, defaults_only)
            if result is UNKNOWN and self.depth >= MAX_CALL_DEPTH:
                return UNKNOWN
        elif base in ("Sequential", "ModuleList"):
            instance.children = list(args)
        elif layer_class(base):  # a subclass of a torch layer that keeps its constructor
            if defaults_only and L.bind(base, list(args), dict(kwargs)) is None:
                instance.base = Layer(base, None, node, node, guessed=True)  # its required arguments are not known
            else:
                instance.base = self.construct(base, args, kwargs, node)
        return instance

    def init_dataclass(self, cls: ClassInfo, instance: Instance, args, kwargs, node, defaults_only) -> bool:
        """The __init__ @dataclass makes: each field from its argument, else its default; then
        __post_init__. False where Python would raise a TypeError."""
        fields = {}
        for klass in reversed(list(cls.mro())):  # a base's fields first; a subclass redefines in place
            for data_field in klass.fields or ():
                fields[data_field.name] = data_field
        params = [f.name for f in fields.values() if f.init]
        if len(args) > len(params) or any(k not in params for k in kwargs):
            return False
        given = {**dict(zip(params, args)), **kwargs}
        if len(given) < len(args) + len(kwargs):
            return False  # one field given twice
        for data_field in fields.values():
            if data_field.name in given:
                value = given[data_field.name]
            elif data_field.default is not MISSING:
                value = data_field.default
            elif data_field.factory is not None:
                value = self.invoke(data_field.factory, [], {}, node)
            elif not data_field.init:
                continue  # set by __post_init__, if at all
            elif defaults_only:
                value = UNKNOWN
            else:
                return False
            self.set_attr(instance, data_field.name, value)
        post = cls.lookup("__post_init__")
        if isinstance(post, Function):
            self.call_function(post, [instance], {}, node)
        return True

    def defining_class(self, cls: ClassInfo, func: Function) -> ClassInfo:
        for candidate in cls.mro():
            if any(v is func or (isinstance(v, Function) and v.node is func.node) for v in candidate.attrs.values()):
                return candidate
        return cls

    def torch_forward(self, sup: Super, args, kwargs, node) -> Any:
        """`super().forward(x)` reaching torch's own: a torch layer subclass's layer, an
        nn.Sequential's children in order (monai's `WrappedUpsample(Upsample)`); else unknown."""
        instance = sup.instance
        if instance.base is not None and inherits_forward(instance):
            return self.apply(instance.base, args, kwargs, node)
        if instance.base is None and sup.cls.torch_base() == "Sequential" and instance.children is not None \
                and not instance.opaque and len(args) == 1 and not kwargs:
            return self.fold(instance.children, args[0], node)
        return self.unknown_result(args, kwargs, node)

    def call_super(self, sup: Super, name: str, args, kwargs, node) -> Any:
        for base in sup.cls.bases:
            made = dataclass_init(base) if isinstance(base, ClassInfo) and name == "__init__" else None
            if made is not None:  # super().__init__(...) into the __init__ a @dataclass generated
                self.init_dataclass(made, sup.instance, args, kwargs, node, False)
                return None
            if isinstance(base, ClassInfo):
                method = base.lookup(name)
                if isinstance(method, Function):
                    saved = self.current_class
                    try:
                        return self.call_function(method, [sup.instance, *args], kwargs, node)
                    finally:
                        self.current_class = saved
                if name == "forward" and method is None and base.torch_base() is not None:
                    return self.torch_forward(sup, args, kwargs, node)  # a subclass of a Sequential subclass
            elif isinstance(base, Qual) and name == "forward":
                return self.torch_forward(sup, args, kwargs, node)
            elif isinstance(base, Qual) and name == "__init__":
                kind = base.name.rsplit(".", 1)[1]
                instance = sup.instance
                if layer_class(torch_class(base.name)):  # super().__init__(c) of a torch layer's subclass
                    instance.base = self.construct(kind, args, kwargs, node)
                    return None
                if kind in ("Sequential", "ModuleList", "ModuleDict") and instance.children is not None:
                    if len(args) == 1 and isinstance(args[0], DictVal) and (args[0].lost or args[0].maybe):
                        instance.children, instance.opaque = None, True
                    elif len(args) == 1 and isinstance(args[0], DictVal):
                        instance.children[:] = list(args[0].values)
                        instance.child_names[:] = list(args[0].keys)
                    elif kind == "ModuleDict":
                        items = self.iterate(args[0]) if args else []
                        pairs = [self.iterate(p) for p in items] if items is not None else [None]
                        if any(p is None or len(p) != 2 for p in pairs):
                            instance.children, instance.opaque = None, True
                        else:
                            instance.children[:] = [p[1] for p in pairs]
                            instance.child_names[:] = [p[0] for p in pairs]
                    elif kind == "ModuleList" and args:
                        items = self.iterate(args[0])
                        instance.children[:] = items if items is not None else []
                        instance.child_names[:] = [str(i) for i in range(len(instance.children))]
                    else:
                        instance.children[:] = list(args)
                        instance.child_names[:] = [str(i) for i in range(len(args))]
                return None
        return None


def dataclass_init(cls: ClassInfo) -> ClassInfo | None:
    """The @dataclass whose generated __init__ a new instance of `cls` runs (None: a written
    __init__ comes first in the MRO, or there is none)."""
    for klass in cls.mro():
        if isinstance(klass.attrs.get("__init__"), Function):
            return None
        if klass.fields is not None:
            return klass
    return None
