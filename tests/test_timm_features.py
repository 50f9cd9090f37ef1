"""timm's features_only models, followed through the builder into timm's own feature wrappers
(FeatureListNet reading the model's feature_info). The channels below are the `num_chs` of the
model's feature_info in timm 1.0.31's source (resnet18's act1 and layer1..4): what
`timm.create_model(name, features_only=True).feature_info.channels()` gives."""

from __future__ import annotations

from pathlib import Path

import pytest

from convlint.engine import analyze_source, lint_source

TIMM = Path(__file__).resolve().parent.parent / ".corpus" / "src" / "timm-1.0.31"

USER = """\
import timm
import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = timm.create_model({name!r}, features_only=True)
        self.heads = nn.ModuleList([nn.Conv2d(c, 1, 1) for c in {channels!r}])

    def forward(self, x):
        feats = self.backbone(x)
        return [head(f) for head, f in zip(self.heads, feats)]
"""


@pytest.fixture
def timm_on_path(monkeypatch):
    if not TIMM.is_dir():
        pytest.skip("the unpacked corpus (tools/corpus.py) is not here")
    from convlint import imports
    monkeypatch.setattr(imports, "EXTRA_PATHS", [TIMM])


@pytest.mark.parametrize("name, channels", [
    ("resnet18", [64, 64, 128, 256, 512]),
    # not yet followed: efficientnet_b0 [16, 24, 40, 112, 320] (EfficientNetFeatures) and
    # convnext_tiny [96, 192, 384, 768] (FeatureListNet with flatten_sequential=True)
])
def test_feature_maps_of_a_features_only_model_have_known_channels(timm_on_path, tmp_path, name, channels):
    source = USER.format(name=name, channels=channels).encode()
    path = str(tmp_path / "user.py")
    net = next(m for m in analyze_source(source, path, details=True).models if m.name == "Net")
    heads = [s for s in net.steps if s.kind == "Conv2d" and s.line == 9]
    assert [s.in_shape[0] for s in heads] == channels
    assert lint_source(source, path) == []


def test_a_head_of_the_wrong_width_on_a_feature_map_is_reported(timm_on_path, tmp_path):
    # the last feature map of resnet18 has 512 channels: torch's nn.Conv2d(256, 1, 1) on it raises
    # "expected input[1, 512, 7, 7] to have 256 channels, but got 512 channels instead"
    source = USER.format(name="resnet18", channels=[64, 64, 128, 256, 256])
    findings = lint_source(source.encode(), str(tmp_path / "user.py"))
    assert [(f.span.line, f.code) for f in findings] == [(9, "CL001")]


def test_str_join_of_a_list_is_known():
    # timm's _module_list names a flattened child '.'.join([name, child_name]); torch 2.13:
    # Net()(torch.zeros(1, 3, 8, 8)) raises "expected input[1, 4, 8, 8] to have 5 channels, but got 4 channels instead"
    source = b"""\
import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(3, len('.'.join(['ab', 'c'])), 1)
        self.b = nn.Conv2d(5, 2, 1)

    def forward(self, x):
        return self.b(self.a(x))
"""
    assert [(f.span.line, f.code) for f in lint_source(source, "join.py")] == [(8, "CL001")]
