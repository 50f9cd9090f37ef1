"""An EfficientNet in monai's style (fixtures/zoo/monai/networks/nets/tinyeffnet.py, our own code):
the model input padded before the stem's convolution (the convolution still gives the input its
channels, the pad its sizes), stage settings as typing.NamedTuples widened with `_replace`, and
monai's memory-efficient swish, an autograd Function run through `apply`, from the `Act` factory.
Every number was checked once with torch: TinyEfficientNet()(torch.zeros(2, 3, 63, 37)) has the
stem's output (2, 16, 31, 18), the blocks' (2, 24, 15, 9) and the output (2, 10), with 2,674
parameters; each broken variant raises in torch with the message quoted above it. (monai itself is
not importable here, without numpy: its EfficientNet's test asserts only what the fixture's show.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from convlint.engine import lint_source
from convlint.sizes import var
from convlint.summary.tables import summarize_source

TINYEFFNET = Path(__file__).resolve().parent.parent / "fixtures" / "zoo" / "monai" / "networks" / "nets" / "tinyeffnet.py"
SOURCE = TINYEFFNET.read_text()
EFFICIENTNET = Path(__file__).resolve().parent.parent / ".corpus" / "src" / "monai-1.6.1" / "monai" / "networks" / \
    "nets" / "efficientnet.py"


def findings(source: str) -> list[tuple[int, str, str]]:
    return [(f.span.line, f.code, f.message) for f in lint_source(source, str(TINYEFFNET))]


def test_the_fixture_is_silent():
    assert findings(SOURCE) == []


def test_the_padded_input_takes_the_stems_channels_and_the_pads_sizes():
    h, w = var("H"), var("W")
    s = summarize_source(SOURCE.encode(), str(TINYEFFNET), model_name="TinyEfficientNet")[0]
    rows = [(row.line, row.output_shape) for row in s.rows]
    assert rows[:3] == [(37, (3, h + 1, w + 1)), (38, (16, h // 2, w // 2)), (39, (16, h // 2, w // 2))]
    assert rows[-3:] == [(48, (24, 1, 1)), (54, (24,)), (49, (10,))]
    assert s.params == 2674


@pytest.mark.parametrize("old, new, expected", [
    # torch: "running_mean should contain 16 elements not 8" (the padded stem's channels)
    ("self.bn0 = nn.BatchNorm2d(int(8 * width))", "self.bn0 = nn.BatchNorm2d(int(4 * width))",
     (39, "CL001", "BatchNorm2d expects 8 input channels but receives 16 (out_channels of the Conv2d on line 38)")),
    # torch: "mat1 and mat2 shapes cannot be multiplied (2x24 and 16x10)" (the stages' widths after _replace)
    ("self.fc = nn.Linear(int(12 * width), num_classes)", "self.fc = nn.Linear(int(8 * width), num_classes)",
     (49, "CL001", "Linear expects 16 input features but receives 24 (24·1·1 flattened by the flatten on line 54)")),
    # torch: "Given groups=1, weight of size [24, 24, 1, 1], expected input[2, 16, 16, 16] to have 24
    # channels, but got 16 channels instead" (past the swish's autograd Function)
    ("self.project = nn.Conv2d(in_channels, out_channels, 1, bias=False)",
     "self.project = nn.Conv2d(out_channels, out_channels, 1, bias=False)",
     (24, "CL001", "Conv2d expects 24 input channels but receives 16 (out_channels of the Conv2d on line 22)")),
])
def test_broken_variants(old, new, expected):
    assert old in SOURCE
    assert findings(SOURCE.replace(old, new)) == [expected]


def test_a_pad_whose_amount_is_unknown_leaves_the_input_unknown():
    source = SOURCE.replace("self.stem_pad = nn.ConstantPad2d((0, 1, 0, 1), 0.0)",
                            "self.stem_pad = nn.ConstantPad2d(in_channels.bit_length(), 0.0)")
    s = summarize_source(source.encode(), str(TINYEFFNET), model_name="TinyEfficientNet")[0]
    assert [(row.line, row.output_shape) for row in s.rows][:2] == [(37, None), (38, None)]


@pytest.mark.skipif(not EFFICIENTNET.is_file(), reason="the corpus is not fetched (tools/corpus.py)")
def test_monais_efficientnet_b0_is_followed_to_its_classifier():
    # every parameter counted (none of its stages unknown) and its classifier reached
    s = summarize_source(EFFICIENTNET.read_bytes(), str(EFFICIENTNET), model_name="EfficientNetBN")[0]
    assert s.params is not None
    assert [row.output_shape for row in s.rows if row.line == 401] == [(1000,)]


PADS = '''import torch.nn as nn
import torch.nn.functional as F


class PadTwice(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)

    def forward(self, x):
        return self.conv(F.pad(F.pad(x, (1, 1, 1, 1)), (0, 1, 0, 1)))


class PadChannels(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(5, 8, 3)

    def forward(self, x):
        return self.conv(F.pad(x, (0, 0, 0, 0, 1, 1)))
'''


def test_pads_in_a_row_each_take_their_share_and_a_pad_of_the_channels_says_nothing_of_them():
    # torch: PadTwice()(torch.zeros(1, 3, 10, 12)) is (1, 8, 11, 13); PadChannels() takes 3 channels
    # (padded to 5) and gives (1, 8, 8, 10): the conv's 5 are not the input's
    h, w = var("H"), var("W")
    twice = summarize_source(PADS.encode(), "pads.py", model_name="PadTwice")[0]
    assert [row.output_shape for row in twice.rows] == [(3, h + 2, w + 2), (3, h + 3, w + 3), (8, h + 1, w + 1)]
    channels = summarize_source(PADS.encode(), "pads.py", model_name="PadChannels")[0]
    assert [row.output_shape for row in channels.rows] == [None, None]
    assert lint_source(PADS, "pads.py") == []
