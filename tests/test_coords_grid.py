"""A grid of a feature map's pixel coordinates, as optical-flow models build one: aranges of the
sizes read off the map (each that many elements), their meshgrid and stack, then
`grid[None].repeat(b, 1, 1, 1)` with b the map's batch size: a batch of the model's samples, so
what is computed from it (a flow, the convolutions on it, the cat of it with features) has a known
shape. A repeat by a number is no batch of samples: unknown. Every number was checked once with
torch 2.13: Tracker()(torch.zeros(2, 3, 64, 48)) is (2, 2, 16, 12), its grid (2, 2, 16, 12); each
mutant raises as quoted beside it."""

from __future__ import annotations

import pytest

from convlint.engine import analyze_source, lint_source

TRACKER = """\
import torch
import torch.nn as nn


def pixel_grid(batch, height, width):
    ys, xs = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
    grid = torch.stack([xs, ys], dim=0).float()
    return grid[None].repeat(batch, 1, 1, 1)


# convlint: input=3x64x48
class Tracker(nn.Module):
    def __init__(self, features=32, hidden=24):
        super().__init__()
        self.encode = nn.Conv2d(3, features, 3, stride=4, padding=1)
        self.step = nn.Conv2d(features, 2, 3, padding=1)
        self.motion = nn.Conv2d(2, 8, 3, padding=1)
        self.fuse = nn.Conv2d(features + 8, hidden - 2, 3, padding=1)
        self.head = nn.Conv2d(hidden, 2, 1)

    def forward(self, image):
        fmap = self.encode(image)
        n, _, h, w = fmap.shape
        start = pixel_grid(n, h, w)
        moved = start + self.step(fmap)
        flow = moved - start
        x = self.fuse(torch.cat([fmap, self.motion(flow)], dim=1))
        return self.head(torch.cat([x, flow], dim=1))
"""


def findings(source: str) -> list[tuple[int, str, str]]:
    return [(f.span.line, f.code, f.message) for f in lint_source(source, "tracker.py")]


def _unbroadcast(moved: str, step: str, a: int, b: int) -> tuple[int, str, str]:
    """The finding at `start + self.step(fmap)` when the grid has another shape than the step's."""
    message = f"sum of tensors whose shapes {moved} and {step} cannot be broadcast (dimension {a} against {b})"
    return (25, "CL006", message)


def test_the_tracker_is_silent_when_its_channels_chain():
    assert findings(TRACKER) == []


def test_the_grid_is_a_batch_of_the_maps_pixels():
    model = next(m for m in analyze_source(TRACKER, "tracker.py", details=True).models if m.name == "Tracker")
    grids = [s.out_shape for s in model.steps if s.step.op.kind == "constant"]
    assert grids == [(2, 16, 12)]
    assert model.steps[-1].out_shape == (2, 16, 12)


@pytest.mark.parametrize("old, new, expected", [
    # the flow has the grid's 2 channels: "Given groups=1, weight of size [8, 3, 3, 3], expected input[2, 2, 16, 12]
    # to have 3 channels, but got 2 channels instead"
    ("nn.Conv2d(2, 8, 3, padding=1)", "nn.Conv2d(3, 8, 3, padding=1)",
     (17, "CL001", "Conv2d expects 3 input channels but receives 2 (the output of the repeat on line 8)")),
    # the features and the flow's: "Given groups=1, weight of size [22, 34, 3, 3], expected input[2, 40, 16, 12] to
    # have 34 channels, but got 40 channels instead"
    ("nn.Conv2d(features + 8, hidden - 2", "nn.Conv2d(features + 2, hidden - 2",
     (18, "CL001", "Conv2d expects 34 input channels but receives 40 (the output of the torch.cat on line 27)")),
    # the fused map and the flow: "Given groups=1, weight of size [2, 26, 1, 1], expected input[2, 24, 16, 12] to
    # have 26 channels, but got 24 channels instead"
    ("nn.Conv2d(hidden, 2, 1)", "nn.Conv2d(hidden + 2, 2, 1)",
     (19, "CL001", "Conv2d expects 26 input channels but receives 24 (the output of the torch.cat on line 28)")),
    # a grid of three coordinates: "The size of tensor a (3) must match the size of tensor b (2) at non-singleton
    # dimension 1"
    ("torch.stack([xs, ys], dim=0)", "torch.stack([xs, ys, xs], dim=0)",
     _unbroadcast("(N, 3, 16, 12)", "(N, 2, 16, 12)", 3, 2)),
    # "xy" swaps the first two sizes: "The size of tensor a (16) must match the size of tensor b (12) at
    # non-singleton dimension 3"
    ('indexing="ij"', 'indexing="xy"',
     _unbroadcast("(N, 2, 12, 16)", "(N, 2, 16, 12)", 16, 12)),
    # an arange of a size read off the map has that size: "The size of tensor a (13) must match the size of
    # tensor b (12) at non-singleton dimension 3"
    ("pixel_grid(n, h, w)", "pixel_grid(n, h, w + 1)",
     _unbroadcast("(N, 2, 16, 13)", "(N, 2, 16, 12)", 13, 12)),
    # the coordinates repeated too: "The size of tensor a (4) must match the size of tensor b (2) at
    # non-singleton dimension 1"
    ("grid[None].repeat(batch, 1, 1, 1)", "grid[None].repeat(batch, 2, 1, 1)",
     _unbroadcast("(N, 4, 16, 12)", "(N, 2, 16, 12)", 4, 2)),
])
def test_a_size_computed_from_the_grid_is_checked(old, new, expected):
    assert old in TRACKER
    assert findings(TRACKER.replace(old, new)) == [expected]


def test_a_grid_repeated_without_its_new_axis_is_one_too():
    # torch aligns the repeats from the right: (2, 16, 12).repeat(b, 1, 1, 1) is (b, 2, 16, 12), so the tracker runs
    assert findings(TRACKER.replace("grid[None].repeat", "grid.repeat")) == []
    # "Given groups=1, weight of size [8, 3, 3, 3], expected input[2, 2, 16, 12] to have 3 channels, but got 2
    # channels instead"
    wrong = TRACKER.replace("grid[None].repeat", "grid.repeat").replace("nn.Conv2d(2, 8,", "nn.Conv2d(3, 8,")
    assert findings(wrong) == [
        (17, "CL001", "Conv2d expects 3 input channels but receives 2 (the output of the repeat on line 8)")]


def test_a_grid_repeated_by_a_number_is_no_batch_of_samples():
    # two copies of the grid, a batch of two whatever the map's: what is computed from it stays unknown, so a
    # wrong Conv2d on it goes unreported (torch, on a batch of two: "Given groups=1, weight of size [8, 3, 3, 3],
    # expected input[2, 2, 16, 12] to have 3 channels, but got 2 channels instead")
    copies = TRACKER.replace("grid[None].repeat(batch, 1, 1, 1)", "grid[None].repeat(2, 1, 1, 1)")
    assert findings(copies) == []
    assert findings(copies.replace("nn.Conv2d(2, 8,", "nn.Conv2d(3, 8,")) == []
