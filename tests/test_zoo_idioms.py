"""Model-zoo idioms followed end to end: timm-style entry points built through build_model_with_cfg
(the class count and input channels from the variant's pretrained configuration), layer lookups by
name, partial norm layers, and a package __init__ that re-exports a function named like its module.
The fixture package is fixtures/zoo/timm (our own code, in timm's layout). Every number below was
checked once with torch: `sys.path.insert(0, "fixtures/zoo"); from timm.models import tinynet`,
each entry point called with no arguments, its parameters counted, run on its stem's channels."""

from __future__ import annotations

from pathlib import Path

import pytest

from convlint.engine import lint_source
from convlint.extract.siblings import init_binds
from convlint.extract.zoo import cfg_entries, module_name
from convlint.summary.tables import summarize_source

ZOO = Path(__file__).resolve().parent.parent / "fixtures" / "zoo" / "timm"
TINYNET = ZOO / "models" / "tinynet.py"
CORPUS_TIMM = Path(__file__).resolve().parent.parent / ".corpus" / "src" / "timm-1.0.31" / "timm"


def summary(name: str):
    return summarize_source(TINYNET.read_bytes(), str(TINYNET), model_name=name)[0]


@pytest.mark.parametrize("name, stem, output, params", [
    # torch: 91,016 parameters, (1, 1000) from (1, 3, 224, 224); SiLU looked up by the name "silu";
    # the stem Conv2d(3, 16, 3) holds 448
    ("tinynet_a", 448, (1000,), 91_016),
    # torch: 2,026 parameters, (1, 10) from (1, 1, 224, 224): its only configuration says 10 classes
    # and 1 input channel (the stem Conv2d(1, 8, 3) holds 80); partial(nn.BatchNorm2d, eps=1e-3)
    # unbound and rebound by get_norm
    ("tinynet_gray", 80, (10,), 2_026),
])
def test_an_entry_point_is_built_with_its_pretrained_configuration(name, stem, output, params):
    s = summary(name)
    assert s.rows[0].layer.startswith("nn.Conv2d(in_chans")
    assert s.rows[0].params["total"] == stem
    assert s.rows[-1].output_shape == output
    assert s.params == params


def test_tags_that_disagree_on_the_class_count_leave_it_unknown():
    # torch builds 21,843 classes (the first tag wins in this miniature's registry; timm's own
    # choice depends on which tags host weights): convlint does not guess
    s = summary("tinynet_wide")
    assert s.rows[-2].output_shape == (64,)
    assert s.params is None


def test_a_head_told_the_wrong_width_is_reported_through_the_builder():
    # torch: tinynet_bad()(torch.zeros(1, 3, 224, 224)) raises "mat1 and mat2 shapes cannot be
    # multiplied (1x32 and 64x1000)" in the head on line 39
    findings = [(f.span.line, f.code, f.message) for f in lint_source(TINYNET.read_bytes(), str(TINYNET))]
    assert findings == [(39, "CL001", "Linear expects 64 input features but receives 32 "
                                      "(32·1·1 flattened by the flatten on line 43)")]


def test_the_function_an_init_re_exports_wins_over_the_module_of_the_same_name():
    assert {"create_act", "get_act", "get_norm", "to_pair"} <= init_binds(ZOO / "layers" / "__init__.py")
    s = summary("tinynet_a")
    assert [r.layer for r in s.rows if "act" in r.layer][:1] == ["SiLU in create_act(act_layer, inplace=True)"]


def test_a_zoo_file_is_named_by_its_package_path():
    assert module_name(str(ZOO / "models" / "_builder.py")) == "timm.models._builder"
    assert module_name(str(ZOO / "layers" / "__init__.py")) == "timm.layers"


def test_only_the_variant_s_own_entries_of_default_cfgs_are_read():
    import ast
    tree = ast.parse(TINYNET.read_bytes())
    assert [ast.unparse(e) for e in cfg_entries(tree, "tinynet_wide")] == [
        "_cfg(num_classes=21843)", "_cfg()"]
    assert cfg_entries(tree, "tinynet") == []


