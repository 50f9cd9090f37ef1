"""Size searches and their messages (summary, dropped-pixels fixes) the mutation run of
tools/mutants.py found unpinned. Every number was checked once against torch 2.13 (CPU): the
smallest square forward that runs, and which input rows get a gradient (all-ones weights)."""

import textwrap

from convlint.engine import lint_source
from convlint.summary import summarize_source


def sequential(layers, shape):
    return f"import torch.nn as nn\n\n# convlint: input={shape}\nnet = nn.Sequential({layers})\n"


def findings(source):
    return [(f.line, f.name, f.message) for f in lint_source(textwrap.dedent(source), "m.py")]


def test_a_congruence_is_reduced_to_its_smallest_modulus():
    # strides 2·2 give period 4, but the sizes that lose nothing are the odd ones:
    # torch reads every row for n = 3, 5, 7, ... and loses the last row for every even n
    source = sequential("nn.Conv2d(1, 4, 3, stride=2), nn.Conv2d(4, 4, 3, stride=2, padding=1)", "1x32x32")
    s = summarize_source(source, "m.py")[0]
    assert s.min_input == (3, 3)  # torch: 3×3 runs, 2×2 does not
    assert s.no_drop == {"axes": [
        {"axis": "H", "modulus": 2, "residues": [1], "congruence": "H ≡ 1 (mod 2)", "nearest": [31, 33]},
        {"axis": "W", "modulus": 2, "residues": [1], "congruence": "W ≡ 1 (mod 2)", "nearest": [31, 33]},
    ]}


def test_good_sizes_counted_from_a_smallest_input_that_is_not_a_multiple_of_the_period():
    # smallest input 4 (kernel 2 then 2 on the half); torch loses nothing exactly when 4 divides n
    source = sequential("nn.Conv2d(1, 4, 2, stride=2), nn.Conv2d(4, 4, 2, stride=2)", "1x33x33")
    s = summarize_source(source, "m.py")[0]
    assert s.min_input == (4, 4)
    assert [a["congruence"] for a in s.no_drop["axes"]] == ["H ≡ 0 (mod 4)", "W ≡ 0 (mod 4)"]
    assert s.no_drop["axes"][0]["nearest"] == [32, 36]
    source = sequential("nn.Conv2d(1, 4, 3, stride=2), nn.Conv2d(4, 4, 2, stride=2)", "1x20x20")
    s = summarize_source(source, "m.py")[0]
    # torch: 5×5 is the smallest that runs; n = 5, 9, 13, 17, 21 read every row
    assert s.min_input == (5, 5)
    assert [a["congruence"] for a in s.no_drop["axes"]] == ["H ≡ 1 (mod 4)", "W ≡ 1 (mod 4)"]
    assert s.no_drop["axes"][0]["nearest"] == [17, 21]


def test_a_dilated_window_with_one_output_position():
    # torch: on 8×8 (one output) rows 0, 3, 6 are read and the last is not; on 9×9 the last is read
    source = sequential("nn.Conv2d(1, 1, 3, dilation=3, stride=2)", "1x8x8")
    assert findings(source) == [(4, "dropped-pixels",
        "(8 + 2·0 − 7)/2 + 1 = 1.5, floored to 1: the last 1 row and 1 column of the 8×8 input are never read "
        "(PyTorch drops them at the bottom and right edges, not at random); padding=1 or an input of 9×9 "
        "reads every pixel")]
    s = summarize_source(source, "m.py")[0]
    assert s.min_input == (7, 7)  # torch: 7×7 gives one output, 6×6 none
    assert [a["congruence"] for a in s.no_drop["axes"]] == ["H ≡ 1 (mod 2)", "W ≡ 1 (mod 2)"]
    assert s.no_drop["axes"][0]["nearest"] == [7, 9]


def test_a_dilation_that_shares_a_factor_with_the_stride_skips_rows_by_design():
    # torch: dilation 4 at stride 2 reads even rows only, on 10×10 (rows 0, 4, 8) as on 11×11
    # (0, 2, ..., 10): no size reads every row, so the last one unread is not reported
    source = sequential("nn.Conv2d(1, 1, 3, dilation=4, stride=2)", "1x10x10")
    assert findings(source) == []
    s = summarize_source(source, "m.py")[0]
    assert s.min_input == (9, 9)  # torch: 9×9 gives one output, 8×8 none
    assert [a["congruence"] for a in s.no_drop["axes"]] == ["every H", "every W"]


