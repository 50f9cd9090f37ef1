"""Extraction: read a module's syntax tree (CPython's `ast`) the way a careful reviewer would,
and build its models.

A small abstract interpreter runs the file's module-level code, class bodies,
`__init__`s, helpers and `forward`s over *static values*: Python constants,
layers, containers, user module instances and tensors. Nothing of the user's
code is executed. Whatever it cannot know becomes UNKNOWN, and UNKNOWN only
ever makes later values unknown: it never turns into a guess.
"""

from __future__ import annotations

import ast
import itertools
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any


from . import layers as L
from . import slices
from .graph import BATCH, MODEL_INPUT, DimOf, Layer, Model, Op
from .imports import locate
from .sizes import UNKNOWN

STEP_BUDGET = 60_000  # evaluation steps per model (and per module body): bounds pathological inputs
FILE_BUDGET_BASE, FILE_BUDGET = 20_000, 100  # steps per file, and per line of it: the cost stays linear
MAX_CALL_DEPTH = 24
MAX_RECURSION = 4  # the same function active this many times: a recursion we stop following
MAX_SPECULATION = 2  # nested uncertain branches followed both ways before we just forget
MAX_UNROLL = 4096
MAX_PARTS = 24  # sub-modules a model's run did not call, run on their own

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


_SERIAL = itertools.count()  # creation order of mutable values (see Extractor.speculation)


def _born() -> int:
    return next(_SERIAL)


@dataclass(eq=False)
class Container:
    """nn.Sequential / nn.ModuleList / nn.ModuleDict (kind "Unknown": we lost track of its contents)."""

    kind: str
    children: list
    node: ast.AST
    keys: list | None = None
    born: int = field(default_factory=_born)


@dataclass(eq=False)
class ListVal:
    items: list
    born: int = field(default_factory=_born)
    lost: bool = False  # changed in an arm of an undecided branch: its contents are unknown


@dataclass(eq=False)
class DictVal:
    keys: list
    values: list
    born: int = field(default_factory=_born)
    lost: bool = False  # changed in an arm of an undecided branch: its contents are unknown
    maybe: set = field(default_factory=set)  # keys set in such an arm only: perhaps absent (values UNKNOWN)


@dataclass(eq=False)
class Function:
    node: ast.FunctionDef  # or AsyncFunctionDef
    env: Env
    foreign: bool = False  # defined in another file


@dataclass(eq=False)
class ClassInfo:
    node: ast.ClassDef
    bases: list
    attrs: dict[str, Any]
    env: Env
    foreign: bool = False  # defined in another file
    members: dict = field(default_factory=dict)  # an Enum's members, by id of their value

    @property
    def name(self) -> str:
        return self.node.name

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
    born: int = field(default_factory=_born)
    order: list = field(default_factory=list)  # attribute names of its sub-modules, in registration order
    loose: bool = False  # code we could not follow may have set attributes on it


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


class _Buffer:
    """A tensor registered with register_buffer / register_parameter: not a module, shape unknown."""

    def __repr__(self) -> str:
        return "BUFFER"


BUFFER = _Buffer()


@dataclass(eq=False)
class FeatureList:
    """The list of tensors a head is given (`forward(self, x: list[Tensor])`) when it is run on
    its own: its length is unknown, so only `for feature in x` reads it, once, on a fresh tensor."""


@dataclass(frozen=True)
class ConstTensor:
    """A tensor made with known sizes (torch.ones(c, 1, 1), an nn.Parameter of it): its full shape."""

    shape: tuple


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
        "round isinstance bool dict getattr setattr hasattr str sorted any all print object type"
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
# questions whose answer is False when a model runs as ordinary Python (not scripted, traced,
# compiled or exported)
EAGER_FALSE = {
    "torch.jit.is_scripting", "torch.jit.is_tracing", "torch._C._get_tracing_state",
    "torch.compiler.is_compiling", "torch.compiler.is_dynamo_compiling", "torch._dynamo.is_compiling",
    "torch.onnx.is_in_onnx_export",
}
# every private attribute name torch.nn.Module and the torch.nn layers define (collected from torch
# 2.13's torch/nn/modules): `getattr(module, "_is_stage_end", False)` on a module whose class we read
# whole is the default for any other private name
TORCH_PRIVATE = frozenset("""
    _ASMoutput _EXTRA_STATE_KEY_SUFFIX _SUPPORTED_ACC_DTYPES _addindent _adjust _all_weights _apply
    _apply_instance_norm _apply_permutation _arg_requires_grad _backward_hooks _backward_pre_hooks _buffers
    _call_impl _ceil_div _check_arg_device _check_input_dim _check_non_zero_input_channels
    _compiled_call_impl _compute_batch_chunk_size _conv_forward _detect_is_causal_mask _ff_block
    _fill_padding_idx_with_zero _flat_weight_refs _flat_weights _flat_weights_names _forward_hooks
    _forward_hooks_always_called _forward_hooks_with_kwargs _forward_pre_hooks
    _forward_pre_hooks_with_kwargs _forward_unimplemented _freeze _generate_square_subsequent_mask
    _get_abs_string_index _get_activation_fn _get_backward_hooks _get_backward_pre_hooks _get_clones
    _get_full_log_prob _get_in_channels _get_item_by_idx _get_name _get_no_batch_dim _get_num_spatial_dims
    _get_seq_len _global_is_full_backward_hook _grad_t _handle_no_batch_input _has_any_global_hook
    _infer_parameters _init_flat_weights _initialize_hook _is_full_backward_hook _is_make_fx_tracing
    _key_to_attr _keys _lazy_load_hook _linear_cross_entropy_batch_chunked
    _linear_cross_entropy_batch_chunked_accumulator _linear_cross_entropy_batch_chunked_backward
    _linear_cross_entropy_batch_chunked_no_reduction
    _linear_cross_entropy_batch_chunked_no_reduction_backward
    _linear_cross_entropy_batch_chunked_no_reduction_setup_context
    _linear_cross_entropy_batch_chunked_setup_context _list_with_default _load_from_state_dict _load_hook
    _load_state_dict_post_hooks _load_state_dict_pre_hooks _make_empty _make_zeros _mask
    _maybe_warn_non_full_backward_hook _mha_block _modules _named_members _non_persistent_buffers_set
    _ntuple _output_padding _parameters _qkv_same_embed_dim _random_samples
    _register_load_state_dict_pre_hook _register_state_dict_hook _replicate_for_data_parallel
    _require_tuple_int _reset_parameters _resolve_auto_acc_dtype _reverse_repeat_tuple
    _reversed_padding_repeated_twice _rnn_impls _sa_block _save_to_state_dict _shape_t _single _size
    _slow_forward _state_dict_hooks _state_dict_pre_hooks _supported_device_type _update_flat_weights
    _version _vmap _vmap_no_reduction _weight _weights_have_changed _wrapped_call_impl
""".split())
# layer attributes torch's forward reads from the module (so assigning one changes what it does)
FORWARD_READ = {
    "stride", "padding", "dilation", "ceil_mode", "count_include_pad", "divisor_override", "return_indices",
    "output_size", "size", "scale_factor", "mode", "align_corners", "padding_mode", "output_padding",
    "start_dim", "end_dim", "dim", "p", "inplace", "eps", "momentum", "negative_slope", "approximate",
}
# nn.Module methods that neither change what a module contains nor what its forward does
MODULE_QUERIES = {
    "parameters", "named_parameters", "buffers", "named_buffers", "modules", "named_modules", "state_dict",
    "extra_repr", "zero_grad", "register_forward_hook", "register_forward_pre_hook", "register_full_backward_hook",
    "requires_grad_", "load_state_dict", "to", "cuda", "cpu", "float", "half", "double", "share_memory",
}
TORCH_BASES = {"torch.nn.Module", "torch.nn.Sequential", "torch.nn.ModuleList", "torch.nn.ModuleDict"}
# methods of list, dict and nn.Sequential / ModuleList / ModuleDict that change what they hold
MUTATORS = {"append", "extend", "insert", "pop", "remove", "clear", "popitem", "setdefault", "update",
            "add_module", "register_module", "sort", "reverse"}
CONTAINER_KINDS = {"Sequential", "ModuleList", "ModuleDict"}
NOT_MODULES = {"Parameter", "Buffer", "UninitializedParameter", "UninitializedBuffer"}
# torch functions that make a tensor of the sizes they are given
CONST_MAKERS = {"ones", "zeros", "empty", "rand", "randn", "full"}
# torch functions and tensor methods that split or reorder a tensor's axes
AXIS_OPS = {"chunk", "split", "permute", "transpose", "swapaxes", "swapdims"}
REDUCTIONS = {"mean", "sum", "amax", "amin", "prod", "std", "var", "logsumexp", "norm"}

DEFS = (ast.FunctionDef, ast.AsyncFunctionDef)
DEFINITIONS = (*DEFS, ast.ClassDef)
COMPARISONS = {
    ast.Eq: lambda a, b: a == b,
    ast.NotEq: lambda a, b: a != b,
    ast.Lt: lambda a, b: a < b,
    ast.LtE: lambda a, b: a <= b,
    ast.Gt: lambda a, b: a > b,
    ast.GtE: lambda a, b: a >= b,
}
_OPERATORS = {
    ast.Add: "Add", ast.Sub: "Subtract", ast.Mult: "Multiply", ast.Div: "Divide", ast.FloorDiv: "FloorDivide",
    ast.Mod: "Modulo", ast.Pow: "Power",
}


