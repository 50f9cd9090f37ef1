"""Tensor operations and size arithmetic (issue 14): every fixture's findings exact to the line and
message, the correct models followed to their output shape, and each model run once in torch
(when installed) to confirm that torch raises exactly where a finding is and nowhere else."""

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

from convlint.engine import analyze_source, lint_source

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"

# (fixture, line, check, message); every number checked against torch 2.13 running the fixture
EXPECTED = [
    ("elementwise_ops.py", 20, "shape-mismatch", "torch.where of tensors whose shapes (N, 8, 32, 32) and (N, 8, 16, 16) cannot be broadcast (dimension 32 against 16)"),
    ("expand_stack.py", 33, "shape-mismatch", "torch.stack expects each tensor to be equal size, but gets (N, 8, 8, 8) and (N, 8, 4, 4)"),
    ("expand_stack.py", 44, "shape-mismatch", "expand: the expanded size 16 must match the existing size 8 at non-singleton dimension 2 of (N, 4, 8, 1)"),
    ("expand_stack.py", 64, "channel-mismatch", "Conv2d expects 3 input channels but receives 5 (the output of the pad on line 67)"),
    ("tensor_indexing.py", 43, "channel-mismatch", "Conv2d expects 8 input channels but receives 4 (the output of the indexing on line 46)"),
    ("tensor_indexing.py", 57, "shape-mismatch", "sum of tensors whose shapes (N, 8, 4, 4) and (N, 8, 3, 3) cannot be broadcast (dimension 4 against 3)"),
    ("video_frames.py", 27, "channel-mismatch", "Conv1d expects 16 input channels but receives 8 (the output of the view on line 32)"),
    ("in_place_ops.py", 25, "shape-mismatch", "Conv1d expects a 2-d input (C, L) per sample (batch excluded), got 1-d shape (64)"),
    ("parameter_weights.py", 35, "channel-mismatch", "Conv2d expects 4 input channels but receives 8 (out_channels of the Conv2d on line 34)"),
    ("parameter_weights.py", 46, "shape-mismatch", "product of a tensor (N, 8, 16, 16) and a parameter (1, 16, 1, 1) whose sizes 8 and 16 cannot be broadcast"),
    ("parameter_weights.py", 57, "channel-mismatch", "Linear expects 16 input features but receives 32 (out_features of the Linear on line 57)"),
    ("sizes_read.py", 47, "shape-mismatch", "view(N, 2048) needs 2048 elements per sample, but its input (N, 32, 16, 16) has 32·16·16 = 8192"),
    ("sizes_read.py", 65, "shape-mismatch", "torch.cat along dim 1 needs equal sizes elsewhere, but gets (N, 32, 16, 16) and (N, 8, 32, 32)"),
    ("sizes_read.py", 74, "channel-mismatch", "Linear expects 400 input features but receives 256 (the output of the view on line 80); only inputs of 1×32×32 to 1×35×35 fit the Linear's in_features"),
    ("sizes_read.py", 89, "channel-mismatch", "Linear expects 100 input features but receives 144 (the output of the reshape on line 94)"),
    ("window_attention.py", 113, "channel-mismatch", "Linear expects 32 input features but receives 16 (the output of the reshape on line 40)"),
    ("window_attention.py", 160, "channel-mismatch", "Linear expects 32 input features but receives 16 (the output of the view on line 138)"),
]
# (fixture, model) -> the output shape convlint follows it to (batch excluded)
OUTPUTS = {
    ("elementwise_ops.py", "MatchedGate"): (10,),
    ("expand_stack.py", "ContextConcat"): (8, 16),
    ("expand_stack.py", "PaddedChannels"): (4, 10, 9),
    ("in_place_ops.py", "WaveHead"): (2,),
    ("in_place_ops.py", "PooledHead"): (2,),
    ("sizes_read.py", "SizedNet"): (10,),
    ("video_frames.py", "FrameEncoder"): (2,),
    ("tensor_indexing.py", "PatchMerge"): (4, 4, 16),
    ("tensor_indexing.py", "HalfChannels"): (4,),
    ("video_frames.py", "FrameEncoderFlat"): (2,),
    ("parameter_weights.py", "FunctionalNet"): (10,),
    ("window_attention.py", "WindowNet"): (10,),
    ("window_attention.py", "PartitionNet"): (10,),
}
FILES = sorted({row[0] for row in EXPECTED} | {key[0] for key in OUTPUTS})


@pytest.mark.parametrize("name", FILES)
def test_findings_are_exact(name):
    found = [(name, f.line, f.name, f.message) for f in lint_source((FIXTURES / name).read_bytes(), str(FIXTURES / name))]
    assert found == [row for row in EXPECTED if row[0] == name]