def test_isinstance_of_classes_partials_and_abstract_kinds():
    source = """\
import collections.abc
import functools
import types
from typing import Callable

import torch.nn as nn


class Block(nn.Module):
    def __init__(self, norm=nn.BatchNorm2d, act=functools.partial(nn.ReLU, inplace=True)):
        super().__init__()
        ok = (not isinstance(norm, str) and isinstance(norm, type) and isinstance(act, functools.partial)
              and not isinstance(act, types.FunctionType) and isinstance(act, Callable)
              and isinstance((1, 2), collections.abc.Iterable) and not isinstance(3, collections.abc.Iterable))
        width = 8 if ok else 4
        self.conv = nn.Conv2d(3, width, 1)
        self.norm = norm(8)

    def forward(self, x):
        return self.norm(self.conv(x))
"""
    # torch: every test above is True, so the Conv2d gives 8 channels and BatchNorm2d(8) takes them
    assert lint_source(source, "block.py") == []
    broken = source.replace("self.norm = norm(8)", "self.norm = norm(4)")
    assert [(f.span.line, f.code) for f in lint_source(broken, "block.py")] == [(17, "CL001")]


TINYVIT = ZOO / "models" / "tinyvit.py"
CONFIGURED = "the input size timm configures for it (a pretrained input_size, or img_size and in_chans)"


def test_an_entry_point_runs_on_the_input_its_configuration_fixes():
    # torch: tinyvit_64() (img_size (64, 48) from fixed_input_size) has 4,058 parameters, its 48
    # positions met by the 8×6 patches of (1, 3, 64, 48), output (1, 10); at 64×64 it raises
    s = summarize_source(TINYVIT.read_bytes(), str(TINYVIT), model_name="tinyvit_64")[0]
    assert (s.input, s.input_source) == ((3, 64, 48), CONFIGURED)
    assert [(r.line, r.output_shape) for r in s.rows[2:6]] == [(22, (48, 16)), (23, (48, 16)), (18, (48, 16)),
                                                             (24, (16,))]
    assert s.rows[-2].output_shape == (10,) and s.params == 4_058


def test_a_timm_class_built_on_its_defaults_runs_on_the_input_they_size_it_for():
    # torch: TinyViT() (img_size=224, in_chans=3) has 64,328 parameters: 784 positions for the 28×28
    # patches of (1, 3, 224, 224), output (1, 1000)
    s = summarize_source(TINYVIT.read_bytes(), str(TINYVIT), model_name="TinyViT")[0]
    assert (s.input, s.input_source) == ((3, 224, 224), CONFIGURED)
    assert [(r.line, r.output_shape) for r in s.rows[2:6]] == [(22, (784, 32)), (23, (784, 32)), (18, (784, 32)),
                                                             (24, (32,))]
    assert s.params == 64_328


def test_the_same_class_outside_timm_configures_no_input():
    s = summarize_source(TINYVIT.read_bytes(), "tinyvit.py", model_name="TinyViT")[0]
    assert (s.input, s.input_source) == (None, None)


def test_tags_that_disagree_on_the_input_size_configure_none():
    # torch builds the first tag's 64 positions in this miniature's registry (41,288 parameters):
    # timm's default tag depends on hosted weights, so img_size is unknown and so is the input
    s = summarize_source(TINYVIT.read_bytes(), str(TINYVIT), model_name="tinyvit_mixed")[0]
    assert (s.input, s.input_source) == (None, None)
    # its tokens unknown, and its position embedding's (1, ?, 32): the sum has its width alone
    assert s.rows[3].output_shape == (None, 32)


