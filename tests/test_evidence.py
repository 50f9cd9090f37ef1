"""Where the input size comes from: the file's own tensors and summary() calls, the Linear
after the flatten, and the disagreement finding."""

from __future__ import annotations

from pathlib import Path

import ast

from convlint.engine import analyze_source, lint_source
from convlint.evidence import from_file
from convlint.extract import extract
from convlint.summary import summarize_source

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"

NET = '''
import torch
import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)

    def forward(self, x):
        return self.conv(x)
'''


def evidence(source: str):
    module = ast.parse(source)
    models, _ = extract(module)
    return {name: (e.shape, e.source) for name, e in from_file(module, models).items()}


def test_literal_tensor_passed_to_an_instance():
    found = evidence(NET + "\nmodel = Net()\nout = model(torch.randn(1, 3, 224, 224))\n")
    assert found["Net"][0] == (3, 224, 224)
    assert "1×3×224×224" in found["Net"][1] and "line 15" in found["Net"][1]


def test_tensor_variable_then_call():
    found = evidence(NET + "\nif __name__ == '__main__':\n    net = Net().to('cpu')\n    x = torch.zeros(8, 3, 28, 28)\n    net(x)\n")
    assert found["Net"][0] == (3, 28, 28)


def test_direct_instantiation_call_and_size_tuple():
    assert evidence(NET + "\nNet()(torch.rand((2, 3, 64, 64)))\n")["Net"][0] == (3, 64, 64)


def test_summary_calls():
    torchsummary = evidence(NET + "\nfrom torchsummary import summary\nsummary(Net(), (3, 32, 32))\n")
    assert torchsummary["Net"][0] == (3, 32, 32)
    torchinfo = evidence(NET + "\nimport torchinfo\nm = Net()\ntorchinfo.summary(m, input_size=(16, 3, 96, 96))\n")
    assert torchinfo["Net"][0] == (3, 96, 96)


def test_a_wrong_rank_is_ignored():
    assert evidence(NET + "\nNet()(torch.randn(10))\n") == {}
    assert evidence(NET + "\nNet()(torch.randn(1, 3, 28))\n") == {}


def test_the_files_tensor_of_other_channels_is_the_input_and_the_first_layer_rejects_it():
    # torch 2.13: "Given groups=1, weight of size [8, 3, 3, 3], expected input[1, 1, 28, 28] to have
    # 3 channels, but got 1 channels instead"
    source = NET + "\nNet()(torch.randn(1, 1, 28, 28))\n"
    assert evidence(source) == {"Net": ((1, 28, 28), "a tensor of shape 1×1×28×28 passed to it on line 14")}
    [finding] = lint_source(source, "t.py")
    assert (finding.span.line, finding.code, finding.message, finding.fix) == (
        9, "CL001", "Conv2d expects 3 input channels but receives 1 (the input: a tensor of shape 1×1×28×28 "
        "passed to it on line 14)", None)  # the tensor or the layer: no fix offered


def test_a_tensor_that_fits_wins_over_one_of_other_channels():
    source = NET + "\nnet = Net()\nnet(torch.randn(1, 1, 28, 28))\nnet(torch.randn(1, 3, 32, 32))\n"
    assert evidence(source)["Net"][0] == (3, 32, 32)
    assert lint_source(source, "t.py") == []


def test_sizes_without_a_batch_count_only_where_their_channels_fit():
    # (1, 3, 28) may be an unbatched tensor or a batch of a wrong rank; torchsummary's sizes have no batch
    assert evidence(NET + "\nfrom torchsummary import summary\nsummary(Net(), (1, 28, 28))\n") == {}
    assert evidence(NET + "\nimport torchinfo\ntorchinfo.summary(Net(), input_data=torch.randn(2, 1, 28, 28))\n") \
        == {"Net": ((1, 28, 28), "the torchinfo.summary(...) call on line 15")}


def test_module_level_sequential():
    source = "import torch\nimport torch.nn as nn\nseq = nn.Sequential(nn.Conv2d(1, 4, 3))\ny = seq(torch.ones(4, 1, 12, 12))\n"
    assert evidence(source)["seq"][0] == (1, 12, 12)


def test_check_uses_the_evidence():
    source = "import torch\nimport torch.nn as nn\nstem = nn.Sequential(nn.Conv2d(1, 96, 11, stride=4))\nstem(torch.randn(1, 1, 224, 224))\n"
    analysis = analyze_source(source, "t.py")
    assert analysis.models[0].input_shape == (1, 224, 224)
    assert [f.name for f in analysis.findings] == ["dropped-pixels"]
    # the annotation wins over the evidence
    annotated = source.replace("stem = ", "# convlint: input=1x227x227\nstem = ")
    assert lint_source(annotated, "t.py") == []


def test_lenet_inference_32():
    s = summarize_source((FIXTURES / "lenet_tutorial.py").read_bytes(), "lenet_tutorial.py")[0]
    assert s.input == (1, 32, 32)  # torch accepts exactly 32..35 for this LeNet
    assert "only inputs of 1×32×32 to 1×35×35 fit the Linear's in_features" in s.input_source


def test_disagreement_finding_names_the_fitting_sizes():
    source = (FIXTURES / "lenet.py").read_text()
    messages = [f.message for f in lint_source(source, "lenet.py") if f.name in ("channel-mismatch", "misplaced-flatten")]
    assert any("only inputs of 1×32×32 to 1×35×35 fit the Linear's in_features" in m for m in messages), messages
    mismatch = (FIXTURES / "channel_mismatch.py").read_text()
    messages = [f.message for f in lint_source(mismatch, "c.py") if f.name == "channel-mismatch"]
    assert any(m.endswith("only inputs of 1×14×14 to 1×15×15 fit the Linear's in_features") for m in messages)  # torch: 14 and 15 run


def test_the_summary_names_the_files_tensor_its_first_layer_rejects():
    source = NET + "\nNet()(torch.randn(1, 1, 28, 28))\n"
    [summary] = summarize_source(source.encode(), "t.py")
    assert [f.message for f in summary.findings] == [
        "Conv2d expects 3 input channels but receives 1 (the input: a tensor of shape 1×1×28×28 passed to it on line 14)"]
