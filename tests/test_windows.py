"""Windows folded into the batch (issue 14): swin's partition `reshape(B * windows, ws * ws, C)` with
the number of windows read off the padded map (a symbolic count of rows per sample), its reverse,
the mask of shifted windows (a tensor without a batch whose sizes are read off the map), the
relative-position bias (a table indexed by a buffer built from aranges), the crop back to the
unpadded size. Numbers checked once with torch 2.13 (fixtures/window_attention.py: the padded
size 4·⌊(H + 12)/16⌋ and the output for H in 4..79, 7,838 parameters, the index's 256 int64
elements; swin_t's 7·⌊(H + 24)/28⌋ and (49, 96) rows for H in 4..399; torchvision's own swin_t and
swin_v2_t, loaded from the corpus with torch: 28,288,354 and 28,351,570 parameters, 64 and 81
windows of (49, 96) into the qkv projection at 224 and 230, patch merges of 384, 768, 1536)."""

import re
from pathlib import Path

import pytest

from convlint.engine import analyze_source

ROOT = Path(__file__).resolve().parent.parent
SWIN = (ROOT / ".corpus" / "src" / "torchvision-0.29.1" / "torchvision" / "models" / "swin_transformer.py").resolve()


def _undeclared(text: str) -> bytes:
    """The fixture without its input declarations: its models run on symbolic sizes."""
    return re.sub(r"^# convlint: input=.*$", "", text, flags=re.M).encode()


def _steps(source: bytes, path: str, model: str):
    analysis = analyze_source(source, path, details=True)
    return next(m for m in analysis.models if m.name == model).steps


def _only(path: Path, name: str):
    """The steps of one model of a file, built on its own (a file of many variants may spend its
    budget before its later ones when all are built)."""
    from convlint.context import ModelRun
    from convlint.engine import _view, read
    from convlint.propagate import propagate

    reading = read(path.read_bytes(), str(path), only=name)
    model = next(m for m in reading.models if m.name == name and not m.training)
    return _view(ModelRun(model, None, propagate(model)), reading.positions).steps


