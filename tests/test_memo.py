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


def copies_made(monkeypatch) -> list[str]:
    copies: list[str] = []
    copy_kept = memo.copy_kept
    monkeypatch.setattr(memo, "copy_kept", lambda kept: copies.append(kept.module.cls.name) or copy_kept(kept))
    return copies


def test_copies_are_their_own_modules_with_their_own_parameters():
    found = {s.name: s for s in summarize_source(REPEATED, "net.py", (3, 32, 32))}
    small = found["net_small"]
    assert small.params == 7_524  # torch: 448 + 3 * (16 + 2,320) + 68
    convs = [row for row in small.rows if row.kind == "Conv2d"]
    assert [row.output_shape for row in convs] == [(16, 16, 16)] * 4
    assert [row.params["total"] for row in convs] == [448, 2_320, 2_320, 2_320]


def test_a_copy_is_checked_and_reported_once_like_the_first(monkeypatch):
    copies = copies_made(monkeypatch)
    findings = [(f.span.line, f.code, f.message) for f in lint_source(REPEATED, "net.py", input_shape=(3, 32, 32))]
    assert copies  # the blocks after the first, and net_small's Net(width=16) after Net's own
    assert findings == [
        (9, "CL005", "Conv2d: in_channels (6) must be divisible by groups (4) (this instance: `Block(width, groups)` on line 19)"),
    ]


SHARED_ARGUMENTS = b'''\
import os
from functools import partial

import torch.nn as nn


class ConvNormAct(nn.Module):
    def __init__(self, cin, cout, norm_layer=nn.BatchNorm2d, act_layer=nn.ReLU):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, padding=1, bias=False)
        self.norm = norm_layer(cout)
        self.act = act_layer()

    def forward(self, x):
        return self.act(self.norm(self.conv(x)))


class Net(nn.Module):
    def __init__(self, width=16, depth=4, norm_layer=partial(nn.BatchNorm2d, eps=1e-3)):
        super().__init__()
        self.stem = ConvNormAct(3, width, norm_layer)
        self.blocks = nn.Sequential(*[ConvNormAct(width, width, norm_layer, nn.SiLU) for _ in range(depth)])
        self.head = nn.Linear(width, 10)

    def forward(self, x):
        return self.head(self.blocks(self.stem(x)).mean((2, 3)))


def net_grouped():
    return Net(width=24, norm_layer=partial(nn.GroupNorm, 5))


def net_either():
    if os.environ.get("NET_WIDE") == "1":  # undecided: each return is an arm of a branch
        return Net(width=32)
    return Net()
'''


def test_torch_classes_partials_and_undecided_branches_do_not_stop_the_copies(monkeypatch):
    copies = copies_made(monkeypatch)
    findings = [(f.span.line, f.code, f.message) for f in lint_source(SHARED_ARGUMENTS, "net.py", input_shape=(3, 32, 32))]
    # the third and fourth block of each Net: the class alone, net_grouped's, and each arm of net_either's
    # (an arm builds at its own depth of undecided branches, whose layers are not checked)
    assert copies == ["ConvNormAct"] * 8
    assert findings == [  # torch: "num_channels (24) must be divisible by num_groups (5)"
        (11, "CL005", "GroupNorm: num_channels (24) must be divisible by num_groups (5) "
                      "(this instance: `ConvNormAct(3, width, norm_layer)` on line 21)"),
    ]
    found = {s.name: s for s in summarize_source(SHARED_ARGUMENTS, "net.py", (3, 32, 32))}
    assert found["Net"].params == 9_978  # torch: 432 + 32 + 4 * (2,304 + 32) + 170


CHANGES_AN_OLDER_DICT = b'''\
import os

import torch.nn as nn

WIDTHS = {}


class Tracked(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 1)
        if os.environ.get("TRACK_MODULES"):
            WIDTHS["last"] = channels  # a change to what existed before, in an undecided branch

    def forward(self, x):
        return self.conv(x)


def tracked():
    return nn.Sequential(*[Tracked(8) for _ in range(4)])
'''


def test_a_construction_that_changed_an_older_object_in_an_undecided_branch_is_not_copied(monkeypatch):
    copies = copies_made(monkeypatch)
    found = {s.name: s for s in summarize_source(CHANGES_AN_OLDER_DICT, "net.py", (8, 16, 16))}
    assert copies == []  # a copy would not lose what the dict holds, as building it again does
    assert found["tracked"].params == 288  # torch: 4 * (64 + 8)
