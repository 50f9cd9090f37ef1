"""`convlint verify` and `convlint check --verify`: the only mode that runs the user's code."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("torch")

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
TIMED_OUT = "did not finish within 2 s (a model that hangs? raise --verify-timeout)"


def run(*args, cwd=None, env=None, timeout=60):
    full = dict(os.environ, CONVLINT_NO_CACHE="1", **(env or {}))
    return subprocess.run(
        [sys.executable, "-m", "convlint", *map(str, args)],
        capture_output=True, text=True, cwd=cwd, env=full, timeout=timeout, check=False,
    )


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def findings(report: dict) -> list[tuple[str, int, str, str]]:
    return [(Path(f["path"]).name, f["line"], f["code"], f["message"]) for f in report["findings"]]


def test_correct_model_agrees_at_every_layer():
    done = run("verify", FIXTURES / "mnist_ok.py", "--format", "json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report == {"findings": [], "skipped": [],
                      "notes": [f"{FIXTURES / 'mnist_ok.py'}: model: 11 of 11 steps agree with torch"]}


def test_broken_model_raises_at_its_layer_and_confirms_the_static_finding():
    done = run("check", "--verify", "--format", "json", FIXTURES / "channel_mismatch.py")
    assert done.returncode == 1, done.stderr
    at15 = [f for f in json.loads(done.stdout) if f["line"] == 15]  # the Conv2d(NF, 64) of `features` (line 11)
    assert [(f["code"], f["name"]) for f in at15] == [("CL802", "runtime-error"), ("CL001", "channel-mismatch")]
    runtime, static = at15
    assert runtime["message"] == "torch raised running `features`: RuntimeError: Invalid channel dimensions"
    assert static["message"].endswith("(confirmed by torch)")


def test_the_finding_points_at_the_layer_that_raised(tmp_path):
    write(tmp_path / "net.py", """\
        import torch.nn as nn

        # convlint: input=1x28x28
        model = nn.Sequential(
            nn.Conv2d(1, 8, 3),
            nn.ReLU(),
            nn.Flatten(),
            nn.Linear(8 * 26 * 26, 10),
            nn.Linear(20, 10),
        )
    """)
    done = run("verify", tmp_path / "net.py", "--format", "json")
    assert done.returncode == 1, done.stderr
    assert findings(json.loads(done.stdout)) == [(
        "net.py", 9, "CL802",
        "torch raised running `model`: RuntimeError: a and b must have same reduction dim, but got [2, 10] X [20, 10].",
    )]


NEEDS_ARGUMENTS = """\
    import torch.nn as nn


    # convlint: input=3x16x16
    class Net(nn.Module):
        def __init__(self, num_classes, norm=nn.BatchNorm2d):
            super().__init__()
            self.conv = nn.Conv2d(3, 8, 3, padding=1)
            self.norm = norm(8)
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.flat = nn.Flatten()
            self.fc = nn.Linear(8, num_classes)

        def forward(self, x):
            return self.fc(self.flat(self.pool(self.norm(self.conv(x)))))
