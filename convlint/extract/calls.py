"""Calls: evaluating arguments (`*args`, `**kwargs`), dispatching on what is called, binding
parameters and running the code we read. What a call into a library does is a hook keyed by its
qualified name, in the table of its library (`pythonlib`, `tensors`, `nn`): a new function of torch
is one entry there."""

from __future__ import annotations

import ast
from typing import Any

from ..graph import Layer
from ..sizes import UNKNOWN
from ..syntax import DEFINITIONS
from . import arrays, einops, fixed, nn, pythonlib, sized, tensors, valued, zoo
from .pointwise import POINTWISE
from .state import MAX_CALL_DEPTH, MAX_RECURSION, STEP_BUDGET
from .values import (
    MUTATORS, ArrayVal, BoundMethod, Break, Builtin, ClassInfo, ConstTensor, Container, Continue, DictVal, Env, Function,
    Instance, ListVal, MethodRef, OneOf, Partial, Qual, Raise, Return, SetVal, SizedTensor, Super, Tensor, ValuedTensor,
    is_lost, is_tensor, plain,
    positional_params, typed,
)

# qualified name -> hook(interp, args, kwargs, node): taken before anything else is tried
QUAL_CALLS = {**pythonlib.QUAL_CALLS, **tensors.QUAL_CALLS, **zoo.QUAL_CALLS, **einops.QUAL_CALLS}
# qualified name -> hook, for the functions of torch that are not called on a tensor
QUAL_FALLBACKS = {**pythonlib.QUAL_FALLBACKS, **tensors.QUAL_FALLBACKS, **arrays.QUAL_FALLBACKS, **fixed.QUAL_FALLBACKS}
QUAL_FALLBACKS.update(valued.fallbacks(QUAL_FALLBACKS))  # tensors of known values, and the rest as before
# the type of the owner -> handler(interp, owner, name, args, kwargs, node) of its methods
METHODS_OF = {
    ListVal: pythonlib.list_method, ArrayVal: pythonlib.array_method, DictVal: pythonlib.dict_method,
    Container: nn.container_method, Instance: nn.instance_method, ConstTensor: tensors.const_method,
    ValuedTensor: valued.method, SizedTensor: sized.method, SetVal: pythonlib.set_method,
    str: pythonlib.str_method,
}
TENSOR_MODULES = {"torch": False, "torch.nn.functional": True}  # module -> functional
PURE_RESULTS: dict[tuple, tuple] = {}  # (function, closure, arguments) -> (closure, result, steps it took)
MAX_PURE_RESULTS = 8192


