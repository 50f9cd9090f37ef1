"""A class whose constructor has parameters without a default is built as its own documentation
builds it (syntax.documented_calls, Discovery.documented_or_default): the authors' values, where a
build from the defaults alone would leave them unknown. Each number checked once with torch 2.13
(DOCNET's class imported from a file, each example called on torch.zeros(1, C, 10, 10))."""

from __future__ import annotations

import ast

from convlint.engine import analyze_source, lint_source
from convlint.syntax import documented_calls

DOCNET = '''import torch.nn as nn


class DocNet(nn.Module):
    """A stem and a body.

    Examples::

        >>> net = DocNet(in_channels=3, width=16)
        >>> wide = nets.DocNet(1, 32,
        ...                    body=8)
        >>> DocNet(width=WIDTH, in_channels=3)  # not a literal: not built
        >>> DocNet(in_channels=3, width=16)  # the first again: built once
    """

    def __init__(self, in_channels, width, body=16):
        super().__init__()
        self.stem = nn.Conv2d(in_channels, width, 3)
        self.body = nn.Conv2d(body, 8, 3)

    def forward(self, x):
        return self.body(self.stem(x))
'''


def test_the_calls_a_docstring_shows_are_read_at_their_lines():
    cls = next(n for n in ast.parse(DOCNET).body if isinstance(n, ast.ClassDef))
    calls = documented_calls(cls)
    lines = DOCNET.splitlines()
    assert [(c.lineno, c.end_lineno, ast.unparse(c)) for c in calls] == [
        (9, 9, "DocNet(in_channels=3, width=16)"),
        (10, 11, "DocNet(1, 32, body=8)"),  # the class by its bare name, the prompt of its second line dropped
    ]
    assert lines[8][calls[0].col_offset:].startswith("DocNet(in_channels=3")
    assert lines[9][calls[1].args[0].col_offset] == "1"


def test_each_documented_call_is_a_model_and_a_broken_one_is_reported():
    # torch: DocNet(in_channels=3, width=16) gives (1, 8, 6, 6) from (1, 3, 10, 10); DocNet(1, 32, body=8)
    # raises "expected input[1, 32, 8, 8] to have 8 channels, but got 32 channels instead"
    analysis = analyze_source(DOCNET, "docnet.py", input_shape=None)
    runs = {m.name: m for m in analysis.models}
    assert set(runs) == {"DocNet", "DocNet@10"}
    assert [s.out_shape for s in runs["DocNet"].steps][0][0] == 16
    findings = [(f.span.line, f.code, f.message) for f in lint_source(DOCNET, "docnet.py")]
    assert findings == [(19, "CL001", "Conv2d expects 8 input channels but receives 32 "
                                      "(out_channels of the Conv2d on line 18)")]


def test_a_class_with_defaults_for_every_parameter_is_built_from_them_alone():
    source = DOCNET.replace("def __init__(self, in_channels, width, body=16)",
                            "def __init__(self, in_channels=3, width=16, body=16)")
    assert [m.name for m in analyze_source(source, "docnet.py").models] == ["DocNet"]
    assert lint_source(source, "docnet.py") == []


def test_an_example_that_does_not_bind_leaves_the_defaults_build():
    # monai 1.6.1's ViT docstring shows ViT(in_channels=1, img_size=(96, 96, 96), ...) without its
    # required patch_size: Python raises a TypeError, so that call builds nothing
    source = DOCNET.replace(", body=16)", ", body=16, *, depth)")
    assert [m.name for m in analyze_source(source, "docnet.py").models] == ["DocNet"]
    assert lint_source(source, "docnet.py") == []
