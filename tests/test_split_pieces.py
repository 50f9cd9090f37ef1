"""The last piece of a split whose length only propagation knows: `spx[-1]` of
`torch.split(x, width, 1)` and `x.chunk(3, 1)[-1]` (timm's res2net, dla and edgenext concatenate
it with the others). Every message below was checked once with torch 2.13 (CPU)."""

from convlint.engine import lint_source

RES2NET_STYLE = """\
import torch
import torch.nn as nn


class Split(nn.Module):
    def __init__(self, width=16, scale=4):
        super().__init__()
        self.width = width
        self.conv1 = nn.Conv2d(64, width * scale, 1)
        self.convs = nn.ModuleList([nn.Conv2d(width, width, 3, padding=1) for _ in range(scale - 1)])
        self.conv3 = nn.Conv2d({merged}, 64, 1)

    def forward(self, x):
        spx = torch.split(self.conv1(x), self.width, 1)
        spo = []
        sp = spx[0]
        for i, conv in enumerate(self.convs):
            sp = conv(spx[i] if i == 0 else sp + spx[i])
            spo.append(sp)
        spo.append(spx[-1])
        return self.conv3(torch.cat(spo, 1))
"""


def test_the_last_piece_of_a_split_joins_the_concatenation():
    assert lint_source(RES2NET_STYLE.format(merged="width * scale"), "split.py") == []
    # torch: Split()(torch.zeros(1, 64, 8, 8)) with conv3 = Conv2d(48, 64, 1) raises
    # "expected input[1, 64, 8, 8] to have 48 channels, but got 64 channels instead"
    findings = lint_source(RES2NET_STYLE.format(merged="width * (scale - 1)"), "split.py")
    assert [(f.span.line, f.code, f.message) for f in findings] == [
        (11, "CL001", "Conv2d expects 48 input channels but receives 64 (the output of the torch.cat on line 21)")]


CHUNK_LAST = """\
import torch.nn as nn


class Tail(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(8, 8, 1)
        self.head = nn.Conv2d({channels}, 4, 1)

    def forward(self, x):
        return self.head(self.conv(x).{pieces}[{index}])


model = Tail()  # convlint: input=8x5x5
"""


def codes(channels, pieces, index):
    source = CHUNK_LAST.format(channels=channels, pieces=pieces, index=index)
    return [(f.span.line, f.code) for f in lint_source(source, "tail.py")]


def test_negative_indices_of_chunk_split_and_unbind_pieces():
    # torch: zeros(2, 8, 5, 5).chunk(3, 1) has channels 3, 3, 2; split(3, 1) the same; [-3] is the first
    assert codes(2, "chunk(3, 1)", -1) == []
    assert codes(3, "chunk(3, 1)", -1) == [(8, "CL001")]
    assert codes(3, "split(3, 1)", -3) == []
    assert codes(2, "split(3, 1)", -3) == [(8, "CL001")]
    # [-4] of three pieces raises IndexError in torch: unknown, no finding whatever the head takes
    assert codes(5, "chunk(3, 1)", -4) == []
