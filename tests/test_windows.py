"""Windows folded into the batch (issue 14): swin's partition `reshape(B * windows, ws * ws, C)` with
the number of windows read off the padded map (a symbolic count of rows per sample), its reverse,
the mask of shifted windows (a tensor without a batch whose sizes are read off the map), the crop
back to the unpadded size. Numbers checked once with torch 2.13 (fixtures/window_attention.py: the
padded size 4·⌊(H + 12)/16⌋ for H in 4..79; swin_t's 7·⌊(H + 24)/28⌋ and (49, 96) rows for H in 4..399)."""

import re
from pathlib import Path

import pytest

from convlint.engine import analyze_source

ROOT = Path(__file__).resolve().parent.parent
SWIN = ROOT / ".corpus" / "src" / "torchvision-0.29.1" / "torchvision" / "models" / "swin_transformer.py"


def _undeclared(text: str) -> bytes:
    """The fixture without its input declarations: its models run on symbolic sizes."""
    return re.sub(r"^# convlint: input=.*$", "", text, flags=re.M).encode()


def _steps(source: bytes, path: str, model: str):
    analysis = analyze_source(source, path, details=True)
    return next(m for m in analysis.models if m.name == model).steps


def test_windows_of_a_symbolic_map_are_followed_to_the_output():
    path = ROOT / "fixtures" / "window_attention.py"
    steps = _steps(_undeclared(path.read_text()), str(path), "WindowNet")
    shapes = {(s.line, s.kind): s for s in steps}
    padded = shapes[(16, "pad")].out_shape
    assert [str(d) for d in padded] == ["4·⌊(H + 12)/16⌋", "4·⌊(W + 12)/16⌋", "16"]
    assert shapes[(51, "Linear")].in_shape == (16, 16)  # rows of one window: 4·4 positions, 16 features
    assert shapes[(51, "Linear")].step.inputs[0].frames == (padded[0] // 4) * (padded[1] // 4)
    assert [str(d) for d in shapes[(43, "index")].out_shape] == ["⌊H/4⌋", "⌊W/4⌋", "16"]  # the crop
    assert shapes[(36, "broadcast")].out_shape is not None  # the mask of the shifted windows met
    assert steps[-1].out_shape == (10,)
    assert all(s.step.output.frames == 1 for s in steps if s.line in (40, 57, 58))  # windows put back


def test_a_batch_of_windows_is_no_longer_folded_after_the_reverse():
    path = ROOT / "fixtures" / "window_attention.py"
    steps = _steps(path.read_bytes(), str(path), "WindowNet")
    reverse = [s for s in steps if s.line == 40][-1]
    assert reverse.out_shape == (12, 12, 16) and reverse.step.output.frames == 1
    partition = [s for s in steps if s.line == 22][0]
    assert partition.out_shape == (16, 16) and partition.step.output.frames == 9


@pytest.mark.skipif(not SWIN.is_file(), reason="the corpus is not fetched (tools/corpus.py)")
def test_swin_t_windows_reach_the_qkv_projection():
    steps = _steps(SWIN.read_bytes(), str(SWIN), "swin_t")
    padded = next(s for s in steps if s.line == 155).out_shape
    assert [str(d) for d in padded] == ["7·⌊(H + 24)/28⌋", "7·⌊(W + 24)/28⌋", "96"]
    qkv = next(s for s in steps if s.line == 259 and s.kind == "Linear")
    assert qkv.in_shape == (49, 96)
    assert str(qkv.step.inputs[0].frames) == "⌊(H + 24)/28⌋·⌊(W + 24)/28⌋"
