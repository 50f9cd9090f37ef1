"""Windows over a video's frames of a length convlint cannot decide (issue 15: torchvision's video
swin, whose window along the frames shrinks to a short clip): a view of sizes not all known is a
tensor of unknown rank whose last axis (and channels) are the sizes given, so the projections
still see the features they receive. Checked once with torch 2.13 on fixtures/video_windows.py:
2,672 parameters; at 3x4x32x32, 3x8x32x32 and 3x16x32x32 the qkv Linear receives (4, 32, 16),
(4, 64, 16), (8, 64, 16) and the proj (4, 32, 16), (4, 64, 16), (8, 64, 16); BrokenVideoNet:
"mat1 and mat2 shapes cannot be multiplied (256x16 and 32x96)"."""

from pathlib import Path

import pytest

from convlint.engine import analyze_source, lint_source

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "fixtures" / "video_windows.py"
VIDEO_SWIN = (ROOT / ".corpus" / "src" / "torchvision-0.29.1" / "torchvision" / "models" / "video"
              / "swin_transformer.py").resolve()


def _received(path: Path, model: str, kind: str = "Linear", shape=None):
    analysis = analyze_source(path.read_bytes(), str(path), shape, details=True)
    steps = next(m for m in analysis.models if m.name == model).steps
    return [(s.line, s.step.received(last=True)) for s in steps if s.kind == kind]


def test_the_projections_receive_the_embeddings_features_for_a_clip_of_any_length():
    assert _received(FIXTURE, "VideoNet") == [(24, 16), (25, 16)]


def test_projections_built_for_other_features_are_reported():
    findings = lint_source(FIXTURE.read_bytes(), str(FIXTURE))
    assert [(f.span.line, f.code, f.message) for f in findings if f.severity == "error"] == [
        (24, "CL001", "Linear expects 32 input features but receives 16 (the output of the reshape on line 31)"),
        (25, "CL001", "Linear expects 32 input features but receives 16 (the output of the reshape on line 36)"),
    ]


def test_a_view_of_unknown_sizes_is_no_flatten_that_pins_the_input():
    """At a declared input the first Linear after such a view reads the last axis alone: no
    "only inputs of ... fit" claim (it receives 16 features at every size)."""
    findings = lint_source(FIXTURE.read_bytes(), str(FIXTURE), input_shape=(3, 8, 32, 32))
    assert [f.message for f in findings if f.span.line == 24] == [
        "Linear expects 32 input features but receives 16 (the output of the reshape on line 31)"]


@pytest.mark.skipif(not VIDEO_SWIN.is_file(), reason="the corpus is not fetched (tools/corpus.py)")
def test_video_swins_attention_projections_receive_its_channels():
    received = _received(VIDEO_SWIN, "swin3d_t")
    assert received[:2] == [(256, 96), (257, 96)]  # the first block's qkv and proj, at 3×D×224×224
