"""Finding the models of a file: each top-level class, function and assignment that may define one
is built and run on a model input, in evaluation mode (and in training mode when its forward reads
`self.training`), then each sub-module its run never called is run on its own."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from typing import Any, NamedTuple

from .. import layers as L
from .. import syntax
from ..graph import MODEL_INPUT, Layer, Model
from ..syntax import DEFS, dotted_name, walk
from . import zoo
from .nn import module_kind
from .state import MAX_PARTS
from .values import (
    JUMPS, ClassInfo, ConstTensor, Container, DictVal, Env, FeatureList, Function, Instance, ListVal, OneOf,
    Tensor, binds, forward_of, is_enum, is_parameter, owner_items, positional_params,
)

MAX_EXAMPLES = 3  # the calls of a class its documentation shows that are built, each a model
# what a return annotation may name when the function surely returns no module (kornia's `-> Tensor`
# functions, run on their defaults, only spend the file's budget)
NOT_MODULES = frozenset({
    "Tensor", "None", "bool", "int", "float", "str", "bytes", "dict", "list", "tuple", "set", "frozenset",
    "Dict", "List", "Tuple", "Set", "FrozenSet", "Optional", "Union", "Sequence", "Mapping", "Iterable", "Iterator",
})


class Construction(NamedTuple):
    """What building a model left before its forward ran: the module, the ops its construction
    emitted, the next tensor id, a digest of the module tree (state_digest), the steps spent and
    the input a zoo's configuration gives the module and where it comes from (State.configured)."""

    module: Any
    ops: list
    counter: int
    digest: tuple
    steps: int
    configured: tuple | None