"""


def test_a_class_that_needs_arguments_is_skipped_with_the_reason(tmp_path):
    write(tmp_path / "net.py", NEEDS_ARGUMENTS)
    done = run("verify", "net.py", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == (
        "net.py: skipped Net: constructor needs arguments (num_classes): name a factory in [tool.convlint.factories]\n"
    )


def test_a_factory_in_the_config_builds_it(tmp_path):
    write(tmp_path / "models" / "net.py", NEEDS_ARGUMENTS)
    write(tmp_path / "pyproject.toml", """\
        [tool.convlint.factories]
        "models/net.py::Net" = "Net(10, norm=nn.BatchNorm2d)"
    """)
    done = run("verify", "models", cwd=tmp_path)
    assert (done.returncode, done.stdout) == (0, "models/net.py: Net: 4 of 4 steps agree with torch\n"), done.stderr
    write(tmp_path / "pyproject.toml", """\
        [tool.convlint.factories]
        "models/net.py::Net" = "Net(10, norm=nn.GroupNorm)"
    """)
    done = run("check", "--verify", "models", cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    assert done.stdout.splitlines()[0] == (
        "models/net.py:9:1: CL802 [runtime-error] torch raised building `Net`: "  # self.norm = norm(8)
        "TypeError: GroupNorm.__init__() missing 1 required positional argument: 'num_channels'"
    )
    isolated = run("check", "--verify", "--isolated", "models", cwd=tmp_path)  # no config, so no factory
    assert isolated.returncode == 0, isolated.stderr
    assert "models/net.py: skipped Net: constructor needs arguments (num_classes)" in isolated.stderr
    write(tmp_path / "pyproject.toml", """\
        [tool.convlint.factories]
        "models/net.py::Net" = "Net(classes, norm=nn.BatchNorm2d)"
    """)
    done = run("verify", "models", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == (
        "models/net.py: skipped Net: factory `Net(classes, norm=nn.BatchNorm2d)`: "
        "`classes` is not defined in the file\n"
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ('"net.py" = "Net(10)"', "factories key 'net.py' is not \"path/to/file.py::ModelName\""),
        ('"net.py::Net" = 10', "factories.'net.py::Net' = 10 is not a call like"),
        ('"net.py::Net" = "Net(open(\'x\'))"', "factories.'net.py::Net' = \"Net(open('x'))\" is not a call like"),
        ('"net.py::Net" = "Net(*sizes)"', "factories.'net.py::Net' = 'Net(*sizes)' is not a call like"),
    ],
)
def test_a_factory_that_is_not_a_call_of_literals_and_names_is_a_config_error(tmp_path, value, message):
    write(tmp_path / "net.py", NEEDS_ARGUMENTS)
    (tmp_path / "pyproject.toml").write_text(f"[tool.convlint.factories]\n{value}\n", encoding="utf-8")
    done = run("check", "net.py", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.startswith(f"convlint: error: pyproject.toml: [tool.convlint]: {message}")


def test_only_verify_executes_the_file(tmp_path):
    marker = tmp_path / "marker.txt"
    (tmp_path / "writes.py").write_text(
        "import pathlib\nimport torch.nn as nn\n\n"
        f"pathlib.Path({str(marker)!r}).write_text('ran')\n\n"
        "# convlint: input=1x8x8\n"
        "model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU())\n"
    )
    static = run("check", tmp_path / "writes.py")
    assert static.returncode == 0, static.stdout + static.stderr
    assert not marker.exists()
    verified = run("check", "--verify", tmp_path / "writes.py")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert marker.read_text() == "ran"


def test_without_torch_one_line_and_exit_2(tmp_path):
    fake = tmp_path / "fake"
    fake.mkdir()
    (fake / "torch.py").write_text("raise ImportError('no torch here')\n")
    path = os.pathsep.join(filter(None, [str(fake), os.environ.get("PYTHONPATH")]))
    done = run("verify", FIXTURES / "mnist_ok.py", env={"PYTHONPATH": path})
    assert done.returncode == 2
    assert done.stderr.strip() == "convlint: error: --verify needs PyTorch: pip install 'convlint[torch]'"
    assert "Traceback" not in done.stderr


def test_an_op_without_meta_support_runs_on_the_cpu(tmp_path):
    write(tmp_path / "gate.py", """\
        import torch.nn as nn


        class Gate(nn.Module):
            def forward(self, x):
                return x if x.sum() > 0 else -x


        # convlint: input=1x8x8
        model = nn.Sequential(nn.Conv2d(1, 2, 3), Gate(), nn.Flatten(), nn.Linear(72, 3))
    """)
    done = run("verify", "gate.py", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[1:] == [
        ("gate.py: model: meta tensors unsupported (RuntimeError: Tensor.item() cannot be called on meta tensors): "
         "ran on the CPU"),
        "gate.py: model: 3 of 3 steps agree with torch",
    ]


def hanging_project(folder: Path) -> None:
    """A model that hangs, a file whose import hangs, a model that ends the process, and a correct model."""
    write(folder / "a_hangs.py", """\
        import time
        import torch.nn as nn

        # convlint: input=1x8x8
        model = nn.Sequential(
            nn.Conv2d(1, 2, 3),
            nn.Conv2d(2, 4, 3),
        )
        model[1].register_forward_hook(lambda *_: time.sleep(600))
    """)
    write(folder / "b_import_hangs.py", """\
        import time
        import torch.nn as nn

        time.sleep(600)

        # convlint: input=1x8x8
        model = nn.Sequential(nn.Conv2d(1, 2, 3))
    """)
    write(folder / "c_exits.py", """\
        import os
        import torch.nn as nn


        class Quit(nn.Module):
            def forward(self, x):
                os._exit(7)


        # convlint: input=1x8x8
        model = nn.Sequential(nn.Conv2d(1, 2, 3), Quit())
    """)
    shutil.copy(FIXTURES / "mnist_ok.py", folder / "d_ok.py")


HANGING_PROJECT_FINDINGS = [
    ("a_hangs.py", 7, "CL802", f"`model` {TIMED_OUT}"),  # the second Conv2d, whose hook hangs
    ("b_import_hangs.py", 1, "CL802",
     "importing the file did not finish within 2 s (a file that hangs? raise --verify-timeout)"),
    ("c_exits.py", 11, "CL802", "`model` ended the verify process (exit 7)"),
]


def test_a_model_or_file_that_hangs_or_exits_is_reported_and_the_others_still_run(tmp_path):
    hanging_project(tmp_path)
    done = run("verify", tmp_path, "--verify-timeout", "2", "--format", "json", timeout=120)
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    assert findings(report) == HANGING_PROJECT_FINDINGS
    assert report["notes"] == [f"{tmp_path / 'd_ok.py'}: model: 11 of 11 steps agree with torch"]
    assert "Traceback" not in done.stderr


def test_with_two_workers_a_hang_or_an_exit_stops_only_its_own_worker(tmp_path):
    """d_ok.py's eleven steps are one worker's part, the three others the second's, in turn: it
    hangs in a_hangs.py, and b_import_hangs.py and c_exits.py go to a new child's two workers."""
    from convlint.verify import verify_paths

    hanging_project(tmp_path)
    result = verify_paths([tmp_path], timeout=2, workers=2)
    assert [(Path(f.path).name, f.line, f.code, f.message) for f in result.findings] == HANGING_PROJECT_FINDINGS
    assert result.notes == [f"{tmp_path / 'd_ok.py'}: model: 11 of 11 steps agree with torch"]