@pytest.mark.parametrize("name, model", sorted(OUTPUTS))
def test_correct_models_are_followed_to_their_output(name, model):
    result = analyze_source((FIXTURES / name).read_bytes(), str(FIXTURES / name), details=True)
    steps = next(m for m in result.models if m.name == model).steps
    assert steps[-1].out_shape == OUTPUTS[(name, model)]


def _declared_models(path: Path):
    """(class name, input shape, line of the class) of each `# convlint: input=` annotated class."""
    lines = path.read_text().splitlines()
    for i, line in enumerate(lines):
        match = re.match(r"# convlint: input=([\dx]+)$", line)
        if match and i + 1 < len(lines):
            cls = re.match(r"class (\w+)", lines[i + 1])
            if cls:
                yield cls.group(1), tuple(int(d) for d in match.group(1).split("x")), i + 2


@pytest.mark.parametrize("name", FILES)
def test_torch_agrees(name):
    torch = pytest.importorskip("torch")
    path = FIXTURES / name
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    flagged = {row[1] for row in EXPECTED if row[0] == name}
    for cls, shape, start in _declared_models(path):
        model = getattr(module, cls)().eval()
        end = min([s for _, _, s in _declared_models(path) if s > start] + [10**9])
        try:
            with torch.no_grad():
                out = model(torch.zeros(2, *shape))
            raised = False
        except (RuntimeError, ValueError, IndexError) as error:
            raised = error
        expects_error = any(start <= line < end for line in flagged)
        assert bool(raised) == expects_error, (cls, raised)
        if not raised and (name, cls) in OUTPUTS:
            assert tuple(out.shape[1:]) == OUTPUTS[(name, cls)]


def test_pointwise_table_is_torchs():
    pytest.importorskip("torch")
    assert subprocess.run([sys.executable, str(ROOT / "tools" / "pointwise.py"), "--check"],
                          capture_output=True).returncode == 0


# (method, args, kwargs, batched input shape, expected output without the batch; "shape": torch
# raises; None: unknown to convlint, for a reason the comment gives)
SQUEEZE_CASES = [
    ("squeeze", (2,), {}, (2, 3, 1, 5), (3, 5)),
    ("squeeze", (1,), {}, (2, 3, 1, 5), (3, 1, 5)),          # not of size 1: kept
    ("squeeze", (-2,), {}, (2, 3, 1, 5), (3, 5)),
    ("squeeze", ((2, 3),), {}, (2, 3, 1, 1), (3,)),
    ("squeeze", (), {"dim": 2}, (2, 3, 1, 5), (3, 5)),
    ("squeeze", (), {}, (2, 3, 1, 1), (3,)),
    ("squeeze", (4,), {}, (2, 3, 1, 5), "shape"),
    ("squeeze", (-5,), {}, (2, 3, 1, 5), "shape"),
    ("squeeze", ((1, 4),), {}, (2, 3, 1, 5), "shape"),
]


@pytest.mark.parametrize("name, args, kwargs, shape, expected", SQUEEZE_CASES)
def test_squeeze_rule(name, args, kwargs, shape, expected):
    from convlint.layers import ShapeError, bind_method, output_shape

    layer, params = bind_method(name, list(args), kwargs)
    try:
        assert output_shape(layer, params, shape[1:]) == expected
    except ShapeError:
        assert expected == "shape"


@pytest.mark.parametrize("name, args, kwargs, shape, expected", SQUEEZE_CASES)
def test_squeeze_rule_agrees_with_torch(name, args, kwargs, shape, expected):
    torch = pytest.importorskip("torch")
    try:
        result = tuple(getattr(torch.zeros(shape), name)(*args, **kwargs).shape[1:])
    except IndexError:
        result = "shape"
    assert result == expected


def test_squeeze_leaves_what_may_be_the_batch_or_a_size_one_unknown():
    from convlint.layers import output_shape
    from convlint.sizes import var

    assert output_shape("squeeze", {"dim": 0}, (3, 1, 5)) is None        # the batch: dropped only if N = 1
    assert output_shape("squeeze", {"dim": 2}, (3, var("H"), 5)) is None  # H may be 1
    assert output_shape("squeeze", {"dim": None}, (3, var("H"))) is None


FOLDED = """import torch.nn as nn


# convlint: input=8x16
class PerStep(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(16, 4)
        self.out = nn.Linear({out}, 2)

    def forward(self, x):
        b, t, d = x.shape
        y = self.fc(x.view(-1, d))
        {tail}
"""