class Discovery:
    """Which statements define models, and building each (a mixin of the Extractor)."""

    def models(self, only: str | None = None, calls: dict[str, ast.expr] | None = None) -> list[Model]:
        """Every model the file defines; with `only`, just the model of that name (and none of its
        parts): `summary --model` builds no other. `calls`: for a model name, the call that builds
        it (a factory, `ResNet(BasicBlock, [2, 2, 2, 2])`, already checked to hold only literals
        and names), read by the interpreter like any other call of the file."""
        body = list(self.module.body)
        try:
            self.exec_block(body, self.globals)
        except JUMPS:
            pass
        spent = self.steps
        comments = syntax.input_comments(self.source)
        built: list[tuple[Model, Any]] = []  # each candidate's model and the module it built
        groups: list[list[Model]] = []  # per candidate built: its models, in the order they are reported
        later: list[tuple] = []  # per candidate built: what its training run and its parts need
        for stmt in variants_last(body, self.enum_names()):
            declared = syntax.declared_input(stmt, comments)
            for name, make in self.candidates(stmt):
                if only is not None and name != only and not only.startswith(name + "."):
                    continue  # (`only` may be one of its parts: "resnet18.layer4")
                if calls and name in calls:
                    make = lambda call=calls[name]: self.ev(call, self.globals)  # noqa: E731
                if spent > self.budget():  # the rest of a file of many variants stays unknown
                    break
                self.root, self.applied = None, {}
                model = self.build(name, stmt, make, declared)
                spent += self.steps
                if model is None:
                    continue
                groups.append([model])
                built.append((model, self.root))
                later.append((name, stmt, make, declared, self.root, self.applied, self.made, self.mode_read))
            if spent > self.budget():
                break
        # every model once before any twice: a file of many variants spends its budget on building
        # each of them rather than on the training runs and parts of the first few
        for group, (name, stmt, make, declared, root, applied, made, mode_read) in zip(groups, later):
            if spent > self.budget():
                break
            self.root, self.applied = root, applied
            if mode_read:  # its forward reads self.training: that mode too
                model = self.build(name, stmt, make, declared, training=True, made=made)
                spent += self.steps
                if model is not None:
                    group.append(model)
            for part in self.parts(name, stmt, root) if only != name else ():
                if spent > self.budget():
                    break
                spent += self.steps
                group.append(part)
        place = {id(stmt): i for i, stmt in enumerate(body)}  # reported in the file's order, as built before
        found = [model for group in sorted(groups, key=lambda group: place[id(group[0].node)]) for model in group]
        mark_inside(built, found)
        return found

    def enum_names(self) -> frozenset[str]:
        """The file's global names bound to Enum classes (a torchvision builder's weights)."""
        return frozenset(name for name, value in self.globals.vars.items() if isinstance(value, ClassInfo) and is_enum(value))

    def parts(self, name: str, stmt: ast.AST, root: Any) -> Iterator[Model]:
        """A model's sub-modules that its run never called (a backbone given to a detector whose
        forward we cannot follow, heads fed lists), each run on its own from an unknown input."""
        if root is None:
            return
        count = 0
        for path, module in self.unapplied(root):
            if count >= MAX_PARTS:
                break
            if id(module) in self.applied:
                continue  # called by a part run before it
            argument = FeatureList() if takes_list(module) else None
            model = self.build(f"{name}.{path}", stmt, lambda module=module: module, None, argument=argument)
            if model is not None and any(op.kind == "layer" for op in model.ops):
                model.part_of = name
                count += 1
                yield model

    def candidates(self, stmt: ast.AST):
        """(name, thunk producing the module value) for each model a statement defines."""
        kind = type(stmt)
        if kind is ast.ClassDef:
            cls = self.globals.vars.get(stmt.name)
            if isinstance(cls, ClassInfo) and cls.torch_base() is not None:
                init = cls.lookup("__init__")
                documented = isinstance(init, Function) and requires_arguments(init.node.args)
                calls = syntax.documented_calls(stmt) if documented else []
                binding = [binds(init.node.args, 1 + len(c.args), {k.arg: None for k in c.keywords}) for c in calls]
                examples = [c for c, full in zip(calls, binding) if full][:MAX_EXAMPLES]
                # a documentation older than the signature omits a parameter since made required (monai's
                # ViT examples, written before patch_size was): that one is left unknown, as from the defaults
                older = [c for c, full in zip(calls, binding) if not full and
                         binds(init.node.args, 1 + len(c.args), {k.arg: None for k in c.keywords}, complete=False)]
                example = syntax.doctest_statements(stmt) if documented else None
                used: list[ast.Call] = []
                yield cls.name, lambda: self.documented_or_default(cls, stmt, examples, used, example, older)
                for call in examples:
                    if call not in used:  # each other example, a model of its own named by its line
                        yield f"{cls.name}@{call.lineno}", lambda call=call: self.ev(call, self.globals)
        elif kind in DEFS:
            func = self.globals.vars.get(stmt.name)
            if isinstance(func, Function) and not returns_no_module(stmt.returns):
                yield stmt.name, lambda: self.built_by(func, stmt)
        elif (kind is ast.Assign or kind is ast.AnnAssign) and stmt.value is not None:
            for target in stmt.targets if kind is ast.Assign else [stmt.target]:
                if type(target) is ast.Name:
                    value = self.globals.vars.get(target.id)
                    if isinstance(value, (Layer, Container, Instance)) and module_kind(value) is not False:
                        yield target.id, (lambda v=value: v)
                    elif isinstance(value, DictVal):
                        yield from zoo.table_models(self, value, stmt)

    def from_example(self, cls: ClassInfo, example: list[ast.stmt], stmt: ast.ClassDef) -> Any:
        """The instance of `cls` the class's docstring example builds (`>>> model = RRDBNet(num_in_ch=3,
        ...)`), its imports and assignments run in order in a scope of the file's own until one binds
        an instance of it; None when none does."""
        env = Env(self.globals)
        for line in example:
            if type(line) not in (ast.Import, ast.ImportFrom, ast.Assign):
                continue
            self.exec_stmt(line, env)
            if type(line) is not ast.Assign:  # the file's own names win over their import from its package
                for name in [n for n in env.vars if n in self.globals.vars]:
                    del env.vars[name]
            value = env.vars.get(line.targets[0].id) if type(line) is ast.Assign and \
                type(line.targets[0]) is ast.Name else None
            if isinstance(value, Instance) and value.cls is cls:
                return value
        return None

    def documented_or_default(self, cls: ClassInfo, stmt: ast.ClassDef, examples: list, used: list,
                              example: list[ast.stmt] | None, older: list) -> Any:
        """The class built as the first of its documentation's examples (the authors' own values for
        the parameters without a default, which defaults_only would leave unknown; those that bind
        to its __init__) that builds a module, noted in `used`; else as the first of the `older`
        examples, which leave out parameters without a default (partly_given); else as its doctest
        example builds it (a config object made first); else from its defaults alone."""
        for call in examples:
            module = self.ev(call, self.globals)
            if isinstance(module, (Layer, Container, Instance)):
                used.append(call)
                return module
        for call in older[:MAX_EXAMPLES]:
            module = self.partly_given(cls, call)
            if isinstance(module, (Layer, Container, Instance)):
                return module
        module = self.from_example(cls, example, stmt) if example else None
        return module if module is not None else self.alone(cls, stmt)

    def partly_given(self, cls: ClassInfo, call: ast.Call) -> Any:
        """The class built with the arguments a documented call gives, the parameters without a
        default it leaves out unknown (as `alone` leaves them all)."""
        args = [self.ev(a, self.globals) for a in call.args]
        kwargs = {k.arg: self.ev(k.value, self.globals) for k in call.keywords}
        return self.instantiate(cls, args, kwargs, call, defaults_only=True)

    def alone(self, cls: ClassInfo, stmt: ast.ClassDef) -> Any:
        """An instance of the class built on its defaults, with the input they size it for."""
        module = self.instantiate(cls, [], {}, stmt, defaults_only=True)
        shape = zoo.default_input(cls, self.path)
        if shape is not None:
            self.configured = (module, shape, zoo.TIMM_CONFIGURED)
        return module

    def built_by(self, func: Function, stmt: ast.FunctionDef) -> Any:
        """What a function returns on its defaults, with the input its pretrained weights are made for
        (a torchvision builder's: the class it builds has no weights of its own)."""
        module = self.call_function(func, [], {}, stmt, defaults_only=True)
        shape = zoo.weights_input(self, stmt)
        if shape is not None:
            self.configured = (module, shape, zoo.WEIGHTS_CONFIGURED)
        return module

    def build(self, name, stmt, make, declared, training: bool = False, argument: Any = None,
              made: Construction | None = None) -> Model | None:
        """The model `make()` constructs, run in evaluation mode (or training mode) on `argument`
        (by default, a tensor: the model input). `made`: what the evaluation run's construction
        left (self.made), used again for the training run when that run changed none of it."""
        self.ops, self.counter, self.steps = [], MODEL_INPUT + 1, 0
        self.declared = declared
        self.mode_read = False
        self.made = None
        output = None
        registered: tuple[list[Layer], bool] = ([], False)
        paths: tuple[dict, dict, dict] = ({}, {}, {})
        configured = None
        try:
            if made is not None and state_digest(made.module) == made.digest:
                module, self.ops, self.counter, self.steps = made.module, list(made.ops), made.counter, made.steps
                configured = made.configured
            else:
                self.configured = (None, None, None)
                module = make()
                configured = self.configured[1:] if self.configured[0] is module and self.configured[1] else None
            if not isinstance(module, (Layer, Container, Instance)):
                return None
            if declared is None and configured is not None:
                # its forward runs at the configured input's rank (mvit's `if x.dim() == 4: x =
                # x.unsqueeze(2)` for a video) as at a declared one
                self.declared, self.rank_run = configured[0], None
            registered = registered_layers(module)  # as constructed, before forward runs
            paths = self.module_paths(module)
            if not training:
                self.made = Construction(module, list(self.ops), self.counter, state_digest(module), self.steps,
                                         configured)
            self.root, self.mode, self.scope = module, training, []
            # tensors of unknown shape for a forward's further parameters without a default (a head's
            # `forward(self, features, coords)`, a diffusion UNet's `forward(self, x, timesteps)`),
            # each as free as the model input
            others = tensor_params(module) - 1 if argument is None else 0
            extra = [self.emit("input", (), stmt, parameter=True) for _ in range(others)]
            result = self.apply(module, [Tensor(MODEL_INPUT) if argument is None else argument, *extra], {}, stmt)
            output = result.value if isinstance(result, Tensor) else None
        except JUMPS:
            pass
        finally:
            ops, self.ops, self.mode = self.ops, None, None
        return Model(name, stmt, declared, ops, output, registered=registered[0], registered_complete=registered[1],
                     training=training, paths=paths[0], kinds=paths[1], sites=paths[2], configured=configured)

    def callable_part(self, module: Any) -> bool:
        """Whether a sub-module nothing called is surely meant to be called on a tensor: an instance of
        a class with its own forward, or of an nn.Sequential subclass none of whose children was
        called alone (a plain nn.Sequential may serve as a list of per-level heads: not run)."""
        if not isinstance(module, Instance) or module.opaque:
            return False
        if isinstance(forward_of(module), Function):
            return True
        return module.children is not None and module.cls.torch_base() == "Sequential" and \
            not any(id(child) in self.applied for child in module.children)

    def unapplied(self, root: Any) -> Iterator[tuple[str, Any]]:
        """(path, module) for the sub-modules of `root` that no model run has called, parents first."""
        queue, seen = [("", root)], {id(root)}
        while queue:
            path, module = queue.pop(0)
            if path and id(module) not in self.applied and self.callable_part(module):
                yield path, module
            if isinstance(module, Container):
                named = list(zip(module.keys or range(len(module.children)), module.children))
            elif isinstance(module, Instance):
                named = [*owner_items(module.attrs), *zip(module.child_names, module.children or [])]
            else:
                named = []
            for key, child in named:
                if isinstance(child, (Container, Instance)) and id(child) not in seen:
                    seen.add(id(child))
                    queue.append((f"{path}.{key}" if path else str(key), child))


