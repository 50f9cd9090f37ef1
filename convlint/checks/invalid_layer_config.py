"""Arguments PyTorch rejects when it builds or first runs the layer.

Groups that do not divide the channels, `padding='same'` with a stride above 1, a GroupNorm
whose groups do not divide its channels, non-positive kernel, stride or channel counts, pool
padding above half the window, a call that does not match the layer's signature.

Bad:
    nn.Conv2d(30, 64, 3, groups=4)        # 4 does not divide 30
    nn.Conv2d(16, 16, 3, stride=2, padding="same")

Good:
    nn.Conv2d(32, 64, 3, groups=4)
    nn.Conv2d(16, 16, 3, stride=2, padding=1)
"""

from __future__ import annotations

import ast

from .. import layers as L

CODE = "CL005"
NAME = "invalid-layer-config"
SEVERITY = "error"


def check(ctx):
    for layer in ctx.layers:
        if layer.kind not in L.LAYERS:
            continue
        if layer.guessed and not _literal(layer.node):
            continue  # built for `Block()` with arguments we made up: its values may be ours, not the code's
        if layer.params is None:
            yield layer, (f"the arguments do not match the signature of torch.nn.{layer.kind}: torch raises a "
                               f"TypeError{_instance(ctx, layer)}")
            continue
        required = [name for name, default in L.LAYERS[layer.kind].params if default is L.REQUIRED]
        if any(layer.params.get(name) is None for name in required):
            continue  # None where torch needs a value: an optional argument our reading left at its default
        for message in L.config_errors(layer.kind, layer.params)[:1]:  # torch raises at the first
            yield layer, f"{ctx.subject(layer)}: {message}{_instance(ctx, layer)}"


def _instance(ctx, layer) -> str:
    """' (this instance: `Block(64, groups=7)` on line 44)': the call whose values built the layer,
    when it is not where the finding is reported, and the config entry of the loop iteration that
    built it ('config entry: `StageCfg(240, 32)` on line 57')."""
    parts = []
    via = layer.via
    if via is not None and via is not layer.site and ctx.positions.local(via) and ctx.reporting is None:
        loop = ctx.positions.loop_around(via)  # (written from another file: the engine names the instance)
        parts.append(f"this instance: `{ctx.positions.short_text(via)}` on line {ctx.line_of(via)}"
                     f"{f', in the loop on line {loop}' if loop else ''}")
    entry = layer.entry
    if entry is not None and entry is not layer.site and ctx.positions.local(entry):
        parts.append(f"config entry: `{ctx.positions.short_text(entry)}` {ctx.at(ctx.line_of(entry), None)}")
    return f" ({'; '.join(parts)})" if parts else ""


def _literal(call) -> bool:
    """A constructor call whose arguments are all written out as constants (`nn.Conv2d(3, 8, 3, groups=2)`)."""
    return type(call) is ast.Call and all(_constant(a) for a in call.args) and \
        all(k.arg is not None and _constant(k.value) for k in call.keywords)


def _constant(node) -> bool:
    # at module level: a nested function that calls itself is a reference cycle, garbage for the collector
    kind = type(node)
    if kind is ast.Constant:
        return True
    if kind is ast.Tuple or kind is ast.List:
        return all(_constant(e) for e in node.elts)
    if kind is ast.UnaryOp:
        return _constant(node.operand)
    if kind is ast.BinOp:
        return _constant(node.left) and _constant(node.right)
    return False