def _operator(op: ast.operator) -> str:
    """The operator's name in findings and ops: "Add", "Subtract", ... ("" for the rest)."""
    return _OPERATORS.get(type(op), "")


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
        if value.lost:
            return UNKNOWN
        value = tuple(value.items)
    if isinstance(value, tuple):
        return tuple(_as_param(v) for v in value)
    if isinstance(value, (int, float, str, bool, type(None))):
        return value
    return UNKNOWN


# --------------------------------------------------------------------------- the interpreter


LOADED: dict[str, Env | None] = {}  # sibling modules' globals, the most recently used last
MAX_LOADED = 48  # beyond this the least recently used is forgotten: memory stays bounded
MAX_IMPORT_DEPTH = 3
PARTIAL: dict[str, tuple] = {}  # sliced siblings: path -> (slices.Plan, their Extractor), beside LOADED


@dataclass(frozen=True)
class ModuleRef:
    globals: Env


class Extractor:
    def __init__(self, module: ast.Module | None, path: str | None = None, loading: frozenset = frozenset(),
                 source: bytes | None = None) -> None:
        self.module = module
        self.source = source  # for `# convlint: input=` comments, which the tree does not keep
        self.path = path
        self.loading = loading
        self.foreign_site: ast.AST | None = None  # the local call that led into another file's code
        self.globals = Env()
        self.steps = 0
        self.depth = 0
        self.helper_site: ast.AST | None = None
        self.helper_layers: dict[int, list[Layer]] = {}  # layers built per definition in the current helper call
        self.layers: dict[int, Layer] = {}  # every layer constructed, by id of its node
        self.ops: list[Op] | None = None  # the model being built, when applying
        self.counter = 0
        self.errors: list[tuple[ast.AST, str, str]] = []
        self.self_instance: Instance | None = None
        self.speculative = 0  # depth of uncertain branches we are inside
        self.layer_log: list[int] = []  # ids of self.layers in construction order
        self.mutations: dict[int, list[ast.AST]] = {}  # statement id -> what it may change
        self.active: dict[int, int] = {}  # function node id -> calls in progress
        self.file_budget = float("inf")  # steps for all the models of the file
        self.touched: list = []  # per open speculation: (serial at entry, instance merged by exec_arms, changes)
        self.mode: bool | None = None  # nn.Module.training while a model runs (None: while it is built)
        self.mode_read = False  # whether the model's forward read it
        self.applied: dict[int, Any] = {}  # the modules some run of the current candidate called, by id
        self.root: Any = None  # the module the last build ran

    # ---- entry point

    def models(self, forced_input: tuple[int, ...] | None = None) -> list[Model]:
        body = list(self.module.body)
        try:
            self.exec_block(body, self.globals)
        except (_Return, _Break, _Continue, _Raise, _OutOfBudget, RecursionError):
            pass
        found: list[Model] = []
        spent = self.steps
        comments = self.input_comments() if forced_input is None else {}
        for stmt in body:
            declared = forced_input or comments.get(slices.first_line(stmt) - 1)
            for name, make in self.candidates(stmt):
                if spent > self.file_budget:  # the rest of a file of many variants stays unknown
                    return found
                self.root, self.applied = None, {}
                model = self.build(name, stmt, make, declared)
                spent += self.steps
                if model is None:
                    continue
                found.append(model)
                root = self.root
                if self.mode_read and spent <= self.file_budget:  # its forward reads self.training: that mode too
                    model = self.build(name, stmt, make, declared, training=True)
                    spent += self.steps
                    if model is not None:
                        found.append(model)
                for part in self.parts(name, stmt, root):
                    if spent > self.file_budget:
                        break
                    spent += self.steps
                    found.append(part)
        return found

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
            argument = FeatureList() if _takes_list(module) else None
            model = self.build(f"{name}.{path}", stmt, lambda module=module: module, None, argument=argument)
            if model is not None and any(op.kind == "layer" for op in model.ops):
                model.part_of = name
                count += 1
                yield model

    def input_comments(self) -> dict[int, tuple[int, ...] | None]:
        """Line -> size of each `# convlint: input=...` comment line: it declares the input of the
        statement right below it."""
        if self.source is None or b"convlint" not in self.source:
            return {}
        found = {}
        for number, line in enumerate(source_lines(self.source), 1):
            match = INPUT_COMMENT.match(line)
            if match:
                found[number] = parse_input_size(match.group(1))
        return found

    def candidates(self, stmt: ast.AST):
        """(name, thunk producing the module value) for each model a statement defines."""
        kind = type(stmt)
        if kind is ast.ClassDef:
            cls = self.globals.vars.get(stmt.name)
            if isinstance(cls, ClassInfo) and cls.torch_base() is not None:
                yield cls.name, lambda: self.instantiate(cls, [], {}, stmt, defaults_only=True)
        elif kind in DEFS:
            func = self.globals.vars.get(stmt.name)
            if isinstance(func, Function):
                yield stmt.name, lambda: self.call_function(func, [], {}, stmt, defaults_only=True)
        elif (kind is ast.Assign or kind is ast.AnnAssign) and stmt.value is not None:
            for target in stmt.targets if kind is ast.Assign else [stmt.target]:
                if type(target) is ast.Name:
                    value = self.globals.vars.get(target.id)
                    if isinstance(value, (Layer, Container, Instance)):
                        yield target.id, (lambda v=value: v)

    def build(self, name, stmt, make, declared, training: bool = False, argument: Any = None) -> Model | None:
        """The model `make()` constructs, run in evaluation mode (or training mode) on `argument`
        (by default, a tensor: the model input)."""
        self.ops, self.counter, self.steps = [], MODEL_INPUT + 1, 0
        self.mode_read = False
        output = None
        registered: tuple[list[Layer], bool] = ([], False)
        try:
            module = make()
            if not isinstance(module, (Layer, Container, Instance)):
                return None
            registered = registered_layers(module)  # as constructed, before forward runs
            self.root, self.mode = module, training
            result = self.apply(module, [Tensor(MODEL_INPUT) if argument is None else argument], {}, stmt)
            output = result.value if isinstance(result, Tensor) else None
        except (_Return, _Break, _Continue, _Raise, _OutOfBudget, RecursionError):
            pass
        finally:
            ops, self.ops, self.mode = self.ops, None, None
        return Model(name, stmt, declared, ops, output, registered=registered[0], registered_complete=registered[1],
                     training=training)

    @contextmanager
    def speculation(self, arms: bool = False):
        """Inside an arm of an uncertain branch: what happens here might never happen. Lists, dicts,
        containers and instances that existed before and were changed in here are shared by both
        arms (and by what follows), so afterwards their contents are unknown. `arms`: exec_arms runs
        the arms on copies of the current instance's attributes and merges them itself."""
        self.speculative += 1
        self.touched.append((next(_SERIAL), self.self_instance if arms else None, []))
        try:
            yield
        finally:
            self.speculative -= 1
            serial, protected, entries = self.touched.pop()
            for obj, name in entries:
                if obj.born > serial:
                    continue  # made in here: what it holds is part of this arm's own values
                if obj is protected and name is not None and isinstance(obj, Instance):
                    if self.touched:
                        self.touched[-1][2].append((obj, name))  # merged here, but changed in an outer arm
                    continue
                _lose(obj, name)

    def touch(self, obj: Any, name: str | None = None) -> None:
        """`obj` (its attribute `name`, or its contents) is being changed."""
        if self.touched:
            self.touched[-1][2].append((obj, name))

    # ---- statements

    def tick(self) -> None:
        self.steps += 1
        if self.steps > STEP_BUDGET:
            raise _OutOfBudget

    def exec_block(self, stmts, env: Env) -> None:
        for stmt in stmts:
            self.exec_stmt(stmt, env)

    def exec_stmt(self, stmt: ast.AST, env: Env) -> None:
        self.tick()
        kind = type(stmt)  # exact types: a chain of isinstance misses costs more
        if kind is ast.Expr:
            if type(stmt.value) is not ast.Constant:  # docstrings
                self.ev(stmt.value, env)
        elif kind is ast.Assign:
            value = self.ev(stmt.value, env)
            for target in stmt.targets:
                self.assign(target, value, env)
        elif kind is ast.AnnAssign:
            if stmt.value is not None:
                self.assign(stmt.target, self.ev(stmt.value, env), env)
        elif kind is ast.AugAssign:
            self.exec_augassign(stmt, env)
        elif kind is ast.Return:
            raise _Return(None if stmt.value is None else self.ev(stmt.value, env))
        elif kind is ast.Raise:
            raise _Raise
        elif kind is ast.Break:
            raise _Break
        elif kind is ast.Continue:
            raise _Continue
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
            env.vars[stmt.name] = Function(stmt, env)
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
            try:
                self.exec_block(stmt.body, env)
            except _Raise:
                self.havoc_block(stmt.body, env)
            self.exec_block(stmt.orelse, env)
            self.exec_block(stmt.finalbody, env)
        elif kind is ast.Delete:
            for target in stmt.targets:
                self.delete(target, env)
        elif hasattr(stmt, "body"):  # try/except*: what it may change is forgotten
            self.havoc(stmt, env)

    def exec_import_from(self, stmt: ast.ImportFrom, env: Env) -> None:
        if stmt.names[0].name == "*":
            return
        base, level = stmt.module or "", stmt.level
        for alias in stmt.names:
            name = alias.name
            sibling = locate(self.path, base, level)
            if sibling is None and base and not level:
                self.bind_name(alias, Qual(f"{base}.{name}"), env)
            elif sibling is None:
                module_file = locate(self.path, f"{base}.{name}", level)  # `from . import blocks`
                self.bind_name(alias, Lazy(module_file, None) if module_file else UNKNOWN, env)
            elif sibling.name == "__init__.py" and (module_file := locate(self.path, f"{base}.{name}", level)):
                self.bind_name(alias, Lazy(module_file, None), env)  # `from ..ops import misc`: the submodule
            else:
                self.bind_name(alias, Lazy(sibling, name), env)

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
            if _lost(owner):
                return
            if isinstance(owner, DictVal) and _known(key) and key in owner.keys:
                index = owner.keys.index(key)
                del owner.keys[index], owner.values[index]
                return
            if isinstance(owner, ListVal) and _int_value(key) and -len(owner.items) <= key < len(owner.items):
                del owner.items[key]
                return
            if isinstance(owner, Container) and owner.kind in ("Sequential", "ModuleList") and _int_value(key) \
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

    def exec_class(self, stmt: ast.ClassDef, env: Env) -> None:
        bases = [self.ev(base, env) for base in stmt.bases]
        class_env = Env(env)
        try:
            self.exec_block(stmt.body, class_env)
        except (_Return, _Break, _Continue, _Raise):
            pass
        attrs = dict(class_env.vars)
        for name, value in attrs.items():
            if isinstance(value, Function):  # methods see module globals, not the class body
                attrs[name] = Function(value.node, env)
        env.vars[stmt.name] = ClassInfo(stmt, bases, attrs, env)

    def exec_if(self, stmt: ast.If, env: Env) -> None:
        test = self.truth(self.ev(stmt.test, env))
        if test is True:
            self.exec_block(stmt.body, env)
        elif test is False:
            self.exec_block(stmt.orelse, env)
        else:
            self.exec_both(stmt.body, stmt.orelse, env, stmt)

    def exec_both(self, then_body, else_body, env: Env, node: ast.AST) -> None:
        """Run both arms of an uncertain branch on copies, and keep what they agree on."""
        if self.speculative >= MAX_SPECULATION:
            self.havoc_block(list(then_body) + list(else_body), env)
            return
        with self.speculation(arms=True):
            self.exec_arms(then_body, else_body, env, node)

    def exec_arms(self, then_body, else_body, env: Env, node: ast.AST) -> None:
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

    def merge(self, dicts: list[dict], node: ast.AST) -> dict:
        if len(dicts) == 1:
            return dicts[0]
        merged = {}
        for name in {**dicts[0], **dicts[1]}:  # in a fixed order: the parts of a model are listed in it
            a, b = dicts[0].get(name, UNKNOWN), dicts[1].get(name, UNKNOWN)
            if a is b or (_known(a) and _known(b) and type(a) is type(b) and a == b):
                merged[name] = a
            elif _is_tensor(a) and _is_tensor(b) and self.ops is not None:
                merged[name] = self.emit("join", (a.value, b.value), node)
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
            try:
                self.exec_block(stmt.body, env)
            except _Continue:
                continue
            except _Break:
                return
        self.exec_block(stmt.orelse, env)

    def exec_generic(self, stmt: ast.For, env: Env) -> None:
        """`for feature in features` over a FeatureList: one iteration on a fresh tensor, with
        everything the loop changes forgotten before (it stands for any iteration) and after."""
        for target in self.mutated_targets(stmt):  # what an earlier iteration may have changed
            value = self.ev(target, env) if type(target) in (ast.Name, ast.Attribute) else UNKNOWN
            if not isinstance(value, (Instance, Layer, Tensor, Qual, ClassInfo, Function, ModuleRef)):
                self.havoc_target(target, env)  # (calling a module or a helper rebinds nothing)
        with self.speculation():
            self.assign(stmt.target, self.emit("input", (), stmt), env)
            try:
                self.exec_block(stmt.body, env)
            except (_Continue, _Break, _Raise):
                pass
            except _Return:
                self.havoc(stmt, env)
                raise _Return(UNKNOWN) from None
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
        self.assign(small.target, self.binary(_operator(small.op), current, value, small), env)

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
                    targets.append(node.func.value)
            self.mutations[key] = targets
        return self.mutations[key]

    def havoc_target(self, target: ast.AST, env: Env) -> None:
        kind = type(target)
        if kind is ast.Name:
            old = env.vars.get(target.id)
            if isinstance(old, (ListVal, DictVal, Container)):
                _lose(old, None)  # it may have been changed: other names for it must not keep its contents
            env.vars[target.id] = UNKNOWN
        elif kind is ast.Tuple or kind is ast.List:
            for element in target.elts:
                self.havoc_target(element, env)
        elif kind is ast.Attribute:
            owner = self.ev(target.value, env)
            if isinstance(owner, Instance):
                old = owner.attrs.get(target.attr)
                if isinstance(old, (ListVal, DictVal, Container)):
                    _lose(old, None)
                owner.attrs[target.attr] = UNKNOWN
            elif type(target.value) is ast.Name and isinstance(owner, (ListVal, DictVal, Container)):
                _lose(owner, None)
                env.vars[target.value.id] = UNKNOWN  # a list mutated in a loop we cannot follow
        elif kind is ast.Subscript or kind is ast.Starred:
            self.havoc_target(target.value, env)

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
        elif kind is ast.Subscript:
            owner = self.ev(target.value, env)
            key = self.subscript_key(target, env)
            if isinstance(owner, DictVal) and not owner.lost and _known(key):
                self.touch(owner, key)
                owner.maybe.discard(key)
                if key in owner.keys:
                    owner.values[owner.keys.index(key)] = value
                else:
                    owner.keys.append(key)
                    owner.values.append(value)
            elif isinstance(owner, (ListVal, DictVal)):
                self.havoc_target(target.value, env)

    def set_layer_attr(self, layer: Layer, name: str, value: Any) -> None:
        """`pool.ceil_mode = True`: the layer's forward reads the new value. Sizes fixed at
        construction (a Conv's in_channels: its weight keeps the old shape) become unknown, and so
        does anything changed in an arm of an undecided branch (the change is shared by both arms)."""
        if layer.params is None or name not in layer.params:
            layer.attrs[name] = value if self.speculative == 0 else UNKNOWN
            return
        if name in FORWARD_READ and self.speculative == 0:
            layer.params[name] = _as_param(value)
        else:
            layer.params[name] = UNKNOWN

    def set_attr(self, owner: Instance, name: str, value: Any) -> None:
        """torch registers a module assigned to an attribute as a child, in assignment order."""
        self.touch(owner, name)
        if owner.children is not None and isinstance(value, (Layer, Container, Instance)):
            self.touch(owner)
        if _module_kind(value) and name not in owner.order:
            owner.order.append(name)
        if owner.children is not None and isinstance(value, (Layer, Container, Instance)):
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
            return [BATCH] + [DimOf(value.tensor.value, i) for i in range(1, count)]
        items = self.iterate(value)
        return items if items is not None and len(items) == count else None

    # ---- expressions

    def ev(self, node: ast.AST, env: Env) -> Any:
        self.steps += 1  # self.tick(), inlined: the interpreter's hottest line
        if self.steps > STEP_BUDGET:
            raise _OutOfBudget
        handler = EXPRESSIONS.get(type(node))
        return UNKNOWN if handler is None else handler(self, node, env)

    def ev_name(self, node: ast.Name, env: Env) -> Any:
        value = env.get(node.id)
        return self.resolve(value) if type(value) is Lazy else value

    def resolve(self, lazy: Lazy) -> Any:
        globals_ = self.load(lazy.path, lazy.name)
        if globals_ is None:
            return UNKNOWN
        if lazy.name is None:
            return ModuleRef(globals_)
        value = globals_.vars.get(lazy.name, UNKNOWN)
        return self.resolve(value) if type(value) is Lazy and len(self.loading) < MAX_IMPORT_DEPTH else value

    def load(self, path, name: str | None = None) -> Env | None:
        """The globals of a sibling module, interpreted once per process while it is used.
        `name`: the one name wanted (None: the module itself). A sibling that is not small is
        sliced (convlint.slices): only the statements the wanted names need are run, more of
        them as more names are asked for."""
        key = str(path)
        if key in LOADED:
            LOADED[key] = LOADED.pop(key)
            if key in PARTIAL and key not in self.loading:
                self.grow(key, name)
            return LOADED[key]
        if len(LOADED) >= MAX_LOADED:
            evicted = next(iter(LOADED))
            del LOADED[evicted]
            PARTIAL.pop(evicted, None)
        if key in self.loading or len(self.loading) >= MAX_IMPORT_DEPTH:
            return None
        LOADED[key] = None
        from . import engine

        try:
            source = path.read_bytes()
        except OSError:
            return None
        module = engine.parse(source, key)
        if not isinstance(module, ast.Module):  # a sibling that does not parse is simply unknown
            return None
        plan = slices.plan(module, source)
        stmts, literals = (module.body, {}) if plan is None else plan.take(name)
        sibling = Extractor(None, key, self.loading | {key})
        _run_sibling(sibling, stmts, literals)
        LOADED[key] = sibling.globals
        if plan is not None:
            PARTIAL[key] = (plan, sibling)
        return sibling.globals

    def grow(self, key: str, name: str | None) -> None:
        """Run the statements of a sliced sibling that `name` needs and that have not run yet."""
        plan, sibling = PARTIAL.pop(key)  # out while it grows: a cycle back to it takes it as it is
        try:
            stmts, literals = plan.take(name)
            if stmts or literals:
                _run_sibling(sibling, stmts, literals)
        finally:
            PARTIAL[key] = (plan, sibling)

    def ev_constant(self, node: ast.Constant, env: Env) -> Any:
        value = node.value
        return value if type(value) in slices.LITERAL_TYPES else UNKNOWN  # not bytes, complex or `...`

    def ev_fstring(self, node: ast.JoinedStr, env: Env) -> Any:
        """f"stage{i}": known when every expression is a known str or int, formatted plainly."""
        text = []
        for part in node.values:
            if type(part) is ast.Constant:
                text.append(part.value)
                continue
            value = self.ev(part.value, env)
            if part.format_spec is not None or part.conversion != -1:
                return UNKNOWN
            if not isinstance(value, (str, int)) or isinstance(value, bool):
                return UNKNOWN
            text.append(str(value))
        return "".join(text)

    def ev_attribute(self, node: ast.Attribute, env: Env) -> Any:
        return self.attribute(self.ev(node.value, env), node.attr, node)

    def ev_tuple(self, node: ast.Tuple, env: Env) -> Any:
        return self.sequence(node.elts, env, tuple)

    def ev_list(self, node: ast.List, env: Env) -> Any:
        return self.sequence(node.elts, env, lambda items: ListVal(list(items)))

    def ev_dict(self, node: ast.Dict, env: Env) -> Any:
        merged = DictVal([], [])
        for key_node, value_node in zip(node.keys, node.values):
            if key_node is None:  # {**defaults, **kwargs}
                other = self.ev(value_node, env)
                if not isinstance(other, DictVal) or other.lost or other.maybe or not all(_known(k) for k in other.keys):
                    return UNKNOWN
                pairs = list(zip(other.keys, other.values))
            else:
                pairs = [(self.ev(key_node, env), self.ev(value_node, env))]
            for key, value in pairs:
                if _known(key) and key in merged.keys:
                    merged.values[merged.keys.index(key)] = value
                else:
                    merged.keys.append(key)
                    merged.values.append(value)
        return merged

    def ev_binary(self, node: ast.BinOp, env: Env) -> Any:
        left = self.ev(node.left, env)
        right = self.ev(node.right, env)
        return self.binary(_operator(node.op), left, right, node)

    def ev_unary(self, node: ast.UnaryOp, env: Env) -> Any:
        return self.unary(node, self.ev(node.operand, env))

    def ev_ifexp(self, node: ast.IfExp, env: Env) -> Any:
        test = self.truth(self.ev(node.test, env))
        if test is not None:
            return self.ev(node.body if test else node.orelse, env)
        with self.speculation():
            a, b = self.ev(node.body, env), self.ev(node.orelse, env)
        return self.merge([{"v": a}, {"v": b}], node)["v"]

    def sequence(self, elements, env: Env, make) -> Any:
        items = []
        for element in elements:
            if type(element) is ast.Starred:
                inner = self.iterate(self.ev(element.value, env))
                if inner is None:
                    return UNKNOWN
                items.extend(inner)
            else:
                items.append(self.ev(element, env))
        return make(items)

    def comprehension(self, node, env: Env) -> Any:
        results: list = []
        if not self.comprehend(node, 0, Env(env), results):
            return UNKNOWN
        if type(node) is ast.DictComp:
            merged = DictVal([], [])
            for key, value in results:
                if not _known(key):
                    return UNKNOWN
                if key in merged.keys:
                    merged.values[merged.keys.index(key)] = value
                else:
                    merged.keys.append(key)
                    merged.values.append(value)
            return merged
        return ListVal(results)

    def comprehend(self, node, index: int, scope: Env, results: list) -> bool:
        """Unroll the `for` clause `index` of a comprehension (and the ones after it) into `results`."""
        if index == len(node.generators):
            if type(node) is ast.DictComp:
                results.append((self.ev(node.key, scope), self.ev(node.value, scope)))
            else:
                results.append(self.ev(node.elt, scope))
            return True
        fors = node.generators[index]
        items = self.iterate(self.ev(fors.iter, scope))
        if items is None or len(items) > MAX_UNROLL:
            return False
        for item in items:
            self.assign(fors.target, item, scope)
            tests = [self.truth(self.ev(cond, scope)) for cond in fors.ifs]
            if any(t is None for t in tests):
                return False
            if all(tests) and not self.comprehend(node, index + 1, scope, results):
                return False
        return True

    def iterate(self, value: Any) -> list | None:
        if isinstance(value, ArrayVal):
            return list(value.items)
        if isinstance(value, Pieces):
            count = value.count
            return None if count is None else [self.piece(value, i, count) for i in range(count)]
        if isinstance(value, (tuple, list)):
            return list(value)
        if _lost(value) or isinstance(value, DictVal) and value.maybe:
            return None
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
            if value.lost:
                return None
            if isinstance(value, DictVal) and value.maybe:
                return True if set(value.keys) - value.maybe else None
            return bool(value.items if isinstance(value, ListVal) else value.keys)
        if isinstance(value, (Layer, Container, Instance, Function, ClassInfo, Qual)):
            return True
        return None

    def binary(self, op: str, left: Any, right: Any, node: ast.AST) -> Any:
        if _is_tensor(left) or _is_tensor(right):
            if op in ("Add", "Subtract", "Multiply", "Divide") and _is_tensor(left) and _is_tensor(right):
                return self.emit("elementwise", (left.value, right.value), node, op=op)
            other = right if _is_tensor(left) else left
            tensor = left if _is_tensor(left) else right
            if isinstance(other, (int, float)) and not isinstance(other, bool):
                return tensor  # a scalar broadcasts: the shape is kept
            if isinstance(other, ConstTensor) and op in ("Add", "Subtract", "Multiply", "Divide"):
                return self.emit("broadcast", (tensor.value,), node, const=other.shape, op=op)
            return self.emit("unknown", (tensor.value,), node)
        if isinstance(left, ConstTensor) or isinstance(right, ConstTensor):
            other = right if isinstance(left, ConstTensor) else left
            const = left if isinstance(left, ConstTensor) else right
            if _numeric(other) and op in ("Add", "Subtract", "Multiply", "Divide"):
                return const  # a scalar broadcasts: the shape is kept
            return UNKNOWN
        if op == "Add":
            if isinstance(left, ListVal) and isinstance(right, ListVal) and not (left.lost or right.lost):
                return ListVal(left.items + right.items)
            if isinstance(left, tuple) and isinstance(right, tuple):
                return left + right
        if op == "Multiply" and isinstance(left, ListVal) and not left.lost and isinstance(right, int) and 0 <= right <= MAX_UNROLL:
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

    def unary(self, node: ast.UnaryOp, value: Any) -> Any:
        kind = type(node.op)
        if kind is ast.Not:
            truth = self.truth(value)
            return UNKNOWN if truth is None else not truth
        if _numeric(value):
            if kind is ast.USub:
                return -value
            if kind is ast.UAdd:
                return +value
        if _is_tensor(value):
            return value
        return UNKNOWN

    def boolean(self, node: ast.BoolOp, env: Env) -> Any:
        is_and = type(node.op) is ast.And
        value = self.ev(node.values[0], env)
        for operand in node.values[1:]:
            truth = self.truth(value)
            if truth is None:
                return UNKNOWN
            if truth != is_and:  # `False and ...` / `True or ...`
                return value
            value = self.ev(operand, env)
        return value

    def compare(self, node: ast.Compare, env: Env) -> Any:
        left = self.ev(node.left, env)
        for op, comparator in zip(node.ops, node.comparators):
            right = self.ev(comparator, env)
            kind = type(op)
            if kind is ast.Is or kind is ast.IsNot:
                if left is UNKNOWN or right is UNKNOWN:
                    return UNKNOWN
                if right is None or left is None:
                    result = left is right
                elif isinstance(left, Qual) and isinstance(right, Qual):
                    result = left == right
                elif isinstance(left, (ClassInfo, Function)) and isinstance(right, (ClassInfo, Function, Qual)):
                    result = left is right
                elif isinstance(left, (ClassInfo, Builtin)) and isinstance(right, (ClassInfo, Builtin)):
                    result = left == right  # `type(obj) is str`: a class we read is never a builtin type
                elif isinstance(left, EnumMember) or isinstance(right, EnumMember):
                    if not all(isinstance(v, EnumMember) or _known(v) for v in (left, right)):
                        return UNKNOWN
                    result = left is right
                elif _known(left) and _known(right):
                    result = left == right
                else:
                    result = False if (left is None) != (right is None) else UNKNOWN
                    if result is UNKNOWN:
                        return UNKNOWN
                if kind is ast.IsNot:
                    result = not result
            elif kind is ast.In or kind is ast.NotIn:
                items = self.iterate(right)
                if not _known(left) or items is None or not all(_known(i) for i in items):
                    return UNKNOWN
                result = left in items
                if kind is ast.NotIn:
                    result = not result
            else:
                if not (_known(left) and _known(right)):
                    return UNKNOWN
                try:
                    result = COMPARISONS[kind](left, right)
                except (TypeError, KeyError):
                    return UNKNOWN
            if not result:
                return False
            left = right
        return True

    def subscript_key(self, node: ast.Subscript, env: Env) -> Any:
        return UNKNOWN if type(node.slice) is ast.Slice else self.ev(node.slice, env)

    def subscript(self, node: ast.Subscript, env: Env) -> Any:
        value = self.ev(node.value, env)
        if type(node.slice) is ast.Slice:
            items = self.iterate(value)
            part = node.slice
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
        if isinstance(value, Pieces) and _int_value(key):
            count = value.count
            if key >= 0 and (count is None or key < count):
                return self.piece(value, key, count)
            return self.piece(value, count + key, count) if count is not None and -count <= key < 0 else UNKNOWN
        if isinstance(value, ShapeOf):
            if key == 0:
                return BATCH
            return DimOf(value.tensor.value, key) if isinstance(key, int) else UNKNOWN
        if isinstance(value, (DictVal, Container)) and getattr(value, "keys", None) is not None and _known(key) \
                and not _lost(value):
            keys = value.keys
            values = value.values if isinstance(value, DictVal) else value.children
            return values[keys.index(key)] if key in keys else UNKNOWN
        items = self.iterate(value)
        if items is not None and isinstance(key, int) and not isinstance(key, bool) and -len(items) <= key < len(items):
            return items[key]
        return UNKNOWN

    def attribute(self, owner: Any, name: str, node: ast.AST | None = None) -> Any:
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
                kind = _method_kind(value.node)
                if kind == "staticmethod":
                    return value
                if kind == "classmethod":
                    return BoundMethod(owner.cls, value)
                if kind == "property":
                    return UNKNOWN if node is None else self.call_function(value, [owner], {}, node)
                return UNKNOWN if kind == "unknown" else BoundMethod(owner, value)
            if value is not None:
                return value
            if name == "training" and self.mode is not None and owner.cls.torch_base() is not None:
                self.mode_read = True  # the model's forward depends on its mode: it is built in both
                return self.mode
            return MethodRef(owner, name)
        if isinstance(owner, EnumMember):
            if name in ("value", "_value_"):
                return owner.value
            if name in ("name", "_name_"):
                return owner.name
            value = owner.cls.lookup(name)
            if isinstance(value, Function):
                kind = _method_kind(value.node)
                if kind == "property":
                    return UNKNOWN if node is None else self.call_function(value, [owner], {}, node)
                if kind == "staticmethod":
                    return value
                if kind == "unknown":
                    return UNKNOWN
                return BoundMethod(owner.cls if kind == "classmethod" else owner, value)
            return UNKNOWN
        if isinstance(owner, ClassInfo):
            value = owner.lookup(name)
            if _is_enum(owner) and name in owner.attrs and not name.startswith("_") \
                    and not isinstance(value, (Function, ClassInfo)):
                member = owner.members.get(id(value))
                if member is None:  # aliases (DEFAULT = V1) are the same member
                    member = owner.members[id(value)] = EnumMember(owner, name, value)
                return member
            if isinstance(value, Function):
                kind = _method_kind(value.node)
                if kind == "classmethod":
                    return BoundMethod(owner, value)
                if kind in ("property", "unknown"):
                    return UNKNOWN
            return UNKNOWN if value is None else value
        if isinstance(owner, Tensor):
            if name == "shape":
                return ShapeOf(owner)
            return MethodRef(owner, name)
        if isinstance(owner, Layer) and name in owner.attrs:
            return owner.attrs[name]
        if isinstance(owner, Layer) and owner.params is not None and name in owner.params:
            return owner.params[name]
        if isinstance(owner, (ListVal, DictVal, Container, Super, ArrayVal)):
            return MethodRef(owner, name)
        return UNKNOWN

    # ---- calls

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
            if value.maybe and _collects_kwargs(func):
                return self.unknown_result(args, kwargs, node)  # its **kwargs would not know what is absent
            kwargs.update(zip(value.keys, value.values))
        return self.invoke(func, args, kwargs, node)

    def invoke(self, func: Any, args: list, kwargs: dict, node: ast.AST) -> Any:
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

    def unknown_result(self, args: list, kwargs: dict, node: ast.AST) -> Any:
        tensors = [a.value for a in [*args, *kwargs.values()] if _is_tensor(a)]
        if tensors and self.ops is not None:
            return self.emit("unknown", tuple(tensors), node)
        return UNKNOWN

    def call_qual(self, name: str, args: list, kwargs: dict, node: ast.AST) -> Any:
        module, _, attr = name.rpartition(".")
        if name in EAGER_FALSE:
            return False
        if name == "typing.cast" and len(args) == 2 and not kwargs:
            return args[1]
        if name == "torch._assert" and args:
            if self.truth(args[0]) is False:
                raise _Raise  # torch._assert(False, ...) raises: this path is not taken
            return None
        if module == "torch.nn":
            return self.construct(attr, args, kwargs, node)
        if name == "collections.OrderedDict" or name == "typing.OrderedDict":
            if not args:
                return DictVal([], [])
            pairs = self.iterate(args[0]) if not isinstance(args[0], DictVal) else None
            if isinstance(args[0], DictVal) and not args[0].lost and not args[0].maybe:
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
        if module == "torch" and attr in CONST_MAKERS:
            if attr == "full":  # torch.full(size, fill_value)
                sizes = args[0] if args else kwargs.get("size")
            else:
                sizes = args[0] if len(args) == 1 and isinstance(args[0], (tuple, ListVal)) else tuple(args)
            sizes = kwargs.get("size", sizes) if not args else sizes
            sizes = tuple(sizes.items) if isinstance(sizes, ListVal) else sizes
            if isinstance(sizes, tuple) and sizes and all(_int_value(d) and d >= 0 for d in sizes) and \
                    set(kwargs) <= {"size", "dtype", "device", "requires_grad", "fill_value", "layout", "pin_memory"}:
                return ConstTensor(sizes)
            return UNKNOWN
        if name == "numpy.linspace" and 2 <= len(args) <= 3 and all(_numeric(a) for a in args) and not kwargs:
            return _linspace(*args)
        if module == "math" and all(_numeric(a) for a in args):
            import math

            fn = {"ceil": math.ceil, "floor": math.floor, "sqrt": math.sqrt, "log2": math.log2, "prod": math.prod}.get(attr)
            if fn is not None:
                try:
                    return fn(*args) if attr != "prod" else UNKNOWN
                except (ValueError, OverflowError, TypeError):
                    return UNKNOWN
        return self.unknown_result(args, kwargs, node)

    def construct(self, kind: str, args: list, kwargs: dict, node: ast.AST) -> Any:
        if kind == "Sequential":
            if len(args) == 1 and isinstance(args[0], DictVal) and not kwargs:
                if args[0].lost or args[0].maybe:
                    return UNKNOWN
                return Container(kind, list(args[0].values), node, list(args[0].keys))
            return Container(kind, list(args), node)
        if kind in ("ModuleList", "ModuleDict", "ParameterList"):
            if not args:
                return Container(kind, [], node, [] if kind == "ModuleDict" else None)
            if isinstance(args[0], DictVal):
                return UNKNOWN if args[0].lost or args[0].maybe else Container(kind, list(args[0].values), node, list(args[0].keys))
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
        if kind == "Parameter" and args and isinstance(args[0], ConstTensor):
            return args[0]  # nn.Parameter(torch.ones(c, 1, 1)): a tensor of that shape
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

    def call_builtin(self, name: str, args: list, kwargs: dict, node: ast.AST) -> Any:
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
            self.set_attr(args[0], args[1], args[2])
            return None
        if name == "setattr" and args and isinstance(args[0], Instance):
            args[0].loose = True  # an attribute whose name we do not know
        if name == "getattr" and len(args) >= 2 and isinstance(args[1], str):
            value = self.attribute(args[0], args[1], node)
            if (isinstance(value, MethodRef) or isinstance(args[0], Layer)) and len(args) == 3 \
                    and _surely_absent(args[0], args[1]):
                return args[2]
            return UNKNOWN if isinstance(value, MethodRef) else value
        if name == "type" and len(args) == 1 and not kwargs:
            value = args[0]
            if isinstance(value, (Instance, EnumMember)):
                return value.cls
            python = {bool: "bool", int: "int", float: "float", str: "str", tuple: "tuple", type(None): None}
            if type(value) in python and python[type(value)] is not None and _known(value):
                return BUILTINS[python[type(value)]]
            if isinstance(value, (ListVal, DictVal)):
                return BUILTINS["list" if isinstance(value, ListVal) else "dict"]
            return UNKNOWN
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
            if isinstance(kind, Qual) and kind.name == "torch.Tensor" or isinstance(kind, Builtin):
                answers.add(_instance_answer(value, kind))
            elif isinstance(kind, Qual) and _torch_class(kind.name) is not None:
                answers.add(_torch_isinstance(value, _torch_class(kind.name)))
            elif isinstance(kind, ClassInfo) and isinstance(value, (Instance, EnumMember)) and kind in value.cls.mro():
                answers.add(True)
            else:
                return UNKNOWN
        if True in answers:
            return True
        return False if answers == {False} else UNKNOWN

    def call_function(self, func: Function, args: list, kwargs: dict, node: ast.AST, defaults_only=False) -> Any:
        key = id(func.node)
        if self.depth >= MAX_CALL_DEPTH or self.active.get(key, 0) >= MAX_RECURSION:
            return self.unknown_result(args, kwargs, node)
        env = Env(func.env)
        if not self.bind_params(func.node.args, args, kwargs, env, func.env, defaults_only):
            return self.unknown_result(args, kwargs, node)
        outer_site = self.helper_site
        if self.helper_site is None and type(node) not in DEFINITIONS:
            self.helper_site = node  # layers a helper builds are reported where the helper is called
            self.helper_layers = {}
        saved = (self.self_instance, self.current_class, self.foreign_site)
        if func.foreign and self.foreign_site is None and type(node) not in DEFINITIONS:
            self.foreign_site = node  # what another file's code builds is reported at the local call
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

    def bind_params(self, params: ast.arguments, args, kwargs, env: Env, def_env: Env, defaults_only: bool) -> bool:
        positional = _positional(params)
        args = list(args)
        kwargs = dict(kwargs)
        for i, (param, default) in enumerate(positional):
            name = param.arg
            if i < len(args):
                env.vars[name] = args[i]
            elif name in kwargs:
                env.vars[name] = kwargs.pop(name)
            elif default is not None:
                env.vars[name] = self.ev(default, def_env)
            elif defaults_only:
                env.vars[name] = UNKNOWN
            else:
                return False
        extra = args[len(positional):]
        if extra and params.vararg is None:
            return False
        if params.vararg is not None:
            env.vars[params.vararg.arg] = tuple(extra)
        for param, default in zip(params.kwonlyargs, params.kw_defaults):
            name = param.arg
            if name in kwargs:
                env.vars[name] = kwargs.pop(name)
            elif default is not None:
                env.vars[name] = self.ev(default, def_env)
            elif defaults_only:
                env.vars[name] = UNKNOWN
            else:
                return False
        if params.kwarg is not None:
            env.vars[params.kwarg.arg] = DictVal(list(kwargs), list(kwargs.values()))
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

    def call_method(self, owner: Any, name: str, args: list, kwargs: dict, node: ast.AST) -> Any:
        if isinstance(owner, Tensor):
            return self.tensor_method(owner, name, args, kwargs, node)
        if isinstance(owner, Super):
            return self.call_super(owner, name, args, kwargs, node)
        if _lost(owner) or isinstance(owner, DictVal) and owner.maybe and name != "get":
            if isinstance(owner, (ListVal, DictVal)) and name in MUTATORS:
                owner.lost = True
            return UNKNOWN
        if isinstance(owner, (ListVal, DictVal, Container)) and name in MUTATORS:
            self.touch(owner)
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
        if isinstance(owner, ArrayVal):
            return ListVal(list(owner.items)) if name == "tolist" and not args and not kwargs else UNKNOWN
        if isinstance(owner, DictVal):
            if name == "items":
                return list(zip(owner.keys, owner.values))
            if name == "values":
                return list(owner.values)
            if name == "keys":
                return list(owner.keys)
            if name == "get" and args and _known(args[0]):
                if args[0] in owner.maybe:
                    return UNKNOWN
                return owner.values[owner.keys.index(args[0])] if args[0] in owner.keys else (args[1] if len(args) > 1 else None)
            if owner.maybe:
                return UNKNOWN
            if name == "copy" and not args:
                return DictVal(list(owner.keys), list(owner.values))
            if name in ("pop", "setdefault") and 1 <= len(args) <= 2 and not kwargs and _known(args[0]):
                if args[0] in owner.keys:
                    index = owner.keys.index(args[0])
                    if name == "setdefault":
                        return owner.values[index]
                    value = owner.values[index]
                    del owner.keys[index], owner.values[index]
                    return value
                if len(args) == 1 and name == "pop":
                    raise _Raise  # KeyError
                default = args[1] if len(args) > 1 else None
                if name == "setdefault":
                    owner.keys.append(args[0])
                    owner.values.append(default)
                return default
            if name == "update" and len(args) <= 1:
                other = args[0] if args else DictVal([], [])
                if not isinstance(other, DictVal) or not all(_known(k) for k in other.keys):
                    raise _Raise  # its contents are no longer known: drop this path
                for key, value in [*zip(other.keys, other.values), *kwargs.items()]:
                    if key in owner.keys:
                        owner.values[owner.keys.index(key)] = value
                    else:
                        owner.keys.append(key)
                        owner.values.append(value)
                return None
            if name in ("pop", "popitem", "setdefault", "update", "clear", "__setitem__", "__delitem__"):
                raise _Raise  # its contents are no longer known: drop this path
            return UNKNOWN
        if isinstance(owner, Container):
            if name in ("named_children", "children") and not args and not kwargs and owner.kind in CONTAINER_KINDS:
                pairs = self.named_children(owner)
                return pairs if name == "named_children" else [child for _, child in pairs]
            if name == "insert" and len(args) == 2 and _int_value(args[0]) and owner.kind == "ModuleList":
                owner.children.insert(args[0], args[1])
                return None
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
                self.touch(owner)
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
                self.touch(owner)
                owner.children.append(args[0])
                return None
            if name in ("named_children", "children") and not args and not kwargs and not isinstance(owner.cls.lookup(name), Function):
                pairs = self.named_children(owner)
                if pairs is not None:
                    return pairs if name == "named_children" else [child for _, child in pairs]
                return UNKNOWN
            if name in MODULE_QUERIES and not isinstance(owner.cls.lookup(name), Function):
                return self.unknown_result(args, kwargs, node)
            if name in ("register_buffer", "register_parameter") and args and isinstance(args[0], str):
                self.touch(owner, args[0])
                owner.attrs[args[0]] = BUFFER
                return None
            owner.loose = True  # an unknown method may have set attributes
            if owner.children is not None and not isinstance(owner.cls.lookup(name), Function):
                owner.children = None  # an unknown method may have changed what it contains
                owner.opaque = True
            return self.unknown_result(args, kwargs, node)
        return UNKNOWN

    def named_children(self, owner: Any) -> list | None:
        """(name, module) for each direct sub-module, in torch's registration order, when known."""
        if isinstance(owner, Container):
            if owner.kind not in CONTAINER_KINDS:
                return None
            keys = owner.keys if owner.keys is not None else [str(i) for i in range(len(owner.children))]
            return list(zip(keys, owner.children)) if len(keys) == len(owner.children) else None
        if owner.opaque:
            return None
        if owner.children is not None:
            names = owner.child_names
            return list(zip(names, owner.children)) if len(names) == len(owner.children) and None not in names else None
        if any(value is UNKNOWN for value in owner.attrs.values()):
            return None  # it may have been a module, registered where we lost track
        pairs = []
        for name in owner.order:
            value = owner.attrs.get(name)
            if value is None:
                continue
            if not _module_kind(value):
                return None
            pairs.append((name, value))
        return pairs

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
                instance = sup.instance
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

    # ---- tensors

    def emit(self, kind: str, inputs: tuple[int, ...], node: ast.AST, layer: Layer | None = None, **args) -> Any:
        if self.ops is None:
            return UNKNOWN
        output = self.counter
        self.counter += 1
        node = self.foreign_site or node
        self.ops.append(Op(kind, inputs, output, node, layer, args, speculative=self.speculative > 0))
        return Tensor(output)

    def apply(self, module: Any, args: list, kwargs: dict, node: ast.AST) -> Any:
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
            if _is_tensor(args[0]):
                self.applied[id(module)] = module
            return self.fold(module.children, args[0], node)
        if isinstance(module, Instance) and not module.opaque:
            forward = module.cls.lookup("forward")
            if isinstance(forward, Function):
                if _binds(forward.node.args, 1 + len(args), kwargs) and any(_is_tensor(a) or isinstance(a, FeatureList) for a in args):
                    self.applied[id(module)] = module
                return self.call_function(forward, [module, *args], kwargs, node)
            if module.children is not None and len(args) == 1:
                if _is_tensor(args[0]):
                    self.applied[id(module)] = module
                return self.fold(module.children, args[0], node)
        return self.unknown_result(args, kwargs, node)

    def callable_part(self, module: Any) -> bool:
        """Whether a sub-module nothing called is surely meant to be called on a tensor: an instance of
        a class with its own forward, or of an nn.Sequential subclass none of whose children was
        called alone (a plain nn.Sequential may serve as a list of per-level heads: not run)."""
        if not isinstance(module, Instance) or module.opaque:
            return False
        if isinstance(module.cls.lookup("forward"), Function):
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

    def fold(self, children: list, value: Any, node: ast.AST) -> Any:
        for child in children:
            if not _is_tensor(value):
                return value
            if isinstance(child, (Layer, Container, Instance)):
                value = self.apply(child, [value], {}, child.node if isinstance(child, (Layer, Container)) else node)
            else:
                value = self.emit("unknown", (value.value,), node)
        return value

    def tensor_function(self, name: str, tensor: Tensor, args: list, kwargs: dict, node, functional: bool) -> Any:
        if name in AXIS_OPS and not functional:
            return self.axis_op(name, tensor, args, kwargs, node)
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
        if name in AXIS_OPS:
            return self.axis_op(name, tensor, args, kwargs, node)
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

    def axis_op(self, name: str, tensor: Tensor, args: list, kwargs: dict, node) -> Any:
        """chunk / split (a Pieces), permute / transpose (an op), with exact torch semantics."""
        def unknown():
            return self.unknown_result([tensor, *args], kwargs, node)

        if name in ("chunk", "split"):
            first = "chunks" if name == "chunk" else ("split_size" if "split_size" in kwargs else "split_size_or_sections")
            param = args[0] if args else kwargs.get(first)
            dim = args[1] if len(args) > 1 else kwargs.get("dim", 0)
            if not _int_value(dim) or len(args) > 2 or set(kwargs) - {first, "dim"}:
                return unknown()
            if isinstance(param, (ListVal, tuple)):
                sizes = tuple(param.items if isinstance(param, ListVal) else param)
                if name == "chunk" or not sizes or not all(_int_value(v) or v is UNKNOWN for v in sizes):
                    return unknown()
                return Pieces(tensor, name, "sections", sizes, dim, node)
            if not _int_value(param) or param <= 0:
                return unknown()
            return Pieces(tensor, name, name, param, dim, node)
        if name == "permute":
            dims = args[0] if len(args) == 1 and isinstance(args[0], (ListVal, tuple)) else tuple(args)
            dims = kwargs.get("dims", dims) if not args else dims
            dims = tuple(dims.items) if isinstance(dims, ListVal) else dims
            if not isinstance(dims, tuple) or not dims or not all(_int_value(d) for d in dims):
                return unknown()
            return self.emit("permute", (tensor.value,), node, dims=dims, call=name)
        a = args[0] if args else kwargs.get("dim0")
        b = args[1] if len(args) > 1 else kwargs.get("dim1")
        if not (_int_value(a) and _int_value(b)) or len(args) > 2:
            return unknown()
        return self.emit("permute", (tensor.value,), node, swap=(a, b), call=name)

    def piece(self, pieces: Pieces, index: int, expected: int | None) -> Any:
        key = (index, expected)
        if key not in pieces.made:
            pieces.made[key] = self.emit(
                "split", (pieces.tensor.value,), pieces.node, call=pieces.call, mode=pieces.mode,
                param=tuple(v if _int_value(v) else None for v in pieces.param) if pieces.mode == "sections" else pieces.param,
                dim=pieces.dim, index=index, expected=expected,
            )
        return pieces.made[key]

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
    ast.Name: Extractor.ev_name,
    ast.Constant: Extractor.ev_constant,
    ast.Attribute: Extractor.ev_attribute,
    ast.JoinedStr: Extractor.ev_fstring,
    ast.Call: lambda self, node, env: self.call(node, env),
    ast.Tuple: Extractor.ev_tuple,
    ast.List: Extractor.ev_list,
    ast.Dict: Extractor.ev_dict,
    ast.BinOp: Extractor.ev_binary,
    ast.UnaryOp: Extractor.ev_unary,
    ast.BoolOp: lambda self, node, env: self.boolean(node, env),
    ast.Compare: lambda self, node, env: self.compare(node, env),
    ast.IfExp: Extractor.ev_ifexp,
    ast.Subscript: lambda self, node, env: self.subscript(node, env),
    ast.ListComp: lambda self, node, env: self.comprehension(node, env),
    ast.GeneratorExp: lambda self, node, env: self.comprehension(node, env),
    ast.DictComp: lambda self, node, env: self.comprehension(node, env),
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


