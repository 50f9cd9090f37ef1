"""View behaviours the mutation run of tools/mutants.py over views.py found unpinned. Every shape
below was checked once against torch 2.13 (CPU) running the same model."""

import textwrap

from convlint.engine import analyze_source
from convlint.summary import summarize_source, to_json


def steps_of(source, model):
    analysis = analyze_source(textwrap.dedent(source), "m.py")
    view = next(m for m in analysis.models if m.name == model and not m.training)
    return [(s.kind, s.line, s.out_shape, s.step.output.frames) for s in view.steps]


HEADS = """\
import torch.nn as nn


class Heads(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 64, 1)

    def forward(self, x):
        y = self.conv(x).flatten(2)
        return y.view(y.size(0), 2, 32, -1)
"""


def test_explicit_sizes_that_split_one_symbolic_size_of_the_input_leave_the_other_to_the_free_one():
    """(N, 64, H·W).view(N, 2, 32, -1): 2·32 is the 64, so the -1 is H·W (torch 2.13 at 3×5×6:
    (2, 2, 32, 30))."""
    source = HEADS.encode()
    assert to_json(summarize_source(source, "heads.py", None, "Heads"))[0]["output_shape"] == [2, 32, "H·W"]
    assert to_json(summarize_source(source, "heads.py", (3, 5, 6), "Heads"))[0]["output_shape"] == [2, 32, 30]


FRAMES = """\
import torch.nn as nn


# convlint: input=4x3x8x8
class Frames(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(192, 10)

    def forward(self, x):
        return self.fc(x.view(-1, 192))
"""


def test_a_view_to_the_count_of_every_axis_but_the_first_folds_that_axis_into_the_batch():
    """(N, 4, 3, 8, 8).view(-1, 192): 4 rows of 3·8·8 per sample (torch 2.13 at N = 2: (8, 192))."""
    assert steps_of(FRAMES, "Frames") == [("view", 11, (192,), 4), ("Linear", 8, (10,), 4)]


TWO_FREE = """\
import torch.nn as nn


# convlint: input=8x4x4
class TwoFree(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(8, 8, 1)

    def forward(self, x):
        y = self.conv(x)
        return y.reshape(y.size(0) * 2, -1, -1)
"""


def test_a_fold_into_the_batch_with_two_free_sizes_is_unknown():
    """torch 2.13: RuntimeError "only one dimension can be inferred"; convlint does not make one up."""
    assert steps_of(TWO_FREE, "TwoFree") == [("Conv2d", 8, (8, 4, 4), 1), ("view", 12, None, 1)]


PIECES = """\
import torch.nn as nn


# convlint: input=10x32
class Pieces(nn.Module):
    def __init__(self, index):
        super().__init__()
        self.index = index
        self.qkv = nn.Linear(32, 96)

    def forward(self, x):
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, 4, 8).permute(2, 0, 3, 1, 4)
        return qkv[self.index]


# convlint: input=10x32
last = Pieces(2)
# convlint: input=10x32
beyond = Pieces(3)
"""


def test_a_piece_of_a_tensor_whose_batch_is_second_is_taken_within_the_first_axis_only():
    """qkv of (3, N, 4, 10, 8): qkv[2] is (N, 4, 10, 8); qkv[3] raises in torch 2.13 ("index 3 is out
    of bounds for dimension 0 with size 3"): unknown."""
    assert steps_of(PIECES, "last")[-1] == ("index", 14, (4, 10, 8), 1)
    assert steps_of(PIECES, "beyond")[-1] == ("index", 14, None, 1)


GROW = """\
import torch.nn as nn


# convlint: input=3x16x16
class Grow(nn.Module):
    def __init__(self):
        super().__init__()
        self.gate = nn.Conv2d(3, 1, 1)
        self.conv = nn.Conv2d(4, 8, 3)

    def forward(self, x):
        g = self.gate(x).expand(-1, 8, -1, -1)
        return self.conv(g)
"""


def test_an_expand_that_grows_the_channels_is_their_origin():
    # torch 2.13: "expected input[2, 8, 16, 16] to have 4 channels, but got 8 channels instead"
    from convlint.engine import lint_source

    assert [(f.line, f.message) for f in lint_source(GROW, "grow.py")] == [
        (9, "Conv2d expects 4 input channels but receives 8 (the output of the expand on line 12)")]