def test_the_files_are_split_by_their_work_and_a_small_request_is_not():
    from convlint.verify import split

    def entry(name: str, *steps: int) -> dict:
        return {"path": name, "models": [{"name": f"m{i}", "expect": [{}] * n} for i, n in enumerate(steps)]}

    request = [entry("a", 3), entry("b", 20, 5), entry("c", 9), entry("d", 4, 4), entry("e", 1)]
    assert split(request, 2, by_size=False) == [[request[1]], [request[0], request[2], request[3], request[4]]]
    assert split(request, 3, by_size=False) == [[request[1]], [request[0], request[2]], [request[3], request[4]]]
    assert split(request, 2) == [request]  # 7 models: fewer than 8 a worker
    even = [entry(f"f{i}", 1, 1) for i in range(8)]
    assert split(even, 4) == [even[0::2], even[1::2]]  # 16 models: two workers of the four there are


def test_verify_takes_the_input_size_from_the_configuration_the_run_uses(tmp_path):
    """The same `inputs` table as the static pass: the discovered config, `--config`'s, none with `--isolated`."""
    write(tmp_path / "m.py", """\
        import torch.nn as nn

        net = nn.Sequential(nn.Conv2d(3, 8, 3), nn.Flatten(), nn.Linear(8 * 30 * 30, 10))
    """)
    write(tmp_path / "pyproject.toml", '[tool.convlint.inputs]\n"m.py::net" = "3x32x32"\n')
    write(tmp_path / "conf" / "small.toml", '[inputs]\n"../m.py::net" = "3x16x16"\n')
    done = run("verify", "m.py", cwd=tmp_path)
    assert (done.returncode, done.stdout) == (0, "m.py: net: 3 of 3 steps agree with torch\n"), done.stderr
    small = run("check", "--verify", "--config", "conf/small.toml", "m.py", cwd=tmp_path)
    assert small.returncode == 1, small.stderr
    assert small.stdout.splitlines()[0] == (
        "m.py:3:1: CL802 [runtime-error] torch raised running `net`: "
        "RuntimeError: a and b must have same reduction dim, but got [2, 1568] X [7200, 10]."
    )
    isolated = run("check", "--verify", "--isolated", "m.py", cwd=tmp_path)
    assert isolated.returncode == 0, isolated.stderr
    assert "m.py: skipped net: no input size: declare `# convlint: input=CxHxW`" in isolated.stderr