# the torch.nn base classes of torch layers (besides the layer's own class and nn.Module), from
# torch 2.13's class hierarchy: isinstance(layer, nn.modules.batchnorm._BatchNorm) and the like
TORCH_BASES_OF = {
    **{f"AdaptiveAvgPool{d}d": ("_AdaptiveAvgPoolNd",) for d in (1, 2, 3)},
    **{f"AdaptiveMaxPool{d}d": ("_AdaptiveMaxPoolNd",) for d in (1, 2, 3)},
    **{f"AvgPool{d}d": ("_AvgPoolNd",) for d in (1, 2, 3)},
    **{f"MaxPool{d}d": ("_MaxPoolNd",) for d in (1, 2, 3)},
    **{f"LPPool{d}d": ("_LPPoolNd",) for d in (1, 2, 3)},
    **{f"BatchNorm{d}d": ("_BatchNorm", "_NormBase") for d in (1, 2, 3)},
    **{f"InstanceNorm{d}d": ("_InstanceNorm", "_NormBase") for d in (1, 2, 3)},
    **{f"Conv{d}d": ("_ConvNd",) for d in (1, 2, 3)},
    **{f"ConvTranspose{d}d": ("_ConvTransposeNd", "_ConvNd") for d in (1, 2, 3)},
    **{f"CircularPad{d}d": ("_CircularPadNd",) for d in (1, 2, 3)},
    **{f"ConstantPad{d}d": ("_ConstantPadNd",) for d in (1, 2, 3)},
    **{f"ReflectionPad{d}d": ("_ReflectionPadNd",) for d in (1, 2, 3)},
    **{f"ReplicationPad{d}d": ("_ReplicationPadNd",) for d in (1, 2, 3)},
    **{f"ZeroPad{d}d": (f"ConstantPad{d}d", "_ConstantPadNd") for d in (1, 2, 3)},
    **{name: ("_DropoutNd",) for name in ("Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout", "FeatureAlphaDropout")},
    "ReLU6": ("Hardtanh",), "UpsamplingBilinear2d": ("Upsample",), "UpsamplingNearest2d": ("Upsample",),
}
TORCH_CLASSES = (
    {k for k in L.LAYERS if k[:1].isupper()} | {b for bases in TORCH_BASES_OF.values() for b in bases}
    | {"Module"} | CONTAINER_KINDS
)