def variants_last(body: list[ast.stmt], enums: frozenset[str] = frozenset()) -> list[ast.stmt]:
    """The statements in order, except that a function that only repeats an earlier one with other
    numbers or weights (a zoo's `resnet101` after its `resnet50`, torchvision's `swin_s` after
    `swin_t`: `enums`, the file's Enum classes, name their weights) comes after all the others,
    and after those a helper that other functions of the file call (timm's `_create_ghostnet`,
    which each entry point runs with its own arguments): such a size or helper runs the lines that
    came before already ran, and a file's step budget is better spent on each family once
    (`ghostnetv2_100`, a string `version='v2'` apart, runs other blocks)."""
    called = {node.func.id for stmt in body if type(stmt) in DEFS for node in walk(stmt)
              if type(node) is ast.Call and type(node.func) is ast.Name}
    firsts: list[ast.stmt] = []
    sizes: list[ast.stmt] = []
    helpers: list[ast.stmt] = []
    families: set[frozenset] = set()
    for stmt in body:
        if type(stmt) in DEFS and stmt.name in called:
            helpers.append(stmt)
        elif type(stmt) in DEFS:
            family = _family(stmt, enums)
            (sizes if family in families else firsts).append(stmt)
            families.add(family)
        else:
            firsts.append(stmt)
    return firsts + sizes + helpers


