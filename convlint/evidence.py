"""What a file itself shows about the input size of its models.

- a literal tensor passed to the model: `model(torch.randn(1, 3, 224, 224))`,
  `x = torch.zeros(8, 1, 28, 28)` then `net(x)`, `Net()(torch.rand(...))`, `net.forward(x)`;
- `summary(model, (3, 224, 224))` (torchsummary: no batch) and torchinfo's
  `summary(model, input_size=(1, 3, 224, 224))` / `input_data=torch.randn(...)`;
- `[tool.convlint] inputs` of the configuration that applies to the file.

The module is walked once, in source order, with one flat table of names (a name bound in two
functions to two different things keeps the later binding). Class bodies are not walked: a
class defines a model, and the evidence of its input is where the model is used. A size whose
rank does not fit the model's first layer is ignored. A batch the file itself passes to the model
(or to torchinfo's `input_data`), the input a forward's shape check states and the input
torchvision's pretrained weights are made for are its input whatever their channels, as torch
would run it (and raise); sizes that may or may not include a batch, and timm's configured input
(whose channels are the model's own `in_chans`), only when their channels are the first layer's.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

from .syntax import DEFINITIONS, dotted_name, walk
from .extract.zoo import TIMM_CONFIGURED
from .graph import Model
from .sizing import symbolic_shape

TENSOR_MAKERS = {"randn", "rand", "zeros", "ones", "empty", "full", "randint", "normal"}
PASSTHROUGH = {"to", "cuda", "cpu", "eval", "train", "float", "half", "double", "requires_grad_", "contiguous"}


@dataclass(frozen=True)
class Evidence:
    shape: tuple[int, ...]  # without the batch
    source: str  # where it came from, for the reader
    # taken only because its channels are the first layer's (timm's in_chans, the model's own
    # argument): what that layer receives from it tells nothing about the layer
    fitted: bool = False


def _int(node: ast.expr) -> int | None:
    """A literal int, or arithmetic of literal ints."""
    kind = type(node)
    if kind is ast.Constant:
        return node.value if type(node.value) is int else None
    if kind is ast.BinOp:
        a, b = _int(node.left), _int(node.right)
        if a is None or b is None:
            return None
        op = type(node.op)
        if op is ast.Mult:
            return a * b
        if op is ast.Add:
            return a + b
        if op is ast.Sub:
            return a - b
        if op is ast.FloorDiv and b:
            return a // b
    return None


def _ints(node: ast.expr) -> tuple[int, ...] | None:
    """A tuple or list of literal ints."""
    if type(node) in (ast.Tuple, ast.List):
        values = [_int(e) for e in node.elts]
        if values and all(v is not None and v > 0 for v in values):
            return tuple(values)
    return None


class _Walker:
    def __init__(self, models: dict[str, Model]) -> None:
        self.models = models
        self.aliases: dict[str, str] = {}  # variable -> model name
        self.tensors: dict[str, tuple[int, ...]] = {}  # variable -> literal shape, batch included
        self.found: dict[str, list[tuple[tuple[int, ...], str, bool]]] = {}  # name -> (shape, source, batched)

    # ---- what an expression is

    def model_of(self, node: ast.expr) -> str | None:
        if type(node) is ast.Name:
            if node.id in self.aliases:
                return self.aliases[node.id]
            model = self.models.get(node.id)
            if model is not None and type(model.node) not in DEFINITIONS:
                return node.id  # a module-level Sequential is the model itself
            return None
        if type(node) is ast.Call:
            func = node.func
            if type(func) is ast.Name and func.id in self.models:
                if type(self.models[func.id].node) in DEFINITIONS:
                    return func.id  # Net(...) or make_model(...)
            if type(func) is ast.Attribute and func.attr in PASSTHROUGH:
                return self.model_of(func.value)
        return None

    def tensor_of(self, node: ast.expr) -> tuple[int, ...] | None:
        if type(node) is ast.Name:
            return self.tensors.get(node.id)
        if type(node) is not ast.Call:
            return None
        func = node.func
        if type(func) is ast.Attribute and func.attr in PASSTHROUGH:
            return self.tensor_of(func.value)
        name = dotted_name(func)
        if name is None:
            return None
        last = name.rsplit(".", 1)[-1]
        if last not in TENSOR_MAKERS or not (name == last or name.startswith(("torch.", "th."))):
            return None
        positional, keywords = _arguments(node)
        if "size" in keywords:
            return _ints(keywords["size"])
        if last == "randint":  # randint(high, size) / randint(low, high, size)
            return _ints(positional[-1]) if len(positional) in (2, 3) else None
        if last in ("full", "normal"):
            return _ints(positional[0]) if last == "full" and positional else None
        if len(positional) == 1 and _ints(positional[0]) is not None:
            return _ints(positional[0])
        values = [_int(a) for a in positional]
        if values and all(v is not None and v > 0 for v in values):
            return tuple(values)
        return None

    # ---- the walk

    def visit_Assign(self, node: ast.Assign) -> None:
        model, tensor = self.model_of(node.value), self.tensor_of(node.value)
        for target in node.targets:
            if type(target) is ast.Name:
                name = target.id
                self.aliases.pop(name, None)
                self.tensors.pop(name, None)
                if model is not None:
                    self.aliases[name] = model
                if tensor is not None:
                    self.tensors[name] = tensor

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        name = dotted_name(func)
        positional, keywords = _arguments(node)
        if name is not None and name.rsplit(".", 1)[-1] == "summary" and positional:
            model = self.model_of(positional[0])
            if model is None:
                return
            where = f"the {name}(...) call on line {node.lineno}"
            if "input_size" in keywords:  # torchinfo: the batch included
                shape = _ints(keywords["input_size"])
                if shape is not None:
                    self.add(model, shape, where, batched=None)
            elif "input_data" in keywords:
                shape = self.tensor_of(keywords["input_data"])
                if shape is not None:
                    self.add(model, shape, where, batched=True)
            elif len(positional) >= 2:
                shape = _ints(positional[1]) or self.tensor_of(positional[1])
                if shape is not None:
                    self.add(model, shape, where, batched=None if _ints(positional[1]) else True)
            return
        target = func.value if type(func) is ast.Attribute and func.attr == "forward" else func
        model = self.model_of(target)
        if model is None or len(positional) != 1 or keywords:
            return
        shape = self.tensor_of(positional[0])
        if shape is not None:
            what = "a tensor of shape " + "×".join(map(str, shape))
            self.add(model, shape, f"{what} passed to it on line {node.lineno}", batched=True)

    def add(self, model: str, shape: tuple[int, ...], source: str, batched: bool | None) -> None:
        self.found.setdefault(model, []).append((shape, source, batched))


def _arguments(call: ast.Call) -> tuple[list[ast.expr], dict[str, ast.expr]]:
    """A call's plain positional arguments (up to the first `*args`) and its keyword arguments."""
    positional = []
    for arg in call.args:
        if type(arg) is ast.Starred:
            break
        positional.append(arg)
    return positional, {k.arg: k.value for k in call.keywords if k.arg is not None}