def _torch_class(name: str) -> str | None:
    """`torch.nn.MaxPool2d` / `torch.nn.modules.batchnorm._BatchNorm` -> the class name, if we know it."""
    parts = name.split(".")
    if parts[:2] != ["torch", "nn"] or not (len(parts) == 3 or len(parts) == 5 and parts[2] == "modules"):
        return None
    return parts[-1] if parts[-1] in TORCH_CLASSES else None


def _torch_mro(kind: str) -> set[str] | None:
    if kind not in TORCH_CLASSES:
        return None
    return {kind, "Module", *TORCH_BASES_OF.get(kind, ())}


def _torch_isinstance(value: Any, name: str) -> Any:
    """isinstance(value, torch.nn.<name>), when sure."""
    if isinstance(value, Layer):
        mro = None if value.kind in NOT_MODULES else _torch_mro(value.kind)
    elif isinstance(value, Container):
        mro = _torch_mro(value.kind) if value.kind in CONTAINER_KINDS else None
    elif isinstance(value, Instance):
        mro = set()
        for klass in value.cls.mro():
            for base in klass.bases:
                if isinstance(base, ClassInfo) or isinstance(base, Builtin) and base.name == "object":
                    continue
                found = _torch_mro(_torch_class(base.name) or "") if isinstance(base, Qual) else None
                if found is None:
                    return UNKNOWN
                mro |= found
    elif _known(value) or isinstance(value, (Tensor, ListVal, DictVal, ConstTensor, ArrayVal)):
        return False
    else:
        return UNKNOWN
    if mro is None:
        return UNKNOWN
    return name in mro


