"""The design-advice checks (info): CL101..CL104, opt-in for `check`, on in `summary`."""

from __future__ import annotations

from convlint import rules
from convlint.cli import selected_rules
from convlint.engine import lint_source

ADVICE = {"wasted-computation", "redundant-bias", "capacity-drop", "dropped-pixels-any-input"}


def names(source: str, select=ADVICE):
    return [(f.name, f.line) for f in lint_source(source, "t.py", select=select)]


def test_registered_as_info_and_off_by_default():
    for name, code in zip(sorted(ADVICE), ("CL103", "CL104", "CL102", "CL101")):
        rule = rules.BY_NAME[name]
        assert rule.severity == "info" and rule.code == code
        assert "Bad:" in rule.doc and "Good:" in rule.doc
    assert not ADVICE & selected_rules(None, None)
    assert "redundant-bias" in selected_rules("CL102", None)


def test_wasted_computation():
    bad = "import torch.nn as nn\nm = nn.Sequential(nn.Conv2d(3, 32, 3, padding=1), nn.ReLU())\n"
    (found,) = lint_source(bad, "t.py", select={"wasted-computation"})
    assert "3·3·3 = 27" in found.message and "kernel_size=7" in found.message
    one = "import torch.nn as nn\nm = nn.Sequential(nn.Conv2d(1, 16, 3))\n"
    (found,) = lint_source(one, "t.py", select={"wasted-computation"})
    assert "1·3·3 = 9" in found.message and "kernel_size=5" in found.message
    good = "import torch.nn as nn\nm = nn.Sequential(nn.Conv2d(3, 64, 7, stride=2, padding=3), nn.Conv2d(64, 64, 3))\n"
    assert names(good) == []
    # only the first convolution
    later = "import torch.nn as nn\nm = nn.Sequential(nn.Conv2d(3, 8, 5), nn.Conv2d(8, 64, 1))\n"
    assert names(later, {"wasted-computation"}) == []


def test_redundant_bias():
    bad = "import torch.nn as nn\nm = nn.Sequential(\n    nn.Conv2d(3, 64, 7),\n    nn.BatchNorm2d(64),\n)\n"
    (found,) = lint_source(bad, "t.py", select={"redundant-bias"})
    assert found.line == 3 and "bias=False" in found.message and "64 wasted parameters" in found.message
    good = bad.replace("nn.Conv2d(3, 64, 7)", "nn.Conv2d(3, 64, 7, bias=False)")
    assert names(good, {"redundant-bias"}) == []
    relu_between = "import torch.nn as nn\nm = nn.Sequential(nn.Conv2d(3, 64, 7), nn.ReLU(), nn.BatchNorm2d(64))\n"
    assert names(relu_between, {"redundant-bias"}) == []


def test_capacity_drop():
    bad = "import torch.nn as nn\n# convlint: input=64x56x56\nm = nn.Sequential(nn.Conv2d(64, 64, 3, stride=2, padding=1))\n"
    (found,) = lint_source(bad, "t.py", select={"capacity-drop"})
    assert "shrink 4×" in found.message and "out_channels=128" in found.message
    assert "64×56×56 -> 64×28×28" in found.message
    good = bad.replace("nn.Conv2d(64, 64,", "nn.Conv2d(64, 128,")
    assert names(good, {"capacity-drop"}) == []
    depthwise = "import torch.nn as nn\nm = nn.Sequential(nn.Conv2d(64, 64, 3, stride=2, padding=1, groups=64))\n"
    assert names(depthwise, {"capacity-drop"}) == []


def test_dropped_pixels_any_input():
    stem = "import torch.nn as nn\nm = nn.Sequential(nn.Conv2d(1, 96, 11, stride=4))\n"
    (found,) = lint_source(stem, "t.py", select={"dropped-pixels-any-input"})
    assert "H ≡ 3 (mod 4) and W ≡ 3 (mod 4)" in found.message
    assert "11, 15, 19" in found.message
    declared = "import torch.nn as nn\n# convlint: input=1x227x227\nm = nn.Sequential(nn.Conv2d(1, 96, 11, stride=4))\n"
    assert names(declared, {"dropped-pixels-any-input"}) == []  # a concrete input is dropped-pixels' job
    padded = "import torch.nn as nn\nm = nn.Sequential(nn.Conv2d(1, 8, 3, stride=2, padding=1))\n"
    assert names(padded, {"dropped-pixels-any-input"}) == []  # the remainder falls on padding


def test_check_cli_opt_in(capsys):
    from pathlib import Path

    from convlint.cli import main

    fixture = str(Path(__file__).resolve().parent.parent / "fixtures" / "mnist_ok.py")
    assert main(["check", fixture]) == 0
    capsys.readouterr()
    main(["check", "--select", "CL103", fixture])
    assert "capacity-drop" in capsys.readouterr().out


def test_wasted_computation_only_for_the_layer_that_reads_the_image():
    def found(body: str):
        return lint_source(f"import torch.nn as nn\nm = nn.Sequential({body})\n", "t.py", select={"wasted-computation"})

    # a depthwise conv reads the image first: not this check's matter, and the conv after it does not read the image
    assert found("nn.Conv2d(3, 3, 3, groups=3), nn.Conv2d(3, 64, 3)") == []
    # a patch embedding (stride = kernel) splits the image by design: a ViT's 16×16/16, a ConvNeXt's 4×4/4
    assert found("nn.Conv2d(3, 768, 16, stride=16)") == []
    assert found("nn.Conv2d(3, 96, 4, stride=4)") == []
    # through shape-keeping layers the image is still the image
    (after_norm,) = found("nn.BatchNorm2d(3), nn.Conv2d(3, 32, 3)")
    assert after_norm.line == 2 and "3·3·3 = 27" in after_norm.message
    # a kernel of the layer's own rank, larger than its own: 1·5·5·5 = 125 > 32 for a Conv3d
    (cube,) = found("nn.Conv3d(1, 32, 3)")
    assert "1·3·3·3 = 27" in cube.message and "kernel_size=5, padding=2: 1·5·5·5 = 125 numbers" in cube.message
    (line,) = found("nn.Conv1d(1, 16, 3)")
    assert "kernel_size=17, padding=8: 1·17 = 17 numbers" in line.message


def test_a_layer_built_in_another_file_is_not_reported_on_this_one(tmp_path):
    from convlint.engine import analyze_source
    from convlint.summary import summarize_source

    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    # built when blocks.py is imported: no call of net.py leads to it
    (tmp_path / "pkg" / "blocks.py").write_text("import torch.nn as nn\n\nstem = nn.Sequential(nn.Conv2d(3, 64, 3, padding=1), nn.ReLU())\n")
    net = tmp_path / "pkg" / "net.py"
    net.write_text("import torch.nn as nn\n\nfrom .blocks import stem\n\n# convlint: input=3x33x33\n"
                   "model = nn.Sequential(stem, nn.Conv2d(64, 64, 3, stride=2), nn.Flatten(), nn.Linear(64 * 16 * 16, 10))\n")
    findings = analyze_source(net.read_bytes(), str(net), select=ADVICE).findings
    assert [(f.line, f.code) for f in findings] == [(6, "CL103")]  # not CL101 of blocks.py's conv at line 1 of net.py
    s = summarize_source(net.read_bytes(), str(net))[0]
    assert [f.line for f in s.findings] == [6]
    assert (s.rows[0].line, s.rows[0].layer, s.rows[0].path) == (None, "Conv2d of another file", "0.0")
    assert s.params == 202_570  # torch: sum(p.numel()) of the whole model