VERIFY_FIXTURES = FIXTURES / "verify"


def test_each_failure_class_is_confirmed_at_its_line_and_each_correct_model_is_silent():
    """fixtures/verify: one file per way verify used to go wrong. Every static error is confirmed
    by torch at the static finding's line; the correct models agree at every step; what cannot be
    run fairly is skipped with the reason."""
    done = run("check", "--verify", "--format", "json", VERIFY_FIXTURES)
    assert done.returncode == 1, done.stderr
    got = [(Path(f["path"]).name, f["line"], f["code"], f["message"]) for f in json.loads(done.stdout)]
    confirmed = [row for row in got if row[2] not in ("CL801", "CL802")]
    assert all(row[3].endswith("(confirmed by torch)") for row in confirmed), confirmed
    assert [row[:3] for row in confirmed] == [
        ("batch_view.py", 16, "CL003"), ("deconv.py", 11, "CL001"), ("forward_error.py", 17, "CL006"),
        ("helper_built.py", 13, "CL001"), ("in_function.py", 11, "CL001"),
        ("blocks.py", 7, "CL001"),  # pkg/broken.py's Block(32, 64): the Conv2d of blocks.py, linted too
        ("softmax_dim.py", 16, "CL006"),
    ]
    assert [row for row in got if row[2] in ("CL801", "CL802")] == [
        ("batch_view.py", 16, "CL802",  # x.view(-1, 128) on 8·8·8 = 512 features: 2·512/128 = 8 rows
         "torch ran `Head` on a batch of 2, but the view here gives 8×128: the output's first dimension is 8, "
         "not the batch, so samples are mixed into each other"),
        ("bias_length.py", 7, "CL802",  # the static pass does not see the bias replaced; meta runs it, the CPU raises
         "torch raised running `model`: RuntimeError: Given weight of size [4, 3, 3, 3], expected bias to be "
         "1-dimensional with 4 elements, but got bias of size [5] instead"),
        ("deconv.py", 11, "CL802",  # meta runs it; the CPU raises
         "torch raised running `generator`: RuntimeError: Given transposed=1, weight of size [128, 32, 4, 4], "
         "expected input[2, 64, 4, 4] to have 128 channels, but got 64 channels instead"),
        ("forward_error.py", 17, "CL802",  # torch.cat in forward, outside any module
         "torch raised running `TwoPaths`: RuntimeError: Sizes of tensors must match except in dimension 1. "
         "Expected 16 in dimension 2 but got 32 for tensor number 1 in the list"),
        ("helper_built.py", 13, "CL802",  # the call conv_bn(32, 64), not the Conv2d inside the helper
         "torch raised running `model`: RuntimeError: Invalid channel dimensions"),
        ("in_function.py", 11, "CL802",  # declared inside build(): 8·8·8 = 512 features, not 8·16·16
         "torch raised running `build`: RuntimeError: a and b must have same reduction dim, but got [2, 512] X [2048, 10]."),
        ("broken.py", 13, "CL802",  # in pkg/: Block(32, 64), whose Conv2d the sibling blocks.py builds (not line 1)
         "torch raised running `Broken`: RuntimeError: Invalid channel dimensions"),
        ("softmax_dim.py", 16, "CL802",  # meta runs F.softmax(x, dim=2) on a 2-d tensor; the CPU raises
         "torch raised running `Scores`: IndexError: Dimension out of range (expected to be in range of [-2, 1], but got 2)"),
    ]
    lines = done.stderr.splitlines()
    root = str(VERIFY_FIXTURES)
    assert f"{root}/downloads.py: skipped pretrained: needs network access (a weight download?): verify runs offline" in lines
    assert f"{root}/not_a_model.py: skipped Pyramid: defines no forward: not a model to run" in lines
    assert (f"{root}/tokens.py: skipped Tagger: `emb` is an Embedding fed the model's input: verify runs a model "
            "on float tensors, not token ids") in lines
    assert f"{root}/two_inputs.py: skipped Fuse: forward takes 2 inputs (x, y): verify runs a model on one tensor" in lines
    assert (f"{root}/varargs.py: skipped Wrapped: constructor takes *args/**kwargs, so calling it with none proves "
            "nothing: name a factory in [tool.convlint.factories]") in lines
    assert [line for line in lines if "agree with torch" in line] == [
        f"{root}/layernorm2d.py: stem: 12 of 12 steps agree with torch",  # LayerNorm2d calls F.layer_norm
        f"{root}/relu_first.py: Audio: 7 of 7 steps agree with torch",  # F.relu, then nn.ReLU modules
        f"{root}/pkg/net.py: Net: 7 of 7 steps agree with torch",  # from .blocks import Block
    ]