_METHOD_DECORATORS = {
    "staticmethod": "staticmethod", "classmethod": "classmethod", "property": "property",
    "cached_property": "property", "functools.cached_property": "property",
}


def _method_kind(node: ast.FunctionDef) -> str | None:
    """How a class attribute defined by `def` behaves: "staticmethod", "classmethod", "property",
    "unknown" (a property's setter or deleter, which replaces it) or None (a plain method; other
    decorators, such as torch.jit's, are taken to return the function as it is)."""
    for decorator in node.decorator_list:
        name = dotted_name(decorator)
        if name is None:
            continue
        if name in _METHOD_DECORATORS:
            return _METHOD_DECORATORS[name]
        if name.endswith((".setter", ".deleter", ".getter")):
            return "unknown"
    return None


def _collects_kwargs(func: Any) -> bool | None:
    """Whether a callee may gather keyword arguments in a `**kwargs` (True when unsure)."""
    if isinstance(func, Partial):
        return _collects_kwargs(func.func)
    if isinstance(func, BoundMethod):
        func = func.func
    if isinstance(func, ClassInfo):
        func = func.lookup("__init__")
        if func is None:
            return False
    if isinstance(func, Function):
        return func.node.args.kwarg is not None
    return not isinstance(func, Qual)


def _lose(obj: Any, name: Any) -> None:
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


