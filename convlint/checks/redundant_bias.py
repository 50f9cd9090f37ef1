"""A convolution with a bias feeds a BatchNorm directly, which cancels the bias.

BatchNorm subtracts the per-channel mean of its input (the batch mean in training, the
running mean in evaluation), so a constant added per channel just before it changes nothing:
the convolution's bias (on by default, `bias=True`) is out_channels wasted parameters and
a wasted addition per output. The fix is `bias=False`; BatchNorm's own shift (beta) takes
its place. Also reported before an InstanceNorm, which subtracts the per-channel mean too.
Advice: `convlint check --select CL102`; shown by default in `convlint summary`.

Bad:
    nn.Sequential(
        nn.Conv2d(64, 128, 3, padding=1),  # bias=True by default
        nn.BatchNorm2d(128),
        nn.ReLU(),
    )

Good:
    nn.Sequential(
        nn.Conv2d(64, 128, 3, padding=1, bias=False),
        nn.BatchNorm2d(128),
        nn.ReLU(),
    )
"""

from __future__ import annotations

from .. import layers as L

CODE = "CL102"
NAME = "redundant-bias"
SEVERITY = "info"

CANCELLING = {"BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "SyncBatchNorm",
              "InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d"}


def check(ctx):
    for run in ctx.runs:
        readers: dict[int, list] = {}
        for step in run.steps:
            for value in step.op.inputs:
                readers.setdefault(value, []).append(step)
        for step in run.steps:
            layer = step.op.layer
            if step.op.kind != "layer" or not L.is_convolution(layer.kind) or not layer.params:
                continue
            if layer.params.get("bias", True) is not True:
                continue
            after = readers.get(step.op.output, [])
            if not after or not all(s.op.kind == "layer" and s.op.layer.kind in CANCELLING for s in after):
                continue
            norm = after[0].op.layer
            out_c = layer.params.get("out_channels")
            wasted = f"{out_c} wasted parameters" if isinstance(out_c, int) else "wasted parameters"
            default = " (bias=True is the default)" if "bias" not in layer.params else ""
            yield layer, (
                f"this {layer.kind} has a bias{default} but feeds the {norm.kind} on line {ctx.line_of(norm.site)} "
                f"directly, which subtracts the per-channel mean and cancels it: {wasted}; pass bias=False"
            )
