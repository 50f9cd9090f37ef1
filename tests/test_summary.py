"""convlint summary: numbers pinned against torch (each checked once with torch 2.13, CPU:
sum(p.numel()), the forward's output shapes, and the smallest square input whose forward
succeeds, found by brute force)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from convlint.cli import main
from convlint.summary import render_markdown, render_text, summarize_source, to_json

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def summary_of(name: str, model: str | None = None, input_shape=None):
    path = FIXTURES / name
    found = summarize_source(path.read_bytes(), str(path), input_shape, model)
    assert found, name
    return found[0]


def test_mnist_parameters_and_shapes():
    s = summary_of("mnist_ok.py")
    assert (s.weights, s.biases, s.params) == (15_496, 98, 15_594)  # torch: 15594, weights 15496
    convs = [r for r in s.rows if r.kind in ("Conv2d", "Linear")]
    assert [r.output_shape for r in convs] == [(8, 14, 14), (16, 7, 7), (32, 4, 4), (32, 2, 2), (10,)]
    assert s.rows[-2].output_shape == (32,)
    # 16·8·3·3 = 1,152 weights, not the hand count 3·3·16 = 144
    assert convs[1].params == {"weights": 1152, "biases": 16, "total": 1168}
    assert s.input == (1, 28, 28) and "annotation" in s.input_source


def test_mnist_minimum_input_is_torch_s():
    assert summary_of("mnist_ok.py").min_input == (1, 1)  # torch: a 1×1×1 input runs


def test_nin_stem():
    s = summary_of("nin_stem.py")
    assert s.rows[0].output_shape == (96, 54, 54)  # torch: (1, 96, 54, 54)
    assert s.params == 21_024  # torch
    assert s.min_input == (11, 11)  # torch: smallest square forward is 11×11
    axes = s.no_drop["axes"]
    assert [a["congruence"] for a in axes] == ["H ≡ 3 (mod 4)", "W ≡ 3 (mod 4)"]
    assert axes[0]["nearest"] == [223, 227]
    assert s.rows[0].macs == 11_616 * 54 * 54


def test_nin_stem_symbolic_shapes():
    source = (FIXTURES / "nin_stem.py").read_text().replace("# convlint: input=1x224x224", "")
    s = summarize_source(source, "nin.py")[0]
    assert s.input is None and s.input_source is None
    assert str(s.rows[0].output_shape[1]) == "⌊(H − 11)/4⌋ + 1"
    assert s.memory is None
    text = render_text([s])
    assert "96×(⌊(H − 11)/4⌋ + 1)×(⌊(W − 11)/4⌋ + 1)" in text


def test_receptive_field_two_stride2_3x3():
    source = "import torch.nn as nn\n# convlint: input=1x31x31\nnet = nn.Sequential(nn.Conv2d(1, 4, 3, stride=2), nn.Conv2d(4, 4, 3, stride=2))\n"
    s = summarize_source(source, "rf.py")[0]
    assert s.rows[0].receptive_field == {"size": [3, 3], "jump": [2, 2], "start": [1, 1]}
    assert s.rows[1].receptive_field["size"] == [7, 7]  # torch gradient: 7 (textbook)
    assert s.rows[1].receptive_field["jump"] == [4, 4]


def test_receptive_field_alexnet_and_global_after_flatten():
    s = summary_of("alexnet_like.py")
    assert s.rows[0].receptive_field["size"] == [11, 11]
    sizes = [r.receptive_field["size"] for r in s.rows if r.kind in ("Conv2d", "MaxPool2d")]
    assert sizes[-1] == [195, 195]
    assert s.rows[-1].receptive_field == {"size": "all"}


def test_alexnet_like_numbers():
    s = summary_of("alexnet_like.py")
    assert s.params == 61_100_840  # torch
    assert s.input == (3, 224, 224) and "line 45" in s.input_source  # the tensor in __main__
    assert s.min_input == (223, 223)  # torch: the smallest square forward is 223 (well above 1)
    assert s.memory["inference_bytes"] == 4 * (61_100_840 + 2 * 64 * 55 * 55)  # conv output + its ReLU
    assert s.memory["training_bytes"] == 4 * (3 * 61_100_840 + 2 * sum(r.activations for r in s.rows))


def test_lenet_inferred_input():
    s = summary_of("lenet_tutorial.py")
    assert s.input == (1, 32, 32)
    assert s.input_source.startswith("inference: the Linear on line 13")
    assert s.params == 61_706  # torch
    assert s.min_input == (32, 32)  # torch accepts exactly 32..35


def test_weight_sharing_counts_once():
    source = '''
import torch.nn as nn

# convlint: input=8x16x16
class Twice(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(8, 8, 3, padding=1)

    def forward(self, x):
        return self.conv(self.conv(x))
'''
    s = summarize_source(source, "twice.py")[0]
    assert s.params == 8 * 8 * 9 + 8  # torch: 584, the layer's parameters once
    assert s.rows[1].params == {"shared": s.rows[0].line}


def test_layers_never_called_are_counted_as_torch_counts_them(capsys):
    s = summary_of("unused_layers.py")
    # torch 2.13: sum(p.numel() for p in AuxHeadNet().parameters()) == 11908; the aux head, the
    # projection head and the ModuleList are registered though forward never calls them; the
    # Linear in a plain list is not registered
    assert s.params == 11_908 and s.unknown_params == 0
    unused = [r for r in s.rows if not r.called]
    assert [(r.line, r.kind) for r in unused] == [
        (23, "Linear"), (24, "Linear"), (24, "ReLU"), (24, "Linear"), (25, "Conv2d"), (25, "Conv2d")
    ]
    assert all(r.output_shape is None and r.macs is None for r in unused)
    assert sum(r.params["total"] for r in unused) == 170 + 2_112 + 2_080 + 2 * 1_056
    assert any(n.startswith("6 registered layers not in the forward pass") for n in s.notes)
    assert s.memory is not None  # the activations are those of the layers forward calls
    assert main(["summary", str(FIXTURES / "unused_layers.py"), "--no-advice"]) == 0
    text = capsys.readouterr().out
    assert "total parameters: 11,908" in text
    row = next(line for line in text.splitlines() if "nn.Linear(16, num_classes)" in line)
    assert row.split()[5] == "--" and "--" in row.split()[-1]  # output and activations: "--", as torchinfo shows it
    assert main(["summary", str(FIXTURES / "unused_layers.py"), "--format", "json"]) == 0
    layers = json.loads(capsys.readouterr().out)[0]["layers"]
    assert [entry["called"] for entry in layers].count(False) == 6


def test_layer_built_in_forward_is_not_counted():
    source = '''
import torch.nn as nn

# convlint: input=8x16x16
class Afresh(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(8, 8, 3, padding=1)

    def forward(self, x):
        return nn.Conv2d(8, 4, 1)(self.conv(x))
'''
    s = summarize_source(source, "afresh.py")[0]
    assert s.params == 8 * 8 * 9 + 8  # torch: 584; the 1x1 conv built in forward is not a parameter of the model
    assert any("built in forward, not registered" in n for n in s.notes)


def test_input_flag_wins_over_annotation():
    s = summary_of("mnist_ok.py", input_shape=(1, 32, 32))
    assert s.input == (1, 32, 32) and s.input_source == "--input"
    assert s.rows[0].output_shape == (8, 16, 16)


def test_disagreement_note():
    s = summary_of("lenet.py", "LeNetOnMnist")
    assert any("only inputs of 1×32×32 to 1×35×35 fit the Linear's in_features" in n for n in s.notes)
    assert any(f.name == "channel-mismatch" for f in s.findings) or any(f.name == "misplaced-flatten" for f in s.findings)


def test_formats(capsys):
    assert main(["summary", str(FIXTURES / "mnist_ok.py"), "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert len(data) == 1
    entry = data[0]
    for key in ("path", "name", "line", "input", "input_source", "min_input", "params", "layers", "memory"):
        assert key in entry
    assert entry["params"] == 15_594 and entry["min_input"] == [1, 1]
    assert entry["layers"][0]["output_shape"] == [8, 14, 14]
    assert set(entry["layers"][0]) >= {"line", "layer", "output_shape", "params", "receptive_field"}
    assert main(["summary", str(FIXTURES / "mnist_ok.py"), "--format", "markdown"]) == 0
    md = capsys.readouterr().out
    assert "| # | line | module | layer |" in md and "`nn.Conv2d(1, 8, 5, padding=2, stride=2)`" in md
    assert main(["summary", str(FIXTURES / "mnist_ok.py")]) == 0
    text = capsys.readouterr().out
    assert "\033[" not in text  # not a tty: no colour
    assert "total parameters: 15,594 (15,496 weights, 98 biases)" in text
    assert "3 × parameters" in text and "largest two consecutive activations" in text


def test_every_fixture_summarises(capsys):
    assert main(["summary", str(FIXTURES)]) == 0
    out = capsys.readouterr().out
    assert "mnist_ok.py::model" in out and "alexnet_like.py::AlexNetLike" in out


def test_model_flag_and_usage_errors(capsys):
    assert main(["summary", str(FIXTURES / "lenet.py"), "--model", "LeNet", "--format", "json"]) == 0
    assert [m["name"] for m in json.loads(capsys.readouterr().out)] == ["LeNet"]
    assert main(["summary", str(FIXTURES / "lenet.py"), "--model", "Nope"]) == 2
    assert main(["summary", str(FIXTURES / "lenet.py"), "--input", "abc"]) == 2


@pytest.mark.parametrize("fmt", [render_text, render_markdown])
def test_renderers_accept_every_fixture(fmt):
    for path in sorted(FIXTURES.glob("*.py")):
        found = summarize_source(path.read_bytes(), str(path))
        assert isinstance(fmt(found), str)
        json.dumps(to_json(found))


BLOCKS = """import torch.nn as nn