def _lost(value: Any) -> bool:
    return isinstance(value, (ListVal, DictVal)) and value.lost or isinstance(value, Container) and value.kind == "Unknown"


def _is_enum(cls: ClassInfo) -> bool:
    """A subclass of enum.Enum (or IntEnum, StrEnum, Flag...): its class attributes become members."""
    return any(isinstance(base, Qual) and base.name.startswith("enum.") for klass in cls.mro() for base in klass.bases)


def _module_kind(value: Any) -> bool | None:
    """Whether torch registers `value` as a sub-module when it is assigned to a module's attribute
    (None: cannot tell)."""
    if isinstance(value, Layer):
        return value.kind not in NOT_MODULES
    if isinstance(value, Container):
        return True
    if isinstance(value, Instance):
        if value.cls.torch_base() is not None:
            return True
        return False if _resolved_bases(value.cls) else None
    if value is UNKNOWN or isinstance(value, (MethodRef, Lazy)):
        return None
    return False


def _surely_absent(owner: Any, name: str) -> bool:
    """A private attribute (`_is_cn`) that no code we could not read can have set on `owner`."""
    if not name.startswith("_") or name.startswith("__") or name in TORCH_PRIVATE:
        return False
    if isinstance(owner, Layer):  # a torch layer: only what its constructor sets, and what we saw set
        return owner.params is not None and name not in owner.params and name not in owner.attrs
    if not isinstance(owner, Instance) or owner.opaque or owner.loose or name in owner.attrs \
            or owner.cls.lookup(name) is not None:
        return False
    return _resolved_bases(owner.cls, torch_ok=True)


