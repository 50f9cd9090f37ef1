"""Tensors of known values computed from constants (convlint/extract/valued.py): the numbers torch
computes, or unknown. The pinned figures were each checked once with torch 2.13 (CPU); the
differential tests run torch itself beside convlint on the same source."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from convlint.extract.valued import result_dtype
from convlint.extract.values import ValuedTensor
from convlint.summary import summarize_source

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def summary_of(model: str):
    path = FIXTURES / "width_schedules.py"
    return next(s for s in summarize_source(path.read_bytes(), str(path), None, model) if s.name == model)


def test_a_width_schedule_computed_with_torch_on_constants():
    # torch: stage_plan(9, 16, 9.5, 1.7) == ([16, 28, 48, 80], [1, 2, 2, 4]); 253,498 parameters,
    # output (10,), the smallest square input 1x1
    s = summary_of("ScheduledNet")
    assert (s.params, s.output_shape, s.min_input) == (253_498, (10,), (1, 1))
    assert [r.output_shape[0] for r in s.rows if r.kind == "Conv2d"] == [16, 28, 28, 48, 48, 80, 80, 80, 80]


def test_a_width_on_a_half_rounds_to_even_as_torch_does():
    s = summary_of("HalfwayNet")  # torch: widths [80, 176, 408] (22.5 rounds to 22), 86,792 parameters
    assert (s.params, s.output_shape) == (86_792, (408, 64, 64))


def test_a_float_that_may_fall_either_side_of_an_integer_is_unknown():
    s = summary_of("UnsureNet")  # torch: floor(3.0) = 3, 672 parameters; convlint cannot be sure of it
    assert s.params is None and s.output_shape == (None, 62, 62)
    assert not s.findings


def _tensor(shape, dtype):
    return ValuedTensor(shape, values=(1,) * (shape[0] if shape else 1), dtype=dtype)


@pytest.mark.parametrize("operands, dtype", [
    # torch 2.13: torch.result_type of each
    ([_tensor((3,), "int64"), 27.89], "float32"),
    ([_tensor((3,), "int64"), 48], "int64"),
    ([_tensor((3,), "int64"), _tensor((), "float64")], "float64"),  # a 0-dim tensor of a higher category
    ([_tensor((3,), "float32"), _tensor((), "float64")], "float32"),
    ([_tensor((3,), "int32"), _tensor((3,), "int64")], "int64"),
    ([_tensor((3,), "bool"), 2], "int64"),
    ([_tensor((3,), "int32"), 2], "int32"),
])
def test_result_dtype_is_torch_s(operands, dtype):
    assert result_dtype(operands) == dtype


# RegNet's design-space settings (depth, w_0, w_a, w_m) of torchvision's 15 builders, and a few more
SETTINGS = [
    (16, 48, 27.89, 2.09), (14, 56, 38.84, 2.4), (27, 48, 20.71, 2.65), (21, 80, 42.63, 2.66),
    (17, 192, 76.82, 2.19), (18, 200, 106.23, 2.48), (20, 232, 115.89, 2.53), (27, 456, 160.83, 2.52),
    (22, 24, 24.48, 2.54), (16, 56, 35.73, 2.28), (18, 80, 34.01, 2.25), (25, 88, 26.31, 2.25),
    (23, 80, 49.56, 2.88), (22, 216, 55.59, 2.1), (23, 320, 69.86, 2.0),
    (13, 24, 36.0, 2.5), (10, 64, 8.0, 1.5), (12, 32, 10.0, 2.0),
]
SCHEDULE = """
import math
import torch
import torch.nn as nn


def widths(depth, w_0, w_a, w_m):
    ramp = torch.arange(depth) * w_a + w_0
    steps = torch.round(torch.log(ramp / w_0) / math.log(w_m))
    return (torch.round(torch.divide(w_0 * torch.pow(w_m, steps), 8)) * 8).int().tolist()


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        {prelude}
        self.heads = nn.ModuleList([nn.Linear(1, {width}, bias=False) for w in {values}])

    def forward(self, x):
        return x