VIEWS = """\
import torch.nn as nn


# convlint: input=1x8x8
class Merged(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3)
        self.fc = nn.Linear(144, 10)

    def forward(self, x):
        x = self.conv(x)
        x = x.view(-1)
        return self.fc(x)


# convlint: input=1x8x8
class Kept(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3)
        self.fc = nn.Linear(144, 10)

    def forward(self, x):
        x = self.conv(x)
        x = x.view(-1, 144)
        return self.fc(x)


# convlint: input=3x16x16
class Mismatch(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)
        self.conv2 = nn.Conv2d(4, 8, 3)

    def forward(self, x):
        return self.conv2(self.conv(x))
"""


def test_minimum_inputs_of_views_and_of_a_channel_mismatch():
    found = {s.name: s for s in summarize_source(VIEWS, "m.py")}
    # view(-1) merges the batch: with a batch of 2 the Linear receives 288 features, so no size is
    # a verdict; view(-1, 144) runs for 8×8 only (4·6·6 = 144); the mismatch fails at every size
    assert found["Merged"].min_input is None
    assert [(r.kind, r.output_shape) for r in found["Merged"].rows] == [
        ("Conv2d", (4, 6, 6)), ("view", None), ("Linear", None)]
    assert found["Kept"].min_input == (8, 8)
    assert [(r.kind, r.output_shape) for r in found["Kept"].rows] == [
        ("Conv2d", (4, 6, 6)), ("view", (144,)), ("Linear", (10,))]
    assert found["Mismatch"].min_input is None


def test_minimum_input_found_63_sizes_above_the_collapse_free_one():
    # torch: ZeroPad2d(32) then PixelUnshuffle(64) runs for n = 64 and 128 only (up to 139);
    # nothing collapses from n = 1 on, so the search must reach 1 + 63
    source = sequential("nn.ZeroPad2d(32), nn.PixelUnshuffle(64)", "1x64x64")
    s = summarize_source(source, "m.py")[0]
    assert s.min_input == (64, 64)
    assert [r.output_shape for r in s.rows] == [(1, 128, 128), (4096, 2, 2)]


def test_nearest_sizes_with_a_congruence():
    from convlint.sizing import nearest

    assert nearest(4, [0], 5, 4) == [4, 8]  # the one below may be the lowest allowed size itself
    assert nearest(4, [0], 4, 4) == [4]
    assert nearest(4, [1], 2, 4) == [5]  # below the lowest allowed size: only the one above
    assert nearest(4, [], 5, 1) == []
    assert nearest(2, [1], 10, 1) == [9, 11]
    assert nearest(3, [0, 2], 7, 7) == [8]


def test_fixes_for_dilated_windows_whose_taps_land_in_the_padding():
    # torch (all-ones weights, input gradient): Conv2d(1, 1, 2, stride=2, dilation=2, padding=1) reads
    # nothing of a 1×1 input, every row with padding=2 or at 2×2
    source = sequential("nn.Conv2d(1, 1, 2, stride=2, dilation=2, padding=1)", "1x1x1")
    assert findings(source) == [(4, "dropped-pixels",
        "(1 + 2·1 − 3)/2 + 1 = 1, floored to 1: the last 1 row and 1 column of the 1×1 input are never read "
        "(PyTorch drops them at the bottom and right edges, not at random); padding=2 or an input of 2×2 "
        "reads every pixel")]
    # Conv2d(1, 1, 3, stride=2, dilation=3, padding=2) loses 1 row at 3×3, 2 at 4×4, none at 5×5
    # (a growth of a whole stride) or with padding=3
    source = sequential("nn.Conv2d(1, 1, 3, stride=2, dilation=3, padding=2)", "1x3x3")
    assert findings(source) == [(4, "dropped-pixels",
        "(3 + 2·2 − 7)/2 + 1 = 1, floored to 1: the last 1 row and 1 column of the 3×3 input are never read "
        "(PyTorch drops them at the bottom and right edges, not at random); padding=3 or an input of 5×5 "
        "reads every pixel")]


