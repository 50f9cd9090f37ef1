"""Statements: blocks, branches (both arms of one we cannot decide), loops (unrolled), class
bodies, and forgetting what a statement we cannot follow may change."""

from __future__ import annotations

import ast

from ..graph import Layer
from ..sizes import UNKNOWN
from ..syntax import DEFS, dotted_name, walk
from . import guards
from .nn import MODULE_QUERIES, module_kind
from .operators import operator_name
from .state import MAX_SPECULATION, MAX_UNROLL, STEP_BUDGET, catches
from .values import (
    MISSING, Break, Builtin, ClassInfo, Container, Continue, DataField, DictVal, Env, FeatureList, Function, Instance,
    ListVal, ModuleRef, OneOf, OutOfBudget, Qual, Raise, Return, Tensor, is_tensor, known, lose,
)


class Statements:
    """Running statements (a mixin of the Extractor)."""

    def exec_block(self, stmts, env: Env) -> None:
        last = len(stmts) - 1
        for i, stmt in enumerate(stmts):
            if type(stmt) is ast.If and i < last and not stmt.orelse and type(stmt.body[-1]) is ast.Return:
                self.tick()
                if self.exec_early_return(stmt, stmts[i + 1:], env):
                    return
            else:
                self.exec_stmt(stmt, env)

    def exec_early_return(self, stmt: ast.If, rest: list, env: Env) -> bool:
        """`if cond: ...; return a` then the rest of the block: an uncertain cond runs the rest as
        its else arm (kornia's `if x.dtype in (torch.float16, ...): return ...` before the common
        return), so that both returns are kept. True: the rest has been run."""
        test = self.truth(self.ev(stmt.test, env))
        if test is True:
            self.exec_block(stmt.body, env)
        if test is False:
            return False
        if self.speculative >= MAX_SPECULATION:
            self.exec_both(stmt.body, [], env, stmt)
            return False
        self.exec_both(stmt.body, rest, env, stmt)
        return True

    def exec_stmt(self, stmt: ast.AST, env: Env) -> None:
        self.steps += 1  # self.tick(), inlined: a call fewer per statement
        if self.steps > STEP_BUDGET:
            raise OutOfBudget
        kind = type(stmt)  # exact types: a chain of isinstance misses costs more
        if kind is ast.Expr:
            if type(stmt.value) is not ast.Constant:  # docstrings
                self.ev(stmt.value, env)
        elif kind is ast.Assign:
            if type(stmt.value) in (ast.GeneratorExp, ast.ListComp) and len(stmt.targets) == 1 and \
                    type(stmt.targets[0]) in (ast.Tuple, ast.List) and \
                    not any(type(e) is ast.Starred for e in stmt.targets[0].elts):
                self.tick()  # (what ev would count)
                value = self.comprehension(stmt.value, env, unpacked=len(stmt.targets[0].elts))
            else:
                value = self.ev(stmt.value, env)
            for target in stmt.targets:
                self.assign(target, value, env)
        elif kind is ast.AnnAssign:
            if stmt.value is not None:
                self.assign(stmt.target, self.ev(stmt.value, env), env)
        elif kind is ast.AugAssign:
            self.exec_augassign(stmt, env)
        elif kind is ast.Return:
            raise Return(None if stmt.value is None else self.ev(stmt.value, env))
        elif kind is ast.Raise:
            raise Raise
        elif kind is ast.Assert:
            test = self.truth(self.ev(stmt.test, env))
            if test is False:
                raise Raise  # an AssertionError: this path is not taken
            if test is None:
                self.narrow(guards.stated_rank(stmt.test, True), stmt, env)
        elif kind is ast.Break:
            raise Break
        elif kind is ast.Continue:
            raise Continue
        elif kind is ast.Import:
            for alias in stmt.names:
                if alias.asname is not None:
                    env.vars[alias.asname] = Qual(alias.name)
                else:
                    top = alias.name.split(".")[0]
                    env.vars[top] = Qual(top)
        elif kind is ast.ImportFrom:
            self.exec_import_from(stmt, env)
        elif kind in DEFS:
            env.vars[stmt.name] = Function(stmt, env, self.code_file)
        elif kind is ast.ClassDef:
            self.exec_class(stmt, env)
        elif kind is ast.If:
            self.exec_if(stmt, env)
        elif kind is ast.For or kind is ast.AsyncFor:
            self.exec_for(stmt, env)
        elif kind is ast.While:
            self.havoc_block(stmt.body, env)
        elif kind is ast.With or kind is ast.AsyncWith:
            for item in stmt.items:
                if item.optional_vars is not None:
                    self.havoc_target(item.optional_vars, env)
            self.exec_block(stmt.body, env)
        elif kind is ast.Try:
            self.exec_try(stmt, env)
        elif kind is ast.Delete:
            for target in stmt.targets:
                self.delete(target, env)
        elif hasattr(stmt, "body"):  # try/except*: what it may change is forgotten
            self.havoc(stmt, env)

    def exec_try(self, stmt: ast.Try, env: Env) -> None:
        """The body; when it raises an exception whose class we know, the handler that catches it
        runs; one we do not know forgets what the body may have changed."""
        self.catching.append(frozenset(handler_names(handler) for handler in stmt.handlers))
        raised = None
        try:
            self.exec_block(stmt.body, env)
        except Raise as error:
            raised = error
        finally:
            self.catching.pop()
        handler = None if raised is None or raised.kind is None else \
            next((h for h in stmt.handlers if catches(frozenset([handler_names(h)]), raised.kind)), None)
        if handler is not None:
            if handler.name:
                env.vars[handler.name] = UNKNOWN
            self.exec_block(handler.body, env)
        else:
            if raised is not None:
                self.havoc_block(stmt.body, env)
            self.exec_block(stmt.orelse, env)
        self.exec_block(stmt.finalbody, env)

    def exec_class(self, stmt: ast.ClassDef, env: Env) -> None:
        bases = [self.ev(base, env) for base in stmt.bases]
        class_env = Env(env)
        try:
            self.exec_block(stmt.body, class_env)
        except (Return, Break, Continue, Raise):
            pass
        attrs = dict(class_env.vars)
        for name, value in attrs.items():
            if isinstance(value, Function):  # methods see module globals, not the class body
                attrs[name] = Function(value.node, env, self.code_file)
        # a typing.NamedTuple makes the same __init__ of its annotated fields (kornia's HourglassConfig)
        named_tuple = any(type(base) is Qual and base.name == "typing.NamedTuple" for base in bases)
        fields = self.dataclass_fields(stmt, class_env) if named_tuple or makes_dataclass_init(stmt) else None
        env.vars[stmt.name] = ClassInfo(stmt, bases, attrs, env, foreign=self.code_file, fields=fields)

    def dataclass_fields(self, stmt: ast.ClassDef, class_env: Env) -> list[DataField] | None:
        """The fields a @dataclass body declares (None: one we cannot read, so no __init__ is made)."""
        fields = []
        for item in stmt.body:
            if type(item) is not ast.AnnAssign or type(item.target) is not ast.Name:
                continue
            annotation = ast.unparse(item.annotation)
            if annotation.startswith(("ClassVar", "typing.ClassVar")):
                continue
            if annotation.startswith(("InitVar", "dataclasses.InitVar")):
                return None
            name, value = item.target.id, item.value
            if value is None:
                fields.append(DataField(name, MISSING))
            elif type(value) is ast.Call and (dotted_name(value.func) or "") in ("field", "dataclasses.field"):
                if value.args or any(k.arg is None for k in value.keywords):
                    return None
                options = {k.arg: k.value for k in value.keywords}
                init = options.get("init")
                fields.append(DataField(
                    name,
                    self.ev(options["default"], class_env) if "default" in options else MISSING,
                    self.ev(options["default_factory"], class_env) if "default_factory" in options else None,
                    init is None or self.ev(init, class_env) is True,
                ))
            else:
                fields.append(DataField(name, class_env.vars.get(name, UNKNOWN)))
        return fields

    def exec_if(self, stmt: ast.If, env: Env) -> None:
        test = self.truth(self.ev(stmt.test, env))
        if test is True:
            self.exec_block(stmt.body, env)
        elif test is False:
            self.exec_block(stmt.orelse, env)
        elif (guard := guards.raising_guard(stmt)) is not None:
            self.narrow(guard, stmt, env)  # the arm that raises is not taken
        else:
            self.exec_both(stmt.body, stmt.orelse, env, stmt)

    def narrow(self, guard: tuple[ast.Name, int] | None, stmt: ast.stmt, env: Env) -> None:
        """Past a guard stating a tensor's rank, the tensor of that name has it (extract/guards.py)."""
        if guard is None:
            return
        name, rank = guard
        tensor = self.ev(name, env)
        if is_tensor(tensor):
            self.assign(name, self.emit("rank", (tensor.value,), stmt, rank=rank), env)

    def exec_both(self, then_body, else_body, env: Env, node: ast.AST) -> None:
        """Run both arms of an uncertain branch on copies, and keep what they agree on."""
        if self.speculative >= MAX_SPECULATION:
            self.havoc_block(list(then_body) + list(else_body), env)
            return
        with self.speculation(arms=True):
            self.exec_arms(then_body, else_body, env, node)

    def exec_arms(self, then_body, else_body, env: Env, node: ast.AST) -> None:
        outcomes, returned = [], []
        for body in (then_body, else_body):
            arm_env = Env(env.parent, dict(env.vars))
            arm_self = None
            if self.self_instance is not None:
                arm_self = dict(self.self_instance.attrs)
                saved_attrs, self.self_instance.attrs = self.self_instance.attrs, arm_self
            try:
                self.exec_block(body, arm_env)
                outcomes.append((arm_env.vars, arm_self))
            except Raise:
                pass
            except Return as jump:
                returned.append(({"": jump.value}, arm_self))
            except (Break, Continue):
                if self.self_instance is not None:
                    self.self_instance.attrs = saved_attrs
                self.havoc_block(list(then_body) + list(else_body), env)
                raise Break
            if self.self_instance is not None:
                self.self_instance.attrs = saved_attrs
        if returned and outcomes:  # one arm returns, the other goes on: what follows is not followed
            self.havoc_block(list(then_body) + list(else_body), env)
            raise Return(UNKNOWN)
        if returned:  # each arm that does not raise returns: the function returns what they agree on
            if self.self_instance is not None:
                self.self_instance.attrs = self.merge([r[1] for r in returned], node)
            raise Return(self.merge([r[0] for r in returned], node)[""])
        if not outcomes:
            raise Raise
        env.vars = self.merge([o[0] for o in outcomes], node)
        if self.self_instance is not None:
            self.self_instance.attrs = self.merge([o[1] for o in outcomes], node)

    def merge(self, dicts: list[dict], node: ast.AST) -> dict:
        if len(dicts) == 1:
            return dicts[0]
        merged = {}
        for name in {**dicts[0], **dicts[1]}:  # in a fixed order: the parts of a model are listed in it
            a, b = dicts[0].get(name, UNKNOWN), dicts[1].get(name, UNKNOWN)
            if a is b or (known(a) and known(b) and type(a) is type(b) and a == b):
                merged[name] = a
            elif is_tensor(a) and is_tensor(b) and self.ops is not None:
                merged[name] = self.emit("join", (a.value, b.value), node)
            elif module_kind(a) and module_kind(b):
                options = [o for v in (a, b) for o in (v.options if isinstance(v, OneOf) else (v,))]
                merged[name] = OneOf(tuple({id(o): o for o in options}.values()))
            else:
                merged[name] = UNKNOWN
        return merged

    def exec_for(self, stmt: ast.For, env: Env) -> None:
        iterable = self.ev(stmt.iter, env)
        if isinstance(iterable, FeatureList):
            self.exec_generic(stmt, env)
            return
        items = self.iterate(iterable)
        if items is None or len(items) > MAX_UNROLL:
            self.havoc(stmt, env)
            return
        for item in items:
            self.assign(stmt.target, item, env)
            self.loop_items.append(item)
            try:
                self.exec_block(stmt.body, env)
            except Continue:
                continue
            except Break:
                return
            finally:
                self.loop_items.pop()
        self.exec_block(stmt.orelse, env)

    def exec_generic(self, stmt: ast.For, env: Env) -> None:
        """`for feature in features` over a FeatureList: one iteration on a fresh tensor, with
        everything the loop changes forgotten before (it stands for any iteration) and after."""
        for target in self.mutated_targets(stmt):  # what an earlier iteration may have changed
            node = target.node if type(target) is Receiver else target
            value = self.ev(node, env) if type(node) in (ast.Name, ast.Attribute) else UNKNOWN
            if not isinstance(value, (Instance, Layer, Tensor, Qual, ClassInfo, Function, ModuleRef)):
                self.havoc_target(target, env)  # (calling a module or a helper rebinds nothing)
        with self.speculation():
            self.assign(stmt.target, self.emit("input", (), stmt), env)
            try:
                self.exec_block(stmt.body, env)
            except (Continue, Break, Raise):
                pass
            except Return:
                self.havoc(stmt, env)
                raise Return(UNKNOWN) from None
        self.havoc(stmt, env)

    def exec_augassign(self, small: ast.AugAssign, env: Env) -> None:
        current = self.ev(small.target, env)
        value = self.ev(small.value, env)
        if isinstance(current, Container) and current.kind == "ModuleList" and type(small.op) is ast.Add:
            items = self.iterate(value)  # ModuleList.__iadd__ extends it in place
            self.touch(current)
            if items is None:
                self.assign(small.target, UNKNOWN, env)
            else:
                current.children.extend(items)
            return
        if isinstance(current, ListVal) and type(small.op) is ast.Add:
            self.touch(current)
            items = self.iterate(value)
            if items is None:
                self.assign(small.target, UNKNOWN, env)
            else:
                current.items.extend(items)
            return
        self.assign(small.target, self.binary(operator_name(small.op), current, value, small), env)

    def havoc(self, stmt: ast.AST, env: Env) -> None:
        """Forget everything a statement we cannot follow may change."""
        self.havoc_block([stmt], env)

    def havoc_block(self, stmts, env: Env) -> None:
        for stmt in stmts:
            for target in self.mutated_targets(stmt):
                self.havoc_target(target, env)

    def mutated_targets(self, stmt: ast.AST) -> list[ast.AST]:
        """What a statement may rebind or mutate: assignment and loop targets, method receivers."""
        key = id(stmt)
        if key not in self.mutations:
            targets = []
            for node in walk(stmt):
                kind = type(node)
                if kind is ast.Assign:
                    targets.extend(node.targets)
                elif kind in (ast.AugAssign, ast.AnnAssign, ast.For, ast.AsyncFor):
                    targets.append(node.target)
                elif kind is ast.Call and type(node.func) is ast.Attribute:
                    targets.append(Receiver(node.func.value, node.func.attr))
            self.mutations[key] = targets
        return self.mutations[key]

    def havoc_target(self, target: ast.AST, env: Env) -> None:
        if type(target) is Receiver:  # `owner.method(...)`: a module, class or function is not changed by it
            method, target = target.method, target.node
            if type(target) is ast.Name and isinstance(env.get(target.id), IMMUTABLE):
                return
            if method in UNCHANGING and type(target) is ast.Name and unchanged_by(env.get(target.id), method):
                return  # `for name, p in backbone.named_parameters()`: torch's queries change no module
        kind = type(target)
        if kind is ast.Name:
            old = env.vars.get(target.id)
            if isinstance(old, (ListVal, DictVal, Container)):
                lose(old, None)  # it may have been changed: other names for it must not keep its contents
            env.vars[target.id] = UNKNOWN
        elif kind is ast.Tuple or kind is ast.List:
            for element in target.elts:
                self.havoc_target(element, env)
        elif kind is ast.Attribute:
            owner = self.ev(target.value, env)
            if isinstance(owner, Instance):
                old = owner.attrs.get(target.attr)
                if isinstance(old, (ListVal, DictVal, Container)):
                    lose(old, None)
                owner.attrs[target.attr] = UNKNOWN
            elif type(target.value) is ast.Name and isinstance(owner, (ListVal, DictVal, Container)):
                lose(owner, None)
                env.vars[target.value.id] = UNKNOWN  # a list mutated in a loop we cannot follow
        elif kind is ast.Subscript or kind is ast.Starred:
            self.havoc_target(target.value, env)


