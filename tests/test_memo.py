"""Each module built once per file (extract.memo): a class built again with the same plain
arguments at the same call gets a copy of the first construction, which must be
indistinguishable from building it again."""

from __future__ import annotations

from convlint.engine import lint_source
from convlint.extract import memo
from convlint.summary import summarize_source

REPEATED = b"""\
import torch
import torch.nn as nn


class Block(nn.Module):
    def __init__(self, dim, groups=1):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(dim))
        self.conv = nn.Conv2d(dim, dim, 3, padding=1, groups=groups)

    def forward(self, x):
        return self.conv(x) * self.scale.view(1, -1, 1, 1)


class Net(nn.Module):
    def __init__(self, width=16, groups=1):
        super().__init__()
        self.stem = nn.Conv2d(3, width, 3, stride=2, padding=1)
        self.blocks = nn.Sequential(*[Block(width, groups) for _ in range(3)])
        self.head = nn.Linear(width, 4)

    def forward(self, x):
        x = self.blocks(self.stem(x))
        return self.head(x.mean((2, 3)))


def net_small():
    return Net(width=16)


def net_broken():
    return Net(width=6, groups=4)
"""


def test_copies_are_their_own_modules_with_their_own_parameters():
    found = {s.name: s for s in summarize_source(REPEATED, "net.py", (3, 32, 32))}
    small = found["net_small"]
    assert small.params == 7_524  # torch: 448 + 3 * (16 + 2,320) + 68
    convs = [row for row in small.rows if row.kind == "Conv2d"]
    assert [row.output_shape for row in convs] == [(16, 16, 16)] * 4
    assert [row.params["total"] for row in convs] == [448, 2_320, 2_320, 2_320]


def test_a_copy_is_checked_and_reported_once_like_the_first(monkeypatch):
    copies = []
    copy_kept = memo.copy_kept
    monkeypatch.setattr(memo, "copy_kept", lambda kept: copies.append(kept) or copy_kept(kept))
    findings = [(f.span.line, f.code, f.message) for f in lint_source(REPEATED, "net.py", input_shape=(3, 32, 32))]
    assert copies  # the blocks after the first, and net_small's Net(width=16) after Net's own
    assert findings == [
        (9, "CL005", "Conv2d: in_channels (6) must be divisible by groups (4) (this instance: `Block(width, groups)` on line 19)"),
    ]