def _family(func: ast.FunctionDef | ast.AsyncFunctionDef, enums: frozenset[str]) -> frozenset:
    """What the function's body names, however laid out: its names (any of `enums` as one),
    attributes, keywords and constants but for numbers and its own name (the variant's:
    `'resnet50'`, `'resnet50.a1_in1k'`), its docstring left out. Equal for the sizes of one family;
    a keyword (`multi_conv=True`, `wss=` of twins' windowed variants), a block class or a string
    (`version='v2'`) more or other tells another family."""
    own = func.name
    body = func.body[syntax.docstring(func) is not None:]
    names = set()
    for node in (node for stmt in body for node in walk(stmt)):
        kind = type(node)
        if kind is ast.Name:
            names.add("<enum>" if node.id in enums else node.id)
        elif kind is ast.Attribute:
            names.add("." + node.attr)
        elif kind is ast.keyword:
            names.add(f"{node.arg}=")
        elif kind is ast.Constant and type(node.value) not in (int, float) and \
                not (isinstance(node.value, str) and node.value.split(".", 1)[0] == own):
            names.add(repr(node.value))
    return frozenset(names)


def returns_no_module(annotation: ast.expr | None) -> bool:
    """Whether a return annotation says the function returns no module: it names only NOT_MODULES
    (`Tensor`, `torch.Tensor`, `Optional[Tuple[Tensor, Tensor]]`, `dict[str, int] | None`)."""
    if annotation is None:
        return False
    stack = [annotation]
    while stack:
        node = stack.pop()
        kind = type(node)
        if kind is ast.Name or kind is ast.Attribute:
            if (node.id if kind is ast.Name else node.attr) not in NOT_MODULES:
                return False
        elif kind is ast.Subscript:
            stack += [node.value, node.slice]
        elif kind is ast.Tuple:
            stack += node.elts
        elif kind is ast.BinOp and type(node.op) is ast.BitOr:
            stack += [node.left, node.right]
        elif not (kind is ast.Constant and node.value is None):
            return False  # a string annotation, `Any`, a call: it may be a module
    return True