SEARCHES = """\
import torch.nn as nn


# convlint: input=1x20x20
skip = nn.Sequential(nn.Conv2d(1, 4, 1, stride=2), nn.Conv2d(4, 4, 2, stride=2))

# convlint: input=3x16x16
odd = nn.Sequential(nn.Conv2d(3, 8, 3), nn.Conv2d(14, 8, 3))

# convlint: input=4x32
pooled = nn.Sequential(nn.MaxPool1d(2), nn.Conv1d(4, 8, 3))

# convlint: input=2x12
flat = nn.Sequential(nn.Conv1d(2, 4, 3), nn.Flatten(), nn.Linear(48, 5))


class Free(nn.Module):
    def __init__(self, n):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.fc = nn.Linear(n, 5)

    def forward(self, x):
        return self.fc(self.conv(x).flatten(1))
"""


def test_size_searches_of_several_models():
    found = {s.name: s for s in summarize_source(SEARCHES, "m.py")}
    # torch: the 1×1 stride-2 conv skips rows by design; the 2/2 conv after it reads its whole
    # input exactly for n = 3, 4, 7, 8, 11, 12, ... (n ≡ 0 or 3 mod 4), the smallest being 3
    assert found["skip"].min_input == (3, 3)
    assert found["skip"].no_drop["axes"][0] == {
        "axis": "H", "modulus": 4, "residues": [0, 3], "congruence": "H ≡ 0 or 3 (mod 4)", "nearest": [20]}
    # 8 channels into a Conv2d(14, ...): no size runs, though the 14×14 size equals 14
    assert found["odd"].min_input is None
    # torch: MaxPool1d(2) then Conv1d(4, 8, 3) runs from L = 6; even lengths read everything
    assert found["pooled"].min_input == (6,)
    assert [a["congruence"] for a in found["pooled"].no_drop["axes"]] == ["L ≡ 0 (mod 2)"]
    # torch: 4·(L − 2) = 48 only for L = 14
    assert found["flat"].min_input == (14,)
    # an in_features nothing resolves pins nothing: the smallest input is the collapse-free one
    assert found["Free"].min_input == (3, 3)
    assert [str(d) for d in found["Free"].rows[1].output_shape] == ["4·(H − 2)·(W − 2)"]
    assert findings(SEARCHES) == [
        (8, "channel-mismatch", "Conv2d expects 14 input channels but receives 8 (out_channels of the Conv2d on line 8)"),
        (14, "channel-mismatch", "Linear expects 48 input features but receives 40 (4·10 flattened by the Flatten on "
                                 "line 14); only inputs of 2×14 fit the Linear's in_features"),
    ]


def test_the_sizes_a_linear_pins_when_a_later_layer_always_collapses():
    # torch: with a 1×1×1 input the Linear gets its 1 feature (then the 3×3 conv on 1×1 raises); with
    # 1×2×2 it gets 4 ("mat1 and mat2 shapes cannot be multiplied (1x4 and 1x4)")
    source = sequential("nn.Conv2d(1, 1, 1), nn.Flatten(), nn.Linear(1, 4), nn.Unflatten(1, (4, 1, 1)), "
                        "nn.Conv2d(4, 4, 3)", "1x2x2")
    s = summarize_source(source, "m.py")[0]
    assert s.min_input is None
    assert s.notes == ["the Linear on line 4 takes 1 features after the flatten: only inputs of 1×1×1 fit the "
                       "Linear's in_features, not 1×2×2"]


def test_the_smallest_input_a_layer_norm_over_trailing_dims_accepts():
    # torch: LayerNorm([8, 6, 6]) after Conv2d(1, 8, 3) runs on 8×8 alone; LayerNorm(5) after
    # Conv1d(2, 8, 3) on L = 7 alone (the last dim, not the channels)
    every = sequential("nn.Conv2d(1, 8, 3), nn.LayerNorm([8, 6, 6])", "1x8x8")
    assert summarize_source(every, "m.py")[0].min_input == (8, 8)
    last = sequential("nn.Conv1d(2, 8, 3), nn.LayerNorm(5)", "2x7")
    assert summarize_source(last, "m.py")[0].min_input == (7,)


CROPPED = """\
import torch.nn as nn


# convlint: input=1x10x10
class Cropped(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 1, 3, stride=2)

    def forward(self, x):
        return self.conv(x[:, :, 2:, 2:])
"""


