"""The static values the interpreter computes with: Python constants (as they are), containers,
functions, classes and instances of the code it reads, torch layers and tensors; the signals of
control flow; and the predicates every room of the interpreter asks of a value."""

from __future__ import annotations

import ast
import itertools
from dataclasses import dataclass, field
from typing import Any

from ..sizes import UNKNOWN


@dataclass(frozen=True)
class NamesOf:
    """`dir(torch.nn.functional)`: what is known of it is that some names are in it."""

    module: str


@dataclass(frozen=True)
class Tensor:
    value: int  # the value number in the model being built


@dataclass(frozen=True)
class Qual:
    """A reference into torch or another known module: 'torch.nn.Conv2d'."""

    name: str


SERIAL = itertools.count()  # creation order of mutable values (see Extractor.speculation)


def next_serial() -> int:
    return next(SERIAL)


@dataclass(eq=False)
class Container:
    """nn.Sequential / nn.ModuleList / nn.ModuleDict (kind "Unknown": we lost track of its contents)."""

    kind: str
    children: list
    node: ast.AST
    keys: list | None = None
    born: int = field(default_factory=next_serial)
    attrs: dict = field(default_factory=dict)  # what the code set on it that is not a module (`backbone.out_channels = 512`)


@dataclass(eq=False)
class ListVal:
    items: list
    born: int = field(default_factory=next_serial)
    lost: bool = False  # changed in an arm of an undecided branch: its contents are unknown


@dataclass(eq=False)
class SetVal(ListVal):
    """A set display or comprehension (`{BatchNormAct2d, GroupNormAct}`): what it holds answers `in`;
    its order is Python's hashing, so it is not iterated, and any method call loses it."""


@dataclass(eq=False)
class DictVal:
    keys: list
    values: list
    born: int = field(default_factory=next_serial)
    lost: bool = False  # changed in an arm of an undecided branch: its contents are unknown
    maybe: set = field(default_factory=set)  # keys set in such an arm only: perhaps absent (values UNKNOWN)
    open: bool = False  # the **kwargs of a model built from its defaults: what its caller would give there

    def put(self, key: Any, value: Any) -> None:
        """`d[key] = value` as Python does it: a known key present is replaced in place, else appended."""
        if known(key) and key in self.keys:
            self.values[self.keys.index(key)] = value
        else:
            self.keys.append(key)
            self.values.append(value)


@dataclass(eq=False)
class Function:
    node: ast.FunctionDef  # or AsyncFunctionDef
    env: Env
    foreign: str | None = None  # the other file that defines it


ABSENT_BASE = object()


@dataclass(eq=False)
class ClassInfo:
    node: ast.ClassDef
    bases: list
    attrs: dict[str, Any]
    env: Env
    foreign: str | None = None  # the other file that defines it
    members: dict = field(default_factory=dict)  # an Enum's members, by id of their value
    fields: list | None = None  # a @dataclass's own fields (DataField), in order, when it makes __init__

    @property
    def name(self) -> str:
        return self.node.name

    def lookup(self, name: str) -> Any:
        for cls in self.mro():
            if name in cls.attrs:
                return cls.attrs[name]
        return None

    def mro(self) -> tuple[ClassInfo, ...]:
        """The class and its bases, breadth first (computed once: a class's bases never change)."""
        found = self.__dict__.get("_mro")
        if found is None:
            order: list[ClassInfo] = []
            stack = [self]
            while stack:
                cls = stack.pop(0)
                if any(cls is seen for seen in order):
                    continue
                order.append(cls)
                stack.extend(b for b in cls.bases if isinstance(b, ClassInfo))
            found = self._mro = tuple(order)
        return found

    def derives_from(self, *names: str) -> bool:
        """Whether a base of it or of a class it derives from is one of these qualified names."""
        return any(isinstance(base, Qual) and base.name in names for cls in self.mro() for base in cls.bases)

    def torch_base(self) -> str | None:
        """The torch.nn container or Module this class ultimately derives from, if any."""
        found = self.__dict__.get("_torch_base", ABSENT_BASE)
        if found is ABSENT_BASE:
            found = self._torch_base = next((base.name.rsplit(".", 1)[1] for cls in self.mro() for base in cls.bases
                                             if isinstance(base, Qual) and base.name.startswith("torch.nn.")), None)
        return found


@dataclass(frozen=True)
class DataField:
    """One field of a @dataclass: its default (MISSING: none) or the factory that makes it."""

    name: str
    default: Any
    factory: Any = None
    init: bool = True


