"""convlint summary's trust rules (issue 16): an unknown is never printed as a number, the totals
(parameters, MACs, output shape) are there, rows carry their module path, any model can be
summarised, and the exit status says what happened. Every expected number was checked once with
torch 2.13 (CPU): sum(p.numel()), the output's shape, and the MACs forward hooks on Conv*/Linear
count (output.numel() × in_channels/groups × prod(kernel_size); output.numel() × in_features)."""

from __future__ import annotations

import json

import pytest

from convlint.cli import main
from convlint.summary import fold, render_text, summarize_source, to_json

BLOCKS = '''import torch
import torch.nn as nn


class Block(nn.Module):
    def __init__(self, cin, cout, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, groups=cout)
        self.down = nn.Conv2d(cin, cout, 1, stride=stride) if stride != 1 or cin != cout else nn.Identity()

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.conv2(out)
        return self.relu(out + self.down(x))


# convlint: input=3x32x32
class Net(nn.Module):
    def __init__(self, widths=(8, 16), classes=10):
        super().__init__()
        self.stem = nn.Conv2d(3, widths[0], 7, stride=2, padding=3)
        self.layer1 = nn.Sequential(Block(widths[0], widths[0]), Block(widths[0], widths[1], stride=2))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(widths[1], classes)
        self.probe = nn.Linear(widths[1], 2)

    def forward(self, x):
        x = self.layer1(self.stem(x))
        f = torch.flatten(self.pool(x), 1)
        out = self.fc(f)
        self.probe(f)
        return out
'''

# `mix` comes from a module convlint cannot read: what it does to the tensor is unknown
PARTIAL = '''import torch
import torch.nn as nn
from mylib import mix, make_table


# convlint: input=3x32x32
class Partial(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, stride=2)
        self.conv2 = nn.Conv2d(8, 8, 3, stride=2)
        self.head = nn.Linear(8, 10)
        self.table = nn.Parameter(make_table())

    def forward(self, x):
        x = self.conv(x)
        x = mix(x)
        x = self.conv2(x)
        return self.head(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))
'''


def one(source: str, name: str, path: str = "m.py"):
    return next(s for s in summarize_source(source, path) if s.name == name)


def test_totals_match_torch_and_the_output_is_the_return_value():
    s = one(BLOCKS, "Net")
    # torch: sum(p.numel()) == 3548; hooks count 558,272 MACs; the output is (1, 10) though the probe runs last
    assert (s.params, s.params_known, s.macs, s.macs_known) == (3_548, True, 558_272, True)
    assert s.output_shape == (10,) and s.rows[-1].output_shape == (2,)
    add = next(r for r in s.rows if r.kind == "elementwise")
    assert add.macs == 0  # a residual add has no multiply-accumulates
    footer = render_text([s])
    assert "total parameters: 3,548 (3,464 weights, 84 biases)" in footer
    assert "multiply-accumulates: 558,272 per sample" in footer and "\noutput: 10\n" in footer
    entry = to_json([s])[0]
    assert (entry["params"], entry["params_known"], entry["macs"], entry["macs_known"], entry["output_shape"]) == \
        (3_548, True, 558_272, True, [10])
    # a depthwise conv counts in_channels/groups: 8·1·3·3 weights over 16×16 positions
    assert next(r for r in s.rows if r.path == "layer1.0.conv2").macs == 8 * 9 * 16 * 16


def test_unknown_parameters_are_a_lower_bound_never_a_total():
    s = one(PARTIAL, "Partial")
    # torch, without the table: conv 224 + conv2 584 + head 90 = 898; the table's size is unknown
    assert s.params is None and not s.params_known and s.params_at_least == 898
    assert [(e["path"], e["kind"]) for e in s.unknown_layers] == [("table", "Parameter")]
    text = render_text([s])
    assert "total parameters: ≥ 898 (+ 1 layer unknown) — unknown: table (line 13)" in text
    assert "memory at fp32, batch 1: unknown (a parameter count or an activation size is unknown)" in text
    entry = to_json([s])[0]
    assert entry["params"] is None and entry["params_known"] is False and entry["params_at_least"] == 898
    assert entry["params_unknown_layers"] == [{"path": "table", "line": 13, "layer": "nn.Parameter(make_table())",
                                               "kind": "Parameter"}]
    assert entry["memory"] is None and entry["memory_known"] is False