def _fit(model: Model, shape: tuple[int, ...], batched: bool | None, channels: bool = True) -> tuple[int, ...] | None:
    """The size without the batch, if its rank (and, if asked, its channels) fit the model's first layer."""
    seeded = symbolic_shape(model)
    if seeded is None:
        if batched is False or len(shape) < 2:
            return shape if batched is False else None
        return shape[1:] if batched or len(shape) == 4 else shape
    rank = len(seeded)
    if len(shape) == rank + 1 and batched is not False:
        shape = shape[1:]
    elif len(shape) != rank or batched is not False and not channels:
        return None  # of other channels only sizes known to have a batch or not: others might be read either way
    return shape if not channels or shape[0] == seeded[0] else None


def from_file(module: ast.Module, models: list[Model]) -> dict[str, Evidence]:
    """The first evidence in the file that fits the model's first layer, per model name; else the
    first of its rank, of other channels (the bug torch raises on at that layer)."""
    by_name = {m.name: m for m in models}
    walker = _Walker(by_name)
    try:
        for node in walk(module, prune=(ast.ClassDef,)):
            kind = type(node)
            if kind is ast.Assign:
                walker.visit_Assign(node)
            elif kind is ast.Call:
                walker.visit_Call(node)
    except RecursionError:  # `randn(1 + 1 + ... + 1)` deeper than Python's stack: no evidence
        return {}
    out = {}
    for name, items in walker.found.items():
        for channels in (True, False):
            found = next(((shape, source) for given, source, batched in items
                          if (shape := _fit(by_name[name], given, batched, channels)) is not None), None)
            if found is not None:
                out[name] = Evidence(*found)
                break
    return out


