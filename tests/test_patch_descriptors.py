"""Idioms of local-feature libraries (kornia's descriptors), with fixtures/patch_descriptors.py (our
own code, in their style). Checked once with torch 2.13: PatchDescriptor()(torch.zeros(2, 1, 32, 32))
is (2, 128) with 2,116,064 parameters; BrokenDescriptor() raises "expected input[2, 64, 16, 16] to
have 32 channels, but got 64 channels instead"; Orienter() on (2, 1, 16, 16) raises "expected
input[2, 2, 16, 16] to have 4 channels, but got 2 channels instead"; PatchDescriptor() on
(2, 1, 16, 16) raises the shape check's "expected shape ['B', '1', '32', '32'], got (2, 1, 16, 16)";
TokenAttention()(torch.zeros(2, 16, 32)) is (2, 17, 32) with 4,256 parameters, and
TokenAttentionWrongProjection() raises "mat1 and mat2 shapes cannot be multiplied (34x32 and 64x32)";
SpaceToDepth()(torch.zeros(2, 1, 8, 8)) is (2, 8, 4, 4) (x.unfold(2, 2, 2) is (2, 1, 4, 8, 2), then
.unfold(3, 2, 2) (2, 1, 4, 4, 2, 2)) and SpaceToDepthWrongWidth() raises "expected input[2, 4, 4, 4]
to have 2 channels, but got 4 channels instead"; torch.zeros(2, 3, 7, 8).unfold(2, 8, 1) raises
"maximum size for tensor at dimension 2 is 7 but size is 8", .unfold(2, 2, 0) "step is 0 but must be > 0";
PairMatcher()({"image0": torch.zeros(2, 1, 8, 8), "image1": ...}) is (2, 4, 8, 8) and
wrong_pair_matcher raises "expected input[2, 8, 8, 8] to have 16 channels, but got 8 channels instead";
GrayStem()(torch.zeros(2, 3, 8, 8)) is (2, 8, 6, 6) and three_channel_gray_stem raises "expected
input[2, 1, 8, 8] to have 3 channels, but got 1 channels instead"."""

from __future__ import annotations

import ast
from pathlib import Path

from convlint.engine import lint_source
from convlint.evidence import from_shape_checks
from convlint.graph import Model
from convlint import layers as L
from convlint.products import einsum_shape
from convlint.propagate import broadcast
from convlint.sizes import var
from convlint.summary.tables import summarize_source

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "patch_descriptors.py"
SOURCE = FIXTURE.read_bytes()


def summary(name: str):
    return summarize_source(SOURCE, str(FIXTURE), model_name=name)[0]


def test_the_findings_are_torch_s_errors():
    assert [(f.span.line, f.code, f.message) for f in lint_source(SOURCE, str(FIXTURE))] == [
        (54, "CL001", "Conv2d expects 32 input channels but receives 64 (out_channels of the Conv2d on line 51)"),
        (77, "CL001", "Conv2d expects 4 input channels but receives 2 (out_channels of the Conv2d on line 76)"),
        (92, "CL001", "Linear expects 64 input features but receives 32 (the output of the reshape on line 101)"),
        (115, "CL001", "Conv2d expects 2 input channels but receives 4 (the output of the reshape on line 121)"),
        (134, "CL001", "Conv2d expects 16 input channels but receives 8 (out_channels of the Conv2d on line 133)"),
    ]


def test_a_shape_check_opening_the_forward_is_the_input_and_std_mean_standardises_it():
    s = summary("PatchDescriptor")
    assert s.input == (1, 32, 32) and s.input_source == "the shape check on line 64"
    assert [r.output_shape for r in s.rows[:4]] == [(1, 1, 1), (1, 1, 1), (1, 32, 32), (1, 32, 32)]
    assert s.output_shape == (128,)
    assert s.params == 2_116_064


def test_an_eps_buffer_a_negated_parameter_and_max_with_it():
    rows = {r.layer: r.output_shape for r in summary("PatchDescriptor").rows}
    assert rows["nu2 + self.eps.abs()"] == (32, 1, 1)
    assert rows["torch.max(x, self.tau)"] == (32, 32, 32)


def test_patches_standardised_by_their_own_statistics_stay_free_for_the_first_layer():
    s = summary("Orienter")
    assert [r.output_shape for r in s.rows[:4]] == [None, None, None, None]
    assert s.rows[4].layer == "nn.Conv2d(1, 8, 3, padding=1)"
    assert str(s.rows[4].output_shape) == "(8, Sym('H'), Sym('W'))"


def _models(source: str) -> list[Model]:
    tree = ast.parse(source)
    return [Model(node.name, node, None, []) for node in tree.body if type(node) is ast.ClassDef]


def test_only_a_fully_sized_check_of_the_forward_s_input_is_evidence():
    source = """\
class A:
    def forward(self, x):
        '''docs'''
        KORNIA_CHECK_SHAPE(x, ["B", "3", "8", "8"])
class B:
    def forward(self, x):
        KORNIA_CHECK_SHAPE(x, ["B", "1", "H", "W"])
class C:
    def forward(self, x, y):
        KORNIA_CHECK_SHAPE(y, ["B", "1", "8", "8"])
class D:
    def forward(self, x):
        KORNIA_CHECK_SHAPE(x, ["*", "1", "8", "8"])
class E:
    def forward(self, x):
        x = x + 1
        KORNIA_CHECK_SHAPE(x, ["B", "1", "8", "8"])
"""
    found = from_shape_checks(_models(source))
    assert {name: e.shape for name, e in found.items()} == {"A": (3, 8, 8)}