def _resolved_bases(cls: ClassInfo, torch_ok: bool = False) -> bool:
    """Every base class along the MRO is one we read (or `object`)."""
    for klass in cls.mro():
        for base in klass.bases:
            if isinstance(base, ClassInfo) or isinstance(base, Builtin) and base.name == "object":
                continue
            if torch_ok and isinstance(base, Qual) and base.name in TORCH_BASES:
                continue
            return False
    return True


def _linspace(start, stop, num=50) -> Any:
    """numpy.linspace(start, stop, num), as numpy computes it (step · i + start, the end exact)."""
    if not _int_value(num) or not 0 <= num <= MAX_UNROLL:
        return UNKNOWN
    if num == 1:
        return ArrayVal([float(start)])
    step = (stop - start) / (num - 1)
    items = [i * step + start for i in range(num)]
    if items:
        items[-1] = float(stop)
    return ArrayVal([float(v) for v in items])


def _takes_list(module: Any, depth: int = 0) -> bool:
    """A module whose forward takes a list of tensors: annotated so (`x: list[Tensor]`), or,
    unannotated, iterating over it or handing it to a sub-module that takes one."""
    forward = module.cls.lookup("forward") if isinstance(module, Instance) else None
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
            if isinstance(child, Instance) and _takes_list(child, depth + 1):
                return True
    return False


