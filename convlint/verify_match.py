"""Matching the static pass's steps with the calls torch made, by identity (both sides of `--verify`
use it; pure Python, no torch).

A step is named by a key. A module call: `["m", path, k]`, the k-th call of the module that
torch's `named_modules()` names `path` ("features.3"). Any other call (`F.relu`, `x.view`,
`x + y`): `["f", line, name, k]`, the k-th call of torch function `name` made by the code on
`line` of the file. A key is compared only when both sides made it equally often, so a call one
side does not see never shifts the others.
"""

from __future__ import annotations

import ast
from collections import Counter

# the static pass's binary operators, by the name torch's dunder methods end in
OPERATORS = {ast.Add: "add", ast.Sub: "sub", ast.Mult: "mul", ast.Div: "div", ast.FloorDiv: "floordiv",
             ast.MatMult: "matmul", ast.Mod: "mod", ast.Pow: "pow"}
ALIASES = {"truediv": "div", "true_divide": "div", "divide": "div", "multiply": "mul", "subtract": "sub",
           "concat": "cat", "concatenate": "cat"}


def call_name(node: ast.AST) -> str | None:
    """The torch function a node of the source calls, as `runtime_name` spells it: `F.relu(x)` ->
    "relu", `x.view(...)` -> "view", `x + y` -> "add"; None when it names none."""
    kind = type(node)
    if kind is ast.Call:
        func = node.func
        if type(func) is ast.Attribute:
            return runtime_name(func.attr)
        if type(func) is ast.Name:
            return runtime_name(func.id)
        return None
    if kind in (ast.BinOp, ast.AugAssign):
        return OPERATORS.get(type(node.op))
    if kind is ast.Subscript:
        return "getitem"
    return None


def runtime_name(name: str) -> str:
    """One spelling for the names of a torch call: `__radd__`, `__iadd__`, `add_` and `add` are "add"."""
    bare = name.strip("_")
    if name.startswith("__") and bare[:1] in ("r", "i") and (bare[1:] in OPERATORS.values() or bare[1:] in ALIASES):
        bare = bare[1:]
    return ALIASES.get(bare, bare)


def paired(expected: list[dict], events: list[dict]) -> list[tuple[dict, dict]]:
    """(static step, torch call) for every key both sides made the same number of times."""
    static = Counter(tuple(e["key"][:-1]) for e in expected)
    ran = Counter(tuple(e["key"][:-1]) for e in events)
    by_key = {tuple(e["key"]): e for e in events}
    pairs = []
    for step in expected:
        family = tuple(step["key"][:-1])
        event = by_key.get(tuple(step["key"]))
        if event is not None and static[family] == ran[family]:
            pairs.append((step, event))
    return pairs


# calls that move the batch to another axis (a sequence-first output: time, batch, classes) rather
# than mix samples
MOVES = {"permute", "transpose", "t", "movedim", "moveaxis", "swapaxes", "swapdims", "unsqueeze"}


def batch_change(events: list[dict], batch: int) -> dict | None:
    """The first call whose output, computed from the model's input, has another batch; None
    when that call only moved the batch to another axis."""
    for event in events:
        shape = event.get("shape")
        if event.get("act") and shape and shape[0] != batch:
            key = event["key"]
            return None if key[0] == "f" and key[2] in MOVES else event
    return None


def mismatches(expected: list[dict], events: list[dict], batch: int) -> list[tuple[dict, dict]]:
    """The paired steps whose shape torch computed differently (each sample's shape: a call that
    moved the batch elsewhere is not compared; the batch is `batch_change`'s)."""
    found = []
    for step, event in paired(expected, events):
        shape, predicted = event.get("shape"), step.get("shape")
        if shape is None or predicted is None or not shape or shape[0] != batch:
            continue
        if list(shape[1:]) != list(predicted):
            found.append((step, event))
    return found