def test_good_sizes_after_a_crop_the_symbolic_sizes_do_not_follow():
    # x[:, :, 2:] of a symbolic side is not followed, so each size is propagated; torch (all-ones
    # weights): from 5×5 up, the strided conv reads every row of the crop exactly for odd sides
    s = summarize_source(CROPPED, "m.py")[0]
    assert s.min_input == (5, 5)  # torch: 4×4 raises
    assert [(a["congruence"], a["nearest"]) for a in s.no_drop["axes"]] == [
        ("H ≡ 1 (mod 2)", [9, 11]), ("W ≡ 1 (mod 2)", [9, 11])]


def test_a_stride_product_of_1024_is_the_largest_period_given():
    # torch: Conv1d(1, 1, 1024, stride=1024) runs from L = 1024 and reads every position exactly when
    # 1024 divides L (of 1000..1029, 2000, 2047 and 2048: 1024 and 2048)
    s = summarize_source(sequential("nn.Conv1d(1, 1, 1024, stride=1024)", "1x2000"), "m.py")[0]
    assert s.min_input == (1024,)
    assert s.no_drop["axes"] == [
        {"axis": "L", "modulus": 1024, "residues": [0], "congruence": "L ≡ 0 (mod 1024)", "nearest": [1024, 2048]}]


def test_a_dropout_between_the_flatten_and_the_linear_keeps_the_pin():
    # torch: Conv2d(1, 4, 3), Flatten, Dropout, Linear(100, 10) runs on 7×7 alone (4·5·5 = 100); on the
    # declared 8×8 the Linear gets 144
    source = sequential("nn.Conv2d(1, 4, 3), nn.Flatten(), nn.Dropout(0.5), nn.Linear(100, 10)", "1x8x8")
    s = summarize_source(source, "m.py")[0]
    assert s.min_input == (7, 7)
    assert s.notes == ["the Linear on line 4 takes 100 features after the flatten: only inputs of 1×7×7 fit the "
                       "Linear's in_features, not 1×8×8"]
    assert findings(source) == [(4, "channel-mismatch", "Linear expects 100 input features but receives 144 (the "
                                 "output of the Flatten on line 4); only inputs of 1×7×7 fit the Linear's in_features")]


def test_a_layer_convlint_has_no_rule_for_does_not_hide_the_period_of_the_strides_before_it():
    # torch (all-ones weights): the strided conv reads every row exactly for odd sides (7, 9, 11, 13
    # lose nothing, 8, 10, 12 the last row); FractionalMaxPool2d has no rule here
    source = "import torch.nn as nn\n\nnet = nn.Sequential(nn.Conv2d(1, 1, 3, stride=2), nn.FractionalMaxPool2d(2, output_size=3))\n"
    assert [(f.line, f.message) for f in lint_source(source, "m.py", select={"dropped-pixels-any-input"})] == [
        (3, "for an input of 1×H×W, this Conv2d never reads the last rows or columns unless H ≡ 1 (mod 2) and "
            "W ≡ 1 (mod 2) (the smallest such sizes: 3, 5, 7); declare the input (# convlint: input=...) to check it exactly")]


def test_one_symbolic_propagation_gives_the_smallest_collapse_free_side():
    from convlint import sizing
    from convlint.engine import read

    # torch: Conv2d(1, 4, 5), MaxPool2d(2), Conv2d(4, 4, 3) runs on 10×10 (to 1×1) and 10×16, not 9×9
    source = b"import torch.nn as nn\n\nnet = nn.Sequential(nn.Conv2d(1, 4, 5), nn.MaxPool2d(2), nn.Conv2d(4, 4, 3))\n"
    (model,) = read(source, "m.py").models
    assert sizing._symbolic_collapse_free(model, 1, 2) == 10  # the guess, before any concrete run
    assert sizing.smallest_collapse_free(model, 1, 2) == 10


def test_a_wrong_guess_is_corrected_by_the_exact_rules(monkeypatch):
    from convlint import sizing
    from convlint.engine import read

    # torch: with W = 16, this model runs for H = 10, not 9; a guess of 12 (too large) or 7 (too
    # small) must not change the answer
    source = b"import torch.nn as nn\n\nnet = nn.Sequential(nn.Conv2d(1, 4, 5), nn.MaxPool2d(2), nn.Conv2d(4, 4, 3))\n"
    (model,) = read(source, "m.py").models
    for guess in (12, 7, 10):
        monkeypatch.setattr(sizing, "_symbolic_collapse_free", lambda *args, guess=guess, **kwargs: guess)
        assert sizing._axis_collapse_free(model, 1, 2, 0, 16) == 10
        assert sizing.smallest_collapse_free(model, 1, 2) == 10