def test_unknown_macs_are_a_lower_bound_and_nothing_known_is_unknown():
    s = one(PARTIAL, "Partial")
    # the first conv is known (8·3·3·3 weights × 15×15 positions); mix(x) makes conv2 unknown; the
    # head is known again: flatten(x, 1) is (N, ?) whatever x is, and the Linear takes 8 of them
    assert s.macs is None and s.macs_at_least == 216 * 15 * 15 + 8 * 10
    assert [e["line"] for e in s.macs_unknown] == [17, 11]
    text = render_text([s])
    assert "multiply-accumulates: ≥ 48,680 (+ 2 steps unknown) per sample — unknown: mix(x) (line 17), conv2 (line 11)" in text
    assert "\noutput: 10\n" in text
    nothing = summarize_source(PARTIAL.replace("        x = self.conv(x)\n", "").replace("torch.flatten(", "mix("), "m.py")[0]
    assert "multiply-accumulates: unknown per sample" in render_text([nothing])


def test_a_module_convlint_cannot_follow_makes_the_total_partial():
    source = '''import torch
import torch.nn as nn


class LayerNorm2d(nn.LayerNorm):
    def __init__(self, channels):
        super().__init__(channels)
        self.weight = nn.Parameter(torch.ones(2 * channels))

    def forward(self, x):
        return x


# convlint: input=3x32x32
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)
        self.norm = LayerNorm2d(8)

    def forward(self, x):
        return self.norm(self.conv(x))
'''
    # torch: 224 + the weight that replaced nn.LayerNorm's (16) + its bias (8) = 248; what the
    # base's weight was replaced with is counted, the rest of the base is not known
    s = one(source, "Net")
    assert s.params is None and s.params_at_least == 240 and not s.modules_followed
    assert "total parameters: ≥ 240 — and modules convlint could not follow" in render_text([s])


def test_a_folded_module_with_an_unknown_part_shows_a_lower_bound():
    source = PARTIAL.replace("class Partial", """class Sub(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, stride=2)
        self.table = nn.Parameter(make_table())

    def forward(self, x):
        return self.conv(x)


# convlint: input=3x32x32
class Outer(nn.Module):
    def __init__(self):
        super().__init__()
        self.sub = Sub()

    def forward(self, x):
        return self.sub(x)


class Partial""")
    s = one(source, "Outer")
    (row,) = fold(s, 1).rows  # the conv (224, torch) and the table of unknown size: one row
    assert (row.path, row.kind, row.params["total"], row.params_unknown) == ("sub", "Sub", 224, True)
    line = render_text([fold(s, 1)]).splitlines()[3]
    assert line.split()[:7] == ["1", "21", "sub", "Sub", "8×15×15", "≥", "224"]  # line 21: self.sub = Sub()


def test_no_drop_claim_unless_every_step_is_known():
    s = one(PARTIAL, "Partial")
    assert s.no_drop is None and "drop no real pixels" not in render_text([s])
    known = PARTIAL.replace("        x = mix(x)\n", "").replace("        self.table = nn.Parameter(make_table())\n", "")
    s = one(known, "Partial")
    # two 3×3 stride-2 convs read the last row and column exactly for H ≡ 3 (mod 4) (torch, by gradients: 23, 27, 31, 35, 39)
    assert s.no_drop["axes"][0]["congruence"] == "H ≡ 3 (mod 4)"
    assert "H ≡ 3 (mod 4) (nearest to 32: 31, 35)" in render_text([s])