def test_windows_of_a_symbolic_map_are_followed_to_the_output():
    path = ROOT / "fixtures" / "window_attention.py"
    steps = _steps(_undeclared(path.read_text()), str(path), "WindowNet")
    shapes = {(s.line, s.kind): s for s in steps}
    padded = shapes[(16, "pad")].out_shape
    assert [str(d) for d in padded] == ["4·⌊(H + 12)/16⌋", "4·⌊(W + 12)/16⌋", "16"]
    assert shapes[(67, "Linear")].in_shape == (16, 16)  # rows of one window: 4·4 positions, 16 features
    assert shapes[(67, "Linear")].step.inputs[0].frames == (padded[0] // 4) * (padded[1] // 4)
    assert shapes[(68, "Linear")].in_shape == (16, 16)  # after attention, the shift undecided: both arms agree
    assert [str(d) for d in shapes[(45, "index")].out_shape] == ["⌊H/4⌋", "⌊W/4⌋", "16"]  # the crop
    assert shapes[(38, "broadcast")].out_shape is not None  # the mask of the shifted windows met
    assert steps[-1].out_shape == (10,)
    assert all(s.step.output.frames == 1 for s in steps if s.line in (42, 79, 80))  # windows put back


def test_a_batch_of_windows_is_no_longer_folded_after_the_reverse():
    path = ROOT / "fixtures" / "window_attention.py"
    steps = _steps(path.read_bytes(), str(path), "WindowNet")
    reverse = [s for s in steps if s.line == 42][-1]
    assert reverse.out_shape == (12, 12, 16) and reverse.step.output.frames == 1
    partition = [s for s in steps if s.line == 24][0]
    assert partition.out_shape == (16, 16) and partition.step.output.frames == 9


def test_the_windowed_model_has_torchs_parameters():
    from convlint.summary import summarize_source, to_json

    path = ROOT / "fixtures" / "window_attention.py"
    assert to_json(summarize_source(path.read_bytes(), str(path), (3, 40, 40), "WindowNet"))[0]["params"] == 7838


def test_windows_cut_and_put_back_with_views_of_minus_one():
    path = ROOT / "fixtures" / "window_attention.py"
    steps = _steps(_undeclared(path.read_text()), str(path), "PartitionNet")
    cut = next(s for s in steps if s.line == 119 and s.kind == "view")
    assert cut.out_shape == (4, 4, 16) and str(cut.step.output.frames) == "⌊H/16⌋·⌊W/16⌋"
    back = next(s for s in steps if s.line == 124)
    assert [str(d) for d in back.out_shape] == ["⌊H/16⌋", "⌊W/16⌋", "4", "4", "16"] and back.step.output.frames == 1
    # view(-1, h, w, c) with h = ⌊H/4⌋: torch raises unless 4 divides it (H = 20), so unknown here
    assert next(s for s in steps if s.line == 125 and s.kind == "view").out_shape is None
    declared = _steps(path.read_bytes(), str(path), "PartitionNet")  # 3×32×32: 8 divides by 4
    assert next(s for s in declared if s.line == 125 and s.kind == "view").out_shape == (8, 8, 16)


def test_the_windows_of_minus_one_have_torchs_parameters():
    from convlint.summary import summarize_source, to_json

    path = ROOT / "fixtures" / "window_attention.py"
    assert to_json(summarize_source(path.read_bytes(), str(path), (3, 32, 32), "PartitionNet"))[0]["params"] == 1226


@pytest.mark.skipif(not SWIN.is_file(), reason="the corpus is not fetched (tools/corpus.py)")
def test_swin_t_is_followed_through_its_windows():
    steps = _only(SWIN, "swin_t")
    padded = next(s for s in steps if s.line == 155).out_shape
    assert [str(d) for d in padded] == ["7·⌊(H + 24)/28⌋", "7·⌊(W + 24)/28⌋", "96"]
    qkv = next(s for s in steps if s.line == 259 and s.kind == "Linear")
    assert qkv.in_shape == (49, 96)
    assert str(qkv.step.inputs[0].frames) == "⌊(H + 24)/28⌋·⌊(W + 24)/28⌋"
    assert next(s for s in steps if s.line == 260 and s.kind == "Linear").in_shape == (49, 96)
    merges = [s.in_shape[-1] for s in steps if s.line == 73 and s.kind == "Linear"]
    assert merges == [384, 768, 1536]  # 4·C of each stage's patch merge
    assert steps[-1].out_shape == (1000,)


@pytest.mark.skipif(not SWIN.is_file(), reason="the corpus is not fetched (tools/corpus.py)")
def test_swin_t_parameters_are_torchs():
    from convlint.summary import summarize_source, to_json

    assert to_json(summarize_source(SWIN.read_bytes(), str(SWIN), (3, 224, 224), "swin_t"))[0]["params"] == 28288354


# (source of a module-level tensor of known shape, the shape torch 2.13 gives it, whether it is of
# an integer dtype); None: unknown to convlint (torch raises, or the rule is not followed)
KNOWN_SHAPES = [
    ("torch.meshgrid(torch.arange(3), torch.arange(5), indexing='ij')[1]", (3, 5), True),
    ("torch.meshgrid(torch.arange(3), torch.arange(5), indexing='xy')[0]", (5, 3), True),
    ("torch.stack(torch.meshgrid(torch.arange(3), torch.arange(5), indexing='ij'), 2)", (3, 5, 2), True),
    ("torch.stack(torch.meshgrid(torch.arange(3), torch.arange(5), indexing='ij')).flatten(1)", (2, 15), True),
    ("torch.flatten(torch.zeros(2, 3, 4), 0, 1)", (6, 4), False),
    ("torch.zeros(2, 3, 4).permute(2, 0, 1)", (4, 2, 3), False),
    ("torch.zeros(2, 3, 4).sum(-1)", (2, 3), False),
    ("torch.zeros(2, 3, 4).sum((0, 2), True)", (1, 3, 1), False),
    ("torch.zeros(2, 3)[:, None, :]", (2, 1, 3), False),
    ("torch.zeros(2, 3, 4)[:, 1]", (2, 4), False),
    ("torch.zeros(2, 1, 4) - torch.zeros(3, 1)", (2, 3, 4), False),
    ("torch.arange(4)[:, None] - torch.arange(4)[None, :]", (4, 4), True),
    ("torch.zeros(9, 2)[torch.arange(4)[:, None] + torch.arange(4)[None, :]]", (4, 4, 2), False),
    ("torch.zeros(2, 3) + torch.zeros(4, 1, 2)", None, None),  # torch raises: 3 against 2
    ("torch.zeros(9, 2)[torch.zeros(4)]", None, None),  # a float index: torch raises
    ("torch.zeros(2, 3, 4).permute(0, 1)", None, None),  # torch raises
]


@pytest.mark.parametrize("source, shape, integral", KNOWN_SHAPES)
def test_shapes_of_tensors_not_the_models(source, shape, integral):
    import ast

    from convlint.extract import Extractor, fixed
    from convlint.extract.values import ConstTensor

    module = ast.parse(f"import torch\nT = {source}\n")
    extractor = Extractor(module, None)
    extractor.exec_block(module.body, extractor.globals)
    value = extractor.globals.vars["T"]
    if shape is None:
        assert not isinstance(value, ConstTensor)
    else:
        assert isinstance(value, ConstTensor) and value.shape == shape and fixed.integral(value) == integral


# tensors of known shape through layers (swin v2's position MLP on its coordinate table); torch
# 2.13 gives each shape, and raises for the mismatched Linear
KNOWN_SHAPES_THROUGH_LAYERS = [
    ("nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 3))(torch.zeros(1, 5, 5, 2))", (1, 5, 5, 3)),
    ("nn.Linear(2, 8)(torch.zeros(4, 2))", (4, 8)),
    ("nn.Sequential(nn.Linear(3, 8))(torch.zeros(1, 5, 2))", None),  # torch raises: 2 features, not 3
    ("nn.Sequential(nn.Conv2d(2, 8, 1))(torch.zeros(1, 2, 5, 5))", None),  # not followed at a file's top level: unknown
    ("16 * torch.sigmoid(torch.zeros(3, 4))", (3, 4)),
    ("torch.clamp(torch.zeros(2, 1, 1), max=4.6).exp()", (2, 1, 1)),
    ("torch.sign(torch.zeros(2, 3)) * torch.log2(torch.abs(torch.zeros(2, 3)) + 1.0)", (2, 3)),
]


@pytest.mark.parametrize("source, shape", KNOWN_SHAPES_THROUGH_LAYERS)
def test_shapes_of_tensors_not_the_models_through_layers(source, shape):
    import ast

    from convlint.extract import Extractor
    from convlint.extract.values import ConstTensor

    module = ast.parse(f"import torch\nimport torch.nn as nn\nT = {source}\n")
    extractor = Extractor(module, None)
    extractor.ops = []  # as inside a model's build
    extractor.exec_block(module.body, extractor.globals)
    value = extractor.globals.vars["T"]
    assert (value.shape if isinstance(value, ConstTensor) else None) == shape


@pytest.mark.skipif(not SWIN.is_file(), reason="the corpus is not fetched (tools/corpus.py)")
def test_swin_v2_t_is_followed_and_has_torchs_parameters():
    from convlint.summary import summarize_source, to_json

    steps = _only(SWIN, "swin_v2_t")
    assert [s.in_shape[-1] for s in steps if s.line == 100 and s.kind == "Linear"] == [384, 768, 1536]
    assert steps[-1].out_shape == (1000,)
    assert to_json(summarize_source(SWIN.read_bytes(), str(SWIN), (3, 256, 256), "swin_v2_t"))[0]["params"] == 28351570


def test_macs_count_every_window_of_a_sample():
    """A Linear on a batch of windows runs once per window: forward hooks on torch 2.13's run of
    WindowNet at 3x40x40 count 628,032 multiply-accumulates (out.numel() x in_features, and
    out.numel() x in_channels x kernel for the convolutions); one window per sample would be 365,888."""
    from convlint.summary import summarize_source

    path = ROOT / "fixtures" / "window_attention.py"
    summary = next(s for s in summarize_source(path.read_bytes(), str(path), (3, 40, 40)) if s.name == "WindowNet")
    assert summary.macs == 628_032
