"""What a file itself shows about the input size of its models.

- a literal tensor passed to the model: `model(torch.randn(1, 3, 224, 224))`,
  `x = torch.zeros(8, 1, 28, 28)` then `net(x)`, `Net()(torch.rand(...))`, `net.forward(x)`;
- `summary(model, (3, 224, 224))` (torchsummary: no batch) and torchinfo's
  `summary(model, input_size=(1, 3, 224, 224))` / `input_data=torch.randn(...)`;
- `[tool.convlint] inputs` of the configuration that applies to the file.

The module is walked once, in source order, with one flat table of names (a name bound in two
functions to two different things keeps the later binding). Class bodies are not walked: a
class defines a model, and the evidence of its input is where the model is used. A size whose rank does not fit the
model's first layer is ignored: evidence never overrides what the layers say.
"""

from __future__ import annotations

import re

from collections.abc import Callable
from dataclasses import dataclass

import libcst as cst

from .extract import dotted_name, walk
from .graph import Model
from .sizing import symbolic_shape

TENSOR_MAKERS = {"randn", "rand", "zeros", "ones", "empty", "full", "randint", "normal"}
PASSTHROUGH = {"to", "cuda", "cpu", "eval", "train", "float", "half", "double", "requires_grad_", "contiguous"}


@dataclass(frozen=True)
class Evidence:
    shape: tuple[int, ...]  # without the batch
    source: str  # where it came from, for the reader


def _int(node: cst.BaseExpression) -> int | None:
    """A literal int, or arithmetic of literal ints."""
    if isinstance(node, cst.Integer):
        return int(node.evaluated_value)
    if isinstance(node, cst.BinaryOperation):
        a, b = _int(node.left), _int(node.right)
        if a is None or b is None:
            return None
        if isinstance(node.operator, cst.Multiply):
            return a * b
        if isinstance(node.operator, cst.Add):
            return a + b
        if isinstance(node.operator, cst.Subtract):
            return a - b
        if isinstance(node.operator, cst.FloorDivide) and b:
            return a // b
    return None


def _ints(node: cst.BaseExpression) -> tuple[int, ...] | None:
    """A tuple or list of literal ints."""
    if isinstance(node, (cst.Tuple, cst.List)):
        values = [_int(e.value) for e in node.elements]
        if values and all(v is not None and v > 0 for v in values):
            return tuple(values)
    return None


class _Walker:
    def __init__(self, models: dict[str, Model], line_of: Callable[[cst.CSTNode], int]) -> None:
        self.models = models
        self.line_of = line_of
        self.aliases: dict[str, str] = {}  # variable -> model name
        self.tensors: dict[str, tuple[int, ...]] = {}  # variable -> literal shape, batch included
        self.found: dict[str, list[tuple[tuple[int, ...], str, bool]]] = {}  # name -> (shape, source, batched)

    # ---- what an expression is

    def model_of(self, node: cst.BaseExpression) -> str | None:
        if isinstance(node, cst.Name):
            if node.value in self.aliases:
                return self.aliases[node.value]
            model = self.models.get(node.value)
            if model is not None and not isinstance(model.node, (cst.ClassDef, cst.FunctionDef)):
                return node.value  # a module-level Sequential is the model itself
            return None
        if isinstance(node, cst.Call):
            func = node.func
            if isinstance(func, cst.Name) and func.value in self.models:
                if isinstance(self.models[func.value].node, (cst.ClassDef, cst.FunctionDef)):
                    return func.value  # Net(...) or make_model(...)
            if isinstance(func, cst.Attribute) and func.attr.value in PASSTHROUGH:
                return self.model_of(func.value)
        return None

    def tensor_of(self, node: cst.BaseExpression) -> tuple[int, ...] | None:
        if isinstance(node, cst.Name):
            return self.tensors.get(node.value)
        if not isinstance(node, cst.Call):
            return None
        func = node.func
        if isinstance(func, cst.Attribute) and func.attr.value in PASSTHROUGH:
            return self.tensor_of(func.value)
        name = dotted_name(func)
        if name is None:
            return None
        last = name.rsplit(".", 1)[-1]
        if last not in TENSOR_MAKERS or not (name == last or name.startswith(("torch.", "th."))):
            return None
        positional = [a for a in node.args if a.keyword is None and a.star == ""]
        keywords = {a.keyword.value: a.value for a in node.args if a.keyword is not None}
        if "size" in keywords:
            return _ints(keywords["size"])
        if last == "randint":  # randint(high, size) / randint(low, high, size)
            return _ints(positional[-1].value) if len(positional) in (2, 3) else None
        if last in ("full", "normal"):
            return _ints(positional[0].value) if last == "full" and positional else None
        if len(positional) == 1 and _ints(positional[0].value) is not None:
            return _ints(positional[0].value)
        values = [_int(a.value) for a in positional]
        if values and all(v is not None and v > 0 for v in values):
            return tuple(values)
        return None

    # ---- the walk

    def visit_Assign(self, node: cst.Assign) -> None:
        model, tensor = self.model_of(node.value), self.tensor_of(node.value)
        for target in node.targets:
            if isinstance(target.target, cst.Name):
                name = target.target.value
                self.aliases.pop(name, None)
                self.tensors.pop(name, None)
                if model is not None:
                    self.aliases[name] = model
                if tensor is not None:
                    self.tensors[name] = tensor

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        name = dotted_name(func)
        positional = [a for a in node.args if a.keyword is None and a.star == ""]
        keywords = {a.keyword.value: a.value for a in node.args if a.keyword is not None}
        if name is not None and name.rsplit(".", 1)[-1] == "summary" and positional:
            model = self.model_of(positional[0].value)
            if model is None:
                return
            where = f"the {name}(...) call on line {self.line_of(node)}"
            if "input_size" in keywords:  # torchinfo: the batch included
                shape = _ints(keywords["input_size"])
                if shape is not None:
                    self.add(model, shape, where, batched=None)
            elif "input_data" in keywords:
                shape = self.tensor_of(keywords["input_data"])
                if shape is not None:
                    self.add(model, shape, where, batched=True)
            elif len(positional) >= 2:
                shape = _ints(positional[1].value) or self.tensor_of(positional[1].value)
                if shape is not None:
                    self.add(model, shape, where, batched=None if _ints(positional[1].value) else True)
            return
        target = func.value if isinstance(func, cst.Attribute) and func.attr.value == "forward" else func
        model = self.model_of(target)
        if model is None or len(positional) != 1 or keywords:
            return
        shape = self.tensor_of(positional[0].value)
        if shape is not None:
            what = "a tensor of shape " + "×".join(map(str, shape))
            self.add(model, shape, f"{what} passed to it on line {self.line_of(node)}", batched=True)

    def add(self, model: str, shape: tuple[int, ...], source: str, batched: bool | None) -> None:
        self.found.setdefault(model, []).append((shape, source, batched))