def test_rows_carry_module_paths_and_depth_folds_them():
    s = one(BLOCKS, "Net")
    paths = [(r.path, r.depth) for r in s.rows]
    # torch's named_modules() names; an op of a module's forward (the add) carries its module's path, a level below
    assert paths[:8] == [("stem", 1), ("layer1.0.conv1", 3), ("layer1.0.bn1", 3), ("layer1.0.relu", 3),
                         ("layer1.0.conv2", 3), ("layer1.0.down", 3), ("layer1.0", 3), ("layer1.0.relu", 3)]
    assert ("", 1) in paths  # torch.flatten in Net.forward
    folded = fold(s, 1)
    assert [(r.path, r.kind) for r in folded.rows] == [("stem", "Conv2d"), ("layer1", "Sequential"),
                                                       ("pool", "AdaptiveAvgPool2d"), ("", "flatten"),
                                                       ("fc", "Linear"), ("probe", "Linear")]
    layer1 = folded.rows[1]
    # torch: sum(p.numel() for p in net.layer1.parameters()) == 2160; its output (1, 16, 8, 8)
    assert layer1.params["total"] == 2_160 and layer1.output_shape == (16, 8, 8)
    assert layer1.macs == 147_456 + 18_432 + 73_728 + 9_216 + 8_192
    assert layer1.receptive_field["size"] == [27, 27]
    assert layer1.line == 25  # where nn.Sequential(Block(...), Block(...)) builds it
    blocks = fold(s, 2)
    assert [(r.path, r.line) for r in blocks.rows if r.kind == "Block"] == [("layer1.0", 25), ("layer1.1", 25)]
    assert [r.params["total"] for r in blocks.rows if r.kind == "Block"] == [672, 1_488]  # torch: layer1[1] 1488
    assert folded.params == s.params and folded.macs == s.macs  # the totals do not change


def test_cli_depth_and_json_rows(tmp_path, capsys):
    path = tmp_path / "blocks.py"
    path.write_text(BLOCKS)
    assert main(["summary", str(path), "--model", "Net", "--depth", "1", "--format", "json"]) == 0
    entry = json.loads(capsys.readouterr().out)[0]
    assert entry["depth"] == 1
    assert [(r["path"], r["depth"]) for r in entry["layers"]][:2] == [("stem", 1), ("layer1", 1)]
    # a dotted name is a name (of a sub-module run on its own, which Net's run calls: none here), not a call
    assert main(["summary", str(path), "--model", "Net.layer1"]) == 2
    assert "no model named 'Net.layer1'" in capsys.readouterr().err
    assert main(["summary", str(path), "--depth", "0"]) == 2
    assert "--depth must be at least 1" in capsys.readouterr().err


def test_model_given_as_a_call(tmp_path, capsys):
    path = tmp_path / "blocks.py"
    path.write_text(BLOCKS)
    assert main(["summary", str(path), "--model", "Net((4, 8), 5)", "--format", "json"]) == 0
    (entry,) = json.loads(capsys.readouterr().out)
    # torch: sum(p.numel() for p in Net((4, 8), 5).parameters()) == 1271, output (1, 5), 221,752 MACs
    assert (entry["name"], entry["params"], entry["output_shape"], entry["macs"]) == ("Net((4, 8), 5)", 1_271, [5], 221_752)
    assert main(["summary", str(path), "--model", "Net(widths=open('x'))"]) == 2
    assert "is neither a model name nor a call" in capsys.readouterr().err


def test_factories_table_builds_the_model(tmp_path, capsys):
    (tmp_path / "pyproject.toml").write_text('[tool.convlint.factories]\n"blocks.py::Net" = "Net((4, 8), classes=5)"\n')
    path = tmp_path / "blocks.py"
    path.write_text(BLOCKS)
    assert main(["summary", str(path), "--model", "Net", "--format", "json"]) == 0
    (entry,) = json.loads(capsys.readouterr().out)
    assert (entry["name"], entry["params"], entry["output_shape"]) == ("Net", 1_271, [5])


