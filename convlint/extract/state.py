"""The interpreter's state while it reads a file, and its budget: how much of the code it follows,
what it is inside of (an undecided branch, a helper call, another file's code), and the ops of the
model being built."""

from __future__ import annotations

import ast
from contextlib import contextmanager
from typing import Any

from ..graph import Layer, Op
from ..sizes import UNKNOWN
from .values import SERIAL, ClassInfo, Env, Instance, OutOfBudget, Tensor, is_tensor, lose

STEP_BUDGET = 60_000  # evaluation steps per model (and per module body): bounds pathological inputs
FILE_BUDGET_BASE, FILE_BUDGET = 20_000, 30  # steps per file, and per line of it: the cost stays linear
MAX_CALL_DEPTH = 24
MAX_RECURSION = 4  # the same function active this many times: a recursion we stop following
MAX_SPECULATION = 2  # nested uncertain branches followed both ways before we just forget
MAX_UNROLL = 4096
MAX_PARTS = 24  # sub-modules a model's run did not call, run on their own


class State:
    """What every room of the interpreter reads and changes."""

    def __init__(self, module: ast.Module | None, path: str | None = None, loading: frozenset = frozenset(),
                 source: bytes | None = None) -> None:
        self.module = module
        self.source = source  # for `# convlint: input=` comments, which the tree does not keep
        self.path = path
        self.loading = loading
        self.extra_paths: tuple = ()  # searched for imported packages (imports.find_module)
        self.resolving: set = set()  # the imported names being looked up (siblings.resolve)
        self.loop_items: list = []  # the items of the loops being run, innermost last (a config entry per iteration)
        self.foreign_site: ast.AST | None = None  # the local call that led into another file's code
        self.code_file: str | None = None  # the other file whose code is running (None: this file's)
        self.globals = Env()
        self.steps = 0
        self.depth = 0
        self.helper_site: ast.AST | None = None
        self.rank_run = None  # (propagation, the ops it has run) of the model being built, for rank_of
        self.helper_layers: dict[int, list[Layer]] = {}  # layers built per definition in the current helper call
        self.layers: dict[int, Layer] = {}  # every layer constructed (not speculatively), by id
        self.call_stack: list[ast.AST] = []  # the calls of this file's code being followed, innermost last
        self.guessing = False  # inside a model built from its defaults alone, with arguments made up
        self.open_call = False  # the call being bound passes on the **kwargs of one built from its defaults
        self.ops: list[Op] | None = None  # the model being built, when applying
        self.counter = 0
        self.self_instance: Instance | None = None
        self.current_class: ClassInfo | None = None  # the class whose method runs (for super())
        self.speculative = 0  # depth of uncertain branches we are inside
        self.layer_log: list[int] = []  # ids of self.layers in construction order
        self.constructions: dict[tuple, Any] = {}  # what each construction of a class built (memo.Kept), by memo key
        self.mutations: dict[int, list[ast.AST]] = {}  # statement id -> what it may change
        self.active: dict[tuple, int] = {}  # (function node id, id of its instance) -> calls in progress
        self.file_budget = float("inf")  # steps for all the models of the file
        self.read_lines: dict[str, int] = {}  # other packages' files it read (shared with their readers): their lines
        self.home: str | None = None  # the file's top-level package folder, whose files are its own code
        self.touched: list = []  # per open speculation: (serial at entry, instance merged by exec_arms, changes)
        # the birth of the oldest object changed inside an undecided branch (whose contents are then
        # lost): a construction that changed one older than itself there is not copied (memo)
        self.oldest_changed = float("inf")
        self.mode: bool | None = None  # nn.Module.training while a model runs (None: while it is built)
        self.mode_read = False  # whether the model's forward read it
        self.probing = False  # running a module on a known tensor while a model is built (probe.py)
        self.made = None  # the last evaluation run's construction (discovery.Construction)
        self.applied: dict[int, Any] = {}  # the modules some run of the current candidate called, by id
        self.root: Any = None  # the module the last build ran
        self.declared: tuple | None = None  # the declared input of the model being built
        # (module, input, source): the input a zoo configures the module its builder made last for
        # (timm's pretrained input_size, a class's img_size default; torchvision's weights' crop),
        # what it comes from; the model's when that module is the model
        self.configured: tuple = (None, None, None)
        self.scope: list = []  # the containers and instances being applied, innermost last (Op.scope)
        self.catching: list[frozenset] = []  # per enclosing `try`, the exception classes its handlers name

    def tick(self) -> None:
        self.steps += 1
        if self.steps > STEP_BUDGET:
            raise OutOfBudget

    @contextmanager
    def speculation(self, arms: bool = False):
        """Inside an arm of an uncertain branch: what happens here might never happen. Lists, dicts,
        containers and instances that existed before and were changed in here are shared by both
        arms (and by what follows), so afterwards their contents are unknown. `arms`: exec_arms runs
        the arms on copies of the current instance's attributes and merges them itself."""
        self.speculative += 1
        self.touched.append((next(SERIAL), self.self_instance if arms else None, []))
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
                lose(obj, name)

    def budget(self) -> float:
        """Steps for all the models of the file: its own lines and those of other packages' files
        it read (a backbone from a zoo is that zoo's code)."""
        return self.file_budget + FILE_BUDGET * sum(self.read_lines.values())

    def touch(self, obj: Any, name: str | None = None) -> None:
        """`obj` (its attribute `name`, or its contents) is being changed."""
        if self.touched:
            self.touched[-1][2].append((obj, name))
            born = getattr(obj, "born", -1)  # a layer's birth is not kept: as old as any
            if born < self.oldest_changed:
                self.oldest_changed = born

    def emit(self, kind: str, inputs: tuple[int, ...], node: ast.AST, layer: Layer | None = None, **args) -> Any:
        if self.ops is None:
            return UNKNOWN
        output = self.counter
        self.counter += 1
        origin = (self.code_file, node.lineno) if self.code_file is not None and hasattr(node, "lineno") else None
        node = self.foreign_site or node
        self.ops.append(Op(kind, inputs, output, node, layer, args, speculative=self.speculative > 0,
                           scope=self.scope[-1] if self.scope else None, origin=origin))
        return Tensor(output)

    def unknown_result(self, args: list, kwargs: dict, node: ast.AST) -> Any:
        tensors = [a.value for a in [*args, *kwargs.values()] if is_tensor(a)]
        if tensors and self.ops is not None:
            return self.emit("unknown", tuple(tensors), node)
        return UNKNOWN


BROAD_HANDLERS = {"*", "Exception", "BaseException"}


def catches(handlers: frozenset, kind: str) -> bool:
    """Whether one of a try's handlers (each the names of the classes it catches, comma-separated;
    "*" a bare except) catches the exception class `kind`."""
    return any(name == kind or name in BROAD_HANDLERS for names in handlers for name in names.split(","))