def _fit(model: Model, shape: tuple[int, ...], batched: bool | None) -> tuple[int, ...] | None:
    """The size without the batch, if its rank (and channels) fit the model's first layer."""
    seeded = symbolic_shape(model)
    if seeded is None:
        if batched is False or len(shape) < 2:
            return shape if batched is False else None
        return shape[1:] if batched or len(shape) == 4 else shape
    rank = len(seeded)
    if len(shape) == rank + 1 and batched is not False:
        shape = shape[1:]
    elif len(shape) != rank:
        return None
    return shape if shape[0] == seeded[0] else None


def from_file(module: cst.Module, models: list[Model], line_of: Callable[[cst.CSTNode], int] | None = None) -> dict[str, Evidence]:
    """The first fitting evidence in the file, per model name."""
    if line_of is None:
        from .engine import Positions

        line_of = Positions(module).line
    by_name = {m.name: m for m in models}
    walker = _Walker(by_name, line_of)
    for node in walk(module, prune=(cst.ClassDef,)):
        kind = type(node)  # not isinstance: libcst's classes are ABCs, slow to miss
        if kind is cst.Assign:
            walker.visit_Assign(node)
        elif kind is cst.Call:
            walker.visit_Call(node)
    out = {}
    for name, items in walker.found.items():
        for shape, source, batched in items:
            fitted = _fit(by_name[name], shape, batched)
            if fitted is not None:
                out[name] = Evidence(fitted, source)
                break
    return out


def from_config(path: str | None, models: list[Model]) -> dict[str, Evidence]:
    """`[tool.convlint] inputs` of the configuration that applies to `path`, per model name."""
    if path is None:
        return {}
    from .config import Resolver

    try:
        config = Resolver().config_for(path)
    except Exception:  # noqa: BLE001 - a broken config costs the evidence, not the run
        return {}
    out = {}
    for model in models:
        value = config.input_for(path, model.name)
        if value:
            out[model.name] = Evidence(tuple(value), "[tool.convlint] inputs in pyproject.toml")
    return out


def resolve(module: cst.Module, models: list[Model], path: str | None = None,
            line_of: Callable[[cst.CSTNode], int] | None = None, walk: bool = True) -> dict[str, Evidence]:
    """For each model without a `# convlint: input=` annotation: the config, else the file's evidence."""
    missing = [m for m in models if m.declared_input is None]
    if not missing:
        return {}
    out = from_config(path, missing)
    rest = [m for m in missing if m.name not in out]
    if rest and walk:
        out.update(from_file(module, rest, line_of))
    return out


MENTIONS = re.compile(rb"\b(?:randn|rand|zeros|ones|empty|full|summary|input_size|input_data)\b")


def input_shapes(module: cst.Module, models: list[Model], path: str | None = None,
                 source: bytes | None = None) -> dict[str, tuple[int, ...]]:
    """Model name -> input shape (no batch) for the models without an annotation: what `check` uses.
    A file whose text names no tensor constructor or summary call has no evidence to walk for."""
    found = resolve(module, models, path, walk=source is None or MENTIONS.search(source) is not None)
    return {name: item.shape for name, item in found.items()}