MISSING = object()  # a dataclass field without a default


@dataclass(eq=False)
class EnumMember:
    """`Color.RED` of an Enum class: an instance of the class, whose `.value` is what the body assigned."""

    cls: ClassInfo
    name: str
    value: Any


@dataclass(eq=False)
class Instance:
    cls: ClassInfo
    attrs: dict[str, Any] = field(default_factory=dict)
    children: list | None = None  # for subclasses of nn.Sequential / ModuleList / ModuleDict
    child_names: list = field(default_factory=list)
    opaque: bool = False  # something we could not follow changed it
    born: int = field(default_factory=next_serial)
    order: list = field(default_factory=list)  # attribute names of its sub-modules, in registration order
    loose: bool = False  # code we could not follow may have set attributes on it
    site: Any = None  # the call that built it (the local call into another file's code, as Layer.site)
    base: Any = None  # a subclass of a torch layer: the Layer its base class's constructor made (its parameters)


@dataclass(eq=False)
class OneOf:
    """One of the modules the arms of a branch we could not decide built (timm's `DropPath(p) if
    p > 0. else nn.Identity()`, p from a schedule of tensors): calling it runs each, as an arm,
    and keeps what their results agree on."""

    options: tuple


@dataclass(eq=False)
class BoundMethod:
    self_value: Any
    func: Function


def forward_of(instance: Instance) -> Any:
    """The forward a call of the instance runs: `self.forward = self.forward_split_cat` in its
    __init__ (timm's fasternet) overrides the class's."""
    bound = instance.attrs.get("forward")
    if isinstance(bound, BoundMethod) and bound.self_value is instance:
        return bound.func
    return instance.cls.lookup("forward")


@dataclass(eq=False)
class Super:
    instance: Instance
    cls: ClassInfo


@dataclass(frozen=True)
class Lazy:
    """A name imported from another file, read only when used (name None: the module)."""

    path: Any
    name: str | None
    module: str | None = None  # the module's qualified name, when an absolute import named it


@dataclass(eq=False)
class Partial:
    """functools.partial(func, *args, **kwargs)."""

    func: Any
    args: list
    kwargs: dict


@dataclass(frozen=True)
class ShapeOf:
    tensor: Tensor


@dataclass(frozen=True)
class SizesOf:
    """Sizes read off a tensor (`x.shape[-2:]`; `x.size()[1:]` at the rank the ops so far give,
    which each DimOf then carries): iterated and indexed, but how many there are is no fact a
    branch may rest on (len() is unknown)."""

    items: tuple


@dataclass(frozen=True)
class Builtin:
    name: str


@dataclass(frozen=True)
class MethodRef:
    """`owner.name`, waiting to be called."""

    owner: Any
    name: str


class _Buffer:
    """A tensor registered with register_buffer / register_parameter: not a module, shape unknown."""

    def __repr__(self) -> str:
        return "BUFFER"


BUFFER = _Buffer()


class _SomeNumber:
    """A Python number computed from sizes read off tensors in a way propagation does not follow
    (attention's scale `(C // heads) ** -0.5`): its value is unknown, but it is a number, so a
    tensor combined with it keeps its shape."""

    def __repr__(self) -> str:
        return "SOME_NUMBER"


SOME_NUMBER = _SomeNumber()


@dataclass(eq=False)
class FeatureList:
    """The list of tensors a head is given (`forward(self, x: list[Tensor])`) when it is run on
    its own: its length is unknown, so only `for feature in x` reads it, once, on a fresh tensor."""


@dataclass(frozen=True)
class ConstTensor:
    """A tensor made with known sizes (torch.ones(c, 1, 1), an nn.Parameter of it): its full shape."""

    shape: tuple
    parameter: Any = field(default=None, compare=False)  # the nn.Parameter(...) call that made it one (None: a plain tensor)
    owner: Any = field(default=None, compare=False)  # the torch layer whose weight it is (`self.fc.weight`)
    integral: bool = field(default=False, compare=False)  # of an integer dtype (it can index another tensor)


@dataclass(frozen=True)
class SizedTensor:
    """A tensor without a batch made with sizes read off the model's tensors (`x.new_zeros((hp, wp))`)
    or with some sizes not followed (a position embedding `torch.zeros(1, n_patches, dim)` of an
    image size nobody gives): its full shape, ints, read sizes and UNKNOWN (see `sized`)."""

    shape: tuple
    parameter: Any = field(default=None, compare=False)  # the nn.Parameter(...) call that made it one


