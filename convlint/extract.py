"""Extraction: read a libcst module the way a careful reviewer would, and build its models.

A small abstract interpreter runs the file's module-level code, class bodies,
`__init__`s, helpers and `forward`s over *static values*: Python constants,
layers, containers, user module instances and tensors. Nothing of the user's
code is executed. Whatever it cannot know becomes UNKNOWN, and UNKNOWN only
ever makes later values unknown: it never turns into a guess.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import libcst as cst

from . import layers as L
from .graph import BATCH, MODEL_INPUT, DimOf, Layer, Model, Op
from .imports import locate
from .sizes import UNKNOWN

STEP_BUDGET = 60_000  # evaluation steps per model (and per module body): bounds pathological inputs
MAX_CALL_DEPTH = 24
MAX_RECURSION = 4  # the same function active this many times: a recursion we stop following
MAX_SPECULATION = 2  # nested uncertain branches followed both ways before we just forget
MAX_UNROLL = 4096

PLAIN_STRING = re.compile(r"'[^'\\\n]*'|\"[^\"\\\n]*\"")
INPUT_COMMENT = re.compile(r"#\s*convlint:\s*input\s*=\s*(\d+(?:\s*[x×]\s*\d+)*)\s*$")


def parse_input_size(text: str) -> tuple[int, ...] | None:
    """'3x224x224' -> (3, 224, 224); None for anything else."""
    parts = re.split(r"\s*[x×]\s*", text.strip())
    if not all(p.isdigit() for p in parts) or not 1 <= len(parts) <= 4:
        return None
    dims = tuple(int(p) for p in parts)
    return dims if all(d > 0 for d in dims) else None


# --------------------------------------------------------------------------- values


@dataclass(frozen=True)
class Tensor:
    value: int  # the value number in the model being built


@dataclass(frozen=True)
class Qual:
    """A reference into torch or another known module: 'torch.nn.Conv2d'."""

    name: str


@dataclass(eq=False)
class Container:
    """nn.Sequential / nn.ModuleList / nn.ModuleDict."""

    kind: str
    children: list
    node: cst.CSTNode
    keys: list | None = None


@dataclass(eq=False)
class ListVal:
    items: list


@dataclass(eq=False)
class DictVal:
    keys: list
    values: list


@dataclass(eq=False)
class Function:
    node: cst.FunctionDef
    env: Env
    foreign: bool = False  # defined in another file


@dataclass(eq=False)
class ClassInfo:
    node: cst.ClassDef
    bases: list
    attrs: dict[str, Any]
    env: Env
    foreign: bool = False  # defined in another file

    @property
    def name(self) -> str:
        return self.node.name.value

    def lookup(self, name: str) -> Any:
        for cls in self.mro():
            if name in cls.attrs:
                return cls.attrs[name]
        return None

    def mro(self) -> Iterator[ClassInfo]:
        seen = set()
        stack = [self]
        while stack:
            cls = stack.pop(0)
            if id(cls) in seen:
                continue
            seen.add(id(cls))
            yield cls
            stack.extend(b for b in cls.bases if isinstance(b, ClassInfo))

    def torch_base(self) -> str | None:
        """The torch.nn container or Module this class ultimately derives from, if any."""
        for cls in self.mro():
            for base in cls.bases:
                if isinstance(base, Qual) and base.name.startswith("torch.nn."):
                    return base.name.rsplit(".", 1)[1]
        return None


@dataclass(eq=False)
class Instance:
    cls: ClassInfo
    attrs: dict[str, Any] = field(default_factory=dict)
    children: list | None = None  # for subclasses of nn.Sequential / ModuleList / ModuleDict
    child_names: list = field(default_factory=list)
    opaque: bool = False  # something we could not follow changed it


@dataclass(eq=False)
class BoundMethod:
    self_value: Any
    func: Function


@dataclass(eq=False)
class Super:
    instance: Instance
    cls: ClassInfo


@dataclass(frozen=True)
class Lazy:
    """A name imported from another file of the package, read only when used (name None: the module)."""

    path: Any
    name: str | None


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
class Builtin:
    name: str


@dataclass(frozen=True)
class MethodRef:
    """`owner.name`, waiting to be called."""

    owner: Any
    name: str


class _Return(Exception):
    def __init__(self, value: Any) -> None:
        self.value = value


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


class _Raise(Exception):
    """The interpreted code raises: this path is not taken."""


class _OutOfBudget(Exception):
    pass


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
        return BUILTINS.get(name, UNKNOWN)


BUILTINS = {
    name: Builtin(name)
    for name in (
        "len range enumerate zip int float min max list tuple super reversed sum abs "
        "round isinstance bool dict getattr setattr hasattr str sorted any all print"
    ).split()
}
BUILTINS.update({"True": True, "False": False, "None": None})

# torch functions of tensors that keep the shape
SHAPE_KEEPING = {
    "relu", "relu_", "sigmoid", "tanh", "gelu", "silu", "elu", "selu", "leaky_relu", "hardswish", "mish",
    "contiguous", "clone", "detach", "float", "half", "double", "to", "cuda", "cpu", "exp", "abs", "neg",
    "sqrt", "rsqrt", "log", "pow", "clamp", "clamp_", "sigmoid_", "tanh_", "type_as", "requires_grad_",
    "dropout", "softmax", "log_softmax", "hardsigmoid", "relu6", "square", "sin", "cos", "zero_", "fill_",
    "mul_", "add_", "div_", "sub_", "round", "floor", "ceil", "sign", "erf", "reciprocal", "bfloat16",
}
REDUCTIONS = {"mean", "sum", "amax", "amin", "prod", "std", "var", "logsumexp", "norm"}
ELEMENTWISE_OPS = (cst.Add, cst.Subtract, cst.Multiply, cst.Divide)


def _is_tensor(value: Any) -> bool:
    return isinstance(value, Tensor)


def _known(value: Any) -> bool:
    """A fully known constant (no UNKNOWN anywhere inside)."""
    if value is UNKNOWN:
        return False
    if isinstance(value, tuple):
        return all(_known(v) for v in value)
    return isinstance(value, (int, float, str, bool, type(None)))


def _as_param(value: Any) -> Any:
    """What a layer parameter receives: constants as they are, lists as tuples, anything else UNKNOWN."""
    if isinstance(value, ListVal):
        value = tuple(value.items)
    if isinstance(value, tuple):
        return tuple(_as_param(v) for v in value)
    if isinstance(value, (int, float, str, bool, type(None))):
        return value
    return UNKNOWN


# --------------------------------------------------------------------------- the interpreter


LOADED: dict[str, Env | None] = {}  # sibling modules' globals, per process
MAX_IMPORT_DEPTH = 3


@dataclass(frozen=True)
class ModuleRef:
    globals: Env


class Extractor:
    def __init__(self, module: cst.Module, path: str | None = None, loading: frozenset = frozenset()) -> None:
        self.module = module
        self.path = path
        self.loading = loading
        self.foreign_site: cst.CSTNode | None = None  # the local call that led into another file's code
        self.globals = Env()
        self.steps = 0
        self.depth = 0
        self.helper_site: cst.CSTNode | None = None
        self.helper_layers: dict[int, list[Layer]] = {}  # layers built per definition in the current helper call
        self.layers: dict[int, Layer] = {}  # every layer constructed, by id of its node
        self.ops: list[Op] | None = None  # the model being built, when applying
        self.counter = 0
        self.errors: list[tuple[cst.CSTNode, str, str]] = []
        self.self_instance: Instance | None = None
        self.speculative = 0  # depth of uncertain branches we are inside
        self.layer_log: list[int] = []  # ids of self.layers in construction order
        self.mutations: dict[int, list[cst.CSTNode]] = {}  # statement id -> what it may change
        self.active: dict[int, int] = {}  # function node id -> calls in progress

    # ---- entry point

    def models(self, forced_input: tuple[int, ...] | None = None) -> list[Model]:
        body = list(self.module.body)
        try:
            self.exec_block(body, self.globals)
        except (_Return, _Break, _Continue, _Raise, _OutOfBudget, RecursionError):
            pass
        found: list[Model] = []
        for index, stmt in enumerate(body):
            declared = forced_input or self.declared_input(stmt, first=index == 0)
            for name, make in self.candidates(stmt):
                model = self.build(name, stmt, make, declared)
                if model is not None:
                    found.append(model)
        return found

    def declared_input(self, stmt: cst.CSTNode, first: bool) -> tuple[int, ...] | None:
        lines = list(getattr(stmt, "leading_lines", ()))
        if first:
            lines = list(self.module.header) + lines
        if not lines or lines[-1].comment is None:
            return None
        match = INPUT_COMMENT.match(lines[-1].comment.value)
        return parse_input_size(match.group(1)) if match else None

    def candidates(self, stmt: cst.CSTNode):
        """(name, thunk producing the module value) for each model a statement defines."""
        if isinstance(stmt, cst.ClassDef):
            cls = self.globals.vars.get(stmt.name.value)
            if isinstance(cls, ClassInfo) and cls.torch_base() is not None:
                yield cls.name, lambda: self.instantiate(cls, [], {}, stmt, defaults_only=True)
        elif isinstance(stmt, cst.FunctionDef):
            func = self.globals.vars.get(stmt.name.value)
            if isinstance(func, Function):
                yield stmt.name.value, lambda: self.call_function(func, [], {}, stmt, defaults_only=True)
        elif isinstance(stmt, cst.SimpleStatementLine):
            for small in stmt.body:
                if isinstance(small, (cst.Assign, cst.AnnAssign)) and small.value is not None:
                    targets = small.targets if isinstance(small, cst.Assign) else [small]
                    for target in targets:
                        if isinstance(target.target, cst.Name):
                            value = self.globals.vars.get(target.target.value)
                            if isinstance(value, (Layer, Container, Instance)):
                                yield target.target.value, (lambda v=value: v)

    def build(self, name, stmt, make, declared) -> Model | None:
        self.ops, self.counter, self.steps = [], MODEL_INPUT + 1, 0
        output = None
        try:
            module = make()
            if not isinstance(module, (Layer, Container, Instance)):
                return None
            result = self.apply(module, [Tensor(MODEL_INPUT)], {}, stmt)
            output = result.value if isinstance(result, Tensor) else None
        except (_Return, _Break, _Continue, _Raise, _OutOfBudget, RecursionError):
            pass
        finally:
            ops, self.ops = self.ops, None
        return Model(name, stmt, declared, ops, output)

    @contextmanager
    def speculation(self):
        """Inside an arm of an uncertain branch: what happens here might never happen."""
        self.speculative += 1
        try:
            yield
        finally:
            self.speculative -= 1

    # ---- statements

    def tick(self) -> None:
        self.steps += 1
        if self.steps > STEP_BUDGET:
            raise _OutOfBudget

    def exec_block(self, stmts, env: Env) -> None:
        for stmt in stmts:
            self.exec_stmt(stmt, env)

    def exec_stmt(self, stmt: cst.CSTNode, env: Env) -> None:
        self.tick()
        if isinstance(stmt, cst.SimpleStatementLine):
            for small in stmt.body:
                self.exec_small(small, env)
        elif isinstance(stmt, cst.FunctionDef):
            env.vars[stmt.name.value] = Function(stmt, env)
        elif isinstance(stmt, cst.ClassDef):
            self.exec_class(stmt, env)
        elif isinstance(stmt, cst.If):
            self.exec_if(stmt, env)
        elif isinstance(stmt, cst.For):
            self.exec_for(stmt, env)
        elif isinstance(stmt, cst.While):
            self.havoc(stmt.body, env)
        elif isinstance(stmt, cst.With):
            for item in stmt.items:
                if item.asname is not None:
                    self.havoc_target(item.asname.name, env)
            self.exec_block(stmt.body.body, env)
        elif isinstance(stmt, cst.Try):
            try:
                self.exec_block(stmt.body.body, env)
            except _Raise:
                self.havoc(stmt.body, env)
            if stmt.orelse is not None:
                self.exec_block(stmt.orelse.body.body, env)
            if stmt.finalbody is not None:
                self.exec_block(stmt.finalbody.body.body, env)
        elif hasattr(stmt, "body"):
            self.havoc(stmt, env)

    def exec_small(self, small: cst.CSTNode, env: Env) -> None:
        if isinstance(small, cst.Expr):
            if not isinstance(small.value, (cst.SimpleString, cst.ConcatenatedString)):  # docstrings
                self.ev(small.value, env)
        elif isinstance(small, cst.Assign):
            value = self.ev(small.value, env)
            for target in small.targets:
                self.assign(target.target, value, env)
        elif isinstance(small, cst.AnnAssign):
            if small.value is not None:
                self.assign(small.target, self.ev(small.value, env), env)
        elif isinstance(small, cst.AugAssign):
            self.exec_augassign(small, env)
        elif isinstance(small, cst.Return):
            raise _Return(None if small.value is None else self.ev(small.value, env))
        elif isinstance(small, cst.Raise):
            raise _Raise
        elif isinstance(small, cst.Break):
            raise _Break
        elif isinstance(small, cst.Continue):
            raise _Continue
        elif isinstance(small, cst.Import):
            for alias in small.names:
                dotted = dotted_name(alias.name)
                if alias.asname is not None:
                    env.vars[alias.asname.name.value] = Qual(dotted)
                else:
                    top = dotted.split(".")[0]
                    env.vars[top] = Qual(top)
        elif isinstance(small, cst.ImportFrom):
            if isinstance(small.names, cst.ImportStar):
                return
            base = dotted_name(small.module) if small.module is not None else ""
            level = len(small.relative)
            for alias in small.names:
                name = dotted_name(alias.name)
                sibling = locate(self.path, base, level)
                if sibling is None and base and not level:
                    self.bind_name(alias, Qual(f"{base}.{name}"), env)
                elif sibling is None:
                    module_file = locate(self.path, f"{base}.{name}", level)  # `from . import blocks`
                    self.bind_name(alias, Lazy(module_file, None) if module_file else UNKNOWN, env)
                else:
                    self.bind_name(alias, Lazy(sibling, name), env)
        elif isinstance(small, (cst.Global, cst.Nonlocal, cst.Pass, cst.Assert)):
            pass
        elif isinstance(small, cst.Del):
            pass

    def bind_name(self, alias: cst.ImportAlias, value: Any, env: Env) -> None:
        name = alias.asname.name.value if alias.asname is not None else dotted_name(alias.name)
        if isinstance(name, str) and "." not in name:
            env.vars[name] = value

    def exec_class(self, stmt: cst.ClassDef, env: Env) -> None:
        bases = [self.ev(arg.value, env) for arg in stmt.bases if arg.keyword is None]
        class_env = Env(env)
        try:
            self.exec_block(stmt.body.body if isinstance(stmt.body, cst.IndentedBlock) else [], class_env)
        except (_Return, _Break, _Continue, _Raise):
            pass
        attrs = dict(class_env.vars)
        for name, value in attrs.items():
            if isinstance(value, Function):  # methods see module globals, not the class body
                attrs[name] = Function(value.node, env)
        env.vars[stmt.name.value] = ClassInfo(stmt, bases, attrs, env)

    def exec_if(self, stmt: cst.If, env: Env) -> None:
        test = self.truth(self.ev(stmt.test, env))
        orelse = stmt.orelse
        else_body = [] if orelse is None else ([orelse] if isinstance(orelse, cst.If) else orelse.body.body)
        if test is True:
            self.exec_block(stmt.body.body, env)
        elif test is False:
            self.exec_block(else_body, env)
        else:
            self.exec_both(stmt.body.body, else_body, env, stmt)

    def exec_both(self, then_body, else_body, env: Env, node: cst.CSTNode) -> None:
        """Run both arms of an uncertain branch on copies, and keep what they agree on."""
        if self.speculative >= MAX_SPECULATION:
            self.havoc_block(list(then_body) + list(else_body), env)
            return
        with self.speculation():
            self.exec_arms(then_body, else_body, env, node)

    def exec_arms(self, then_body, else_body, env: Env, node: cst.CSTNode) -> None:
        outcomes = []
        for body in (then_body, else_body):
            arm_env = Env(env.parent, dict(env.vars))
            arm_self = None
            if self.self_instance is not None:
                arm_self = dict(self.self_instance.attrs)
                saved_attrs, self.self_instance.attrs = self.self_instance.attrs, arm_self
            try:
                self.exec_block(body, arm_env)
                outcomes.append((arm_env.vars, arm_self))
            except _Raise:
                pass
            except (_Return, _Break, _Continue) as jump:
                if self.self_instance is not None:
                    self.self_instance.attrs = saved_attrs
                self.havoc_block(list(then_body) + list(else_body), env)
                raise _Break if isinstance(jump, (_Break, _Continue)) else _Return(UNKNOWN)
            if self.self_instance is not None:
                self.self_instance.attrs = saved_attrs
        if not outcomes:
            raise _Raise
        env.vars = self.merge([o[0] for o in outcomes], node)
        if self.self_instance is not None:
            self.self_instance.attrs = self.merge([o[1] for o in outcomes], node)

    def merge(self, dicts: list[dict], node: cst.CSTNode) -> dict:
        if len(dicts) == 1:
            return dicts[0]
        merged = {}
        for name in set(dicts[0]) | set(dicts[1]):
            a, b = dicts[0].get(name, UNKNOWN), dicts[1].get(name, UNKNOWN)
            if a is b or (_known(a) and _known(b) and type(a) is type(b) and a == b):
                merged[name] = a
            elif _is_tensor(a) and _is_tensor(b) and self.ops is not None:
                merged[name] = self.emit("join", (a.value, b.value), node)
            else:
                merged[name] = UNKNOWN
        return merged

    def exec_for(self, stmt: cst.For, env: Env) -> None:
        items = self.iterate(self.ev(stmt.iter, env))
        if items is None or len(items) > MAX_UNROLL:
            self.havoc(stmt, env)
            return
        for item in items:
            self.assign(stmt.target, item, env)
            try:
                self.exec_block(stmt.body.body, env)
            except _Continue:
                continue
            except _Break:
                return
        if stmt.orelse is not None:
            self.exec_block(stmt.orelse.body.body, env)

    def exec_augassign(self, small: cst.AugAssign, env: Env) -> None:
        current = self.ev(small.target, env)
        value = self.ev(small.value, env)
        if isinstance(current, ListVal) and isinstance(small.operator, cst.AddAssign):
            items = self.iterate(value)
            if items is None:
                self.assign(small.target, UNKNOWN, env)
            else:
                current.items.extend(items)
            return
        operator = type(small.operator).__name__.replace("Assign", "")
        self.assign(small.target, self.binary(operator, current, value, small), env)

    def havoc(self, stmt: cst.CSTNode, env: Env) -> None:
        """Forget everything a statement we cannot follow may change."""
        self.havoc_block([stmt], env)

    def havoc_block(self, stmts, env: Env) -> None:
        for stmt in stmts:
            for target in self.mutated_targets(stmt):
                self.havoc_target(target, env)

    def mutated_targets(self, stmt: cst.CSTNode) -> list[cst.CSTNode]:
        """What a statement may rebind or mutate: assignment and loop targets, method receivers."""
        key = id(stmt)
        if key not in self.mutations:
            targets = []
            for node in _walk(stmt):
                kind = type(node)
                if kind is cst.Assign:
                    targets.extend(t.target for t in node.targets)
                elif kind in (cst.AugAssign, cst.AnnAssign, cst.For):
                    targets.append(node.target)
                elif kind is cst.Call and type(node.func) is cst.Attribute:
                    targets.append(node.func.value)
            self.mutations[key] = targets
        return self.mutations[key]

    def havoc_target(self, target: cst.CSTNode, env: Env) -> None:
        if isinstance(target, cst.Name):
            env.vars[target.value] = UNKNOWN
        elif isinstance(target, (cst.Tuple, cst.List)):
            for element in target.elements:
                self.havoc_target(element.value, env)
        elif isinstance(target, cst.Attribute):
            owner = self.ev(target.value, env)
            if isinstance(owner, Instance):
                owner.attrs[target.attr.value] = UNKNOWN
            elif isinstance(target.value, cst.Name) and isinstance(owner, (ListVal, DictVal, Container)):
                env.vars[target.value.value] = UNKNOWN  # a list mutated in a loop we cannot follow
        elif isinstance(target, cst.Subscript):
            self.havoc_target(target.value, env)

    def assign(self, target: cst.CSTNode, value: Any, env: Env) -> None:
        if isinstance(target, cst.Name):
            env.vars[target.value] = value
        elif isinstance(target, (cst.Tuple, cst.List)):
            elements = target.elements
            items = self.unpack(value, len(elements))
            for i, element in enumerate(elements):
                if isinstance(element, cst.StarredElement):
                    self.havoc_target(element.value, env)
                else:
                    self.assign(element.value, items[i] if items is not None else UNKNOWN, env)
        elif isinstance(target, cst.Attribute):
            owner = self.ev(target.value, env)
            if isinstance(owner, Instance):
                self.set_attr(owner, target.attr.value, value)
        elif isinstance(target, cst.Subscript):
            owner = self.ev(target.value, env)
            key = self.subscript_key(target, env)
            if isinstance(owner, DictVal) and _known(key):
                if key in owner.keys:
                    owner.values[owner.keys.index(key)] = value
                else:
                    owner.keys.append(key)
                    owner.values.append(value)
            elif isinstance(owner, (ListVal, DictVal)):
                self.havoc_target(target.value, env)

    def set_attr(self, owner: Instance, name: str, value: Any) -> None:
        """torch registers a module assigned to an attribute as a child, in assignment order."""
        if owner.children is not None and isinstance(value, (Layer, Container, Instance)):
            if name in owner.child_names:
                owner.children[owner.child_names.index(name)] = value
            else:
                owner.child_names.append(name)
                owner.children.append(value)
        owner.attrs[name] = value

    def unpack(self, value: Any, count: int) -> list | None:
        if isinstance(value, ShapeOf):
            return [BATCH] + [DimOf(value.tensor.value, i) for i in range(1, count)]
        items = self.iterate(value)
        return items if items is not None and len(items) == count else None

    # ---- expressions

    def ev(self, node: cst.CSTNode, env: Env) -> Any:
        self.tick()
        handler = EXPRESSIONS.get(type(node))
        return UNKNOWN if handler is None else handler(self, node, env)

    def ev_name(self, node: cst.Name, env: Env) -> Any:
        value = env.get(node.value)
        return self.resolve(value) if type(value) is Lazy else value

    def resolve(self, lazy: Lazy) -> Any:
        globals_ = self.load(lazy.path)
        if globals_ is None:
            return UNKNOWN
        if lazy.name is None:
            return ModuleRef(globals_)
        value = globals_.vars.get(lazy.name, UNKNOWN)
        return self.resolve(value) if type(value) is Lazy and len(self.loading) < MAX_IMPORT_DEPTH else value

    def load(self, path) -> Env | None:
        """The globals of a sibling module, interpreted once per process."""
        key = str(path)
        if key in LOADED:
            return LOADED[key]
        if key in self.loading or len(self.loading) >= MAX_IMPORT_DEPTH:
            return None
        LOADED[key] = None
        try:
            module = cst.parse_module(path.read_bytes())
        except Exception:  # noqa: BLE001 - an unreadable sibling is simply unknown
            return None
        sibling = Extractor(module, key, self.loading | {key})
        try:
            sibling.exec_block(list(module.body), sibling.globals)
        except (_Return, _Break, _Continue, _Raise, _OutOfBudget, RecursionError):
            pass
        for value in sibling.globals.vars.values():
            if isinstance(value, (Function, ClassInfo)):
                value.foreign = True
            if isinstance(value, ClassInfo):
                for method in value.attrs.values():
                    if isinstance(method, Function):
                        method.foreign = True
        LOADED[key] = sibling.globals
        return sibling.globals

    def ev_integer(self, node: cst.Integer, env: Env) -> Any:
        return int(node.value, 0)

    def ev_float(self, node: cst.Float, env: Env) -> Any:
        try:
            return float(node.value.replace("_", ""))
        except ValueError:
            return UNKNOWN

    def ev_string(self, node, env: Env) -> Any:
        text = getattr(node, "value", "")
        if PLAIN_STRING.fullmatch(text):
            return text[1:-1]  # a plain one-line literal: literal_eval is slow
        value = node.evaluated_value
        return value if isinstance(value, str) else UNKNOWN

    def ev_attribute(self, node: cst.Attribute, env: Env) -> Any:
        return self.attribute(self.ev(node.value, env), node.attr.value)

    def ev_tuple(self, node: cst.Tuple, env: Env) -> Any:
        return self.sequence(node.elements, env, tuple)

    def ev_list(self, node: cst.List, env: Env) -> Any:
        return self.sequence(node.elements, env, lambda items: ListVal(list(items)))

    def ev_dict(self, node: cst.Dict, env: Env) -> Any:
        keys, values = [], []
        for element in node.elements:
            if not isinstance(element, cst.DictElement):
                return UNKNOWN
            keys.append(self.ev(element.key, env))
            values.append(self.ev(element.value, env))
        return DictVal(keys, values)

    def ev_binary(self, node: cst.BinaryOperation, env: Env) -> Any:
        left = self.ev(node.left, env)
        right = self.ev(node.right, env)
        return self.binary(type(node.operator).__name__, left, right, node)

    def ev_unary(self, node: cst.UnaryOperation, env: Env) -> Any:
        return self.unary(node, self.ev(node.expression, env))

    def ev_ifexp(self, node: cst.IfExp, env: Env) -> Any:
        test = self.truth(self.ev(node.test, env))
        if test is not None:
            return self.ev(node.body if test else node.orelse, env)
        with self.speculation():
            a, b = self.ev(node.body, env), self.ev(node.orelse, env)
        return self.merge([{"v": a}, {"v": b}], node)["v"]

    def sequence(self, elements, env: Env, make) -> Any:
        items = []
        for element in elements:
            if isinstance(element, cst.StarredElement):
                inner = self.iterate(self.ev(element.value, env))
                if inner is None:
                    return UNKNOWN
                items.extend(inner)
            else:
                items.append(self.ev(element.value, env))
        return make(items)

    def comprehension(self, node, env: Env) -> Any:
        results = []
        scope = Env(env)

        def run(fors: cst.CompFor | None) -> bool:
            if fors is None:
                results.append(self.ev(node.elt, scope))
                return True
            items = self.iterate(self.ev(fors.iter, scope))
            if items is None or len(items) > MAX_UNROLL:
                return False
            for item in items:
                self.assign(fors.target, item, scope)
                tests = [self.truth(self.ev(cond.test, scope)) for cond in fors.ifs]
                if any(t is None for t in tests):
                    return False
                if all(tests) and not run(fors.inner_for_in):
                    return False
            return True

        return ListVal(results) if run(node.for_in) else UNKNOWN

    def iterate(self, value: Any) -> list | None:
        if isinstance(value, (tuple, list)):
            return list(value)
        if isinstance(value, ListVal):
            return list(value.items)
        if isinstance(value, DictVal):
            return list(value.keys)
        if isinstance(value, Container):
            return list(value.children)
        if isinstance(value, Instance) and value.children is not None:
            return list(value.children)
        if isinstance(value, str):
            return list(value)
        return None

    def truth(self, value: Any) -> bool | None:
        if _known(value):
            return bool(value)
        if isinstance(value, (ListVal, DictVal)):
            return bool(value.items if isinstance(value, ListVal) else value.keys)
        if isinstance(value, (Layer, Container, Instance, Function, ClassInfo, Qual)):
            return True
        return None

    def binary(self, op: str, left: Any, right: Any, node: cst.CSTNode) -> Any:
        if _is_tensor(left) or _is_tensor(right):
            if op in ("Add", "Subtract", "Multiply", "Divide") and _is_tensor(left) and _is_tensor(right):
                return self.emit("elementwise", (left.value, right.value), node, op=op)
            other = right if _is_tensor(left) else left
            tensor = left if _is_tensor(left) else right
            if isinstance(other, (int, float)) and not isinstance(other, bool):
                return tensor  # a scalar broadcasts: the shape is kept
            return self.emit("unknown", (tensor.value,), node)
        if op == "Add":
            if isinstance(left, ListVal) and isinstance(right, ListVal):
                return ListVal(left.items + right.items)
            if isinstance(left, tuple) and isinstance(right, tuple):
                return left + right
        if op == "Multiply" and isinstance(left, ListVal) and isinstance(right, int) and 0 <= right <= MAX_UNROLL:
            return ListVal(left.items * right)
        if not (_numeric(left) and _numeric(right)):
            if isinstance(left, str) and op == "Modulo" and _known(right):
                try:
                    return left % right
                except (TypeError, ValueError, KeyError):
                    return UNKNOWN
            if isinstance(left, str) and isinstance(right, str) and op == "Add":
                return left + right
            return UNKNOWN
        try:
            if op == "Add":
                return left + right
            if op == "Subtract":
                return left - right
            if op == "Multiply":
                return left * right
            if op == "FloorDivide":
                return left // right
            if op == "Divide":
                return left / right
            if op == "Modulo":
                return left % right
            if op == "Power":
                if abs(right) > 64 or abs(left) > 2**32:
                    return UNKNOWN
                return left**right
        except (ZeroDivisionError, OverflowError, ValueError, TypeError):
            return UNKNOWN
        return UNKNOWN

    def unary(self, node: cst.UnaryOperation, value: Any) -> Any:
        if isinstance(node.operator, cst.Not):
            truth = self.truth(value)
            return UNKNOWN if truth is None else not truth
        if _numeric(value):
            if isinstance(node.operator, cst.Minus):
                return -value
            if isinstance(node.operator, cst.Plus):
                return +value
        if _is_tensor(value):
            return value
        return UNKNOWN

    def boolean(self, node: cst.BooleanOperation, env: Env) -> Any:
        left = self.ev(node.left, env)
        truth = self.truth(left)
        if truth is None:
            return UNKNOWN
        is_and = isinstance(node.operator, cst.And)
        if truth != is_and:  # `False and ...` / `True or ...`
            return left
        return self.ev(node.right, env)

    def compare(self, node: cst.Comparison, env: Env) -> Any:
        left = self.ev(node.left, env)
        for target in node.comparisons:
            right = self.ev(target.comparator, env)
            op = target.operator
            if isinstance(op, (cst.Is, cst.IsNot)):
                if left is UNKNOWN or right is UNKNOWN:
                    return UNKNOWN
                if right is None or left is None:
                    result = left is right
                elif isinstance(left, Qual) and isinstance(right, Qual):
                    result = left == right
                elif isinstance(left, (ClassInfo, Function)) and isinstance(right, (ClassInfo, Function, Qual)):
                    result = left is right
                elif _known(left) and _known(right):
                    result = left == right
                else:
                    result = False if (left is None) != (right is None) else UNKNOWN
                    if result is UNKNOWN:
                        return UNKNOWN
                if isinstance(op, cst.IsNot):
                    result = not result
            elif isinstance(op, (cst.In, cst.NotIn)):
                items = self.iterate(right)
                if not _known(left) or items is None or not all(_known(i) for i in items):
                    return UNKNOWN
                result = left in items
                if isinstance(op, cst.NotIn):
                    result = not result
            else:
                if not (_known(left) and _known(right)):
                    return UNKNOWN
                try:
                    result = {
                        cst.Equal: lambda a, b: a == b,
                        cst.NotEqual: lambda a, b: a != b,
                        cst.LessThan: lambda a, b: a < b,
                        cst.LessThanEqual: lambda a, b: a <= b,
                        cst.GreaterThan: lambda a, b: a > b,
                        cst.GreaterThanEqual: lambda a, b: a >= b,
                    }[type(op)](left, right)
                except (TypeError, KeyError):
                    return UNKNOWN
            if not result:
                return False
            left = right
        return True

    def subscript_key(self, node: cst.Subscript, env: Env) -> Any:
        if len(node.slice) != 1 or not isinstance(node.slice[0].slice, cst.Index):
            return UNKNOWN
        return self.ev(node.slice[0].slice.value, env)

    def subscript(self, node: cst.Subscript, env: Env) -> Any:
        value = self.ev(node.value, env)
        if len(node.slice) == 1 and isinstance(node.slice[0].slice, cst.Slice):
            items = self.iterate(value)
            part = node.slice[0].slice
            bounds = [None if b is None else self.ev(b, env) for b in (part.lower, part.upper, part.step)]
            if items is None or not all(b is None or isinstance(b, int) for b in bounds) or bounds[2] == 0:
                return self.emit("unknown", (value.value,), node) if _is_tensor(value) else UNKNOWN
            sliced = items[slice(*bounds)]
            if isinstance(value, Container):
                return Container(value.kind, sliced, node)
            return tuple(sliced) if isinstance(value, tuple) else ListVal(sliced)
        key = self.subscript_key(node, env)
        if _is_tensor(value):
            return self.emit("unknown", (value.value,), node)
        if isinstance(value, ShapeOf):
            if key == 0:
                return BATCH
            return DimOf(value.tensor.value, key) if isinstance(key, int) else UNKNOWN
        if isinstance(value, (DictVal, Container)) and getattr(value, "keys", None) is not None and _known(key):
            keys = value.keys
            values = value.values if isinstance(value, DictVal) else value.children
            return values[keys.index(key)] if key in keys else UNKNOWN
        items = self.iterate(value)
        if items is not None and isinstance(key, int) and not isinstance(key, bool) and -len(items) <= key < len(items):
            return items[key]
        return UNKNOWN

    def attribute(self, owner: Any, name: str) -> Any:
        if isinstance(owner, ModuleRef):
            value = owner.globals.vars.get(name, UNKNOWN)
            return self.resolve(value) if type(value) is Lazy else value
        if isinstance(owner, Qual):
            return Qual(f"{owner.name}.{name}")
        if isinstance(owner, Instance):
            if name in owner.attrs:
                return owner.attrs[name]
            value = owner.cls.lookup(name)
            if isinstance(value, Function):
                return BoundMethod(owner, value)
            if value is not None:
                return value
            return MethodRef(owner, name)
        if isinstance(owner, ClassInfo):
            value = owner.lookup(name)
            return UNKNOWN if value is None else value
        if isinstance(owner, Tensor):
            if name == "shape":
                return ShapeOf(owner)
            return MethodRef(owner, name)
        if isinstance(owner, Layer) and owner.params is not None and name in owner.params:
            return owner.params[name]
        if isinstance(owner, (ListVal, DictVal, Container, Super)):
            return MethodRef(owner, name)
        return UNKNOWN

    # ---- calls

    def call(self, node: cst.Call, env: Env) -> Any:
        func = self.ev(node.func, env)
        args: list = []
        kwargs: dict = {}
        for arg in node.args:
            if arg.star == "*":
                items = self.iterate(self.ev(arg.value, env))
                if items is None:
                    return self.unknown_result(args, kwargs, node)
                args.extend(items)
            elif arg.star == "**":
                value = self.ev(arg.value, env)
                if not isinstance(value, DictVal) or not all(isinstance(k, str) for k in value.keys):
                    return self.unknown_result(args, kwargs, node)
                kwargs.update(zip(value.keys, value.values))
            elif arg.keyword is not None:
                kwargs[arg.keyword.value] = self.ev(arg.value, env)
            else:
                args.append(self.ev(arg.value, env))
        return self.invoke(func, args, kwargs, node)

    def invoke(self, func: Any, args: list, kwargs: dict, node: cst.CSTNode) -> Any:
        if isinstance(func, Partial):
            return self.invoke(func.func, [*func.args, *args], {**func.kwargs, **kwargs}, node)
        if isinstance(func, Qual):
            if func.name == "functools.partial" and args:
                return Partial(args[0], list(args[1:]), dict(kwargs))
            return self.call_qual(func.name, args, kwargs, node)
        if isinstance(func, Builtin):
            return self.call_builtin(func.name, args, kwargs, node)
        if isinstance(func, Function):
            return self.call_function(func, args, kwargs, node)
        if isinstance(func, BoundMethod):
            return self.call_function(func.func, [func.self_value, *args], kwargs, node)
        if isinstance(func, ClassInfo):
            return self.instantiate(func, args, kwargs, node)
        if isinstance(func, MethodRef):
            return self.call_method(func.owner, func.name, args, kwargs, node)
        if isinstance(func, (Layer, Container, Instance)):
            return self.apply(func, args, kwargs, node)
        return self.unknown_result(args, kwargs, node)

    def unknown_result(self, args: list, kwargs: dict, node: cst.CSTNode) -> Any:
        tensors = [a.value for a in [*args, *kwargs.values()] if _is_tensor(a)]
        if tensors and self.ops is not None:
            return self.emit("unknown", tuple(tensors), node)
        return UNKNOWN

    def call_qual(self, name: str, args: list, kwargs: dict, node: cst.CSTNode) -> Any:
        module, _, attr = name.rpartition(".")
        if module == "torch.nn":
            return self.construct(attr, args, kwargs, node)
        if name == "collections.OrderedDict" or name == "typing.OrderedDict":
            if not args:
                return DictVal([], [])
            pairs = self.iterate(args[0]) if not isinstance(args[0], DictVal) else None
            if isinstance(args[0], DictVal):
                return DictVal(list(args[0].keys), list(args[0].values))
            if pairs is None:
                return UNKNOWN
            keys, values = [], []
            for pair in pairs:
                items = self.iterate(pair)
                if items is None or len(items) != 2:
                    return UNKNOWN
                keys.append(items[0])
                values.append(items[1])
            return DictVal(keys, values)
        if args and _is_tensor(args[0]) and module in ("torch", "torch.nn.functional"):
            return self.tensor_function(attr, args[0], args[1:], kwargs, node, functional=module != "torch")
        if module == "torch" and attr in ("cat", "concat", "concatenate") and args:
            return self.concat(args[0], args[1:], kwargs, node)
        if module == "torch" and attr in ("add", "mul", "sub", "div") and len(args) >= 2:
            return self.binary({"add": "Add", "mul": "Multiply", "sub": "Subtract", "div": "Divide"}[attr], args[0], args[1], node)
        if module == "math" and all(_numeric(a) for a in args):
            import math

            fn = {"ceil": math.ceil, "floor": math.floor, "sqrt": math.sqrt, "log2": math.log2, "prod": math.prod}.get(attr)
            if fn is not None:
                try:
                    return fn(*args) if attr != "prod" else UNKNOWN
                except (ValueError, OverflowError, TypeError):
                    return UNKNOWN
        return self.unknown_result(args, kwargs, node)

    def construct(self, kind: str, args: list, kwargs: dict, node: cst.CSTNode) -> Any:
        if kind == "Sequential":
            if len(args) == 1 and isinstance(args[0], DictVal) and not kwargs:
                return Container(kind, list(args[0].values), node, list(args[0].keys))
            return Container(kind, list(args), node)
        if kind in ("ModuleList", "ModuleDict", "ParameterList"):
            if not args:
                return Container(kind, [], node, [] if kind == "ModuleDict" else None)
            if isinstance(args[0], DictVal):
                return Container(kind, list(args[0].values), node, list(args[0].keys))
            items = self.iterate(args[0])
            if items is None:
                return UNKNOWN
            if kind == "ModuleDict":
                pairs = [self.iterate(p) for p in items]
                if any(p is None or len(p) != 2 for p in pairs):
                    return UNKNOWN
                return Container(kind, [p[1] for p in pairs], node, [p[0] for p in pairs])
            return Container(kind, items, node)
        if kind == "Module":
            return UNKNOWN
        params = None
        if kind in L.LAYERS:
            params = L.bind(kind, [_as_param(a) for a in args], {k: _as_param(v) for k, v in kwargs.items()})
        layer = Layer(kind, params, node, self.foreign_site or self.helper_site or node, speculative=self.speculative > 0)
        if not layer.speculative and self.foreign_site is None:  # another file's arguments are its own to check
            self.layers.setdefault(id(node), layer)
            self.layer_log.append(id(node))
        if self.helper_site is not None:
            self.note_helper_layer(layer)
        return layer

    def note_helper_layer(self, layer: Layer) -> None:
        """A helper's one-off layer is reported where the helper is called; a layer the helper
        builds again and again (a config loop) is reported at its own definition."""
        siblings = self.helper_layers.setdefault(id(layer.node), [])
        siblings.append(layer)
        if len(siblings) > 1:
            for sibling in siblings:
                sibling.site = sibling.node

    def call_builtin(self, name: str, args: list, kwargs: dict, node: cst.CSTNode) -> Any:
        if name == "super":
            if self.self_instance is not None and self.current_class is not None:
                return Super(self.self_instance, self.current_class)
            return UNKNOWN
        if name == "len":
            if args and _is_tensor(args[0]):
                return BATCH
            items = self.iterate(args[0]) if args else None
            return UNKNOWN if items is None else len(items)
        if name == "range":
            if not all(isinstance(a, int) and not isinstance(a, bool) for a in args) or not 1 <= len(args) <= 3:
                return UNKNOWN
            if len(args) == 3 and args[2] == 0:
                return UNKNOWN
            span = range(*args)
            return list(span) if len(span) <= MAX_UNROLL else UNKNOWN
        if name in ("list", "tuple", "reversed", "sorted"):
            if not args:
                return ListVal([]) if name == "list" else ()
            items = self.iterate(args[0])
            if items is None:
                return UNKNOWN
            if name == "reversed":
                items = items[::-1]
            if name == "sorted":
                if not all(_known(i) for i in items):
                    return UNKNOWN
                try:
                    items = sorted(items)
                except TypeError:
                    return UNKNOWN
            return tuple(items) if name == "tuple" else ListVal(items)
        if name == "enumerate":
            items = self.iterate(args[0]) if args else None
            start = args[1] if len(args) > 1 else kwargs.get("start", 0)
            if items is None or not isinstance(start, int):
                return UNKNOWN
            return [(i + start, item) for i, item in enumerate(items)]
        if name == "zip":
            lists = [self.iterate(a) for a in args]
            if any(items is None for items in lists):
                return UNKNOWN
            return list(zip(*lists))
        if name in ("int", "float", "abs", "round", "bool", "str") and len(args) == 1 and _known(args[0]):
            try:
                return {"int": int, "float": float, "abs": abs, "round": round, "bool": bool, "str": str}[name](args[0])
            except (TypeError, ValueError, OverflowError):
                return UNKNOWN
        if name in ("min", "max", "sum", "any", "all"):
            items = args if len(args) > 1 else self.iterate(args[0]) if args else None
            if items is None or not items and name in ("min", "max") or not all(_known(i) for i in items):
                return UNKNOWN
            try:
                return {"min": min, "max": max, "sum": sum, "any": any, "all": all}[name](items)
            except TypeError:
                return UNKNOWN
        if name == "setattr" and len(args) == 3 and isinstance(args[0], Instance) and isinstance(args[1], str):
            args[0].attrs[args[1]] = args[2]
            return None
        if name == "getattr" and len(args) >= 2 and isinstance(args[1], str):
            value = self.attribute(args[0], args[1])
            return UNKNOWN if isinstance(value, MethodRef) else value
        if name == "isinstance" and len(args) == 2:
            return self.isinstance_of(args[0], args[1])
        if name == "dict":
            if not args:
                return DictVal(list(kwargs), list(kwargs.values()))
            return UNKNOWN
        return self.unknown_result(args, kwargs, node)

    current_class: ClassInfo | None = None

    def isinstance_of(self, value: Any, kinds: Any) -> Any:
        """isinstance where the answer is sure: tensors, Python containers and numbers, torch layers."""
        options = kinds if isinstance(kinds, tuple) else (kinds,)
        answers = set()
        for kind in options:
            if isinstance(kind, Qual) and kind.name in ("torch.Tensor", "torch.nn.Module") or isinstance(kind, Builtin):
                answers.add(_instance_answer(value, kind))
            else:
                return UNKNOWN
        if True in answers:
            return True
        return False if answers == {False} else UNKNOWN

    def call_function(self, func: Function, args: list, kwargs: dict, node: cst.CSTNode, defaults_only=False) -> Any:
        key = id(func.node)
        if self.depth >= MAX_CALL_DEPTH or self.active.get(key, 0) >= MAX_RECURSION:
            return self.unknown_result(args, kwargs, node)
        env = Env(func.env)
        if not self.bind_params(func.node.params, args, kwargs, env, func.env, defaults_only):
            return self.unknown_result(args, kwargs, node)
        outer_site = self.helper_site
        if self.helper_site is None and not isinstance(node, (cst.FunctionDef, cst.ClassDef)):
            self.helper_site = node  # layers a helper builds are reported where the helper is called
            self.helper_layers = {}
        saved = (self.self_instance, self.current_class, self.foreign_site)
        if func.foreign and self.foreign_site is None and not isinstance(node, (cst.FunctionDef, cst.ClassDef)):
            self.foreign_site = node  # what another file's code builds is reported at the local call
        method_of = args[0] if args and isinstance(args[0], Instance) and func.node.params.params else None
        if method_of is not None and func.node.params.params[0].name.value == "self":
            self.self_instance = method_of
            self.current_class = self.defining_class(method_of.cls, func)
            self.helper_site = None  # inside a class, a layer's own definition shows the mistake best
        self.depth += 1
        self.active[key] = self.active.get(key, 0) + 1
        built = len(self.layer_log)
        try:
            self.exec_block(_body(func.node), env)
            result = None
        except _Return as ret:
            result = ret.value
        except _Raise:
            for layer_id in self.layer_log[built:]:  # this call raises: what it built never exists
                self.layers.pop(layer_id, None)
            del self.layer_log[built:]
            result = UNKNOWN
        except (_Break, _Continue):
            result = UNKNOWN
        finally:
            self.depth -= 1
            self.active[key] -= 1
            self.self_instance, self.current_class, self.foreign_site = saved
            self.helper_site = outer_site
        return result

    def defining_class(self, cls: ClassInfo, func: Function) -> ClassInfo:
        for candidate in cls.mro():
            if any(v is func or (isinstance(v, Function) and v.node is func.node) for v in candidate.attrs.values()):
                return candidate
        return cls

    def bind_params(self, params: cst.Parameters, args, kwargs, env: Env, def_env: Env, defaults_only: bool) -> bool:
        positional = list(params.posonly_params) + list(params.params)
        args = list(args)
        kwargs = dict(kwargs)
        for i, param in enumerate(positional):
            name = param.name.value
            if i < len(args):
                env.vars[name] = args[i]
            elif name in kwargs:
                env.vars[name] = kwargs.pop(name)
            elif param.default is not None:
                env.vars[name] = self.ev(param.default, def_env)
            elif defaults_only:
                env.vars[name] = UNKNOWN
            else:
                return False
        extra = args[len(positional):]
        if extra and not isinstance(params.star_arg, cst.Param):
            return False
        if isinstance(params.star_arg, cst.Param):
            env.vars[params.star_arg.name.value] = tuple(extra)
        for param in params.kwonly_params:
            name = param.name.value
            if name in kwargs:
                env.vars[name] = kwargs.pop(name)
            elif param.default is not None:
                env.vars[name] = self.ev(param.default, def_env)
            elif defaults_only:
                env.vars[name] = UNKNOWN
            else:
                return False
        if params.star_kwarg is not None:
            env.vars[params.star_kwarg.name.value] = DictVal(list(kwargs), list(kwargs.values()))
        elif kwargs:
            return False
        return True

    def instantiate(self, cls: ClassInfo, args, kwargs, node, defaults_only=False) -> Any:
        instance = Instance(cls)
        base = cls.torch_base()
        if base in ("Sequential", "ModuleList", "ModuleDict"):
            instance.children = []
        init = cls.lookup("__init__")
        if isinstance(init, Function):
            result = self.call_function(init, [instance, *args], kwargs, node, defaults_only)
            if result is UNKNOWN and self.depth >= MAX_CALL_DEPTH:
                return UNKNOWN
        elif base in ("Sequential", "ModuleList"):
            instance.children = list(args)
        return instance

    def call_method(self, owner: Any, name: str, args: list, kwargs: dict, node: cst.CSTNode) -> Any:
        if isinstance(owner, Tensor):
            return self.tensor_method(owner, name, args, kwargs, node)
        if isinstance(owner, Super):
            return self.call_super(owner, name, args, kwargs, node)
        if isinstance(owner, ListVal):
            if name == "append" and len(args) == 1:
                owner.items.append(args[0])
                return None
            if name == "extend" and len(args) == 1:
                items = self.iterate(args[0])
                if items is None:
                    raise _Raise  # the list's contents are no longer known: drop this path
                owner.items.extend(items)
                return None
            if name == "insert" and len(args) == 2 and isinstance(args[0], int):
                owner.items.insert(args[0], args[1])
                return None
            if name == "pop" and not args and owner.items:
                return owner.items.pop()
            if name in ("append", "extend", "insert", "pop", "remove", "clear"):
                raise _Raise
            return UNKNOWN
        if isinstance(owner, DictVal):
            if name == "items":
                return list(zip(owner.keys, owner.values))
            if name == "values":
                return list(owner.values)
            if name == "keys":
                return list(owner.keys)
            if name == "get" and args and _known(args[0]):
                return owner.values[owner.keys.index(args[0])] if args[0] in owner.keys else (args[1] if len(args) > 1 else None)
            return UNKNOWN
        if isinstance(owner, Container):
            if name in ("append", "add_module") and args:
                owner.children.append(args[-1])
                if owner.keys is not None:
                    owner.keys.append(args[0] if len(args) == 2 else str(len(owner.keys)))
                return owner
            if name == "extend" and args:
                items = self.iterate(args[0])
                if items is None:
                    raise _Raise
                owner.children.extend(items)
                return owner
            if name in ("children", "modules") and owner.kind != "ModuleDict":
                return list(owner.children)
            if name == "values":
                return list(owner.children)
            if name == "items" and owner.keys is not None:
                return list(zip(owner.keys, owner.children))
            if name not in ("parameters", "named_parameters", "modules", "named_modules", "state_dict", "to", "cuda", "train", "eval"):
                owner.kind = "Unknown"  # an unknown method may have changed what it contains
            return UNKNOWN
        if isinstance(owner, Instance):
            if name in ("add_module", "register_module") and len(args) == 2:
                if isinstance(args[0], str):
                    self.set_attr(owner, args[0], args[1])
                elif owner.children is not None:
                    owner.children.append(args[1])
                    owner.child_names.append(None)
                return None
            if name in ("items", "values", "keys") and owner.children is not None and not isinstance(owner.cls.lookup(name), Function):
                pairs = list(zip(owner.child_names, owner.children))
                return {"items": pairs, "values": [c for _, c in pairs], "keys": [n for n, _ in pairs]}[name]
            if name == "append" and owner.children is not None and len(args) == 1:
                owner.children.append(args[0])
                return None
            if name in ("children",) and owner.children is not None:
                return list(owner.children)
            if owner.children is not None and not isinstance(owner.cls.lookup(name), Function):
                owner.children = None  # an unknown method may have changed what it contains
                owner.opaque = True
            return self.unknown_result(args, kwargs, node)
        return UNKNOWN

    def call_super(self, sup: Super, name: str, args, kwargs, node) -> Any:
        for base in sup.cls.bases:
            if isinstance(base, ClassInfo):
                method = base.lookup(name)
                if isinstance(method, Function):
                    saved = self.current_class
                    try:
                        return self.call_function(method, [sup.instance, *args], kwargs, node)
                    finally:
                        self.current_class = saved
            elif isinstance(base, Qual) and name == "__init__":
                kind = base.name.rsplit(".", 1)[1]
                if kind in ("Sequential", "ModuleList") and sup.instance.children is not None:
                    if len(args) == 1 and isinstance(args[0], DictVal):
                        sup.instance.children[:] = list(args[0].values)
                    elif kind == "ModuleList" and args:
                        items = self.iterate(args[0])
                        sup.instance.children[:] = items if items is not None else []
                    else:
                        sup.instance.children[:] = list(args)
                return None
        return None

    # ---- tensors

    def emit(self, kind: str, inputs: tuple[int, ...], node: cst.CSTNode, layer: Layer | None = None, **args) -> Any:
        if self.ops is None:
            return UNKNOWN
        output = self.counter
        self.counter += 1
        node = self.foreign_site or node
        self.ops.append(Op(kind, inputs, output, node, layer, args, speculative=self.speculative > 0))
        return Tensor(output)

    def apply(self, module: Any, args: list, kwargs: dict, node: cst.CSTNode) -> Any:
        """Call a module on tensors: leaf layers become ops, containers and instances are followed."""
        if self.ops is None:
            return UNKNOWN
        if isinstance(module, Layer):
            if len(args) == 1 and _is_tensor(args[0]) and not kwargs:
                return self.emit("layer", (args[0].value,), node, module)
            return self.unknown_result(args, kwargs, node)
        if isinstance(module, Container):
            if module.kind != "Sequential" or len(args) != 1 or kwargs:
                return self.unknown_result(args, kwargs, node)
            return self.fold(module.children, args[0], node)
        if isinstance(module, Instance) and not module.opaque:
            forward = module.cls.lookup("forward")
            if isinstance(forward, Function):
                return self.call_function(forward, [module, *args], kwargs, node)
            if module.children is not None and len(args) == 1:
                return self.fold(module.children, args[0], node)
        return self.unknown_result(args, kwargs, node)

    def fold(self, children: list, value: Any, node: cst.CSTNode) -> Any:
        for child in children:
            if not _is_tensor(value):
                return value
            if isinstance(child, (Layer, Container, Instance)):
                value = self.apply(child, [value], {}, child.node if isinstance(child, (Layer, Container)) else node)
            else:
                value = self.emit("unknown", (value.value,), node)
        return value

    def tensor_function(self, name: str, tensor: Tensor, args: list, kwargs: dict, node, functional: bool) -> Any:
        if name == "flatten":
            return self.flatten(tensor, args, kwargs, node, default_start=0)
        if name in ("cat", "concat"):
            return self.unknown_result([tensor], kwargs, node)
        if name in REDUCTIONS:
            return self.reduce(tensor, args, kwargs, node)
        if name in ("add", "mul", "sub", "div") and args:
            return self.binary({"add": "Add", "mul": "Multiply", "sub": "Subtract", "div": "Divide"}[name], tensor, args[0], node)
        if name in ("reshape",):
            return self.view(tensor, args[0] if len(args) == 1 else tuple(args), node)
        bound = L.bind_functional(name, [_as_param(a) for a in args], {k: _as_param(v) for k, v in kwargs.items()})
        if bound is not None:
            kind, params = bound
            layer = Layer(kind, params, node, self.foreign_site or self.helper_site or node)
            return self.emit("layer", (tensor.value,), node, layer)
        if name in SHAPE_KEEPING:
            return tensor
        return self.unknown_result([tensor, *args], kwargs, node)

    def tensor_method(self, tensor: Tensor, name: str, args: list, kwargs: dict, node) -> Any:
        if name == "size":
            if not args and not kwargs:
                return ShapeOf(tensor)
            axis = args[0] if args else kwargs.get("dim")
            if axis == 0:
                return BATCH
            return DimOf(tensor.value, axis) if isinstance(axis, int) else UNKNOWN
        if name == "dim":
            return UNKNOWN
        if name in ("view", "reshape"):
            sizes = args[0] if len(args) == 1 and isinstance(args[0], (tuple, ListVal, ShapeOf)) else tuple(args)
            return self.view(tensor, sizes, node)
        if name == "flatten":
            return self.flatten(tensor, args, kwargs, node, default_start=0)
        if name in REDUCTIONS:
            return self.reduce(tensor, args, kwargs, node)
        if name in ("add", "mul", "sub", "div", "add_", "mul_") and len(args) == 1:
            op = {"add": "Add", "mul": "Multiply", "sub": "Subtract", "div": "Divide"}[name.rstrip("_")]
            return self.binary(op, tensor, args[0], node)
        if name in SHAPE_KEEPING:
            return tensor
        return self.unknown_result([tensor, *args], kwargs, node)

    def flatten(self, tensor: Tensor, args, kwargs, node, default_start: int) -> Any:
        explicit = bool(args) or "start_dim" in kwargs
        start = args[0] if args else kwargs.get("start_dim", default_start)
        end = args[1] if len(args) > 1 else kwargs.get("end_dim", -1)
        if not isinstance(start, int) or not isinstance(end, int):
            return self.emit("unknown", (tensor.value,), node)
        return self.emit("flatten", (tensor.value,), node, start_dim=start, end_dim=end, explicit=explicit)

    def view(self, tensor: Tensor, sizes: Any, node) -> Any:
        if isinstance(sizes, ShapeOf):
            return self.emit("unknown", (tensor.value,), node)
        items = self.iterate(sizes)
        if items is None or not all(isinstance(s, (int, DimOf)) or s is BATCH for s in items):
            return self.emit("unknown", (tensor.value,), node)
        return self.emit("view", (tensor.value,), node, sizes=tuple(items))

    def reduce(self, tensor: Tensor, args, kwargs, node) -> Any:
        dims = args[0] if args else kwargs.get("dim", kwargs.get("axis"))
        keepdim = args[1] if len(args) > 1 else kwargs.get("keepdim", False)
        if isinstance(dims, ListVal):
            dims = tuple(dims.items)
        if isinstance(dims, int):
            dims = (dims,)
        if not isinstance(dims, tuple) or not all(isinstance(d, int) for d in dims) or not isinstance(keepdim, bool):
            return self.emit("unknown", (tensor.value,), node)
        return self.emit("reduce", (tensor.value,), node, dims=dims, keepdim=keepdim)

    def concat(self, seq: Any, args, kwargs, node) -> Any:
        items = self.iterate(seq)
        dim = args[0] if args else kwargs.get("dim", kwargs.get("axis", 0))
        if items is None or not items or not all(_is_tensor(t) for t in items) or not isinstance(dim, int):
            tensors = [t for t in (items or []) if _is_tensor(t)]
            return self.unknown_result(tensors, {}, node)
        return self.emit("cat", tuple(t.value for t in items), node, dim=dim)


EXPRESSIONS = {
    cst.Name: Extractor.ev_name,
    cst.Integer: Extractor.ev_integer,
    cst.Float: Extractor.ev_float,
    cst.SimpleString: Extractor.ev_string,
    cst.ConcatenatedString: Extractor.ev_string,
    cst.Attribute: Extractor.ev_attribute,
    cst.Call: lambda self, node, env: self.call(node, env),
    cst.Tuple: Extractor.ev_tuple,
    cst.List: Extractor.ev_list,
    cst.Dict: Extractor.ev_dict,
    cst.BinaryOperation: Extractor.ev_binary,
    cst.UnaryOperation: Extractor.ev_unary,
    cst.BooleanOperation: lambda self, node, env: self.boolean(node, env),
    cst.Comparison: lambda self, node, env: self.compare(node, env),
    cst.IfExp: Extractor.ev_ifexp,
    cst.Subscript: lambda self, node, env: self.subscript(node, env),
    cst.ListComp: lambda self, node, env: self.comprehension(node, env),
    cst.GeneratorExp: lambda self, node, env: self.comprehension(node, env),
}

# --------------------------------------------------------------------------- helpers


def _instance_answer(value: Any, kind: Any) -> Any:
    if value is UNKNOWN:
        return UNKNOWN
    if isinstance(kind, Qual):
        if kind.name == "torch.Tensor":
            return _is_tensor(value)
        return True if isinstance(value, (Layer, Container)) else (False if _known(value) or _is_tensor(value) else UNKNOWN)
    python = {"int": int, "float": float, "str": str, "bool": bool, "list": (ListVal,), "tuple": tuple, "dict": DictVal}
    expected = python.get(kind.name)
    if expected is None:
        return UNKNOWN
    if not (_known(value) or isinstance(value, (ListVal, DictVal, Tensor, Layer, Container))):
        return UNKNOWN
    if kind.name == "int" and isinstance(value, bool):
        return True
    return isinstance(value, expected)


def _numeric(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def dotted_name(node: cst.CSTNode) -> str | None:
    """`a.b.c` for a name or attribute chain, None for any other expression."""
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        owner = dotted_name(node.value)
        return None if owner is None else f"{owner}.{node.attr.value}"
    return None


def _body(node: cst.FunctionDef) -> list:
    body = node.body
    return list(body.body) if isinstance(body, cst.IndentedBlock) else list(body.body)


_NODE_FIELDS: dict[type, tuple[str, ...]] = {}
_LAYOUT = ("whitespace", "lpar", "rpar", "comma", "semicolon", "leading_lines", "lines_after", "header", "footer",
           "newline", "indent", "colon", "equal", "dot", "star")


def _node_fields(kind: type) -> tuple[str, ...]:
    """The fields of a libcst node class that can hold code (not layout)."""
    fields = _NODE_FIELDS.get(kind)
    if fields is None:
        fields = tuple(f for f in kind.__dataclass_fields__ if not f.startswith(_LAYOUT) and "whitespace" not in f)
        _NODE_FIELDS[kind] = fields
    return fields


def _walk(node: cst.CSTNode) -> Iterator[cst.CSTNode]:
    """Every code node under `node`; much cheaper than libcst's `children`, which re-visits."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        for name in _node_fields(type(current)):
            value = getattr(current, name)
            if isinstance(value, cst.CSTNode):
                stack.append(value)
            elif isinstance(value, (list, tuple)):
                stack.extend(v for v in value if isinstance(v, cst.CSTNode))


def extract(module: cst.Module, forced_input: tuple[int, ...] | None = None, path: str | None = None) -> tuple[list[Model], list[Layer]]:
    """Every model the module defines, and every layer it constructs. `path` lets it follow imports."""
    extractor = Extractor(module, path)
    models = extractor.models(forced_input)
    return models, list(extractor.layers.values())