class Calls:
    """Calling things (a mixin of the Extractor)."""

    def call(self, node: ast.Call, env: Env) -> Any:
        func = self.ev(node.func, env)
        args: list = []
        kwargs: dict = {}
        for arg in node.args:
            if type(arg) is ast.Starred:
                items = self.iterate(self.ev(arg.value, env))
                if items is None:
                    return self.unknown_result(args, kwargs, node)
                args.extend(items)
            else:
                args.append(self.ev(arg, env))
        for keyword in node.keywords:
            if keyword.arg is not None:
                kwargs[keyword.arg] = self.ev(keyword.value, env)
                continue
            value = self.ev(keyword.value, env)  # **mapping
            if not isinstance(value, DictVal) or value.lost or not all(isinstance(k, str) for k in value.keys):
                return self.unknown_result(args, kwargs, node)
            if value.maybe and collects_kwargs(func):
                return self.unknown_result(args, kwargs, node)  # its **kwargs would not know what is absent
            kwargs.update(zip(value.keys, value.values))
            self.open_call = self.open_call or value.open
        try:
            return self.invoke(func, args, kwargs, node)
        finally:
            self.open_call = False

    def invoke(self, func: Any, args: list, kwargs: dict, node: ast.AST) -> Any:
        kind = type(func)  # exact types, the commonest first: none of these classes has subclasses
        if kind is Builtin:
            return self.call_builtin(func.name, args, kwargs, node)
        if kind is Qual:
            return self.call_qual(func.name, args, kwargs, node)
        if kind is MethodRef:
            return self.call_method(func.owner, func.name, args, kwargs, node)
        if kind is Function:
            hook = zoo.hook_of(func)
            if hook is not None:
                return hook(self, args, kwargs, node)
            if zoo.is_pure(func):
                return self.call_pure(func, args, kwargs, node)
            return self.call_function(func, args, kwargs, node)
        if kind is Layer:
            return self.apply(func, args, kwargs, node)
        if kind is ClassInfo:
            return self.instantiate(func, args, kwargs, node)
        if kind is Partial:
            return self.invoke(func.func, [*func.args, *args], {**func.kwargs, **kwargs}, node)
        if kind is BoundMethod:
            return self.call_function(func.func, [func.self_value, *args], kwargs, node)
        if kind is Instance and not func.opaque and func.cls.torch_base() is None:
            method = func.cls.lookup("__call__")  # a callable object (timm's EfficientNetBuilder)
            if isinstance(method, Function):
                return self.call_function(method, [func, *args], kwargs, node)
        if kind is Instance or kind is Container or kind is OneOf:
            return self.apply(func, args, kwargs, node)
        return self.unknown_result(args, kwargs, node)

    def forward_hook(self, module: Any) -> Any:
        """What replaces the forward of a zoo's module (zoo.FORWARDS), if anything."""
        return zoo.forward_hook(self, module)

    def call_pure(self, func: Function, args: list, kwargs: dict, node: ast.AST) -> Any:
        """A zoo helper whose result depends only on its arguments (zoo.PURE), run once per
        arguments of plain values in a process; a repeated call costs the steps the first took,
        so what the budget lets a file build stays the same."""
        if not (all(map(plain, args)) and all(map(plain, kwargs.values()))) or self.depth >= MAX_CALL_DEPTH:
            return self.call_function(func, args, kwargs, node)
        key = (func.node, func.foreign, id(func.env), typed(tuple(args)), typed(tuple(sorted(kwargs.items()))))
        kept = PURE_RESULTS.get(key)
        if kept is not None and kept[0] is func.env and self.steps + kept[2] <= STEP_BUDGET:
            self.steps += kept[2]
            return kept[1]
        steps, built, ops = self.steps, len(self.layer_log), self.counter
        result = self.call_function(func, args, kwargs, node)
        if plain(result) and len(self.layer_log) == built and self.counter == ops:
            if len(PURE_RESULTS) >= MAX_PURE_RESULTS:
                PURE_RESULTS.clear()
            PURE_RESULTS[key] = (func.env, result, self.steps - steps)
        return result

    def call_qual(self, name: str, args: list, kwargs: dict, node: ast.AST) -> Any:
        hook = QUAL_CALLS.get(name)
        if hook is not None:
            return hook(self, args, kwargs, node)
        module, _, attr = name.rpartition(".")
        if module == "torch.nn" or module.startswith("torch.nn.modules.") and nn.torch_class(name) is not None:
            return self.construct(attr, args, kwargs, node)  # (raft's `from torch.nn.modules.batchnorm import BatchNorm2d`)
        if args and is_tensor(args[0]) and module in TENSOR_MODULES:
            return self.tensor_function(attr, args[0], args[1:], kwargs, node, functional=TENSOR_MODULES[module])
        if module == "torch" and attr in POINTWISE and args and isinstance(args[0], ConstTensor) \
                and any(is_tensor(a) for a in args[1:]):
            return tensors.const_method(self, args[0], attr, args[1:], kwargs, node)  # `torch.addcmul(self.bias, ...)`
        hook = QUAL_FALLBACKS.get(name)
        if hook is not None:
            return hook(self, args, kwargs, node)
        return self.unknown_result(args, kwargs, node)

    def call_method(self, owner: Any, name: str, args: list, kwargs: dict, node: ast.AST) -> Any:
        if isinstance(owner, Tensor):
            return self.tensor_method(owner, name, args, kwargs, node)
        if isinstance(owner, Super):
            return self.call_super(owner, name, args, kwargs, node)
        if is_lost(owner) or isinstance(owner, DictVal) and owner.maybe and name != "get":
            if isinstance(owner, (ListVal, DictVal)) and name in MUTATORS:
                owner.lost = True
            return UNKNOWN
        if isinstance(owner, (ListVal, DictVal, Container)) and name in MUTATORS:
            self.touch(owner)
        handler = METHODS_OF.get(type(owner))
        return UNKNOWN if handler is None else handler(self, owner, name, args, kwargs, node)

    def call_builtin(self, name: str, args: list, kwargs: dict, node: ast.AST) -> Any:
        handler = pythonlib.BUILTIN_CALLS.get(name)
        return self.unknown_result(args, kwargs, node) if handler is None else handler(self, args, kwargs, node)

    def call_function(self, func: Function, args: list, kwargs: dict, node: ast.AST, defaults_only=False) -> Any:
        # a method of another instance is not a recursion: a U-Net block's forward runs its inner block's
        key = (id(func.node), id(args[0]) if args and isinstance(args[0], Instance) else None)
        if self.depth >= MAX_CALL_DEPTH or self.active.get(key, 0) >= MAX_RECURSION:
            return self.unknown_result(args, kwargs, node)
        env = Env(func.env)
        guessed = self.bind_params(func.node.args, args, kwargs, env, func.env, defaults_only)
        if guessed is None:
            return self.unknown_result(args, kwargs, node)
        outer_site = self.helper_site
        if self.helper_site is None and type(node) not in DEFINITIONS:
            self.helper_site = node  # layers a helper builds are reported where the helper is called
            self.helper_layers = {}
        saved = (self.self_instance, self.current_class, self.foreign_site, self.code_file, self.guessing)
        self.guessing = self.guessing or guessed
        if func.foreign and self.foreign_site is None and type(node) not in DEFINITIONS:
            self.foreign_site = node  # what another file's code builds is reported at the local call
        elif not func.foreign:
            self.foreign_site = None  # this file's code called back by another's (a head a detector runs): its own lines
        local_call = self.code_file is None and type(node) not in DEFINITIONS
        if local_call:
            self.call_stack.append(node)
        self.code_file = func.foreign
        method_of = args[0] if args and isinstance(args[0], Instance) and func.node.args.args else None
        if method_of is not None and func.node.args.args[0].arg == "self":
            self.self_instance = method_of
            self.current_class = self.defining_class(method_of.cls, func)
            self.helper_site = None  # inside a class, a layer's own definition shows the mistake best
        self.depth += 1
        self.active[key] = self.active.get(key, 0) + 1
        built = len(self.layer_log)
        try:
            self.exec_block(func.node.body, env)
            result = None
        except Return as ret:
            result = ret.value
        except Raise:
            for layer_id in self.layer_log[built:]:  # this call raises: what it built never exists
                self.layers.pop(layer_id, None)
            del self.layer_log[built:]
            result = UNKNOWN
        except (Break, Continue):
            result = UNKNOWN
        finally:
            self.depth -= 1
            self.active[key] -= 1
            self.self_instance, self.current_class, self.foreign_site, self.code_file, self.guessing = saved
            if local_call:
                self.call_stack.pop()
            self.helper_site = outer_site
        return result

    def bind_params(self, params: ast.arguments, args, kwargs, env: Env, def_env: Env, defaults_only: bool) -> bool | None:
        """Bind the arguments into `env`: None when the call does not bind, else whether an argument
        was made up (`defaults_only`: a required one left unknown, or the `*args`/`**kwargs` taken empty)."""
        # `super().__init__(block=..., **kwargs)` of a class built from its defaults (monai's
        # SEResNet50): what its caller would pass in **kwargs, the parameters still required, is unknown
        defaults_only, self.open_call = defaults_only or self.open_call, False
        positional = positional_params(params)
        kwargs = dict(kwargs)  # (bind_rest takes out what it binds)
        made_up = defaults_only and (params.vararg or params.kwarg) is not None
        for i, (param, default) in enumerate(positional):
            if i < len(args):
                env.vars[param.arg] = args[i]
                continue
            bound = self.bind_rest(param.arg, default, kwargs, env, def_env, defaults_only)
            if bound is None:
                return None
            made_up = made_up or bound
        extra = args[len(positional):]
        if extra and params.vararg is None:
            return None
        if params.vararg is not None:
            env.vars[params.vararg.arg] = tuple(extra)
        for param, default in zip(params.kwonlyargs, params.kw_defaults):
            bound = self.bind_rest(param.arg, default, kwargs, env, def_env, defaults_only)
            if bound is None:
                return None
            made_up = made_up or bound
        if params.kwarg is not None:
            env.vars[params.kwarg.arg] = DictVal(list(kwargs), list(kwargs.values()), open=defaults_only)
        elif kwargs:
            return None
        return made_up

    def bind_rest(self, name: str, default, kwargs: dict, env: Env, def_env: Env, defaults_only: bool) -> bool | None:
        """Bind a parameter no positional argument filled: by keyword, else its default, else (a
        model built from its defaults alone) unknown. None: it cannot be bound; else whether it was made up."""
        if name in kwargs:
            env.vars[name] = kwargs.pop(name)
        elif default is not None:
            env.vars[name] = self.ev(default, def_env)
        elif defaults_only:
            env.vars[name] = UNKNOWN
            return True
        else:
            return None
        return False


def collects_kwargs(func: Any) -> bool | None:
    """Whether a callee may gather keyword arguments in a `**kwargs` (True when unsure)."""
    if isinstance(func, Partial):
        return collects_kwargs(func.func)
    if isinstance(func, BoundMethod):
        func = func.func
    if isinstance(func, ClassInfo):
        func = func.lookup("__init__")
        if func is None:
            return False
    if isinstance(func, Function):
        return func.node.args.kwarg is not None
    return not isinstance(func, Qual)