@pytest.mark.parametrize("out, tail, last, found", [
    (32, "return self.out(y.view(-1, t * 4))", (2,), []),        # unfolded by -1: (N, 32)
    (32, "return self.out(y.view(b, t * 4))", (2,), []),         # b is x's batch N (y's is N·8): unfolded
    (32, "return self.out(y.view(y.size(0), -1))", (2,),         # y's own batch N·8: still folded
     [(9, "Linear expects 32 input features but receives 4 (the output of the view on line 14)")]),
    (4, "return self.out(y) + self.out(self.fc(x.mean(1)))", None, []),  # a folded and an unfolded tensor meet
    (4, "return self.out(y).mean(1, keepdim=True)", (1,), []),   # the reduction keeps the folded batch
])
def test_folded_frames_are_exact_or_unknown(out, tail, last, found):
    # torch runs each on (2, 8, 16) to the shape given, but the third (a (16, 4) input to the Linear:
    # "mat1 and mat2 shapes cannot be multiplied (16x4 and 32x2)") and the fourth (batches 16 and 2
    # do not broadcast) raise: the third is found, the fourth missed, never a false alarm
    source = FOLDED.format(out=out, tail=tail)
    steps = analyze_source(source, "folded.py", details=True).models[0].steps
    assert steps[0].out_shape == (16,)
    assert (steps[-1].out_shape if last else None) == last
    assert [(f.line, f.message) for f in lint_source(source, "folded.py")] == found


def test_a_view_across_axes_is_one_finding_not_a_fold():
    # torch: (2, 16, 5, 5).view(-1, 80) is (10, 80), and Linear(400, 10) then raises; the view is the
    # bug (misplaced-flatten), not frames folded into the batch: the Linear after it stays unknown
    source = """import torch.nn as nn


# convlint: input=1x24x24
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 16, 5)
        self.pool = nn.MaxPool2d(4)
        self.fc = nn.Linear(400, 10)

    def forward(self, x):
        x = self.pool(self.conv(x))
        return self.fc(x.view(-1, 16 * 5))
"""
    assert [(f.line, f.name) for f in lint_source(source, "net.py")] == [(14, "misplaced-flatten")]


@pytest.mark.parametrize("size", [1, 2, 7, 8])
@pytest.mark.parametrize("bounds", [(None, None, None), (0, None, 2), (1, None, 2), (1, None, 3), (None, 4, None),
                                    (-3, None, None), (2, -1, 2), (5, 2, None)])
def test_slice_length_is_pythons_and_symbolic_where_exact(size, bounds):
    from convlint.propagate.arith import slice_length
    from convlint.sizes import evaluate, var

    assert slice_length(size, *bounds) == len(range(size)[slice(*bounds)])
    symbolic = slice_length(var("H"), *bounds)
    if symbolic is not None:  # only [:], [::s] and [1::s] are kept symbolic
        assert evaluate(symbolic, {"H": size}) == len(range(size)[slice(*bounds)])


def test_after_a_fold_the_batch_read_from_a_tensor_is_that_tensors():
    # b is read off the folded tensor (N·8 rows): x.view(b, -1) is not (N, 128) but 8 rows of 16 per
    # sample (torch: x.view(16, -1) of a (2, 8, 16) tensor is (16, 16), and Linear(16, 2) runs)
    source = FOLDED.format(out=16, tail="b = y.size(0)\n        return self.out(x.view(b, -1))")
    steps = analyze_source(source, "folded.py", details=True).models[0].steps
    assert (steps[-2].out_shape, steps[-2].step.output.frames, steps[-1].out_shape) == ((16,), 8, (2,))
    assert lint_source(source, "folded.py") == []
    # (torch: Linear(32, 2) of that (16, 16) raises "mat1 and mat2 shapes cannot be multiplied (16x16 and 32x2)")
    wrong = FOLDED.format(out=32, tail="b = y.size(0)\n        return self.out(x.view(b, -1))")
    assert [f.message for f in lint_source(wrong, "folded.py")] == [
        "Linear expects 32 input features but receives 16 (the output of the view on line 15)"]


def test_a_view_of_no_sizes_is_unknown_never_a_crash():
    source = (
        "import torch.nn as nn\n\n\nclass View(nn.Module):\n    def __init__(self, *size):\n"
        "        super().__init__()\n        self.size = size\n\n    def forward(self, x):\n"
        "        return x.view(self.size)\n\n\n# convlint: input=3x8x8\nmodel = nn.Sequential(nn.Conv2d(3, 4, 3), View())\n"
    )
    assert lint_source(source, "view_nothing.py") == []
