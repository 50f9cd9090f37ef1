"""`convlint summary` on torchvision's 16 classifiers, read from the corpus (`python tools/corpus.py
--fetch-only` unpacks it; skipped without it): parameters, output shape and multiply-accumulates
equal torch's. Torch's figures (torch 2.13 CPU, torchvision 0.29.1's model files loaded as source):
sum(p.numel() for p in model.parameters()), the output of model.eval() on one zero image, and the
MACs forward hooks count, `output.numel() × in_channels/groups × prod(kernel_size)` for each
convolution and `output.numel() × in_features` for each Linear."""

from __future__ import annotations

from pathlib import Path

import pytest

from convlint.summary import summarize_source

MODELS = Path(__file__).resolve().parent.parent / ".corpus" / "src" / "torchvision-0.29.1" / "torchvision" / "models"
pytestmark = pytest.mark.skipif(not MODELS.is_dir(), reason="no corpus: python tools/corpus.py --fetch-only")

TORCH = {  # builder: (file, parameters, output, MACs)
    "alexnet": ("alexnet.py", 61_100_840, (1000,), 714_188_480),
    "vgg11": ("vgg.py", 132_863_336, (1000,), 7_609_090_048),
    "vgg16": ("vgg.py", 138_357_544, (1000,), 15_470_264_320),
    "resnet18": ("resnet.py", 11_689_512, (1000,), 1_814_073_344),
    "resnet50": ("resnet.py", 25_557_032, (1000,), 4_089_184_256),
    "densenet121": ("densenet.py", 7_978_856, (1000,), 2_834_161_664),
    "squeezenet1_0": ("squeezenet.py", 1_248_424, (1000,), 818_924_576),
    "googlenet": ("googlenet.py", 13_004_888, (1000,), 1_498_376_192),
    "inception_v3": ("inception.py", 27_161_264, (1000,), 5_713_216_096),  # at 3×299×299
    "mobilenet_v2": ("mobilenetv2.py", 3_504_872, (1000,), 300_774_272),
    "mobilenet_v3_small": ("mobilenetv3.py", 2_542_856, (1000,), 56_510_400),
    "shufflenet_v2_x1_0": ("shufflenetv2.py", 2_278_604, (1000,), 144_907_992),
    "mnasnet1_0": ("mnasnet.py", 4_383_312, (1000,), 314_415_872),
    "efficientnet_b0": ("efficientnet.py", 5_288_548, (1000,), 385_814_752),
    "regnet_y_400mf": ("regnet.py", 4_344_144, (1000,), 401_842_848),
    "convnext_tiny": ("convnext.py", 28_589_128, (1000,), 4_455_531_264),
}


@pytest.mark.parametrize("builder", TORCH)
def test_summary_totals_are_torch_s(builder):
    file, params, output, macs = TORCH[builder]
    path = MODELS / file
    size = (3, 299, 299) if builder == "inception_v3" else (3, 224, 224)
    s = next(s for s in summarize_source(path.read_bytes(), str(path), size, builder) if s.name == builder)
    assert (s.params, s.output_shape, s.macs) == (params, output, macs)