def test_a_position_embedding_too_short_for_the_configured_input_is_reported():
    # torch: tinyvit_bad()(torch.zeros(1, 3, 64, 64)) raises "The size of tensor a (64) must match
    # the size of tensor b (16) at non-singleton dimension 1" at line 23
    findings = [(f.span.line, f.code, f.message) for f in lint_source(TINYVIT.read_bytes(), str(TINYVIT))]
    assert findings == [(23, "CL006", "sum of a tensor (N, 64, 32) and a parameter (1, 16, 32) whose sizes 64 "
                                      "and 16 cannot be broadcast")]


def test_the_file_s_own_use_of_a_model_outweighs_its_configuration():
    # torch: tinyvit_64()(torch.randn(2, 3, 32, 32)) raises "The size of tensor a (16) must match
    # the size of tensor b (48)": 4×4 patches against the 48 positions of its configured 64×48
    source = TINYVIT.read_bytes() + b"\n\nlogits = tinyvit_64()(torch.randn(2, 3, 32, 32))\n"
    s = summarize_source(source, str(TINYVIT), model_name="tinyvit_64")[0]
    assert (s.input, s.input_source) == ((3, 32, 32), "a tensor of shape 2×3×32×32 passed to it on line 57")
    assert s.rows[3].output_shape is None


@pytest.mark.skipif(not CORPUS_TIMM.is_dir(), reason="the unpacked corpus (tools/corpus.py) is not here")
def test_timm_resnet18_is_followed_through_its_builder():
    path = CORPUS_TIMM / "models" / "resnet.py"
    s = summarize_source(path.read_bytes(), str(path), model_name="resnet18")[0]
    # timm's resnet18 is torchvision's architecture (7x7 stem, BasicBlock x [2, 2, 2, 2], fc 512 -> 1000):
    # torch counts 11,689,512 parameters for it and outputs (1, 1000)
    assert s.rows[-1].output_shape == (1000,)
    assert s.params == 11_689_512


TINYSEG = ZOO.parent / "monai" / "networks" / "nets" / "tinyseg.py"


@pytest.mark.parametrize("name, output, params", [
    # torch: TinySeg()(torch.zeros(1, 1, 32, 32)) is (1, 2, 32, 32), 1,348 parameters: Conv[Conv.CONV, 2]
    # is nn.Conv2d, Norm["group", 2] nn.GroupNorm given num_channels by has_option, Act["prelu"] nn.PReLU
    ("TinySeg", (2, 32, 32), 1_348),
    # torch: tinyseg_3d()(torch.zeros(1, 1, 16, 16, 16)) is (1, 2, 16, 16, 16), 1,036 parameters
    ("tinyseg_3d", (2, 16, 16, 16), 1_036),
    # torch: prelu_unit()(torch.zeros(1, 1, 32, 32)) is (1, 8, 32, 32), 97 parameters: the activation
    # named as Act.PRELU, which LayerFactory.__getattr__ gives as the string "PRELU"
    ("prelu_unit", (8, 32, 32), 97),
])
def test_monai_style_factories_build_the_layers_of_the_spatial_dims(name, output, params):
    s = summarize_source(TINYSEG.read_bytes(), str(TINYSEG), model_name=name)[0]
    assert s.output_shape == output
    assert s.params == params


def test_a_merge_mode_looked_up_in_a_str_enum_decides_the_branch():
    # torch: tinyseg_add()(torch.zeros(1, 1, 32, 32)) raises "The size of tensor a (16) must match the
    # size of tensor b (8) at non-singleton dimension 1" at `y + x` on line 62
    findings = [(f.span.line, f.code) for f in lint_source(TINYSEG.read_bytes(), str(TINYSEG))]
    assert findings == [(62, "CL006")]


