"""The first convolution writes at least as many channels as it reads numbers per position.

A convolution reads in_channels·kh·kw numbers at every position. When the first layer of a
model writes at least that many channels (3·3·3 = 27 numbers in, 32 channels out), it cannot
compress anything: it only re-encodes the patch, and the computation of its extra channels is
largely wasted. A larger kernel lets it see more than it writes: 5×5 for one channel, 7×7 for
RGB (the ResNet stem). Advice, not an error: `convlint check --select CL101` runs it;
`convlint summary` shows it by default.

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

CODE = "CL101"
NAME = "wasted-computation"
SEVERITY = "info"

SUGGESTED = {1: 5, 3: 7}  # kernel per input channel count: 5×5 for one channel, 7×7 for RGB


def check(ctx):
    for run in ctx.runs:
        step = next((s for s in run.steps if s.op.kind == "layer" and L.is_convolution(s.op.layer.kind, transposed=False)), None)
        if step is None or not step.op.layer.params:
            continue
        layer = step.op.layer
        params = layer.params
        in_c, out_c, groups = params.get("in_channels"), params.get("out_channels"), params.get("groups", 1)
        windows = L.windows(layer.kind, params, None)
        if not all(_int(v) for v in (in_c, out_c, groups)) or not windows or groups < 1:
            continue
        kernel = [w.kernel for w in windows]
        reads = in_c // groups * prod(kernel)
        if out_c < reads:
            continue
        n = len(kernel)
        size = SUGGESTED.get(in_c) or next(k for k in range(3, 64, 2) if in_c * k**n > out_c)
        shown = "×".join(map(str, kernel))
        yield layer.site, (
            f"the first {layer.kind} reads {in_c // groups}·{'·'.join(map(str, kernel))} = {reads} numbers per position "
            f"and writes {out_c} channels: a {shown} kernel cannot compress, so much of its computation is wasted; "
            f"a larger kernel (kernel_size={size}, padding={size // 2}: {in_c // groups}·{'·'.join([str(size)] * n)} "
            f"= {in_c // groups * size**n} numbers) sees more than it writes"
        )


def _int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
