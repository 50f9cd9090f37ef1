"""torchvision's detection plumbing: the batch GeneralizedRCNNTransform makes of a detector's
images, MultiScaleRoIAlign's one map per box, and the idioms of detection recipes (a backbone
frozen by a loop over its parameters, `backbone.out_channels = 512` on an nn.Sequential). The
sizes are torch 2.13's: F.interpolate(..., scale_factor=s, mode="bilinear",
recompute_scale_factor=True) of zeros, and the broadcasts of `(image - mean[:, None, None]) /
std[:, None, None]`. The models built from torchvision's own source need the corpus (`python
tools/corpus.py --fetch-only`) and are skipped without it."""

from __future__ import annotations

from pathlib import Path

import pytest

from convlint import imports
from convlint.detection import padded, rcnn_transform_shape, resized_size, roi_pool_shape
from convlint.engine import analyze_source, lint_source

CORPUS = Path(__file__).resolve().parent.parent / ".corpus" / "src" / "torchvision-0.29.1"
DETECTION = CORPUS / "torchvision" / "models" / "detection"
needs_corpus = pytest.mark.skipif(not DETECTION.is_dir(), reason="no corpus: python tools/corpus.py --fetch-only")


@pytest.mark.parametrize("height, width, min_size, max_size, resized, batched", [
    # torch: interpolate's output (H, W), then batch_images' sides padded to multiples of 32
    (224, 224, 800, 1333, (800, 800), (800, 800)),
    (300, 400, 800, 1333, (800, 1066), (800, 1088)),
    (480, 640, 320, 320, (240, 320), (256, 320)),
    (333, 517, 800, 1333, (800, 1242), (800, 1248)),
    (1000, 200, 800, 1333, (1333, 266), (1344, 288)),  # the longer side caps the scale
    (97, 31, 640, 640, (640, 204), (640, 224)),
])
def test_an_image_is_resized_and_padded_as_torchvision_does(height, width, min_size, max_size, resized, batched):
    assert resized_size(height, width, min_size, max_size) == resized
    assert tuple(padded(side, 32) for side in resized) == batched


IMAGENET = {"mean": 3, "std": 3, "min_size": (800,), "max_size": 1333, "size_divisible": 32, "fixed_size": None,
            "training": False}


def test_the_transform_s_batch_of_images():
    assert rcnn_transform_shape(IMAGENET, (3, 300, 400)) == (3, 800, 1088)
    # SSD's: fixed_size (300, 300), size_divisible 1
    assert rcnn_transform_shape({**IMAGENET, "fixed_size": (300, 300), "size_divisible": 1}, (3, 480, 640)) == (3, 300, 300)
    # a gray image broadcast against a mean of three: torch gives (3, H, W)
    assert rcnn_transform_shape(IMAGENET, (1, 224, 224)) == (3, 800, 800)
    # an image of unknown shape: 3 channels whenever torch does not raise; sizes unknown
    assert rcnn_transform_shape(IMAGENET, None) == (3, None, None)
    # training picks one of several min sizes at random: sizes unknown
    assert rcnn_transform_shape({**IMAGENET, "min_size": (640, 800), "training": True}, (3, 224, 224)) == (3, None, None)
    # two channels against a mean of three, a 4-d image: torch raises
    assert rcnn_transform_shape(IMAGENET, (2, 224, 224)) is False
    assert rcnn_transform_shape(IMAGENET, (3, 1, 224, 224)) is False


def test_roi_pooling_gives_one_map_per_box_of_the_first_level_s_channels():
    assert roi_pool_shape((7, 7), [(256, 200, 200), (256, 100, 100)]) == (256, 7, 7)
    assert roi_pool_shape((14, 14), [(512, None, None)]) == (512, 14, 14)
    assert roi_pool_shape((7, 7), []) is None
    assert roi_pool_shape((7, 7), [None]) is None


RECIPE = '''import torch
from torch import nn
from torchvision.models import resnet18
from torchvision.models.detection.faster_rcnn import FasterRCNN, FastRCNNPredictor
from torchvision.models.detection.rpn import AnchorGenerator
from torchvision.ops import MultiScaleRoIAlign


class BoxHead(nn.Module):
    def __init__(self, channels, width):
        super().__init__()
        self.fc6 = nn.Linear(channels * 7 * 7, width)
        self.fc7 = nn.Linear(width, width)

    def forward(self, x):
        x = x.flatten(start_dim=1)
        return torch.relu(self.fc7(torch.relu(self.fc6(x))))


def build():
    trunk = resnet18()
    backbone = nn.Sequential(*list(trunk.children())[:-2])
    backbone.out_channels = 512
    anchors = AnchorGenerator(sizes=((32, 64, 128),), aspect_ratios=((0.5, 1.0, 2.0),))
    pool = MultiScaleRoIAlign(featmap_names=["0"], output_size=7, sampling_ratio=2)
    return FasterRCNN(backbone, num_classes=None, rpn_anchor_generator=anchors, box_roi_pool=pool,
                      box_head=BoxHead(512, 256), box_predictor=FastRCNNPredictor(256, 3))
'''