def from_config(models: list[Model], inputs: dict[str, tuple[int, ...]]) -> dict[str, Evidence]:
    """`[tool.convlint] inputs`, per model name, as the configuration gives them for the file."""
    return {m.name: Evidence(tuple(inputs[m.name]), "[tool.convlint] inputs in pyproject.toml")
            for m in models if inputs.get(m.name)}


def resolve(module: ast.Module, models: list[Model], config_inputs: dict[str, tuple[int, ...]],
            read_file: bool = True) -> dict[str, Evidence]:
    """For each model without a `# convlint: input=` annotation: the config, else the file's evidence."""
    missing = [m for m in models if m.declared_input is None]
    if not missing:
        return {}
    out = from_config(missing, config_inputs)
    rest = [m for m in missing if m.name not in out]
    if rest and read_file:
        out.update(from_file(module, rest))
    out.update(from_configuration([m for m in rest if m.name not in out]))
    return out


def from_configuration(models: list[Model]) -> dict[str, Evidence]:
    """The input a zoo configures a model for (Model.configured: timm's pretrained input_size or
    img_size, or the img_size and in_chans defaults of a class built alone; the crop of a
    torchvision builder's weights), when it fits the model's first layer: the last evidence, as
    the file's own use says more."""
    out = {}
    for model in models:
        if not model.configured or model.name in out:
            continue
        shape, source = model.configured
        own = source == TIMM_CONFIGURED  # built with in_chans channels: of course its first layer takes them
        fitted = _fit(model, shape, batched=False, channels=own)
        if fitted is not None:
            out[model.name] = Evidence(fitted, source, fitted=own)
    return out


MENTIONS = re.compile(rb"\b(?:randn|rand|zeros|ones|empty|full|summary|input_size|input_data)\b")
# functions that check a tensor's shape against a list of str sizes, a digit string a fixed size,
# any other a name (kornia.core.check's): the first statement of a forward checking its input this
# way states the input it takes, unless the batch leads with "*"
SHAPE_CHECKS = {"KORNIA_CHECK_SHAPE"}


def from_shape_checks(models: list[Model]) -> dict[str, Evidence]:
    """`KORNIA_CHECK_SHAPE(input, ["B", "1", "32", "32"])` opening a model class's forward: its
    input is 1×32×32 (every size but the batch a digit string)."""
    out = {}
    for model in models:
        forward = next((f for f in getattr(model.node, "body", ()) if type(f) is ast.FunctionDef and f.name == "forward"),
                       None)
        params = forward.args.args if forward is not None else []
        if len(params) < 2:
            continue
        for stmt in forward.body:
            if type(stmt) is ast.Expr and type(stmt.value) is ast.Constant:
                continue  # the docstring
            call = stmt.value if type(stmt) is ast.Expr and type(stmt.value) is ast.Call else None
            name = dotted_name(call.func) if call is not None else None
            if name is None or name.rpartition(".")[2] not in SHAPE_CHECKS or len(call.args) != 2 or call.keywords:
                break
            tensor, sizes = call.args
            if type(tensor) is not ast.Name or tensor.id != params[1].arg or type(sizes) not in (ast.List, ast.Tuple):
                break
            labels = [e.value if type(e) is ast.Constant and isinstance(e.value, str) else None for e in sizes.elts]
            if len(labels) < 2 or labels[0] in (None, "*") or not all(v is not None and v.isdigit() for v in labels[1:]):
                break
            shape = _fit(model, (1, *(int(v) for v in labels[1:])), batched=True, channels=False)
            if shape is not None:
                out[model.name] = Evidence(shape, f"the shape check on line {call.lineno}")
            break
    return out


def input_evidence(module: ast.Module, models: list[Model], config_inputs: dict[str, tuple[int, ...]],
                   source: bytes | None = None) -> dict[str, Evidence]:
    """Model name -> the evidence of its input size, for the models without an annotation.
    A file whose text names no tensor constructor or summary call has no evidence to walk for."""
    out = resolve(module, models, config_inputs, source is None or MENTIONS.search(source) is not None)
    if source is None or any(name.encode() in source for name in SHAPE_CHECKS):
        out.update(from_shape_checks([m for m in models if m.declared_input is None and m.name not in out]))
    return out