def test_a_static_error_on_a_line_two_models_share_is_not_contradicted_by_the_clean_one():
    """resnet_like.py: NoDownsampleResNet's residual sum fails; TinyResNet runs the same line fine."""
    done = run("check", "--verify", "--format", "json", FIXTURES / "resnet_like.py")
    got = [(f["line"], f["code"], f["message"]) for f in json.loads(done.stdout)]
    assert [row[:2] for row in got] == [(33, "CL802"), (33, "CL006")], got
    assert got[1][2].endswith("(confirmed by torch)")
    assert "TinyResNet: 36 of 36 steps agree with torch" in done.stderr


def test_a_static_error_is_contradicted_only_when_every_model_running_its_line_ran_clean():
    from convlint.findings import Finding, Span
    from convlint.verify import VerifyResult, merge

    static = [Finding("m.py", Span(7, 5, 7, 9), "CL001", "channel-mismatch", "error", "Conv2d expects 8")]
    clean = VerifyResult(clean_models=[("m.py", {5, 7})])
    assert [(f.code, f.line) for f in merge(static, clean)] == [("CL801", 7), ("CL001", 7)]
    shared = VerifyResult(clean_models=[("m.py", {5, 7})], other_models=[("m.py", {7, 12})])
    assert [(f.code, f.line) for f in merge(static, shared)] == [("CL001", 7)]
    raised = VerifyResult(raised=[("m.py", {3, 7})])  # torch raised in a helper whose call chain holds line 7
    assert [f.message for f in merge(static, raised)] == ["Conv2d expects 8 (confirmed by torch)"]


def test_calls_are_keyed_by_name_line_and_order_and_compared_only_when_both_sides_made_them_equally_often():
    import ast

    from convlint.verify_match import call_name, mismatches, paired, runtime_name

    names = [call_name(ast.parse(text).body[0].value) for text in ("F.relu(x)", "x.view(-1, 4)", "x + y", "a[0]", "f()(x)")]
    assert names == ["relu", "view", "add", "getitem", None]
    assert [runtime_name(n) for n in ("__radd__", "__iadd__", "add_", "__truediv__", "concat")] == ["add"] * 3 + ["div", "cat"]
    expected = [{"key": ["m", "fc", 0], "shape": [10]}, {"key": ["f", 9, "relu", 0], "shape": [4]}]
    events = [{"key": ["f", 9, "relu", 0], "shape": [2, 4]}, {"key": ["f", 9, "relu", 1], "shape": [2, 4]},
              {"key": ["m", "fc", 0], "shape": [2, 12]}]
    assert paired(expected, events) == [(expected[0], events[2])]  # relu ran twice on line 9, once statically
    assert mismatches(expected, events, 2) == [(expected[0], events[2])]
    assert mismatches(expected, [{**events[2], "shape": [8, 12]}], 2) == []  # another batch: batch_change's