@pytest.fixture
def torchvision_installed(monkeypatch):
    monkeypatch.setattr(imports, "EXTRA_PATHS", [CORPUS])


@needs_corpus
def test_a_box_head_of_the_wrong_pooled_size_is_reported_at_its_line(torchvision_installed):
    # the tutorial's recipe: a resnet18 trunk (512 channels) pooled to 7x7 per box, so the box head's
    # first Linear takes 512·7·7 = 25088 features; one written for 5x5 pools takes 12800
    assert lint_source(RECIPE, "detector.py") == []
    broken = RECIPE.replace("channels * 7 * 7", "channels * 5 * 5")
    assert [(f.span.line, f.code, f.message) for f in lint_source(broken, "detector.py")] == [
        (12, "CL001", "Linear expects 12800 input features but receives 25088 (512·7·7 flattened by the flatten on line 16)")]


def _received(path: Path, model: str, kind: str, line: int) -> set:
    """What the steps of `kind` built at `line` of the file receive in the model's run."""
    analysis = analyze_source(path.read_bytes(), str(path), details=True)
    run = next(m for m in analysis.models if m.name == model and not m.part_of and not m.training)
    return {step.in_shape for step in run.steps if step.kind == kind and step.step.op.layer.node.lineno == line}


@needs_corpus
@pytest.mark.parametrize("file, model, kind, line, received", [
    # TwoMLPHead's fc6, Linear(256 * 7 * 7, 1024): the FPN's 256 channels pooled to 7x7
    ("faster_rcnn.py", "fasterrcnn_resnet50_fpn", "Linear", 298, {(12544,)}),
    # FastRCNNPredictor's two Linear(1024, ...): TwoMLPHead's 1024 features
    ("faster_rcnn.py", "fasterrcnn_resnet50_fpn", "Linear", 359, {(1024,)}),
    # MaskRCNNPredictor's ConvTranspose2d(256, 256, 2, 2): the mask head's 256 channels at 14x14
    ("mask_rcnn.py", "maskrcnn_resnet50_fpn", "ConvTranspose2d", 342, {(256, 14, 14)}),
    # KeypointRCNNPredictor's ConvTranspose2d(512, 17, 4, 2, 1): the keypoint head's 512 at 14x14
    ("keypoint_rcnn.py", "keypointrcnn_resnet50_fpn", "ConvTranspose2d", 293, {(512, 14, 14)}),
])
def test_torchvision_s_detectors_run_their_heads_on_pooled_features(file, model, kind, line, received):
    assert _received(DETECTION / file, model, kind, line) == received


FROZEN = '''from torch import nn


class Frozen(nn.Module):
    def __init__(self):
        super().__init__()
        backbone = nn.Sequential(nn.Conv2d(3, 16, 3), nn.ReLU(), nn.Conv2d(16, 32, 3))
        for name, parameter in backbone.named_parameters():
            if not name.startswith("2."):
                parameter.requires_grad_(False)
        self.backbone = backbone
        self.head = nn.Conv2d(32, 10, 1)

    def forward(self, x):
        return self.head(self.backbone(x))
'''


def test_a_backbone_frozen_by_a_loop_over_its_parameters_is_still_known():
    # torch: Frozen()(torch.zeros(1, 3, 32, 32)) with head Conv2d(16, 10, 1) raises "expected input[1, 32, 28, 28]
    # to have 16 channels, but got 32 channels instead"
    assert lint_source(FROZEN, "frozen.py") == []
    broken = FROZEN.replace("nn.Conv2d(32, 10, 1)", "nn.Conv2d(16, 10, 1)")
    assert [(f.span.line, f.code, f.message) for f in lint_source(broken, "frozen.py")] == [
        (12, "CL001", "Conv2d expects 16 input channels but receives 32 (out_channels of the Conv2d on line 7)")]


TAGGED = '''from torch import nn


class Tagged(nn.Module):
    def __init__(self):
        super().__init__()
        trunk = nn.Sequential(nn.Conv2d(3, 32, 3), nn.ReLU())
        trunk.out_channels = 32
        self.trunk = trunk
        self.head = nn.Conv2d(trunk.out_channels, 10, 1)

    def forward(self, x):
        return self.head(self.trunk(x))
'''


def test_a_count_set_on_a_sequential_is_read_back():
    # torch: with Conv2d(trunk.out_channels * 2, 10, 1), Tagged()(torch.zeros(1, 3, 32, 32)) raises "expected
    # input[1, 32, 30, 30] to have 64 channels, but got 32 channels instead"
    assert lint_source(TAGGED, "tagged.py") == []
    broken = TAGGED.replace("nn.Conv2d(trunk.out_channels, 10, 1)", "nn.Conv2d(trunk.out_channels * 2, 10, 1)")
    assert [(f.span.line, f.code, f.message) for f in lint_source(broken, "tagged.py")] == [
        (10, "CL001", "Conv2d expects 64 input channels but receives 32 (out_channels of the Conv2d on line 7)")]
    # a value the code does not know replaces the one it did: unknown again, no finding
    lost = broken.replace("self.trunk = trunk", "trunk.out_channels = int(input())\n        self.trunk = trunk")
    assert lint_source(lost, "tagged.py") == []
