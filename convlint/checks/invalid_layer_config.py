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

from .. import layers as L

CODE = "CL005"
NAME = "invalid-layer-config"
SEVERITY = "error"


def check(ctx):
    for layer in ctx.layers:
        if layer.kind not in L.LAYERS:
            continue
        if layer.params is None:
            yield layer.site, f"the arguments do not match the signature of torch.nn.{layer.kind}: torch raises a TypeError"
            continue
        required = [name for name, default in L.LAYERS[layer.kind].params if default is L.REQUIRED]
        if any(layer.params.get(name) is None for name in required):
            continue  # None where torch needs a value: an optional argument our reading left at its default
        for message in L.config_errors(layer.kind, layer.params):
            yield layer.site, f"{layer.kind}: {message}"
