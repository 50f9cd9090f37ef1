"""Layers run on a tensor that is not the model's (issue 15: swin v2's `cpb_mlp` on its
registered table of relative coordinates, torchvision's swin_transformer.py:345): steps of the
model whose input is that tensor's shape, its leading axis no batch, shown whole in the summary
and counted once; a layer built for other features is reported at its line. Numbers checked once
with torch 2.13 on fixtures/position_bias_mlp.py at 3x16x16: 2,362 parameters, output (1, 10),
41,376 MACs by forward hooks on the Linear and Conv2d layers, cpb_mlp.0 and .2 outputs
(1, 7, 7, 64) and (1, 7, 7, 2); BrokenBiasNet: "mat1 and mat2 shapes cannot be multiplied (49x2
and 3x64)"."""

from pathlib import Path

import pytest

from convlint.engine import lint_source
from convlint.summary import summarize_source

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "fixtures" / "position_bias_mlp.py"
SWIN = (ROOT / ".corpus" / "src" / "torchvision-0.29.1" / "torchvision" / "models" / "swin_transformer.py").resolve()


def test_the_mlp_on_the_table_of_coordinates_is_a_step_of_the_model():
    summary = next(s for s in summarize_source(FIXTURE.read_bytes(), str(FIXTURE)) if s.name == "BiasNet")
    rows = [(r.path, r.output_shape, r.macs, r.activations) for r in summary.rows if "cpb_mlp" in r.path]
    assert rows == [("attn.cpb_mlp.0", (1, 7, 7, 64), 6_272, 3_136), ("attn.cpb_mlp.1", (1, 7, 7, 64), 0, 3_136),
                    ("attn.cpb_mlp.2", (1, 7, 7, 2), 6_272, 98)]
    assert (summary.params, summary.macs, summary.output_shape) == (2_362, 41_376, (10,))


def test_a_position_mlp_built_for_other_coordinates_is_reported_at_its_line():
    findings = lint_source(FIXTURE.read_bytes(), str(FIXTURE))
    assert [(f.span.line, f.code, f.message) for f in findings if f.severity == "error"] == [
        (25, "CL001", "Linear expects 3 input features but receives 2 (the 1×7×7×2 tensor on line 33)")]


@pytest.mark.skipif(not SWIN.is_file(), reason="the corpus is not fetched (tools/corpus.py)")
def test_swin_v2_runs_its_position_mlps():
    summary = summarize_source(SWIN.read_bytes(), str(SWIN), model_name="swin_v2_t")[0]
    first = [(r.path, r.output_shape, r.macs) for r in summary.rows if r.path.startswith("features.1.0.attn.cpb_mlp")]
    assert first == [("features.1.0.attn.cpb_mlp.0", (1, 15, 15, 512), 230_400),
                     ("features.1.0.attn.cpb_mlp.1", (1, 15, 15, 512), 0),
                     ("features.1.0.attn.cpb_mlp.2", (1, 15, 15, 3), 345_600)]
    assert all(r.called for r in summary.rows if "cpb_mlp" in r.path)
    # the Linear and Conv2d MACs at 256x256 (per block 12·C² per token, the merges, the head), by
    # hand as in test_windows, plus each block's 225·2·512 + 225·512·heads of its position MLP
    assert summary.macs == 5_681_952_768 + 12 * 230_400 + 225 * 512 * (2 * 3 + 2 * 6 + 6 * 12 + 2 * 24)