@dataclass(frozen=True)
class ValuedTensor(ConstTensor):
    """A tensor of known values computed from constants, not from the model's input (RegNet's
    `torch.arange(depth) * w_a + w_0`): its elements as torch computes them, in its dtype (see
    `valued`). Where a ConstTensor is taken, it is one of its shape."""

    values: tuple = ()  # row-major: ints and bools as they are, floats as (lo, hi) intervals
    dtype: str = "int64"  # "bool", "int32", "int64", "float32" or "float64"


@dataclass(eq=False)
class ArrayVal:
    """A 1-d numpy array of known numbers: iterated, indexed, measured or turned into a list."""

    items: list


@dataclass(eq=False)
class Pieces:
    """`x.chunk(n, dim)`, `x.split(size, dim)`, `torch.split(x, [a, b], dim)`: a tuple of tensors
    whose length extraction may not know (it depends on the size along `dim`). Each piece becomes
    an op when the tuple is unpacked, indexed or iterated; the unpacking states the length it
    needs, and propagation checks it against the real one."""

    tensor: Tensor
    call: str  # "chunk" or "split", for messages
    mode: str  # "chunk" (param: how many), "split" (param: the size of each) or "sections" (param: the sizes)
    param: Any
    dim: int
    node: ast.AST
    made: dict = field(default_factory=dict)  # (index, expected length) -> Tensor: one op per piece

    @property
    def count(self) -> int | None:
        return len(self.param) if self.mode == "sections" else None


@dataclass(frozen=True)
class ModuleRef:
    globals: Env
    path: Any = None  # its file, when its statements run as its names are asked for (siblings.load)
    name: str | None = None  # its qualified name, when an absolute import named it (for zoo.QUAL_CALLS)


# --------------------------------------------------------------------------- control flow


class Return(Exception):
    def __init__(self, value: Any) -> None:
        self.value = value


class Break(Exception):
    pass


class Continue(Exception):
    pass


class Raise(Exception):
    """The interpreted code raises: this path is not taken. `kind`: the exception's class, when
    known (a layer torch refuses to build raises a TypeError), for the `except` that catches it."""

    def __init__(self, kind: str | None = None) -> None:
        super().__init__(kind)
        self.kind = kind


class OutOfBudget(Exception):
    pass


JUMPS = (Return, Break, Continue, Raise, OutOfBudget, RecursionError)  # what ends a run of code we follow


class Env:
    __slots__ = ("vars", "parent")

    def __init__(self, parent: Env | None = None, vars: dict | None = None) -> None:
        self.vars = vars if vars is not None else {}
        self.parent = parent

    def get(self, name: str) -> Any:
        env: Env | None = self
        while env is not None:
            if name in env.vars:
                return env.vars[name]
            env = env.parent
        return self.unbound(name)

    def unbound(self, name: str) -> Any:
        """A name no enclosing scope binds: a builtin, else what a star import may give it."""
        found = BUILTINS.get(name)
        return found if found is not None else self.starred(name)

    def starred(self, name: str) -> Any:
        """A name no statement bound: one the module's `from m import *` may have (read lazily)."""
        env = self
        while env.parent is not None:
            env = env.parent
        stars = env.vars.get(STARS)
        return UNKNOWN if not stars else Lazy(stars, name)


STARS = "*"  # the key of a module's globals holding the files its `from m import *` statements read


BUILTINS = {
    name: Builtin(name)
    for name in (
        "len range enumerate zip int float min max list tuple super reversed sum abs "
        "round isinstance issubclass bool dict getattr setattr hasattr str sorted any all print object type dir bytes set frozenset"
    ).split()
}

# methods of list, dict and nn.Sequential / ModuleList / ModuleDict that change what they hold
MUTATORS = {"append", "extend", "insert", "pop", "remove", "clear", "popitem", "setdefault", "update",
            "add_module", "register_module", "sort", "reverse"}


# --------------------------------------------------------------------------- predicates


def is_tensor(value: Any) -> bool:
    return isinstance(value, Tensor)


def is_parameter(value: Any) -> bool:
    """An nn.Parameter made in a constructor, of a known shape or a partly known one."""
    return isinstance(value, (ConstTensor, SizedTensor)) and value.parameter is not None