def test_a_batch_moved_to_another_axis_is_not_a_batch_change_but_one_mixed_into_the_features_is():
    from convlint.verify_match import batch_change

    view = {"key": ["f", 16, "view", 0], "shape": [8, 128], "act": True}
    permute = {"key": ["f", 20, "permute", 0], "shape": [50, 2, 29], "act": True}  # (time, batch, classes) for CTC
    weight = {"key": ["f", 12, "view", 1], "shape": [64, 1, 1], "act": False}  # a parameter, not from the input
    assert batch_change([weight, view], 2) is view
    assert batch_change([weight, permute, view], 2) is None
    assert batch_change([{**view, "shape": [2, 256]}], 2) is None


def test_a_shape_torch_computes_differently_is_reported_at_the_step_with_both_shapes():
    """The parent's side alone: the static plan of mnist_ok.py against calls as the child reports them."""
    from convlint.engine import analyze_source
    from convlint.verify import VerifyResult, _compare, _Plan

    path = FIXTURES / "mnist_ok.py"
    analysis = analyze_source(path.read_bytes(), str(path), details=True)
    plans = {m.name: _Plan(m, analysis.positions) for m in analysis.models}
    plan = plans["model"]
    assert [e["key"] for e in plan.expect[:3]] == [["m", "0", 0], ["m", "1", 0], ["m", "2", 0]]
    assert plan.expect[2]["shape"] == [16, 7, 7]
    events = [{"key": e["key"], "shape": [2, *e["shape"]], "act": True} for e in plan.expect]
    events[2] = {**events[2], "shape": [2, 16, 8, 8]}  # as if torch padded differently
    result = VerifyResult()
    _compare(analysis, plans, {"path": str(path), "models": [{"name": "model", "events": events, "batch": 2,
                                                       "device": "cpu"}]}, result)
    assert [(f.line, f.code, f.message) for f in result.findings] == [
        (9, "CL801", "Conv2d gives 16×8×8 under torch but convlint predicted 16×7×7"),
    ]
    assert result.clean_models == [] and result.notes == []


def test_a_constructor_of_a_library_named_like_torch_is_the_users():
    from convlint.verify_build import own_init

    torch_nn = pytest.importorskip("torch").nn
    assert not own_init(torch_nn.Conv2d)
    vision = type("Quantizable", (torch_nn.Module,), {"__init__": lambda self, *args, **kwargs: None})
    vision.__init__.__module__ = "torchvision.models.quantization.googlenet"
    assert own_init(vision)


def test_without_numpy_the_child_asks_torch_for_its_number_types_once(monkeypatch):
    """torch's sym_max looks for numpy at each call: the child keeps the answer while numpy is not imported."""
    import importlib.util

    import torch

    from convlint.verify_start import _remember_numpy_absent

    if "numpy" in sys.modules or importlib.util.find_spec("numpy") is not None:
        pytest.skip("numpy is installed: torch finds it at once")
    original = getattr(torch, "__all_and_float_types")
    monkeypatch.setattr(torch, "__all_and_float_types", original)  # put back after the test
    _remember_numpy_absent(torch)
    remembered = getattr(torch, "__all_and_float_types")
    assert remembered is not original and remembered() == original() == ((int, float), (float,))
    assert torch.sym_max(2, 3) == 3 and type(torch.sym_max(2, 3)) is int and type(torch.sym_max(2, 3.0)) is float
