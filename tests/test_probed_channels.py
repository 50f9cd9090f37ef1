"""A backbone run on a dummy image while the model is built (issue 15: torchvision's SSD and
SSDLite size their heads with `retrieve_out_channels(backbone, size)`, which runs the backbone on
`torch.zeros((1, 3, h, w))` and reads `x.size(1)` of each feature map): the backbone runs in a
model of its own at that input and its outputs are tensors of known shape. Numbers checked once
with torch 2.13 on fixtures/probed_channels.py: 9,682 parameters, outputs (1, 5, 32, 32) and
(1, 5, 16, 16) at 3x64x64; broken_detector: "weight of size [5, 24, 1, 1], expected
input[1, 40, 16, 16] to have 24 channels, but got 40 channels instead"."""

import re
from pathlib import Path

import pytest

from convlint.engine import lint_source
from convlint.summary import summarize_source

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "fixtures" / "probed_channels.py"
SSDLITE = (ROOT / ".corpus" / "src" / "torchvision-0.29.1" / "torchvision" / "models" / "detection" / "ssdlite.py").resolve()


def test_a_head_sized_by_probing_the_backbone_is_known():
    summary = next(s for s in summarize_source(FIXTURE.read_bytes(), str(FIXTURE)) if s.name == "detector")
    heads = [(r.path, r.output_shape, r.params["total"]) for r in summary.rows if r.path.startswith("head.heads")]
    assert heads == [("head.heads.0", (5, 32, 32), 125), ("head.heads.1", (5, 16, 16), 205)]
    assert summary.params == 9_682


def test_a_head_level_of_other_channels_than_the_probe_found_is_reported():
    findings = lint_source(FIXTURE.read_bytes(), str(FIXTURE))
    assert [(f.span.line, f.code, f.message) for f in findings if f.severity == "error"] == [
        (42, "CL001", "Conv2d expects 24 input channels but receives 40 (out_channels of the Conv2d on line 31)")]


def test_the_probe_leaves_the_models_own_run_alone():
    """The backbone the probe ran is still run as the model's: once, at the model's input."""
    summary = next(s for s in summarize_source(FIXTURE.read_bytes(), str(FIXTURE), (3, 32, 32)) if s.name == "detector")
    assert [(r.path, r.output_shape) for r in summary.rows if r.path.startswith("backbone")] == [
        ("backbone.stem", (24, 16, 16)), ("backbone.stage", (40, 8, 8))]


@pytest.mark.skipif(not SSDLITE.is_file(), reason="the corpus is not fetched (tools/corpus.py)")
def test_ssdlite_heads_receive_the_channels_of_the_backbone_torchvision_probes():
    summary = summarize_source(SSDLITE.read_bytes(), str(SSDLITE), model_name="ssdlite320_mobilenet_v3_large")[0]
    projections = [r.params["weights"] for r in summary.rows
                   if re.fullmatch(r"head\.classification_head\.module_list\.\d\.1", r.path)]
    # 1x1 projections to 91 classes x 6 anchors of the 672, 960, 512, 256, 256, 128 channels of the
    # default builder (weights_backbone=IMAGENET1K_V1: no reduced tail)
    assert projections == [c * 546 for c in (672, 960, 512, 256, 256, 128)]


def test_a_backbone_torch_would_reject_tells_the_head_nothing():
    """The probe of a backbone whose layers do not chain returns no tensor: the head's channels stay
    unknown (no finding there); the backbone's own mismatch is the model run's."""
    source = FIXTURE.read_text().replace("nn.Conv2d(24, 40, 3", "nn.Conv2d(32, 40, 3")
    findings = lint_source(source.encode(), str(FIXTURE))
    assert [(f.span.line, f.code) for f in findings if f.severity == "error"] == [(31, "CL001")]
    summary = next(s for s in summarize_source(source.encode(), str(FIXTURE)) if s.name == "detector")
    assert summary.params is None and not [r for r in summary.rows if r.path.startswith("head.heads")]