DATACLASS = ("dataclass", "dataclasses.dataclass")


def makes_dataclass_init(stmt: ast.ClassDef) -> bool:
    """Decorated @dataclass (or @dataclass(...) without init=False)."""
    for decorator in stmt.decorator_list:
        call = decorator if type(decorator) is ast.Call else None
        if dotted_name(call.func if call else decorator) not in DATACLASS:
            continue
        return not any(k.arg == "init" and not (type(k.value) is ast.Constant and k.value.value) for k in (call.keywords if call else ()))
    return False


class Receiver:
    """The owner of a method call in a statement we cannot follow (`layers` in `layers.append(x)`),
    and the method's name."""

    __slots__ = ("node", "method")

    def __init__(self, node: ast.AST, method: str) -> None:
        self.node = node
        self.method = method


UNCHANGING = MODULE_QUERIES | {"children", "named_children"}  # torch.nn.Module's methods that leave a module as it is


def unchanged_by(value, method: str) -> bool:
    """Whether calling `method` on `value` is torch.nn.Module's own (a layer, a container, an
    instance of a module class that does not define it), which changes no module."""
    if isinstance(value, Instance):
        return value.cls.torch_base() is not None and not isinstance(value.cls.lookup(method), Function)
    return isinstance(value, (Layer, Container))


IMMUTABLE = (Qual, ModuleRef, ClassInfo, Function, Builtin)  # what a method call cannot change



def handler_names(handler: ast.ExceptHandler) -> str:
    """The exception classes an `except` names, as one string ("*": a bare except)."""
    if handler.type is None:
        return "*"
    types = handler.type.elts if type(handler.type) is ast.Tuple else [handler.type]
    return ",".join((dotted_name(t) or "?").rsplit(".", 1)[-1] for t in types)
