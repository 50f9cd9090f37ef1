"""Models of two inputs (issue 15: torchvision's RAFT, `forward(image1, image2)`): the second
input is a tensor of unknown shape that the first op to read it fixes, as a part run alone has
them; `torch.cat([image1, image2], dim=0)` stacks both in one batch (torch requires their other
sizes equal: the second takes the first's shape), `torch.chunk(..., 2, dim=0)` splits it back;
MACs and activations count both images. Numbers checked once with torch 2.13 on
fixtures/two_images.py at 3x64x48: 241,442 parameters, output (1, 2, 16, 12), the feature
encoder's output (2, 64, 16, 12) at batch 1, 58,834,944 MACs by forward hooks on the convolutions
(out.numel() x in_channels x kernel), and BrokenFlowNet's "weight of size [64, 128, 3, 3], expected
input[1, 160, 16, 12] to have 128 channels, but got 160 channels instead"."""

from pathlib import Path

import pytest

from convlint.engine import analyze_source, lint_source
from convlint.summary import summarize_source

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "fixtures" / "two_images.py"
RAFT = (ROOT / ".corpus" / "src" / "torchvision-0.29.1" / "torchvision" / "models" / "optical_flow" / "raft.py").resolve()


def _summary(name: str, shape=(3, 64, 48)):
    return next(s for s in summarize_source(FIXTURE.read_bytes(), str(FIXTURE), shape) if s.name == name)


def test_the_second_image_takes_the_shape_of_the_first_it_is_stacked_with():
    summary = _summary("FlowNet")
    assert [r.output_shape for r in summary.rows if r.line == 46] == [(3, 64, 48)]  # the cat
    layers = {r.path: r.output_shape for r in summary.rows if r.kind == "Conv2d"}
    assert layers["feature_encoder.conv2"] == (64, 16, 12) and layers["gru.convz"] == (64, 16, 12)
    assert summary.output_shape == (2, 16, 12)
    assert summary.params == 241_442


def test_both_images_count_in_macs_and_activations():
    summary = _summary("FlowNet")
    assert summary.macs == 58_834_944
    stacked = [r for r in summary.rows if r.line == 15 and r.path == "feature_encoder.conv1"]
    alone = [r for r in summary.rows if r.line == 15 and r.path == "context_encoder.conv1"]
    assert (stacked[0].macs, stacked[0].activations) == (2 * alone[0].macs, 2 * alone[0].activations) == (7_225_344, 49_152)
    assert [r.activations for r in summary.rows if r.line == 47] == [12_288, 12_288]  # one image each


def test_no_input_row_for_the_second_image():
    assert not [r for r in _summary("FlowNet").rows if r.kind == "input"]


def test_a_gru_built_for_other_channels_is_reported_at_its_convolutions():
    findings = lint_source(FIXTURE.read_bytes(), str(FIXTURE), input_shape=(3, 64, 48))
    assert [(f.span.line, f.code, f.message) for f in findings if f.code == "CL001"] == [
        (26, "CL001", "Conv2d expects 128 input channels but receives 160 (the output of the torch.cat on line 30)"),
        (27, "CL001", "Conv2d expects 128 input channels but receives 160 (the output of the torch.cat on line 30)"),
    ]


def test_free_images_stacked_are_seeded_together_at_symbolic_sizes():
    analysis = analyze_source(FIXTURE.read_bytes(), str(FIXTURE), details=True)
    steps = next(m for m in analysis.models if m.name == "FlowNet").steps
    convz = next(s for s in steps if s.line == 26)
    assert convz.in_shape[0] == 160 and [str(d) for d in convz.in_shape[1:]] == ["⌊(H + 3)/4⌋", "⌊(W + 3)/4⌋"]
    assert [f.line for f in analysis.findings if f.code == "CL001"] == [26, 27]


def test_a_batch_not_split_in_whole_images_is_unknown_and_unequal_images_are_an_error():
    source = b"""
import torch
import torch.nn as nn

class Pair(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)

    def forward(self, image1, image2):
        both = self.conv(torch.cat([image1, image2], dim=0))
        pieces = torch.chunk(both, 3, dim=0)
        cropped = torch.cat([image1, image2[:, :, 1:]], dim=0)
        return pieces[0], cropped
"""
    analysis = analyze_source(source, "pair.py", (3, 16, 16), details=True)
    shapes = [(s.line, s.kind, s.out_shape) for s in analysis.models[0].steps if s.kind != "input"]
    assert shapes == [
        (11, "cat", (3, 16, 16)), (8, "Conv2d", (8, 14, 14)), (13, "index", (3, 15, 16)), (13, "cat", None),
        (12, "split", None),  # 2B rows in 3 pieces: ⌈2B/3⌉ rows each, 2 pieces at B = 1 (taken at the return)
    ]
    # torch: "Sizes of tensors must match except in dimension 0. Expected size 16 but got size 15"
    assert [(f.span.line, f.code, f.message) for f in analysis.findings] == [
        (13, "CL006", "torch.cat along dim 0 needs equal sizes elsewhere, but gets (N, 3, 16, 16) and (N, 3, 15, 16)")]


@pytest.mark.skipif(not RAFT.is_file(), reason="the corpus is not fetched (tools/corpus.py)")
def test_raft_runs_its_forward_on_both_images():
    from convlint.summary import summarize_source

    summary = summarize_source(RAFT.read_bytes(), str(RAFT), (3, 128, 128), model_name="raft_large")[0]
    shapes = {r.layer: r.output_shape for r in summary.rows if r.called and r.line in (492, 493, 512)}
    assert shapes["torch.cat([image1, image2], dim=0)"] == (3, 128, 128)
    assert shapes["torch.chunk(fmaps, chunks=2, dim=0)"] == (256, 16, 16)
    assert [r.output_shape for r in summary.rows if r.line == 512] == [(128, 16, 16), (128, 16, 16)]  # hidden state, context