PYTHON_FACTS = """\
import enum
import torch.nn as nn
import torch.nn.functional as F

_HAS_SILU = 'silu' in dir(F)
_HAS_NORM = hasattr(nn, 'BatchNorm2d')


class Mode(enum.Enum):
    SMALL = 'small'
    LARGE = 'large'


class Net(nn.Module):
    def __init__(self, act=('relu', {'inplace': True}), mode='large'):
        super().__init__()
        width = 8 if Mode(mode) == Mode.LARGE and Mode.LARGE in [Mode.SMALL, Mode.LARGE] else 4
        width = width if act != '' and _HAS_SILU and _HAS_NORM else 2
        kernel = (3,) * 2
        registered = {nn.ReLU, nn.SiLU}
        width = width * 2 if nn.ReLU in registered and not hasattr(3, 'ndim') else width
        self.conv = nn.Conv2d(3, width, kernel)
        self.norm = nn.BatchNorm2d(16)

    def forward(self, x):
        return self.norm(self.conv(x))
"""


def test_python_facts_the_zoos_decide_branches_with():
    # torch: every test is True, so the Conv2d gives 16 channels to BatchNorm2d(16)
    assert lint_source(PYTHON_FACTS, "facts.py") == []
    # torch: Net()(torch.zeros(1, 3, 8, 8)) raises "running_mean should contain 16 elements not 8"
    broken = PYTHON_FACTS.replace("nn.BatchNorm2d(16)", "nn.BatchNorm2d(8)")
    assert [(f.span.line, f.code) for f in lint_source(broken, "facts.py")] == [(23, "CL001")]


def star_package(root: Path, modules: dict[str, str], star_from: str) -> Path:
    """root/pkg: an __init__, `modules` (name -> text), and net.py, whose Net reads nn and STEM
    through `from .<star_from> import *`; torch: Net()(torch.zeros(1, 3, 8, 8)) raises in the
    Conv2d of line 9: "expected input[1, 16, 6, 6] to have 32 channels, but got 16 channels instead"."""
    (root / "pkg").mkdir()
    (root / "pkg" / "__init__.py").write_text("")
    for name, text in modules.items():
        (root / "pkg" / name).write_text(text)
    net = root / "pkg" / "net.py"
    net.write_text(f"import torch\nfrom .{star_from} import *  # nn and STEM\n\n\nclass Net(nn.Module):\n"
                   "    def __init__(self):\n        super().__init__()\n        self.stem = nn.Conv2d(3, STEM, 3)\n"
                   "        self.body = nn.Conv2d(32, 8, 3)\n\n    def forward(self, x):\n"
                   "        return self.body(self.stem(x))\n")
    return net


def test_a_star_import_binds_the_names_of_the_module(tmp_path):
    net = star_package(tmp_path, {"widths.py": "import torch.nn as nn\n\nSTEM = 16\n_PRIVATE = 99\n"}, "widths")
    assert [(f.span.line, f.code) for f in lint_source(net.read_bytes(), str(net))] == [(9, "CL001")]


BLOCK_STRINGS = """\
import re
from functools import partial

import torch.nn as nn


class Squeeze(nn.Module):
    def __init__(self, chs, ratio=0.25):
        super().__init__()
        self.reduce = nn.Conv2d(chs, int(chs * ratio), 1)

    def forward(self, x):
        return self.reduce(x)


class StageBuilder:
    def __init__(self, se_layer=None):
        self.se_layer = se_layer

    def __call__(self, in_chs, arch):
        key, width = re.split(r'(\\d.*)', arch)[:2]
        out_chs = int(width)
        layers = [nn.Conv2d(in_chs, out_chs, 3, padding=1)]
        if key == 'c' and not isinstance(self.se_layer, nn.Module) and self.se_layer is not None:
            layers.append(self.se_layer(out_chs))
        return layers


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        builder = StageBuilder(se_layer=partial(Squeeze, ratio=0.5))
        self.body = nn.Sequential(*builder(3, 'c32'))
        self.head = nn.Conv2d(16, 10, 1)

    def forward(self, x):
        return self.head(self.body(x))
"""


