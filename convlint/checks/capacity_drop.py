"""A stride-2 convolution that does not raise the channel count.

A stride of 2 on both axes of an image divides the positions by 4. When the channel count
stays the same (or falls), the activation shrinks 4× at once, and with it what the layer can
carry forward. The usual practice (VGG, ResNet) doubles the filters whenever the resolution is
halved, keeping the computation per layer roughly constant. Depthwise convolutions (groups ==
in_channels), which are followed by a pointwise expansion, are not reported.
Advice: `convlint check --select CL103`; shown by default in `convlint summary`.

Bad:
    nn.Conv2d(64, 64, 3, stride=2, padding=1)   # 64×56×56 -> 64×28×28: 4× fewer activations

Good:
    nn.Conv2d(64, 128, 3, stride=2, padding=1)  # 64×56×56 -> 128×28×28: 2× fewer
"""

from __future__ import annotations

from math import prod

from .. import layers as L
from ..context import fmt_shape

CODE = "CL103"
NAME = "capacity-drop"
SEVERITY = "info"


def check(ctx):
    for run in ctx.runs:
        for step in run.steps:
            layer = step.op.layer
            if step.op.kind != "layer" or not L.is_convolution(layer.kind, transposed=False) or not layer.params:
                continue
            params = layer.params
            in_c, out_c, groups = params.get("in_channels"), params.get("out_channels"), params.get("groups", 1)
            if not all(_int(v) for v in (in_c, out_c, groups)) or out_c > in_c:
                continue
            if groups > 1 and groups == in_c:
                continue  # depthwise: the pointwise convolution after it sets the channels
            strides = [w.stride for w in L.windows(layer.kind, params, None)]
            if not strides or min(strides) < 2:
                continue
            shrink = prod(strides) * in_c / out_c
            shapes = ""
            if step.in_shape is not None and step.out_shape is not None and all(
                isinstance(d, int) for d in (*step.in_shape, *step.out_shape)
            ):
                shapes = f" ({fmt_shape(step.in_shape)} -> {fmt_shape(step.out_shape)})"
            stride = strides[0] if len(set(strides)) == 1 else "×".join(map(str, strides))
            yield layer, (
                f"this {layer.kind} has stride {stride} but goes from {in_c} to {out_c} channels: the activations "
                f"shrink {_factor(shrink)}× at once{shapes}; the usual practice doubles the filters "
                f"(out_channels={2 * in_c})"
            )


def _factor(value: float) -> str:
    return str(int(value)) if value == int(value) else f"{value:.1f}"


def _int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
