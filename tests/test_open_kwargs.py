"""A subclass built from its defaults that passes its **kwargs on (monai's `SEResNet50(SENet)`:
`super().__init__(block=..., layers=..., **kwargs)`, with spatial_dims and in_channels left to its
caller): the parameters still required are unknown, as the class's own would be, and the rest is
followed. Checked once with torch: Net16(in_channels=3)(torch.zeros(2, 3, 8, 8)) is (2, 10), 618
parameters; with the head of 32 inputs it raises "mat1 and mat2 shapes cannot be multiplied (2x16 and 32x10)"."""

from __future__ import annotations

from convlint.summary.tables import summarize_source

SOURCE = """\
import torch.nn as nn


class Net(nn.Module):
    def __init__(self, in_channels, width, num_classes=10):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, width, 3)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(width, num_classes)

    def forward(self, x):
        return self.fc(self.pool(self.conv(x)).flatten(1))


class Net16(Net):
    def __init__(self, num_classes=10, **kwargs):
        super().__init__(width=16, num_classes=num_classes, **kwargs)
"""


def summary(source: str, name: str = "Net16"):
    return summarize_source(source.encode(), "nets.py", model_name=name)[0]


def test_the_parameters_its_caller_would_pass_are_unknown_and_the_rest_is_followed():
    s = summary(SOURCE)
    assert s.output_shape == (10,)
    assert [(row.line, row.output_shape) for row in s.rows][-2:] == [(12, (16,)), (9, (10,))]
    assert s.params is None  # the conv's weights depend on the in_channels nobody gives


def test_a_head_that_does_not_fit_is_found_in_the_subclass():
    s = summary(SOURCE.replace("nn.Linear(width, num_classes)", "nn.Linear(width * 2, num_classes)"))
    assert [(f.span.line, f.code, f.message) for f in s.findings] == [
        (9, "CL001", "Linear expects 32 input features but receives 16 (16·1·1 flattened by the flatten on line 12)")]


def test_a_class_given_all_it_needs_closes_its_kwargs():
    s = summary(SOURCE + "\n\nnet = Net16(in_channels=3)\n", "net")
    assert s.output_shape == (10,) and s.params == 618