def test_a_callable_builder_object_parses_its_block_string():
    # torch: Net()(torch.zeros(1, 3, 8, 8)) is (1, 10, 8, 8): 'c32' gives a Conv2d(3, 32) and a Squeeze
    # whose Conv2d(32, 16) feeds the head's 16 channels
    assert lint_source(BLOCK_STRINGS, "builder.py") == []
    broken = BLOCK_STRINGS.replace("'c32'", "'c64'")
    # torch: the head then receives 32 channels: "expected input[1, 32, 8, 8] to have 16 channels"
    assert [(f.span.line, f.code) for f in lint_source(broken, "builder.py")] == [(34, "CL001")]


TRY_INPLACE = """\
import torch.nn as nn


def make_act(layer, inplace=True):
    try:
        return layer(inplace=inplace)
    except TypeError:
        return layer()


class Net(nn.Module):
    def __init__(self, act=nn.GELU):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)
        self.act = make_act(act)
        self.norm = nn.BatchNorm2d(8)

    def forward(self, x):
        return self.norm(self.act(self.conv(x)))
"""


def test_a_layer_torch_refuses_inside_try_except_type_error_takes_the_handler():
    # torch: nn.GELU(inplace=True) raises TypeError, the handler builds nn.GELU(): Net() has 240
    # parameters and runs; nothing to report
    assert lint_source(TRY_INPLACE, "acts.py") == []
    s = summarize_source(TRY_INPLACE, "acts.py", model_name="Net")[0]
    assert [r.layer for r in s.rows] == ["nn.Conv2d(3, 8, 3)", "layer()", "nn.BatchNorm2d(8)"]
    assert s.params == 240
    # without the handler torch raises at the construction: reported
    handled = "    try:\n        return layer(inplace=inplace)\n    except TypeError:\n        return layer()\n"
    bare = TRY_INPLACE.replace(handled, "    return layer(inplace=inplace)\n")
    assert [(f.span.line, f.code) for f in lint_source(bare, "acts.py")] == [(12, "CL005")]


REVERSED_SKIPS = """\
import torch
import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.downs = nn.ModuleList([nn.Conv2d(3, 8, 3, padding=1), nn.Conv2d(8, 16, 3, padding=1)])
        self.up = nn.Conv2d(16, 8, 1)

    def forward(self, x):
        skips = []
        for down in self.downs:
            x = down(x)
            skips.append(x)
        skips.reverse()
        return self.up(x) + skips[1]
"""


def test_a_list_reversed_in_place_is_read_reversed():
    # torch: Net()(torch.zeros(1, 3, 8, 8)) is (1, 8, 8, 8): after reverse(), skips[1] is the
    # 8-channel output of the first Conv2d
    assert lint_source(REVERSED_SKIPS, "skips.py") == []
    s = summarize_source(REVERSED_SKIPS, "skips.py", model_name="Net", input_shape=(3, 8, 8))[0]
    assert s.output_shape == (8, 8, 8)


NUMPY_PADDING = """\
import numpy as np
import torch.nn as nn


def get_padding(kernel_size, stride):
    kernel = np.atleast_1d(kernel_size)
    stride_np = np.atleast_1d(stride)
    padding = (kernel - stride_np + 1) / 2
    if np.min(padding) < 0:
        raise AssertionError("negative padding")
    padding = tuple(int(p) for p in padding)
    return padding if len(padding) > 1 else padding[0]


class Net(nn.Module):
    def __init__(self, stride=(2, 2)):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, stride=stride, padding=get_padding(3, stride))
        wide = not np.all(np.atleast_1d(stride) == 1)
        self.norm = nn.BatchNorm2d(8 if wide else 4)

    def forward(self, x):
        return self.norm(self.conv(x))
"""


def test_numpy_arithmetic_on_short_vectors_gives_the_padding():
    # numpy: (array([3]) - array([2, 2]) + 1) / 2 is array([1., 1.]): padding (1, 1); torch:
    # Net()(torch.zeros(1, 3, 16, 16)) is (1, 8, 8, 8) and BatchNorm2d(8) since the stride is not 1
    s = summarize_source(NUMPY_PADDING, "pad.py", model_name="Net", input_shape=(3, 16, 16))[0]
    assert s.output_shape == (8, 8, 8)
    assert lint_source(NUMPY_PADDING, "pad.py") == []