def known(value: Any) -> bool:
    """A fully known constant (no UNKNOWN anywhere inside)."""
    if value is UNKNOWN:
        return False
    if isinstance(value, tuple):
        return all(known(v) for v in value)
    return isinstance(value, (int, float, str, bool, type(None)))


def as_param(value: Any) -> Any:
    """What a layer parameter receives: constants as they are, lists as tuples, anything else UNKNOWN."""
    if isinstance(value, ListVal):
        if value.lost:
            return UNKNOWN
        value = tuple(value.items)
    if isinstance(value, tuple):
        return tuple(as_param(v) for v in value)
    if isinstance(value, (int, float, str, bool, type(None))):
        return value
    return UNKNOWN


def int_value(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def numeric(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def lose(obj: Any, name: Any) -> None:
    """Forget what an object changed in an arm of an undecided branch holds (a dict: the key `name`)."""
    if isinstance(obj, DictVal) and name is not None and not obj.lost:
        if name in obj.keys:
            obj.values[obj.keys.index(name)] = UNKNOWN
        else:
            obj.keys.append(name)
            obj.values.append(UNKNOWN)
        obj.maybe.add(name)
    elif isinstance(obj, (ListVal, DictVal)):
        obj.lost = True
    elif isinstance(obj, Container):
        obj.kind = "Unknown"
    elif isinstance(obj, Instance):
        if name is None:
            obj.children, obj.opaque = None, True
        else:
            obj.attrs[name] = UNKNOWN
        obj.loose = True


def is_lost(value: Any) -> bool:
    return isinstance(value, (ListVal, DictVal)) and value.lost or isinstance(value, Container) and value.kind == "Unknown"


def is_enum(cls: ClassInfo) -> bool:
    """A subclass of enum.Enum (or IntEnum, StrEnum, Flag...): its class attributes become members."""
    return any(isinstance(base, Qual) and base.name.startswith("enum.") for klass in cls.mro() for base in klass.bases)


def owner_items(attrs: dict) -> list:
    return [(key, value) for key, value in attrs.items() if isinstance(value, (Container, Instance))]


_POSITIONAL: dict[int, tuple] = {}  # id(arguments node) -> (the node, its positional_params)


def positional_params(params: ast.arguments) -> tuple[tuple[ast.arg, ast.expr | None], ...]:
    """The positional parameters with their defaults (None: none), worked out once per signature
    (every call binds one; the entry holds its node, so the id stays that node's)."""
    kept = _POSITIONAL.get(id(params))
    if kept is None:
        if len(_POSITIONAL) >= 1 << 16:
            _POSITIONAL.clear()
        positional = params.posonlyargs + params.args
        kept = _POSITIONAL[id(params)] = (
            params, tuple(zip(positional, [None] * (len(positional) - len(params.defaults)) + params.defaults)))
    return kept[1]


def binds(params: ast.arguments, count: int, kwargs: dict, complete: bool = True) -> bool:
    """Whether a call with `count` positional arguments and `kwargs` binds to `params` (not
    `complete`: but for parameters without a default it leaves out)."""
    positional = positional_params(params)
    if count > len(positional) and params.vararg is None:
        return False
    kwonly = tuple(zip(params.kwonlyargs, params.kw_defaults))
    names = {p.arg for p, _ in positional[count:]} | {p.arg for p, _ in kwonly}
    if any(k not in names for k in kwargs) and params.kwarg is None:
        return False
    return not complete or all(default is not None or p.arg in kwargs for p, default in positional[count:] + kwonly)


def interpreted(value: Any) -> Any:
    """A Python literal as the interpreter evaluates its source: lists and dicts become ListVal
    and DictVal, tuples and scalars stay."""
    if isinstance(value, list):
        return ListVal([interpreted(v) for v in value])
    if isinstance(value, tuple):
        return tuple(interpreted(v) for v in value)
    if isinstance(value, dict):
        return DictVal([interpreted(k) for k in value], [interpreted(v) for v in value.values()])
    return value


_PLAIN = (int, float, str, bool, type(None))


def plain(value: Any) -> bool:
    """An immutable value of Python's own: a number, string, None, or a tuple of them."""
    kind = type(value)
    return kind in _PLAIN or kind is tuple and all(map(plain, value))


def typed(value: Any) -> Any:
    """A plain value as a key that tells 0, 0.0 and False apart (equal, and equally hashed)."""
    return tuple(map(typed, value)) if type(value) is tuple else (type(value), value)