def test_model_matching_nothing_lists_the_names_found(tmp_path, capsys):
    path = tmp_path / "blocks.py"
    path.write_text(BLOCKS)
    assert main(["summary", str(path), "--model", "Nope"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"convlint: error: no model named 'Nope' in {path}; the models found: Block, Net")


def test_several_paths_and_no_model_found(tmp_path, capsys):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "blocks.py").write_text(BLOCKS)
    (tmp_path / "partial.py").write_text(PARTIAL)
    assert main(["summary", str(tmp_path / "a"), str(tmp_path / "partial.py"), "--no-advice"]) == 0
    out = capsys.readouterr().out
    assert "blocks.py::Net (line 21)" in out and "partial.py::Partial (line 7)" in out
    (tmp_path / "broken.py").write_text("import torch\ndef (:\n")
    assert main(["summary", str(tmp_path / "broken.py"), str(tmp_path / "partial.py"), "--no-advice"]) == 0
    captured = capsys.readouterr()
    assert "partial.py::Partial" in captured.out and f"convlint: {tmp_path / 'broken.py'}:2: invalid syntax" in captured.err
    assert main(["summary", str(tmp_path / "partial.py"), "--model", ""]) == 2
    assert "is neither a model name nor a call" in capsys.readouterr().err
    (tmp_path / "empty.py").write_text("import torch\nx = 1\n")
    assert main(["summary", str(tmp_path / "empty.py")]) == 2
    assert "no models found in" in capsys.readouterr().err


@pytest.mark.parametrize(("fail_on", "status"), [(None, 0), ("error", 0), ("info", 1)])
def test_fail_on(tmp_path, capsys, fail_on, status):
    path = tmp_path / "stem.py"
    # wasted-computation (info): 3·3·3 = 27 numbers read, 32 channels written
    path.write_text("import torch.nn as nn\n\n# convlint: input=3x32x32\nm = nn.Sequential(nn.Conv2d(3, 32, 3))\n")
    argv = ["summary", str(path)] + (["--fail-on", fail_on] if fail_on else [])
    assert main(argv) == status
    assert "CL101 [wasted-computation]" in capsys.readouterr().out


def test_symbolic_drop_table_equals_one_propagation_per_size():
    from pathlib import Path

    from convlint import sizing
    from convlint.engine import read

    fixtures = Path(__file__).resolve().parent.parent / "fixtures"
    compared = 0
    for path in sorted(fixtures.glob("*.py")):
        reading = read(path.read_bytes(), str(path))
        for model in getattr(reading, "models", ()):
            basis = sizing.channels_and_rank(model)
            start = sizing.smallest_collapse_free(model, *basis) if basis else None
            period = sizing.stride_period(model, *basis, start) if start else None
            if period is None:
                continue
            fast = sizing._symbolic_drop_table(model, *basis, start, period)
            assert fast is None or fast == sizing._concrete_drop_table(model, *basis, start, period), (path.name, model.name)
            compared += fast is not None
    assert compared >= 20


def test_parameters_of_known_shape_are_counted_and_plain_tensors_are_not():
    source = '''import torch
import torch.nn as nn


# convlint: input=8x16x16
class Scaled(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(8, 8, 3, padding=1)
        self.scale = nn.Parameter(torch.ones(8, 1, 1) * 1e-6)
        self.offset = torch.zeros(8, 1, 1)

    def forward(self, x):
        return self.conv(x) * self.scale + self.offset
'''
    s = one(source, "Scaled")
    # torch: sum(p.numel()) == 584 + 8; the plain tensor attribute is not a parameter
    assert (s.params, s.params_known) == (592, True)
    assert [(r.path, r.kind, r.params["total"]) for r in s.rows if not r.called] == [("scale", "Parameter", 8)]


