"""Elementwise torch functions whose first argument is a parameter and a later one a tensor of the
graph (timm's GlobalResponseNorm, `torch.addcmul(bias, weight, x * nx)`, and ResMLP's Affine,
`torch.addcmul(self.beta, self.alpha, x)`): the broadcast of them all, so the layers after them keep
their features. The fixture is fixtures/parameter_first.py (our own code). Every number was checked
once with torch 2.13: ConvNeXtV2Block() holds 13,738 parameters (its head 330) and maps (2, 3, 16, 16)
to (2, 10); ResMlpBlock() holds 485 (its head 125) and maps (2, 16, 12) to (2, 5)."""

from __future__ import annotations

from pathlib import Path

import pytest

from convlint.engine import lint_source
from convlint.summary.tables import summarize_source

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "parameter_first.py"
SOURCE = FIXTURE.read_text()
RESMLP_FIRST_LINE = SOURCE.splitlines().index("class Affine(nn.Module):") + 1
HEAD = ("self.head = nn.Linear(dim, num_classes)\n\n"
        "    def forward(self, x: torch.Tensor) -> torch.Tensor:\n        return")


def findings(source: str, input_shape=None) -> list[tuple[int, str, str]]:
    return [(f.span.line, f.code, f.message) for f in lint_source(source, str(FIXTURE), input_shape=input_shape)]


def test_the_blocks_are_silent():
    assert findings(SOURCE) == []


@pytest.mark.parametrize("name, input_shape, before_head, output, params", [
    ("ConvNeXtV2Block", None, (32,), (10,), 13_738),  # its stem Conv2d(3, 32, 7) seeds the input
    ("ResMlpBlock", (16, 12), (24,), (5,), 485),
])
def test_the_broadcast_with_the_parameter_keeps_the_features(name, input_shape, before_head, output, params):
    s = summarize_source(SOURCE.encode(), str(FIXTURE), input_shape=input_shape, model_name=name)[0]
    assert s.output_shape == output and s.weights + s.biases == params
    added = [r for r in s.rows if r.layer.startswith("torch.addcmul")]
    assert added and all(r.kind == "broadcast" for r in added)
    head = next(r for r in s.rows if r.path == "head")
    assert head.output_shape == output
    assert s.rows[s.rows.index(head) - 1].output_shape == before_head


def test_a_response_norm_of_other_channels_is_found():
    # torch: "The size of tensor a (32) must match the size of tensor b (128) at non-singleton dimension 3"
    old, new = "self.grn = ResponseNorm(mlp_ratio * dim)", "self.grn = ResponseNorm(dim)"
    assert old in SOURCE
    assert findings(SOURCE.replace(old, new)) == [
        (19, "CL006", "torch.addcmul of a tensor (N, H, W, 128) and a parameter (1, 1, 1, 32) whose sizes 128 and 32 "
                      "cannot be broadcast")]


@pytest.mark.parametrize("old, new, expected", [
    # torch: "The size of tensor a (48) must match the size of tensor b (24) at non-singleton dimension 2"
    ("self.norm = Affine(dim)", "self.norm = Affine(dim * 2)",
     (45, "CL006", "torch.addcmul of a tensor (N, 16, 24) and a parameter (1, 1, 48) whose sizes 24 and 48 cannot be "
                   "broadcast")),
    # torch: "mat1 and mat2 shapes cannot be multiplied (2x24 and 48x5)"
    (HEAD, HEAD.replace("(dim,", "(dim * 2,"),
     (53, "CL001", "Linear expects 48 input features but receives 24 (out_features of the Linear on line 51)")),
])
def test_a_token_block_whose_affine_or_head_does_not_chain_is_found(old, new, expected):
    assert old in SOURCE
    # the token input given to every model of the file: only ResMlpBlock's findings are about it
    assert [f for f in findings(SOURCE.replace(old, new), (16, 12)) if f[0] >= RESMLP_FIRST_LINE] == [expected]