def owner_items(attrs: dict) -> list:
    return [(key, value) for key, value in attrs.items() if isinstance(value, (Container, Instance))]


def _positional(params: ast.arguments) -> list[tuple[ast.arg, ast.expr | None]]:
    """The positional parameters with their defaults (None: none)."""
    positional = params.posonlyargs + params.args
    return list(zip(positional, [None] * (len(positional) - len(params.defaults)) + params.defaults))


def _binds(params: ast.arguments, count: int, kwargs: dict) -> bool:
    """Whether a call with `count` positional arguments and `kwargs` binds to `params`."""
    positional = _positional(params)
    if count > len(positional) and params.vararg is None:
        return False
    kwonly = list(zip(params.kwonlyargs, params.kw_defaults))
    names = {p.arg for p, _ in positional[count:]} | {p.arg for p, _ in kwonly}
    if any(k not in names for k in kwargs) and params.kwarg is None:
        return False
    return all(default is not None or p.arg in kwargs for p, default in positional[count:] + kwonly)


def _int_value(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _numeric(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def dotted_name(node: ast.AST) -> str | None:
    """`a.b.c` for a name or attribute chain, None for any other expression."""
    kind = type(node)
    if kind is ast.Name:
        return node.id
    if kind is ast.Attribute:
        owner = dotted_name(node.value)
        return None if owner is None else f"{owner}.{node.attr}"
    return None


NEWLINE = re.compile(r"\r\n?|\n")  # the line ends CPython's tokenizer counts


def source_lines(source: bytes) -> list[str]:
    """The file's lines as the parser numbered them (decoded as Python decodes source)."""
    from importlib.util import decode_source

    try:
        text = decode_source(source)
    except (SyntaxError, UnicodeDecodeError, LookupError):
        text = source.decode("utf-8", "replace")
    return NEWLINE.split(text)


def _interpreted(value: Any) -> Any:
    """A Python literal as the interpreter evaluates its source: lists and dicts become ListVal
    and DictVal, tuples and scalars stay."""
    if isinstance(value, list):
        return ListVal([_interpreted(v) for v in value])
    if isinstance(value, tuple):
        return tuple(_interpreted(v) for v in value)
    if isinstance(value, dict):
        return DictVal([_interpreted(k) for k in value], [_interpreted(v) for v in value.values()])
    return value


def registered_layers(module: Any) -> tuple[list[Layer], bool]:
    """The layers torch's `module.parameters()` reaches: attributes and children of modules,
    the contents of Sequential, ModuleList and ModuleDict, each object once, called in forward
    or not; not what plain lists, dicts or non-module objects hold (torch does not register
    those). And whether that is all of them: False when something we could not follow may
    hold more (an opaque instance, a container changed by an unknown method)."""
    found: dict[int, Layer] = {}
    seen: set[int] = set()
    complete = True
    stack = [module]
    while stack:
        value = stack.pop()
        if id(value) in seen:
            continue
        seen.add(id(value))
        if isinstance(value, Layer):
            found.setdefault(id(value), value)
        elif isinstance(value, Container):
            complete = complete and value.kind in ("Sequential", "ModuleList", "ModuleDict")
            stack.extend(reversed(value.children))
        elif isinstance(value, Instance):
            held = [*value.attrs.values(), *(value.children or ())]
            if value.cls.torch_base() is None:  # not known to be a module: torch may or may not register what it holds
                if not any(isinstance(v, (Layer, Container, Instance)) for v in held):
                    continue
                complete = False
            complete = complete and not value.opaque
            stack.extend(reversed(held))
    return list(found.values()), complete


def _run_sibling(sibling: Extractor, stmts: list[ast.stmt], literals: dict | None = None) -> None:
    """Interpret a sibling's statements into its globals; what they define is foreign code.
    `literals`: values of large literal assignments among them (convlint.slices), bound first."""
    for name, value in (literals or {}).items():
        sibling.globals.vars[name] = _interpreted(value)
    try:
        sibling.exec_block(stmts, sibling.globals)
    except (_Return, _Break, _Continue, _Raise, _OutOfBudget, RecursionError):
        pass
    for value in sibling.globals.vars.values():
        if isinstance(value, (Function, ClassInfo)):
            value.foreign = True
        if isinstance(value, ClassInfo):
            for method in value.attrs.values():
                if isinstance(method, Function):
                    method.foreign = True


def walk(node: ast.AST, prune: tuple[type, ...] = ()) -> Iterator[ast.AST]:
    """Every node under `node`, in source order (ast.walk goes breadth first), not looking
    inside `prune` nodes (exact classes)."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        if type(current) in prune:
            continue
        children = []
        for name in current._fields:
            value = getattr(current, name, None)
            if isinstance(value, ast.AST):
                children.append(value)
            elif type(value) is list:
                children.extend(v for v in value if isinstance(v, ast.AST))
        stack.extend(reversed(children))


def extract(module: ast.Module, forced_input: tuple[int, ...] | None = None, path: str | None = None,
            lines: int | None = None, source: bytes | None = None) -> tuple[list[Model], list[Layer]]:
    """Every model the module defines, and every layer it constructs. `path` lets it follow imports.
    `lines`, the file's length, bounds the work: beyond FILE_BUDGET steps per line, further
    models (a model zoo's hundredth variant) are not built. `source`, the module's text, gives
    its `# convlint: input=` comments."""
    extractor = Extractor(module, path, source=source)
    if lines is not None:
        extractor.file_budget = FILE_BUDGET_BASE + FILE_BUDGET * lines
    try:
        models = extractor.models(forced_input)
        return models, list(extractor.layers.values())
    finally:
        # globals -> functions -> globals is a cycle that would keep the tree alive until a full
        # collection; the models no longer need the globals once built
        extractor.globals.vars.clear()