def test_minimum_input_through_a_channels_last_layer_norm():
    source = '''import torch.nn as nn


# convlint: input=3x32x32
class ChannelsLast(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 4, stride=4)
        self.norm = nn.LayerNorm(8)

    def forward(self, x):
        return self.norm(self.conv(x).permute(0, 2, 3, 1))
'''
    s = one(source, "ChannelsLast")
    # torch: 3×4×4 runs, 3×3×3 raises; LayerNorm(8) normalises the last dim, not the channels
    assert s.min_input == (4, 4) and s.output_shape == (8, 8, 8)


def test_readme_summary_example_is_what_convlint_prints(capsys):
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    readme = (root / "README.md").read_text(encoding="utf-8")
    command = "$ convlint summary fixtures/resnet_like.py --model TinyResNet --depth 1 --no-advice\n"
    shown = readme.split(command, 1)[1].split("```", 1)[0].splitlines()
    assert main(["summary", str(root / "fixtures" / "resnet_like.py"), "--model", "TinyResNet", "--depth", "1",
                 "--no-advice"]) == 0
    printed = capsys.readouterr().out.replace(str(root / "fixtures"), "fixtures").splitlines()
    assert [line for line in shown if line != "…"] == [line for line in printed if line in shown] and len(shown) > 5


def test_attributes_set_under_names_convlint_cannot_read_make_the_total_partial():
    source = '''import torch.nn as nn
from mylib import head_name


# convlint: input=3x32x32
class Named(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)
        setattr(self, head_name(), nn.Conv2d(8, 8, 1))

    def forward(self, x):
        return self.conv(x)
'''
    s = one(source, "Named")
    # torch would hold both convs (224 + 72); convlint knows the first only, and says so
    assert (s.params, s.params_at_least, s.modules_followed) == (None, 224, False)


def test_register_parameter_is_counted_and_a_parameter_of_unknown_size_is_unknown():
    source = '''import torch
import torch.nn as nn


# convlint: input=3x8x8
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)
        self.register_parameter("scale", nn.Parameter(torch.ones(4)))
        self.register_parameter("none", None)
        self.register_buffer("mean", torch.zeros(4))

    def forward(self, x):
        return self.conv(x)


# convlint: input=3x8x8
class Lost(nn.Module):
    def __init__(self, table):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)
        self.register_parameter("w", table)

    def forward(self, x):
        return self.conv(x)
'''
    assert one(source, "Net").params == 20  # torch: 16 + the registered scale's 4 (a buffer is not a parameter)
    lost = one(source, "Lost")
    assert lost.params is None and lost.params_at_least == 16
    assert [(u["path"], u["line"]) for u in lost.unknown_layers] == [("w", 23)]


def test_no_drop_free_claim_past_a_fractional_upsampling():
    """torch: after Upsample(scale_factor=1.5), Conv2d(1, 1, 3, stride=2) drops the last row at
    H = 3, 4, 7, 8, 11, 12, 15, 16... (a period of 4 the strides alone do not give; 16 drops one);
    the claim was "H ≡ 0 (mod 2) (16 drops none)". A whole factor keeps its claim."""
    source = (
        "import torch.nn as nn\n\n# convlint: input=1x16x16\n"
        "model = nn.Sequential(nn.Upsample(scale_factor=1.5), nn.Conv2d(1, 1, 3, stride=2))\n\n"
        "# convlint: input=1x16x16\n"
        "double = nn.Sequential(nn.Upsample(scale_factor=2), nn.Conv2d(1, 1, 3, stride=2))\n"
    )
    fractional, whole = summarize_source(source.encode(), "up.py")
    assert "drop no real pixels" not in render_text([fractional], colour=False)
    assert "sizes that drop no real pixels: every H; every W" in render_text([whole], colour=False)
