"""The input torchvision's pretrained weights are made for (issue 15): a builder's `weights`
parameter names its WeightsEnum, whose entries' transforms (`partial(ImageClassification,
crop_size=224)`) crop to a size with as many channels as the preset's mean. The zoo is our own,
in torchvision's layout (fixtures/zoo/site/torchvision, each module exits if imported). Every
number was checked once with torch 2.13 on the classes' source without the exits."""

from __future__ import annotations

from pathlib import Path

import pytest

from convlint.engine import analyze_source, lint_source
from convlint.extract.zoo import WEIGHTS_CONFIGURED
from convlint.sizes import var
from convlint.summary.tables import summarize_source

MODELS = Path(__file__).resolve().parent.parent / "fixtures" / "zoo" / "site" / "torchvision" / "models"
FIRENET = MODELS / "firenet.py"
TINY3D = MODELS / "video" / "tiny3d.py"


def summary(path: Path, name: str):
    return summarize_source(path.read_bytes(), str(path), model_name=name)[0]


@pytest.mark.parametrize("name, shape, features, params, output", [
    # torch: FireNet() on (1, 3, 224, 224): features (1, 32, 56, 56), 38,424 parameters, (1, 1000)
    ("firenet", (3, 224, 224), (32, 56, 56), 38_424, (1000,)),
    # torch: FireNet(in_channels=1, num_classes=10) on (1, 1, 28, 28): its mean=(0.1307,) is one channel
    ("firenet_gray", (1, 28, 28), (32, 7, 7), 5_242, (10,)),
    # Optional[Union[quantized, float]]: both enums crop to 224
    ("firenet_quantized", (3, 224, 224), (32, 56, 56), 38_424, (1000,)),
])
def test_a_builder_runs_on_the_input_its_weights_are_made_for(name, shape, features, params, output):
    s = summary(FIRENET, name)
    assert (s.input, s.input_source) == (shape, WEIGHTS_CONFIGURED)
    assert [r.output_shape for r in s.rows if r.line == 24] == [features]
    assert (s.params, s.output_shape) == (params, output)


@pytest.mark.parametrize("name", [
    "firenet_mixed",  # its two weights crop to 224 and 288: which one is meant is not known
    "firenet_detection",  # ObjectDetection takes images of any size
    "FireNet",  # the class alone has no weights: its builders do
])
def test_no_input_without_one_crop_all_weights_agree_on(name):
    s = summary(FIRENET, name)
    assert (s.input, s.input_source) == (None, None)


def test_a_video_builder_s_frames_stay_unknown():
    # torch: Tiny3d() on (1, 3, 16, 112, 112) gives a stem of (1, 8, 16, 56, 56), on 5 frames
    # (1, 8, 5, 56, 56): any count; (1, 400) out, 7,144 parameters. At the configured rank the
    # forward's `if x.dim() == 4` is decided: no unsqueeze, the stem's output known
    s = summary(TINY3D, "tiny3d")
    assert (s.input, s.input_source) == ((3, var("D"), 112, 112), WEIGHTS_CONFIGURED)
    assert [(r.line, r.output_shape) for r in s.rows[:2]] == [(17, (8, var("D"), 56, 56)), (18, (8, var("D"), 56, 56))]
    assert (s.params, s.output_shape) == (7_144, (400,))


def test_a_stride_that_drops_pixels_of_the_weights_crop_is_reported():
    # torch: Conv2d(3, 16, 3, stride=2) on (1, 3, 224, 224) gives (1, 16, 111, 111), and the
    # input's last row and column get no gradient
    source = FIRENET.read_text().replace("kernel_size=4, stride=2, padding=1", "kernel_size=3, stride=2")
    findings = [(f.span.line, f.code, f.message) for f in lint_source(source, str(FIRENET))]
    assert findings == [(20, "CL002", "(224 + 2·0 − 3)/2 + 1 = 111.5, floored to 111: the last 1 row and 1 column of "
                                      "the 224×224 input are never read (PyTorch drops them at the bottom and right "
                                      "edges, not at random); padding=1 or an input of 225×225 reads every pixel")]


FAMILIES = """\
from enum import Enum
from typing import Optional

import torch.nn as nn


class Small_Weights(Enum):
    V1 = 1


class Large_Weights(Enum):
    V1 = 2


def _net(width, depth, block=nn.ReLU):
    layers = [nn.Conv2d(3, width, 3, padding=1)]
    for _ in range(depth):
        layers += [nn.Conv2d(width, width, 3, padding=1), block()]
    return nn.Sequential(*layers)


def net_small(*, weights: Optional[Small_Weights] = None):
    return _net(8, 2)


def net_large(*, weights: Optional[Large_Weights] = None):
    return _net(64, 12)


def net_gelu(*, weights: Optional[Small_Weights] = None):
    return _net(8, 2, block=nn.GELU)
"""


def test_a_second_size_of_a_builder_is_built_after_every_other_builder(monkeypatch):
    # net_large differs from net_small only in its numbers and the Enum it names: the same lines
    # run, so net_gelu (another block) is built before it, while the file's budget lasts; the
    # models are reported in the file's order
    from convlint.engine import read
    from convlint.extract import discovery

    built = []
    build = discovery.Discovery.build
    monkeypatch.setattr(discovery.Discovery, "build",
                        lambda self, name, *a, **k: built.append(name) or build(self, name, *a, **k))
    assert [m.name for m in read(FAMILIES.encode(), "families.py").models] == ["net_small", "net_large", "net_gelu"]
    assert built == ["net_small", "net_gelu", "net_large", "_net"]  # and the helper they call last


def test_a_stem_of_other_channels_than_the_weights_are_made_for_is_reported():
    # torch: the stem Conv2d(4, 16, 4, stride=2) on the weights' (1, 3, 224, 224): "Given groups=1, weight
    # of size [16, 4, 4, 4], expected input[1, 3, 224, 224] to have 4 channels, but got 3 channels instead"
    source = FIRENET.read_text().replace("nn.Conv2d(in_channels, 16,", "nn.Conv2d(4, 16,")
    findings = [(f.span.line, f.code, f.message, f.fix) for f in lint_source(source, str(FIRENET))]
    assert findings == [(20, "CL001", f"Conv2d expects 4 input channels but receives 3 (the input: {WEIGHTS_CONFIGURED})",
                         None)]


def test_a_first_layer_on_timms_configured_input_seeds_it():
    # timm's input has the model's own in_chans channels: what its first layer receives is its own count
    # (tools/corpus_coverage.py and tools/mutate.py do not count it), what the next ones receive is not
    path = FIRENET.parent.parent.parent / "timm" / "models" / "tinynet.py"
    steps = [(s.line, s.step.seeded) for m in analyze_source(path.read_bytes(), str(path), details=True).models
             if m.name == "tinynet_a" for s in m.steps if s.kind == "Conv2d"]
    assert steps[:2] == [(16, True), (18, False)]