MODULE_WALK = """\
import torch.nn as nn


class Mixer(nn.Module):
    def __init__(self, dim, gate=False):
        super().__init__()
        self.fc = nn.Linear(dim, dim)
        self.gate = nn.Linear(dim, dim) if gate else nn.Identity()

    def init_weights(self):
        nn.init.zeros_(self.fc.bias)

    def forward(self, x):
        return self.gate(self.fc(x))


class GatedMixer(Mixer):
    pass


def make_mixer(layer, dim, **kwargs):
    if issubclass(layer, GatedMixer):
        kwargs['gate'] = True
    return layer(dim, **kwargs)


# convlint: input=16
class Net(nn.Module):
    def __init__(self, dim=16, layer=Mixer):
        super().__init__()
        self.blocks = nn.Sequential(*[make_mixer(layer, dim) for _ in range(2)])
        self.head = nn.Linear(16, 4)
        for m in [self.blocks, *self.blocks, self.head]:
            if hasattr(m, 'init_weights'):
                m.init_weights()

    def forward(self, x):
        return self.head(self.blocks(x))
"""


def test_an_init_walk_asks_hasattr_and_a_factory_asks_issubclass():
    """timm's ViT: `issubclass(attn_layer, DiffAttention)` before building the attention, and an
    init walk asking each module `hasattr(m, 'init_weights')`: a Sequential has no such method,
    so it keeps its contents (torch 2.13: Net()(torch.zeros(2, 16)) is (2, 4); with a head of 8
    features it raises: mat1 and mat2 shapes cannot be multiplied (2x16 and 8x4))."""
    from convlint.engine import analyze_source

    analysis = analyze_source(MODULE_WALK, "walk.py")
    steps = next(m for m in analysis.models if m.name == "Net").steps
    assert [(s.kind, s.out_shape) for s in steps] == [("Linear", (16,)), ("Identity", (16,)), ("Linear", (16,)),
                                                      ("Identity", (16,)), ("Linear", (4,))]
    gated = MODULE_WALK.replace("layer=Mixer)", "layer=GatedMixer)")
    steps = next(m for m in analyze_source(gated, "walk.py").models if m.name == "Net").steps
    assert [s.kind for s in steps] == ["Linear", "Linear", "Linear", "Linear", "Linear"]
    narrow = MODULE_WALK.replace("nn.Linear(16, 4)", "nn.Linear(8, 4)")
    assert [(f.span.line, f.code, f.message) for f in lint_source(narrow, "walk.py")] == [
        (32, "CL001", "Linear expects 8 input features but receives 16 (out_features of the Linear on line 7)")]


def test_a_name_read_through_a_star_import_is_found_again_and_stays_a_dependency(tmp_path):
    # the second analysis finds STEM in the lookups kept from the first: same finding, and widths.py
    # is still among the files the result depends on (the findings cache's dependencies)
    from convlint import rules, runner
    from convlint.extract import siblings

    net = star_package(tmp_path, {"widths.py": "import torch.nn as nn\n\nSTEM = 16\n",
                                  "more.py": "from .widths import *\n"}, "more")
    task = (net.read_bytes(), str(net), None, frozenset(rules.DEFAULT_SELECTION), None, None, None)
    runs = [runner.lint_one(task) for _ in range(2)]
    assert any(name == "STEM" for _, name in siblings.STARRED)
    assert [[(f.span.line, f.code) for f in kept] for kept, _, _ in runs] == [[(9, "CL001")]] * 2
    assert [sorted(Path(p).name for p in read) for _, _, read in runs] == [["more.py", "widths.py"]] * 2