def test_a_class_token_repeated_to_the_batch_and_attention_by_einsum():
    s = summary("TokenAttention")
    rows = {r.layer: r.output_shape for r in s.rows}
    assert rows["self.cls_token.repeat(B, 1, 1)"] == (1, 32)
    assert rows['torch.einsum("bhqd, bhkd -> bhqk", q, k)'] == (4, 17, 17)
    assert rows['torch.einsum("bhal, bhlv -> bhav", att, v)'] == (4, 17, 8)
    assert s.output_shape == (17, 32) and s.params == 4_256


def test_einsum_shapes():
    # torch: einsum("bhqd,bhkd->bhqk") of (2, 4, 5, 8) and (2, 4, 6, 8) is (2, 4, 5, 6)
    assert einsum_shape("bhqd, bhkd -> bhqk", [(4, 5, 8), (4, 6, 8)]) == (4, 5, 6)
    assert einsum_shape("nlhd,nhd->nlh", [(7, 2, 3), (2, 3)]) == (7, 2)
    assert einsum_shape("bhqd,bhkd->bhqk", [(4, 5, 8), (4, 6, 9)]) is None  # torch raises: not followed
    assert einsum_shape("bij,jk->bik", [(2, 3), (3, 4)]) is None  # an operand without the batch
    assert einsum_shape("b...d,bd->b...", [(2, 3), (3,)]) is None
    assert einsum_shape("bij,bjk", [(2, 3), (3, 4)]) is None  # the implicit output is not followed
    assert einsum_shape("bij,bjk->bbk", [(2, 3), (3, 4)]) is None


def test_unfold_windows_a_map_into_depth():
    s = summary("SpaceToDepth")
    assert [r.output_shape for r in s.rows[:2]] == [(1, 4, 8, 2), (1, 4, 4, 2, 2)]
    assert s.output_shape == (8, 4, 4)
    rule = {"dimension": 2, "size": 3, "step": 2}
    assert L.output_shape("unfold", rule, (3, 7, 8)) == (3, 3, 8, 3)
    h = var("H")
    assert L.output_shape("unfold", {**rule, "dimension": -1}, (3, 7, h)) == (3, 7, (h - 3) // 2 + 1, 3)
    assert L.output_shape("unfold", {**rule, "dimension": 0}, (3, 7, 8)) is None  # along the batch
    for params, message in (({"dimension": 2, "size": 8, "step": 1}, "maximum size for tensor at dimension 2 is 7 but size is 8"),
                            ({"dimension": 2, "size": 2, "step": 0}, "step is 0 but must be > 0")):
        try:
            L.output_shape("unfold", params, (3, 7, 8))
        except L.ShapeError as error:
            assert str(error) == message
        else:
            raise AssertionError("no error")


def test_a_symbolic_size_broadcast_against_a_fixed_one_is_the_fixed_one():
    # torch adds a (N, S, 768) to a (197, 768) only when S is 197 or 1: the sum is (N, 197, 768)
    s, t = var("S"), var("T")
    assert broadcast((s, 768), (197, 768)) == ((197, 768), None)
    assert broadcast((197,), (s,)) == ((197,), None)
    assert broadcast((s,), (1,)) == ((s,), None)
    assert broadcast((s,), (t,)) == ((None,), None)


def test_the_tensors_of_a_dict_input_are_free_one_per_key():
    s = summary("PairMatcher")
    assert [r.layer for r in s.rows if r.layer.startswith("data[")] == ['data[f"image{side}"]'] * 2
    assert [str(r.output_shape) for r in s.rows if r.path == "head"] == ["(4, Sym('H'), Sym('W'))"]


def test_a_channel_mean_of_the_input_is_free_with_one_channel():
    assert summary("GrayStem").output_shape == (8, var("H") - 2, var("W") - 2)
    # InstanceNorm2d(3) cannot take the one channel: nothing is claimed past it
    assert [r.output_shape for r in summary("three_channel_gray_stem").rows] == [None, None, None]


def test_a_first_layer_of_other_channels_than_the_shape_check_states_is_reported():
    # torch: Conv2d(3, 8, 3) on the checked (1, 1, 32, 32): "Given groups=1, weight of size [8, 3, 3, 3],
    # expected input[1, 1, 32, 32] to have 3 channels, but got 1 channels instead"
    source = """\
import torch.nn as nn
from kornia.core.check import KORNIA_CHECK_SHAPE


class Descriptor(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)

    def forward(self, x):
        KORNIA_CHECK_SHAPE(x, ["B", "1", "32", "32"])
        return self.conv(x)
"""
    assert [(f.span.line, f.code, f.message) for f in lint_source(source, "descriptor.py")] == [
        (8, "CL001", "Conv2d expects 3 input channels but receives 1 (the input: the shape check on line 11)")]
