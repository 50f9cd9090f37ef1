"""Idioms of the segmentation libraries (smp's decoders and encoders), with fixtures/segmentation_blocks.py
(our own code, in their style): a block whose activation depends on an optional import, a
channels-first LayerNorm branching on x.ndim, tokens viewed back to (b, -1, h, w), drop-path rates
from torch.linspace, both arms of an undecided pad joined. Every number was checked once with torch
2.13: SegNet()(torch.zeros(1, 3, 32, 32)) is (1, 2, 32, 32) with 1,442 parameters, its drop paths
are Identity at rate 0 (at 0.2 the first only: torch.linspace(0, 0.2, 3) is [0.0, 0.1000000015,
0.2000000030]); SegNetWrongHead() raises "expected input[1, 16, 32, 32] to have 32 channels, but got
16 channels instead"; PaddedHead(width=4) on (1, 3, 16, 16) raises "expected input[1, 8, 14, 14] to
have 4 channels, but got 8 channels instead"."""

from __future__ import annotations

from pathlib import Path

import pytest

from convlint.engine import lint_source
from convlint.extract.kinds import isinstance_of
from convlint.extract.valued import _linspace
from convlint.extract.values import Qual, ValuedTensor
from convlint.graph import Layer, Op
from convlint.propagate import OPS, TensorInfo
from convlint.views import _symbolic_rest
from convlint.sizes import UNKNOWN, var
from convlint.summary.tables import summarize_source

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "segmentation_blocks.py"
SOURCE = FIXTURE.read_bytes()
CORPUS_SMP = Path(__file__).resolve().parent.parent / ".corpus" / "src" / "segmentation-models-pytorch-0.6.0"


def summary(name: str):
    return summarize_source(SOURCE, str(FIXTURE), model_name=name)[0]


def test_the_findings_are_torch_s_errors():
    assert [(f.span.line, f.code, f.message) for f in lint_source(SOURCE, str(FIXTURE))] == [
        (87, "CL001", "Conv2d expects 32 input channels but receives 16 (the output of the view on line 57)"),
        (95, "CL001", "Conv2d expects 4 input channels but receives 8 (out_channels of the Conv2d on line 93)"),
    ]


def test_an_activation_chosen_by_an_absent_optional_class_is_followed():
    # `isinstance(norm, FusedNormAct)`: a class of a package we cannot read is no base of BatchNorm2d
    s = summary("SegNet")
    assert [r.layer for r in s.rows[:3]] == [
        "nn.Conv2d(cin, cout, kernel_size, padding=k…", "nn.BatchNorm2d(cout)", "nn.ReLU(inplace=True)"]
    assert s.params == 1_442


def test_rank_branches_token_views_and_drop_path_rates():
    s = summary("SegNet")
    rows = {r.path: r for r in s.rows}
    assert rows["blocks.0.drop_path"].layer == "nn.Identity()"
    assert [r.output_shape for r in s.rows if r.layer == "t.transpose(1, 2).view(b, -1, h, w)"] == [(16, 32, 32)] * 3
    # the pad is taken for odd sizes, which extraction cannot decide: the channels stay, the sizes do not
    assert s.output_shape == (2, None, None)


def test_an_inexact_drop_path_rate_builds_either_module_and_both_keep_the_shape():
    s = summary("SegNet(drop_path_rate=0.2)")
    assert [(r.path, r.kind, r.output_shape) for r in s.rows if r.path.endswith("drop_path") or r.kind == "join"][:3] == [
        ("blocks.0.drop_path", "Identity", (1024, 16)), ("blocks.1.drop_path", "Identity", (1024, 16)),
        ("blocks.1", "join", (1024, 16))]
    assert s.params is None


def test_linspace_is_exact_at_its_ends_and_for_one_value():
    assert _linspace(None, [0, 0.0, 4], {}, None).values == ((0.0, 0.0),) * 4
    t = _linspace(None, [0, 0.2], {"steps": 3}, None)
    low, high = t.values[1]
    assert t.values[0] == (0.0, 0.0) and t.values[2] == (0.20000000298023224,) * 2
    assert low < 0.10000000149011612 < high and high - low < 1e-7
    assert _linspace(None, [0, 1, -1], {}, None) is UNKNOWN
    assert isinstance(t, ValuedTensor) and t.dtype == "float32"


def test_isinstance_of_a_class_outside_torch():
    bn = Layer("BatchNorm2d", {"num_features": 8}, None, None)
    assert isinstance_of(bn, Qual("fused_norms.FusedNormAct")) is False
    # a name of a torch class may be torch's own, re-exported; an instance of our own class may derive from it
    assert isinstance_of(bn, Qual("compat.BatchNorm2d")) is UNKNOWN
    assert isinstance_of(UNKNOWN, Qual("fused_norms.FusedNormAct")) is UNKNOWN
    assert isinstance_of(bn, Qual("torch.jit.ScriptModule")) is UNKNOWN


def test_a_join_keeps_the_sizes_its_arms_agree_on():
    op = Op("join", (1, 2), 3, None)
    h = var("H")
    assert OPS["join"].run(op, [TensorInfo((8, h, 4)), TensorInfo((8, h, 5))], {}).output.shape == (8, h, None)
    assert OPS["join"].run(op, [TensorInfo((8, 4)), TensorInfo((8, 4, 4))], {}).output.shape is None
    assert OPS["join"].run(op, [TensorInfo((8, 4)), TensorInfo(None)], {}).output.shape is None
    assert OPS["join"].run(op, [TensorInfo((8, 4), frames=2), TensorInfo((8, 5))], {}).output.shape is None
    a, b = Op("layer", (0,), 1, None), Op("layer", (0,), 2, None)
    assert OPS["join"].run(op, [TensorInfo((8, 4), a), TensorInfo((8, 5), a)], {}).output.origin is a
    assert OPS["join"].run(op, [TensorInfo((8, 4), a), TensorInfo((8, 5), b)], {}).output.origin is None


def test_a_flattened_map_viewed_back():
    h, w = var("H") // 4, var("W") // 4
    assert _symbolic_rest((-1, h, w), (64, h * w)) == (64, h, w)
    assert _symbolic_rest((-1, h, h), (64, h * w)) is None


@pytest.mark.skipif(not CORPUS_SMP.is_dir(), reason="the unpacked corpus (tools/corpus.py) is not here")
def test_smp_unet_decoder_is_followed_to_its_mask():
    from convlint import imports

    saved = list(imports.EXTRA_PATHS)
    corpus = CORPUS_SMP.parent
    imports.EXTRA_PATHS[:] = [corpus / "segmentation-models-pytorch-0.6.0", corpus / "torchvision-0.29.1",
                              corpus / "timm-1.0.31"]
    try:
        path = CORPUS_SMP / "segmentation_models_pytorch" / "decoders" / "unet" / "model.py"
        s = summarize_source(path.read_bytes(), str(path), input_shape=(3, 224, 224), model_name="Unet")[0]
    finally:
        imports.EXTRA_PATHS[:] = saved
    # torch: smp.Unet("resnet34", encoder_weights=None)(torch.zeros(1, 3, 224, 224)) is (1, 1, 224, 224)
    assert s.output_shape == (1, 224, 224)
    assert [r.output_shape for r in s.rows if r.path == "decoder.blocks.0.conv1.2"] == [(256, 14, 14)]