def requires_arguments(params: ast.arguments) -> bool:
    """Whether a method has a parameter besides `self` that no default fills."""
    return any(default is None for _, default in positional_params(params)[1:]) or None in params.kw_defaults


def tensor_params(module: Any) -> int:
    """How many parameters of a module's forward besides self have no default and are tensors as
    far as their annotation tells (none, or Tensor): what a part run alone is called with (at least one)."""
    forward = forward_of(module) if isinstance(module, Instance) else None
    if not isinstance(forward, Function):
        return 1
    params = forward.node.args
    required = [param for param, default in positional_params(params)[1:] if default is None]
    if params.kwonlyargs and any(d is None for d in params.kw_defaults) or \
            any(p.annotation is not None and (dotted_name(p.annotation) or "").rsplit(".", 1)[-1] != "Tensor"
                for p in required[1:]):
        return 1  # a required keyword, or a parameter that is no tensor: not called (as before)
    return max(1, len(required))


def takes_list(module: Any, depth: int = 0) -> bool:
    """A module whose forward takes a list of tensors: annotated so (`x: list[Tensor]`), or,
    unannotated, iterating over it or handing it to a sub-module that takes one."""
    forward = forward_of(module) if isinstance(module, Instance) else None
    if not isinstance(forward, Function) or depth > 2:
        return False
    params = forward.node.args.posonlyargs + forward.node.args.args
    if len(params) < 2:
        return False
    name = params[1].arg
    annotation = params[1].annotation
    if annotation is not None:
        if type(annotation) is not ast.Subscript:
            return False
        outer = (dotted_name(annotation.value) or "").rsplit(".", 1)[-1]
        inner = (dotted_name(annotation.slice) or "").rsplit(".", 1)[-1]
        return outer in ("list", "List", "Sequence") and inner == "Tensor"
    for node in (node for stmt in forward.node.body for node in walk(stmt)):
        kind = type(node)
        if kind is ast.For and type(node.iter) is ast.Name and node.iter.id == name:
            return True
        if kind is ast.Call and len(node.args) == 1 and not node.keywords and type(node.args[0]) is ast.Name \
                and node.args[0].id == name and type(node.func) is ast.Attribute \
                and type(node.func.value) is ast.Name and node.func.value.id == "self":
            child = module.attrs.get(node.func.attr)
            if isinstance(child, Instance) and takes_list(child, depth + 1):
                return True
    return False


def _holds_no_base_parameters(base: str | None) -> bool:
    """Whether a subclass of torch.nn.`base` gets no parameters from its base class's constructor (which
    we do not read): a container, nn.Module, or a layer that has none with its default arguments
    (a subclass of nn.LayerNorm or nn.Conv2d has the base's weights, which no attribute shows)."""
    if base in (None, "Module", "Sequential", "ModuleList", "ModuleDict"):
        return True
    if base not in L.LAYERS:
        return False
    params = L.bind(base, [], {})
    return params is not None and L.parameter_count(base, params) == (0, 0)


def each_once(root: Any, visit) -> None:
    """`visit(value)` for `root` and, depth first in their order, for what each visit returns it
    holds: each object once."""
    seen: set[int] = set()
    stack = [root]
    while stack:
        value = stack.pop()
        if id(value) not in seen:
            seen.add(id(value))
            stack.extend(reversed(visit(value) or ()))


