"""Tensors whose shapes cannot be combined, or a layer given a shape it rejects.

A residual add whose two paths differ (a stride-2 block with no downsample on the identity
path), a `torch.cat` along dim 1 of tensors whose sizes differ elsewhere, a layer given a
tensor of the wrong rank or a size it cannot handle; an elementwise function of torch
(`torch.where`, `maximum`...), a `torch.stack`, an `expand` or a parameter broadcast
(`x * p.view(1, -1, 1, 1)`) whose shapes do not fit; a `view(n, ...)` whose explicit
per-sample count is not the input's.

Bad:
    def forward(self, x):
        out = self.conv2(self.conv1(x))   # conv1 has stride 2
        return out + x                     # (N, 128, 28, 28) + (N, 64, 56, 56)

Good:
    def forward(self, x):
        out = self.conv2(self.conv1(x))
        return out + self.downsample(x)
"""

from __future__ import annotations

_OPS = {"Add": "sum", "Subtract": "difference", "Multiply": "product", "Divide": "quotient"}

CODE = "CL006"
NAME = "shape-mismatch"
SEVERITY = "error"


def check(ctx):
    for _run, _index, step in ctx.steps():
        if step.error is None:
            continue
        op = step.op
        if op.kind == "layer":
            if step.inputs[0].flat_from is not None:
                continue  # misplaced-flatten explains it better
            yield op.layer, step.error
        elif op.kind == "elementwise":
            name = op.args.get("op")
            yield op.node, f"{_OPS.get(name) or (f'torch.{name}' if name else 'elementwise operation')} of tensors whose {step.error}"
        else:
            yield op.node, step.error