def conv_block(cin, cout):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU())
"""
NET = """import torch.nn as nn

from .blocks import conv_block


# convlint: input=3x32x32
class Net(nn.Module):
    def __init__(self, classes=10):
        super().__init__()
        self.features = nn.Sequential(conv_block(3, 16), nn.MaxPool2d(2), conv_block({width}, 32))
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, classes))

    def forward(self, x):
        return self.head(self.features(x))
"""


def _package(tmp_path, width: int) -> Path:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "blocks.py").write_text(BLOCKS)
    net = tmp_path / "pkg" / "net.py"
    net.write_text(NET.format(width=width))
    return net


def test_summary_follows_same_package_imports_as_check_does(tmp_path):
    net = _package(tmp_path, 16)
    s = summarize_source(net.read_bytes(), str(net))[0]
    assert s.params == 5_514  # torch: sum(p.numel()) == 5514
    assert s.rows[-1].output_shape == (10,)
    first = s.rows[0]
    assert (first.line, first.layer, first.output_shape, first.params["total"]) == (10, "Conv2d in conv_block(3, 16)", (16, 32, 32), 448)


def test_summary_reports_what_check_reports_through_a_sibling(tmp_path, capsys):
    net = _package(tmp_path, 8)  # conv_block(8, 32) after conv_block(3, 16): torch raises at the second Conv2d
    assert main(["check", str(net), "--format", "json"]) == 1
    checked = [(f["line"], f["code"], f["message"]) for f in json.loads(capsys.readouterr().out)]
    s = summarize_source(net.read_bytes(), str(net))[0]
    assert [(f.span.line, f.code, f.message) for f in s.findings if f.code == "CL001"] == checked
    assert checked[0][:2] == (10, "CL001")


def test_subclasses_of_torch_layers_carry_the_base_layer_s_parameters():
    # torch 2.13: sum(p.numel()) 12898, output (10,), the smallest square input 1x1
    s = summary_of("layer_subclasses.py", "SubclassNet")
    assert (s.params, s.output_shape, s.min_input) == (12_898, (10,), (1, 1))
    rows = {r.path: r for r in s.rows if r.params and "total" in r.params}
    # SameConv and NormAct keep nn.Conv2d's and nn.BatchNorm2d's forward (inherited, and by super().forward)
    assert [(p, rows[p].output_shape, rows[p].params["total"]) for p in ("stem", "body.0", "body.1", "body.2")] == [
        ("stem", (24, 16, 16), 1_800), ("body.0", (48, 16, 16), 10_368), ("body.1", (48, 16, 16), 96),
        ("body.2", (48, 16, 16), 96),
    ]
    # ChannelNorm's forward is its own (permute, F.layer_norm, permute): its LayerNorm's weight and
    # bias are registered, not called
    norm = [r for r in s.rows if r.path == "norm"]
    assert [r.kind for r in norm] == ["permute", "LayerNorm", "permute", "LayerNorm"]
    assert not norm[-1].called and norm[-1].params["total"] == 48


def test_the_weights_a_function_is_handed_are_counted_once():
    # torch 2.13: 1,848 parameters (the conv's 1,800, ChannelNorm's 48); the activation is looked
    # up by a name convlint does not follow, so the total is a lower bound, and F.layer_norm's row
    # counts nothing of its own
    s = summary_of("layer_subclasses.py", "NormBeforeUnfollowed")
    assert (s.params, s.params_at_least) == (None, 1_848)
    assert [(r.kind, r.params) for r in s.rows if r.path == "norm"] == [
        ("permute", None), ("LayerNorm", None), ("permute", None), ("LayerNorm", {"weights": 24, "biases": 24, "total": 48})]


def test_a_torch_layer_subclass_s_attributes_are_torch_s():
    s = summary_of("layer_subclasses.py", "WrongNormWidth")  # torch: 496 parameters; the forward raises
    assert s.params == 496
    assert [(f.span.line, f.code, f.message) for f in s.findings] == [
        (14, "CL001", "LayerNorm expects trailing dimensions 32 but receives 16 (its input is 32×32×16)")]


def test_a_subclass_that_overrides_what_torch_s_forward_calls_is_not_guessed():
    s = summary_of("layer_subclasses.py", "PrivateOverride")  # torch: 240 parameters, output 8×32×32
    assert s.params == 240 and s.output_shape is None and not s.findings


def test_a_deep_copy_of_a_torch_layer_subclass_has_parameters_of_its_own():
    source = '''
import copy
import torch.nn as nn


class Norm(nn.LayerNorm):
    pass


# convlint: input=8
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        norm = Norm(8)
        self.deep = nn.ModuleList([copy.deepcopy(norm) for _ in range(3)])
        self.shallow = nn.ModuleList([copy.copy(norm) for _ in range(2)])

    def forward(self, x):
        for m in self.deep:
            x = m(x)
        return x
'''
    s = next(s for s in summarize_source(source, "copies.py") if s.name == "Net")
    # torch: 64, three deep copies of 16 and the shallow copies' 16 (their parameters are norm's)
    assert (s.params, s.output_shape) == (64, (8,))
