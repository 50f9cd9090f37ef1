"""F.grid_sample(input, grid): input (N, C, *in) sampled at a grid (N, *out, k), k the number of
spatial axes, gives (N, C, *out): the channels the input's, the sizes the grid's. A grid with
another last axis or another batch is unknown (torch raises). Numbers checked once with torch 2.13
on fixtures/grid_sample.py: FlowWarp at 3x64x48 10,755 parameters, output (1, 1, 32, 24), warped
(1, 32, 32, 24), 8,208,384 MACs by forward hooks on the convolutions (out.numel() x in_channels x
kernel); CoarseWarp's warped map (1, 16, 32, 24), output (1, 10), 123,628 parameters, 1,671,168
MACs (the Linear's out.numel() x in_features included); VolumeWarp at 1x8x16x16 output
(1, 4, 8, 16, 16), 287 parameters, 557,056 MACs; BrokenWarp's "weight of size [32, 34, 3, 3],
expected input[1, 32, 64, 48] to have 34 channels, but got 32 channels instead"; "grid_sampler():
expected grid to have size 2 in last dimension" and "expected grid and input to have same batch
size"; torch has no torch.grid_sample."""

from pathlib import Path

from convlint.engine import analyze_source, lint_source
from convlint.summary import summarize_source

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "grid_sample.py"


def _summary(name: str, shape=(3, 64, 48)):
    return next(s for s in summarize_source(FIXTURE.read_bytes(), str(FIXTURE), shape) if s.name == name)


def test_the_warped_map_keeps_the_channels_and_takes_the_grids_sizes():
    summary = _summary("FlowWarp")
    assert [r.output_shape for r in summary.rows if r.kind == "grid_sample"] == [(32, 32, 24)]
    assert (summary.output_shape, summary.params, summary.macs) == ((1, 32, 24), 10_755, 8_208_384)


def test_a_coarser_grid_gives_a_coarser_map():
    summary = _summary("CoarseWarp")
    assert [r.output_shape for r in summary.rows if r.kind == "grid_sample"] == [(16, 32, 24)]
    assert (summary.output_shape, summary.params, summary.macs) == ((10,), 123_628, 1_671_168)


def test_a_volume_is_sampled_by_a_grid_of_three_coordinates():
    summary = _summary("VolumeWarp", (1, 8, 16, 16))
    assert (summary.output_shape, summary.params, summary.macs) == ((4, 8, 16, 16), 287, 557_056)


def test_symbolic_sizes_flow_through_the_grid():
    analysis = analyze_source(FIXTURE.read_bytes(), str(FIXTURE), details=True)
    steps = next(m for m in analysis.models if m.name == "FlowWarp").steps
    refine = next(s for s in steps if s.line == 16)
    assert refine.in_shape[0] == 32 and [str(d) for d in refine.in_shape[1:]] == ["⌊(H + 1)/2⌋", "⌊(W + 1)/2⌋"]


def test_a_layer_built_for_other_channels_is_reported_after_the_sampling():
    findings = lint_source(FIXTURE.read_bytes(), str(FIXTURE), input_shape=(3, 64, 48))
    assert [(f.span.line, f.code, f.message) for f in findings if f.code == "CL001"] == [
        (65, "CL001", "Conv2d expects 34 input channels but receives 32 (out_channels of the Conv2d on line 63)"),
    ]


GRIDS = b"""
import torch
import torch.nn as nn
import torch.nn.functional as F

class Warp(nn.Module):
    def __init__(self, coordinates=2):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.grid = nn.Conv2d(8, coordinates, 1)
        self.head = nn.Conv2d(4, 8, 1)

    def forward(self, x):
        features = self.conv(x)
        grid = self.grid(features).permute(0, 2, 3, 1)
        return self.head(F.grid_sample(features, GRID))
"""


def _grid_model(grid: bytes, coordinates: int = 2):
    source = GRIDS.replace(b"GRID", grid).replace(b"coordinates=2", b"coordinates=%d" % coordinates)
    (summary,) = summarize_source(source, "warp.py", (3, 16, 16))
    return summary, lint_source(source, "warp.py", input_shape=(3, 16, 16))


def test_a_grid_torch_rejects_is_unknown_and_no_finding():
    for grid, coordinates in ((b"grid", 3), (b"torch.cat([grid, grid], dim=0)", 2)):
        summary, findings = _grid_model(grid, coordinates)
        assert [r.output_shape for r in summary.rows if r.kind == "Conv2d"][-1] is None and summary.output_shape is None
        assert findings == []


def test_the_head_reads_the_sampled_channels():
    summary, findings = _grid_model(b"grid")
    assert [r.output_shape for r in summary.rows if r.kind == "grid_sample"] == [(8, 16, 16)]
    assert [(f.span.line, f.code, f.message) for f in findings] == [
        (11, "CL001", "Conv2d expects 4 input channels but receives 8 (out_channels of the Conv2d on line 9)"),
    ]


def test_torch_has_no_grid_sample_of_its_own():
    source = GRIDS.replace(b"F.grid_sample(features, GRID)", b"torch.grid_sample(features, grid)")
    (summary,) = summarize_source(source, "warp.py", (3, 16, 16))
    assert summary.output_shape is None