ZOO_HELPERS = {
    "torchvision/utils.py": "def _log_api_usage_once(obj):\n    raise RuntimeError('telemetry')\n",
    "timm/models/_manipulate.py": "def named_apply(fn, module, name=''):\n    raise RuntimeError('init')\n",
    "timm/layers/weight_init.py": "def trunc_normal_(tensor, std=1.0):\n    raise RuntimeError('init')\n",
    "timm/layers/padding.py": "def get_padding(kernel_size, stride=1, dilation=1, **_):\n"
                              "    return ((stride - 1) + dilation * (kernel_size - 1)) // 2\n",
}
HELPED_NET = """\
import torch
import torch.nn as nn
from timm.layers.padding import get_padding
from timm.layers.weight_init import trunc_normal_
from timm.models._manipulate import named_apply
from torchvision.utils import _log_api_usage_once


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        _log_api_usage_once(self)
        self.a = nn.Conv2d(3, 8, 3, padding=get_padding(3))
        self.b = nn.Conv2d(8, 8, 3, padding=get_padding(3))
        self.c = nn.Conv2d(8, 8, 5, padding=get_padding(5))
        self.pos = trunc_normal_(nn.Parameter(torch.zeros(1, 8, 1, 1)), std=0.02)
        named_apply(print, self)

    def forward(self, x):
        return self.c(self.b(self.a(x))) + self.pos
"""


def test_zoo_helpers_that_change_no_shape_are_not_run_and_pure_ones_run_once(tmp_path, monkeypatch):
    # torch, with the same padding: Net's convolutions keep 3x32x32 -> 8x32x32. Telemetry and weight
    # initialisation would raise if they were run; get_padding runs once per distinct arguments
    from convlint.extract import calls

    for name, text in ZOO_HELPERS.items():
        file = tmp_path / name
        file.parent.mkdir(parents=True, exist_ok=True)
        for folder in (file.parent, file.parent.parent):
            if folder != tmp_path:
                (folder / "__init__.py").touch()
        file.write_text(text)
    net = tmp_path / "net.py"
    net.write_text(HELPED_NET)
    interpreted = []
    call_function = calls.Calls.call_function

    def counted(self, func, args, kwargs, node, defaults_only=False):
        interpreted.append(getattr(func.node, "name", None))
        return call_function(self, func, args, kwargs, node, defaults_only)

    monkeypatch.setattr(calls.Calls, "call_function", counted)
    monkeypatch.setattr(calls, "PURE_RESULTS", {})
    for _ in range(2):
        model = summarize_source(net.read_bytes(), str(net), input_shape=(3, 32, 32), model_name="Net")[0]
        assert model.output_shape == (8, 32, 32)
    assert sorted(n for n in interpreted if n in ("get_padding", "_log_api_usage_once", "named_apply",
                                                 "trunc_normal_")) == ["get_padding", "get_padding"]


NO_BIAS = """import torch.nn as nn


class LayerNormNoBias(nn.LayerNorm):
    def __init__(self, num_channels, **kwargs):
        super().__init__(num_channels, **kwargs)
        self.eps = kwargs.get('eps', 1e-6)
        self.bias = None


class Mixer(nn.Module):
    def __init__(self, dim=16):
        super().__init__()
        self.norm = LayerNormNoBias(dim)
        self.fc = nn.Linear(dim, 4)

    def forward(self, x):
        return self.fc(self.norm(x))
"""


def test_a_torch_layer_subclass_that_drops_its_bias_runs_the_layer_without_one():
    # torch: Mixer()(zeros(1, 5, 16)) is (1, 5, 4); its norm holds 16 weights and no bias, the
    # Linear 64 + 4 (84 in all); the total stays unknown (a parameter replaced: not counted)
    s = summarize_source(NO_BIAS, "mixer.py", input_shape=(5, 16), model_name="Mixer")[0]
    assert [(r.output_shape, r.params["weights"], r.params["biases"]) for r in s.rows] == [((5, 16), 16, 0), ((5, 4), 64, 4)]
    assert s.params is None
