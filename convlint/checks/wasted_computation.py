"""The first convolution writes at least as many channels as it reads numbers per position.

A convolution reads in_channels·kh·kw numbers at every position. When the layer that first reads
the model's input image writes at least that many channels (3·3·3 = 27 numbers in, 32 channels
out), it cannot compress anything: it only re-encodes the patch, and the computation of its extra
channels is largely wasted. A larger kernel lets it see more than it writes: 5×5 for one channel,
7×7 for RGB (the ResNet stem); for a 1-d or 3-d convolution, a kernel of its own rank. Not
reported: a convolution that does not read the image itself (a later layer, a depthwise conv),
a grouped convolution, and a patch embedding whose stride equals its kernel (a ViT's 16×16/16
splits the image into patches, by design). Advice, not an error: `convlint check --select CL101`
runs it; `convlint summary` shows it by default.

Bad:
    model = nn.Sequential(
        nn.Conv2d(3, 32, 3, padding=1),  # reads 3·3·3 = 27 numbers, writes 32
        ...
    )

Good:
    model = nn.Sequential(
        nn.Conv2d(3, 32, 7, stride=2, padding=3),  # reads 3·7·7 = 147 numbers, writes 32
        ...
    )
"""

from __future__ import annotations

from math import prod

from .. import layers as L
from ..graph import MODEL_INPUT

CODE = "CL101"
NAME = "wasted-computation"
SEVERITY = "info"

SUGGESTED = {1: 5, 3: 7}  # 2-d kernel per input channel count: 5×5 for one channel, 7×7 for RGB
PASS_THROUGH = ("elementwise", "broadcast", "join", "rank")  # x / 255, x - mean, a rank guard: still the image


def first_reader(steps):
    """The step of the convolution that first reads the model's input image (through elementwise
    preprocessing and shape-keeping layers without channels of their own), or None when something
    else reads it first."""
    image = {MODEL_INPUT}
    for step in steps:
        op = step.op
        if not image.intersection(op.inputs):
            continue
        if op.kind == "layer" and op.layer is not None:
            if L.is_convolution(op.layer.kind, transposed=False):
                return step
            spec = L.LAYERS.get(op.layer.kind)
            keeps = spec is not None and not spec.defines_channels and step.in_shape == step.out_shape
            if not keeps:
                return None
        elif op.kind not in PASS_THROUGH:
            return None
        image.add(op.output)
    return None


def check(ctx):
    for run in ctx.runs:
        step = first_reader(run.steps)
        if step is None or not step.op.layer.params:
            continue
        layer = step.op.layer
        params = layer.params
        in_c, out_c, groups = params.get("in_channels"), params.get("out_channels"), params.get("groups", 1)
        windows = L.windows(layer.kind, params, None)
        if not all(_int(v) for v in (in_c, out_c, groups)) or not windows or groups != 1:
            continue  # a grouped or depthwise convolution compresses per group: another matter
        if all(w.stride == w.kernel for w in windows):
            continue  # a patch embedding (stride = kernel): it splits the image by design
        kernel = [w.kernel for w in windows]
        reads = in_c * prod(kernel)
        if out_c < reads:
            continue
        n = len(kernel)
        size = SUGGESTED.get(in_c) if n == 2 else None
        if size is None or size <= max(kernel):  # a kernel of its own rank, larger than its own
            size = next((k for k in range(max(kernel) + 1, 256) if k % 2 and in_c * k**n > out_c), None)
        if size is None:
            continue
        shown = "×".join(map(str, kernel))
        yield layer, (
            f"the first {layer.kind} reads {in_c}·{'·'.join(map(str, kernel))} = {reads} numbers per position "
            f"and writes {out_c} channels: a {shown} kernel cannot compress, so much of its computation is wasted; "
            f"a larger kernel (kernel_size={size}, padding={size // 2}: {in_c}·{'·'.join([str(size)] * n)} "
            f"= {in_c * size**n} numbers) sees more than it writes"
        )


def _int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