def state_digest(module: Any) -> tuple:
    """What a forward run could have changed in a module tree, as identities and sizes: each
    object's attributes, children, parameters and flags. Equal before and after: the run changed
    nothing the interpreter keeps (forward methods rarely assign to self)."""
    digest: list = []

    def visit(value: Any) -> list | None:
        if isinstance(value, Instance):
            held = [*value.attrs.values(), *(value.children or ()), value.base]
            digest.append((id(value), value.loose, value.opaque, value.children is None, tuple(map(id, held)),
                           tuple(value.attrs)))
        elif isinstance(value, Container):
            held = list(value.children)
            digest.append((id(value), tuple(map(id, held))))
        elif isinstance(value, Layer):
            held = list(value.attrs.values())
            digest.append((id(value), tuple(map(id, held)), None if value.params is None else
                           tuple((k, id(v)) for k, v in value.params.items())))
        elif isinstance(value, ListVal):
            held = list(value.items)
            digest.append((id(value), value.lost, tuple(map(id, held))))
        elif isinstance(value, DictVal):
            held = list(value.values)
            digest.append((id(value), value.lost, tuple(map(id, value.keys)), tuple(map(id, held)), len(value.maybe)))
        else:
            return None
        return held

    each_once(module, visit)
    return tuple(digest)


def registered_layers(module: Any) -> tuple[list[Layer], bool]:
    """The layers torch's `module.parameters()` reaches: attributes and children of modules,
    the contents of Sequential, ModuleList and ModuleDict, each object once, called in forward
    or not; not what plain lists, dicts or non-module objects hold (torch does not register
    those). And whether that is all of them: False when something we could not follow may
    hold more (an opaque instance, a container changed by an unknown method)."""
    found: dict[int, Layer] = {}
    complete = True

    def visit(value: Any) -> list | None:
        nonlocal complete
        if isinstance(value, Layer):
            found.setdefault(id(value), value)
        elif is_parameter(value):
            # an nn.Parameter of known shape (a layer scale, a class token): counted as a layer of its own;
            # of a partly known one (a position embedding of n_patches tokens): of an unknown count
            shape = {"shape": value.shape} if isinstance(value, ConstTensor) else None
            found.setdefault(id(value), Layer("Parameter", shape, value.parameter, value.parameter,
                                                   attrs={"tensor": value}))
        elif isinstance(value, OneOf):
            complete = False  # which option's parameters torch holds is not known
        elif isinstance(value, Container):
            complete = complete and value.kind in ("Sequential", "ModuleList", "ModuleDict")
            complete = complete and all(module_kind(v) is not None for v in value.children)  # lost: may be a module
            return value.children
        elif isinstance(value, Instance):
            held = [*value.attrs.values(), *(value.children or ())]
            if value.cls.torch_base() is None:  # not known to be a module: torch may or may not register what it holds
                if not any(isinstance(v, (Layer, Container, Instance)) for v in held):
                    return None
                complete = False
            if value.base is not None:  # a subclass of a torch layer: the base's parameters, unless replaced
                replaced = {"weight", "bias"} & set(value.attrs)
                if not replaced:
                    found.setdefault(id(value.base), value.base)
                complete = complete and not replaced
            else:
                complete = complete and _holds_no_base_parameters(value.cls.torch_base())
            complete = complete and not value.opaque and not value.loose
            # an attribute whose value we lost (UNKNOWN: a constructor we could not follow) may be a module
            complete = complete and all(module_kind(v) is not None for v in value.attrs.values())
            return held
        return None

    each_once(module, visit)
    return list(found.values()), complete


def mark_inside(built: list[tuple[Model, Any]], found: list[Model]) -> None:
    """Set `inside` on each model whose module another model has among its sub-modules: an instance
    of the same class, or a layer or container built by the same call (a helper's)."""
    within: dict[tuple, list[str]] = {}
    for model, root in built:
        for module in submodules(root):
            within.setdefault(identity(module), []).append(model.name)
    hosts = {model.name: [h for h in within.get(identity(root), ()) if h != model.name] for model, root in built}
    for model in found:
        if hosts.get(model.name) and model.part_of is None:
            model.inside = hosts[model.name][0]


def identity(module: Any) -> tuple:
    return ("class", id(module.cls)) if isinstance(module, Instance) else ("call", id(getattr(module, "node", module)))


def submodules(root: Any) -> Iterator[Any]:
    """Every module under `root` (not root itself): attributes and children of instances, the
    contents of containers."""
    stack, seen = [root], {id(root)}
    while stack:
        value = stack.pop()
        if isinstance(value, Container):
            held = list(value.children)
        elif isinstance(value, Instance):
            held = [*value.attrs.values(), *(value.children or ())]
        else:
            continue
        for child in held:
            if isinstance(child, (Layer, Container, Instance)) and id(child) not in seen:
                seen.add(id(child))
                stack.append(child)
                yield child