"""


def _torch_params(source: str) -> int:
    pytest.importorskip("torch")
    scope: dict = {}
    exec(compile(source, "schedule.py", "exec"), scope)  # noqa: S102 - the test's own source
    return sum(p.numel() for p in scope["Net"]().parameters())


def _static_params(source: str):
    return next(s for s in summarize_source(source, "schedule.py", None, "Net") if s.name == "Net").params


@pytest.mark.parametrize("setting", SETTINGS)
def test_regnet_widths_are_torch_s(setting):
    # each width becomes a Linear(1, w): its parameter count is the width itself, and a layer per
    # width tells the widths apart (w * (i + 1) for the i-th)
    source = SCHEDULE.format(prelude="pass", width="w[1] * (w[0] + 1)", values=f"enumerate(widths{setting})")
    assert _static_params(source) == _torch_params(source)


EXPRESSIONS = [
    "torch.round((torch.arange(n) * a + b) / c * 64)",
    "torch.round(torch.log(torch.arange(1, n + 1) * a) * 100)",
    "torch.round(torch.pow(m, torch.arange(n) * 1.0) * 10)",
    "torch.round(k / (torch.arange(n) + b) * 50)",
    "torch.floor(torch.tensor([a, b, c]) * k - m)",
    "torch.ceil(-(torch.arange(n) * 0.1 + a) ** 2)",
    "torch.diff(torch.arange(n) * (torch.arange(n) + 3))",
    "torch.round(torch.exp(torch.arange(n) / c) * 7)",
    "(torch.arange(n) * 7 // 3 + torch.arange(n) % 4)",
]


@pytest.mark.parametrize("expression", EXPRESSIONS)
def test_known_values_are_torch_s_or_unknown(expression):
    rng = random.Random(expression)
    known = 0
    for _ in range(12):
        constants = dict(n=rng.randint(2, 12), a=round(rng.uniform(0.1, 9), rng.randint(1, 4)),
                         b=round(rng.uniform(0.5, 5), 2), c=round(rng.uniform(0.3, 7), 3),
                         k=rng.choice([3, 7.5, 96, 0.3]), m=round(rng.uniform(1.05, 3), 2))
        prelude = "n, a, b, c, k, m = " + ", ".join(repr(constants[name]) for name in "nabckm")
        source = SCHEDULE.format(prelude=prelude, width="w[1] * (w[0] + 1) + 1",
                                 values=f"enumerate(({expression}).abs().int().tolist())")
        static = _static_params(source)
        if static is not None:
            known += 1
            assert static == _torch_params(source), source
    assert known >= 10  # unknown only where a float lands too near a boundary to be sure


HOSTILE = [
    "torch.arange(float('inf'))", "torch.arange(float('nan'))", "torch.tensor(float('nan')).int()",
    "torch.tensor([1e300]).int()", "torch.tensor([1e30]) * 1e30", "torch.log(torch.tensor([0.0]))",
    "torch.exp(torch.tensor([1000.0]))", "torch.arange(3) // 0", "torch.arange(3) % 0", "torch.arange(3) / 0",
    "torch.arange(3) ** -1", "torch.pow(-2.0, torch.arange(3) * 0.5)", "torch.tensor([])", "torch.arange(10**12)",
    "torch.tensor([1, 2]) + torch.tensor([1, 2, 3])", "torch.tensor([2.0]) ** 200", "torch.diff(torch.tensor(3))",
    "torch.tensor([2**62]) * 4", "-torch.tensor([True])", "torch.round(torch.tensor([2.5]), decimals=1)",
]


@pytest.mark.parametrize("expression", HOSTILE)
def test_values_torch_rejects_or_that_overflow_are_unknown_never_a_traceback(expression):
    source = SCHEDULE.format(prelude="pass", width="3", values=f"[{expression}]")
    assert _static_params(source) == 3  # one Linear(1, 3) for the one value, whatever it is
