"""segmentation_models_pytorch's encoder tables (issue 15): most of smp's encoders are reached only
through a name given to `get_encoder`, which builds `table[name]["encoder"](**params, depth=5,
output_stride=32)`; each entry of a table in a file of smp's encoders is a model of that file. The
fixture package is fixtures/zoo/segmentation_models_pytorch (our own code, in smp's layout). Every
number below was checked once with torch: `sys.path.insert(0, "fixtures/zoo"); from
segmentation_models_pytorch.encoders import encoders`, each entry built so and run on 1x3x64x64."""

from __future__ import annotations

from pathlib import Path

import pytest

from convlint.engine import lint_source, read
from convlint.summary.tables import summarize_source

ENCODERS = Path(__file__).resolve().parent.parent / "fixtures" / "zoo" / "segmentation_models_pytorch" / "encoders"
TINY = ENCODERS / "tiny.py"


def names(path: Path) -> list[str]:
    return [m.name for m in read(path.read_bytes(), str(path)).models if not m.part_of and not m.training]


@pytest.mark.parametrize("name, params, last", [
    # torch: 6,080 parameters; features (3, 64, 64), (16, 16, 16), (32, 8, 8)
    ("tiny_s", 6_080, (32, 8, 8)),
    # torch: 24,640 parameters; the last of its features (64, 4, 4)
    ("tiny_m", 24_640, (64, 4, 4)),
    # torch: 4,952 parameters; features (3, 64, 64), (24, 16, 16) (a WideBlock squeezes 48 to 24)
    ("tiny_wide", 4_952, (24, 16, 16)),
])
def test_each_entry_of_an_encoder_table_is_built_as_get_encoder_builds_it(name, params, last):
    s = summarize_source(TINY.read_bytes(), str(TINY), input_shape=(3, 64, 64), model_name=name)[0]
    assert s.params == params
    assert s.rows[-1].output_shape == last
    # the stem's pool, read as the Sequential's named child and set apart, runs after the stem
    assert [(r.layer, r.output_shape) for r in s.rows[:3]] == [
        ("nn.Conv2d(3, stem, 3, padding=1)", (8, 64, 64)), ("nn.Identity()", (8, 64, 64)),
        ("nn.MaxPool2d(2)", (8, 32, 32))]


def test_the_first_entry_of_each_family_is_built_before_the_other_sizes():
    # tiny_m is tiny_s's family (the same class, parameter names and block): built last, so that a
    # file's step budget spent on large sizes of one family still reaches the others
    assert names(TINY) == ["Block", "WideBlock", "TinyEncoder", "tiny_s", "tiny_wide", "tiny_bad", "tiny_m"]


def test_a_wrong_entry_is_reported_at_the_layer_it_breaks():
    # torch: building tiny_bad and running it raises "weight of size [16, 8, 3, 3], expected
    # input[1, 4, 32, 32] to have 8 channels, but got 4 channels instead" in Block's conv
    findings = [(f.span.line, f.code, f.message) for f in lint_source(TINY.read_bytes(), str(TINY))]
    assert findings == [(12, "CL001", "Conv2d expects 8 input channels but receives 4 "
                                      "(out_channels of the Conv2d on line 35)")]


def test_tables_elsewhere_and_the_merged_table_are_not_built(tmp_path):
    other = tmp_path / "mylib" / "encoders"
    other.mkdir(parents=True)
    for folder in (other, other.parent):
        (folder / "__init__.py").touch()
    (other / "tiny.py").write_text(TINY.read_text())
    assert names(other / "tiny.py") == ["Block", "WideBlock", "TinyEncoder"]  # not smp's: a table is data
    assert names(ENCODERS / "__init__.py") == []  # every entry again, from the package's own table


NAMED_CHILD = """
from collections import OrderedDict
import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(OrderedDict([("conv0", nn.Conv2d(3, 16, 3)), ("norm0", nn.BatchNorm2d(16))]))
        self.head = nn.Conv2d(self.features.conv0.out_channels * 2, 8, 1)

    def forward(self, x):
        return self.head(self.features(x))
"""


def test_a_named_child_of_a_sequential_is_its_attribute():
    # torch: Net()(torch.zeros(1, 3, 32, 32)) raises "weight of size [8, 32, 1, 1], expected
    # input[1, 16, 30, 30] to have 32 channels, but got 16 channels instead"
    findings = [(f.span.line, f.code, f.message) for f in lint_source(NAMED_CHILD, "x.py", input_shape=(3, 32, 32))]
    assert findings == [(10, "CL001", "Conv2d expects 32 input channels but receives 16 "
                                      "(out_channels of the Conv2d on line 9)")]
