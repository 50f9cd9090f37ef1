"""What extraction follows beyond a plain forward: axis ops, the two modes, builder functions,
sub-modules nothing calls, and what it must forget. Every shape below was checked once against
torch 2.13 running the same code."""

import textwrap

import pytest

from convlint.engine import analyze_source, lint_source
from convlint.sizes import var


def steps_of(source, model):
    analysis = analyze_source(textwrap.dedent(source), "m.py")
    view = next(m for m in analysis.models if m.name == model and not m.training)
    return [(s.kind, s.line, s.out_shape) for s in view.steps]


def findings(source):
    return [(f.line, f.name, f.message) for f in lint_source(textwrap.dedent(source), "m.py")]


# ------------------------------------------------------------------ chunk, split, permute


PIECES = """
    import torch
    import torch.nn as nn

    # convlint: input=30x8x8
    class Net(nn.Module):
        def forward(self, x):
            a, b, c, d = x.chunk(4, dim=1)
            e, f, g = torch.split(x, 12, 1)
            h, i = x.split([5, 25], dim=-3)
            j = x.chunk(4, 1)[3]
            return torch.cat([a, d, g, h, j], dim=1)
"""


def test_chunk_and_split_give_torch_sizes():
    sizes = [shape[0] if shape else None for kind, _, shape in steps_of(PIECES, "Net")]
    # chunk(4) of 30: 8, 8, 8, 6; split(12) of 30: 12, 12, 6; split([5, 25]); chunk(4)[3]: 6
    assert sizes == [8, 8, 8, 6, 12, 12, 6, 5, 25, 6, 31]


def test_chunk_that_gives_fewer_pieces_than_unpacked_is_unknown():
    source = """
        import torch.nn as nn

        # convlint: input=6x8x8
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv = nn.Conv2d(3, 4, 1)

            def forward(self, x):
                a, b, c, d = x.chunk(4, dim=1)  # 2, 2, 2: torch cannot unpack three into four
                return self.conv(a)
    """
    assert [shape for kind, _, shape in steps_of(source, "Net")] == [None] * 5
    assert findings(source) == []


def test_split_sizes_that_do_not_add_up_are_an_error():
    source = """
        import torch
        import torch.nn as nn

        # convlint: input=10x4x4
        class Net(nn.Module):
            def forward(self, x):
                a, b = torch.split(x, [4, 5], dim=1)
                return a
    """
    assert findings(source) == [
        (8, "shape-mismatch", "split sizes [4, 5] sum to 9, but dimension 1 of (N, 10, 4, 4) has size 10"),
    ]


def test_split_along_the_batch_is_unknown():
    source = """
        import torch.nn as nn

        # convlint: input=3x4x4
        class Net(nn.Module):
            def forward(self, x):
                a, b = x.chunk(2)
                return a
    """
    assert [shape for _, _, shape in steps_of(source, "Net")] == [None, None]


def test_permute_and_transpose_move_axes_but_never_the_batch():
    source = """
        import torch
        import torch.nn as nn

        # convlint: input=6x5x7
        class Net(nn.Module):
            def forward(self, x):
                a = x.permute(0, 2, 3, 1)
                b = torch.permute(x, (0, -1, 1, 2))
                c = x.transpose(1, 2)
                d = torch.swapaxes(x, -1, -2)
                e = x.permute(1, 0, 2, 3)
                return x
    """
    assert [shape for _, _, shape in steps_of(source, "Net")] == [(5, 7, 6), (7, 6, 5), (5, 6, 7), (6, 7, 5), None]


def test_channel_shuffle_keeps_the_shape():
    source = """
        import torch.nn as nn

        # convlint: input=12x6x6
        class Shuffle(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv = nn.Conv2d(12, 4, 1)

            def forward(self, x):
                n, c, h, w = x.size()
                x = x.view(n, 3, c // 3, h, w).transpose(1, 2).contiguous()
                return self.conv(x.view(n, c, h, w))
    """
    assert steps_of(source, "Shuffle")[-1] == ("Conv2d", 8, (4, 6, 6))


def test_a_per_channel_parameter_broadcasts():
    source = """
        import torch
        import torch.nn as nn

        # convlint: input=8x4x4
        class Scale(nn.Module):
            def __init__(self):
                super().__init__()
                self.gamma = nn.Parameter(torch.ones(8, 1, 1) * 0.1)
                self.beta = nn.Parameter(torch.zeros(1, 4, 4, 4))
                self.conv = nn.Conv2d(8, 8, 1)

            def forward(self, x):
                y = self.conv(x) * self.gamma
                return y, y + self.beta
    """
    assert [shape for _, _, shape in steps_of(source, "Scale")] == [(8, 4, 4), (8, 4, 4), None]


# ------------------------------------------------------------------ modes and eager-only questions


def test_scripting_and_tracing_branches_are_not_taken():
    source = """
        import torch
        import torch.nn as nn

        # convlint: input=3x8x8
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.a = nn.Conv2d(3, 8, 3)
                self.b = nn.Conv2d(16, 4, 1)

            def forward(self, x):
                x = self.a(x)
                if torch.jit.is_scripting() or torch.jit.is_tracing():
                    return x
                return self.b(x)
    """
    assert findings(source) == [
        (10, "channel-mismatch", "Conv2d expects 16 input channels but receives 8 (out_channels of the Conv2d on line 9)"),
    ]


@pytest.mark.parametrize("mode, expected", [("'fast'", 0), ("'exact'", 1)])
def test_a_failing_torch_assert_ends_the_path(mode, expected):
    source = f"""
        import torch
        import torch.nn as nn

        # convlint: input=3x8x8
        class Net(nn.Module):
            def __init__(self, mode={mode}):
                super().__init__()
                self.mode = mode
                self.a = nn.Conv2d(3, 8, 3)
                self.b = nn.Conv2d(16, 4, 1)

            def forward(self, x):
                torch._assert(self.mode != "fast", "fast mode is not implemented")
                return self.b(self.a(x))
    """
    assert len(findings(source)) == expected


MODE_NET = """
        import torch.nn as nn

        # convlint: input=3x8x8
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.a = nn.Conv2d(3, 8, 3)
                self.b = nn.Conv2d(8, 4, 1)

            def forward(self, x):
                x = self.a(x)
                return self.b(x) if self.training else x
"""


def test_a_model_that_reads_self_training_is_run_in_both_modes():
    analysis = analyze_source(textwrap.dedent(MODE_NET), "m.py")
    assert [(m.name, m.training, [s.kind for s in m.steps]) for m in analysis.models] == [
        ("Net", False, ["Conv2d"]),
        ("Net", True, ["Conv2d", "Conv2d"]),
    ]


def test_the_training_run_reuses_the_construction_only_when_the_evaluation_run_changed_nothing(monkeypatch):
    # torch: in evaluation Net()(zeros(1, 3, 8, 8)) is (1, 8, 6, 6); in training mode (1, 4, 6, 6).
    # Lazy builds its head in forward (self.head is None the first time): its training run needs a
    # module built anew, in which the head is made again by that run
    from convlint.extract import classes

    source = MODE_NET + """
        # convlint: input=3x8x8
        class Lazy(nn.Module):
            def __init__(self):
                super().__init__()
                self.a = nn.Conv2d(3, 8, 3)
                self.head = None

            def forward(self, x):
                if self.head is None:
                    self.head = nn.Conv2d(8, 2 if self.training else 5, 1)
                return self.head(self.a(x))
    """
    made = []
    instantiate = classes.Classes.instantiate

    def counted(self, cls, *args, **kwargs):
        made.append(cls.name)
        return instantiate(self, cls, *args, **kwargs)

    monkeypatch.setattr(classes.Classes, "instantiate", counted)
    analysis = analyze_source(textwrap.dedent(source), "m.py", details=True)
    assert [(m.name, m.training, m.steps[-1].out_shape) for m in analysis.models] == [
        ("Net", False, (8, 6, 6)), ("Net", True, (4, 6, 6)), ("Lazy", False, (5, 6, 6)), ("Lazy", True, (2, 6, 6)),
    ]
    assert made == ["Net", "Lazy", "Lazy"]


VARIANTS = """
        import torch.nn as nn

        class Net(nn.Module):
            def __init__(self, width=8):
                super().__init__()
                self.a = nn.Conv2d(3, width, 3)
                self.b = nn.Conv2d(width, 4, 1)

            def forward(self, x):
                x = self.a(x)
                return self.b(x) if self.training else x


        # convlint: input=3x8x8
        def net_small():
            return Net(8)


        # convlint: input=3x8x8
        def net_large():
            return Net(16)
"""


def counted_builds(monkeypatch) -> list[str]:
    """The names of the models discovery builds from here on, in the order it builds them."""
    from convlint.extract import discovery

    runs = []
    build = discovery.Discovery.build

    def counted(self, *args, **kwargs):
        runs.append(args[0])
        return build(self, *args, **kwargs)

    monkeypatch.setattr(discovery.Discovery, "build", counted)
    return runs


def test_a_file_of_variants_builds_each_once_before_any_in_training_mode(monkeypatch):
    # torch: in evaluation Net(8) and Net(16) on zeros(1, 3, 8, 8) give (1, 8, 6, 6) and (1, 16, 6, 6);
    # in training mode (1, 4, 6, 6). A budget spent after three runs: the three models, once each
    from convlint.extract import state

    runs = counted_builds(monkeypatch)
    analysis = analyze_source(textwrap.dedent(VARIANTS), "m.py", details=True)
    assert [(m.name, m.training, m.steps[-1].out_shape) for m in analysis.models[2:]] == [
        ("net_small", False, (8, 6, 6)), ("net_small", True, (4, 6, 6)),
        ("net_large", False, (16, 6, 6)), ("net_large", True, (4, 6, 6)),
    ]  # with the budget to spare, each model's training run follows it
    monkeypatch.setattr(state.State, "budget", lambda self: float("inf") if len(runs) < 3 else -1)
    runs.clear()
    analysis = analyze_source(textwrap.dedent(VARIANTS), "m.py", details=True)
    assert [(m.name, m.training) for m in analysis.models] == [("Net", False), ("net_small", False), ("net_large", False)]


FAMILIES = """
    import torch.nn as nn


    class Net(nn.Module):
        def __init__(self, width=8, version="v1"):
            super().__init__()
            self.stem = nn.Conv2d(3, width, 3)
            self.head = nn.Conv2d(width, 4, 1) if version == "v1" else nn.Conv2d(width, 2, 3)

        def forward(self, x):
            return self.head(self.stem(x))


    def _create_net(variant, pretrained=False, **kwargs):
        return Net(**kwargs)


    # convlint: input=3x8x8
    def net_050(pretrained=False, **kwargs):
        \"\"\" Net-0.5x \"\"\"
        model_args = dict(width=4)
        return _create_net("net_050", pretrained, **dict(model_args, **kwargs))


    # convlint: input=3x8x8
    def net_100(pretrained=False, **kwargs):
        \"\"\" Net-1.0x \"\"\"
        model_args = dict(
            width=8)
        return _create_net(
            "net_100", pretrained, **dict(model_args, **kwargs))


    # convlint: input=3x8x8
    def netv2_100(pretrained=False, **kwargs):
        \"\"\" NetV2-1.0x \"\"\"
        model_args = dict(width=8, version="v2")
        return _create_net("netv2_100", pretrained, **dict(model_args, **kwargs))
"""


def test_a_size_of_a_family_is_built_after_the_first_of_every_other_family(monkeypatch):
    # torch: on zeros(1, 3, 8, 8) net_050 gives (1, 4, 6, 6), net_100 (1, 4, 6, 6) and netv2_100
    # (1, 2, 4, 4). net_100 names what net_050 names, with other numbers, docstring and layout:
    # netv2_100, whose string runs the other head, is built before it, and the helper they all call
    # after them; the models are still reported in the file's order
    from convlint.extract import state

    runs = counted_builds(monkeypatch)
    analysis = analyze_source(textwrap.dedent(FAMILIES), "m.py", details=True)
    assert runs == ["Net", "net_050", "netv2_100", "net_100", "_create_net"]
    assert [m.name for m in analysis.models] == ["Net", "_create_net", "net_050", "net_100", "netv2_100"]
    assert [(m.name, m.steps[-1].out_shape) for m in analysis.models[2:]] == [
        ("net_050", (4, 6, 6)), ("net_100", (4, 6, 6)), ("netv2_100", (2, 4, 4))]
    monkeypatch.setattr(state.State, "budget", lambda self: float("inf") if len(runs) < 3 else -1)
    runs.clear()
    analysis = analyze_source(textwrap.dedent(FAMILIES), "m.py", details=True)
    assert [(m.name, m.steps[-1].out_shape) for m in analysis.models[1:]] == [
        ("net_050", (4, 6, 6)), ("netv2_100", (2, 4, 4))]  # the budget spent after three: net_100 and the helper not built


ANNOTATED = """
    from typing import Optional, Tuple

    import torch
    import torch.nn as nn
    from torch import Tensor


    def rotate(image: Tensor, angle: Optional[Tensor] = None) -> torch.Tensor:
        return image.flip(-1)


    def corners(image: Tensor) -> Optional[Tuple[Tensor, Tensor]] | None:
        return image, image


    def stem(width: int = 8) -> nn.Module:
        return nn.Conv2d(3, width, 3)


    def head(width: int = 8) -> "nn.Module":
        return nn.Linear(width, 2)


    def block(width=8):
        return nn.Conv2d(width, width, 1)
"""


def test_a_function_annotated_to_return_no_module_is_not_built(monkeypatch):
    runs = counted_builds(monkeypatch)
    analysis = analyze_source(textwrap.dedent(ANNOTATED), "m.py", input_shape=(3, 8, 8), details=True)
    assert runs == ["stem", "head", "block"]
    assert [m.name for m in analysis.models] == ["stem", "head", "block"]


# ------------------------------------------------------------------ classes, builders, parts


METHODS = """
    import torch.nn as nn

    # convlint: input=3x16x16
    class Net(nn.Module):
        scale = 2

        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(self.block(3, self.width), self.block({second}, 8))

        @staticmethod
        def block(c_in, c_out, k=3):
            return nn.Conv2d(c_in, c_out, k, padding=k // 2)

        @classmethod
        def widen(cls, c):
            return c * cls.scale

        @property
        def width(self):
            return self.widen(8)

        def forward(self, x):
            return self.body(x)
"""


def test_static_and_class_methods_and_properties_bind_as_python_does():
    assert findings(METHODS.format(second="self.width")) == []
    assert findings(METHODS.format(second=8)) == [
        (10, "channel-mismatch", "Conv2d expects 8 input channels but receives 16 (out_channels of the Conv2d on line 10)"),
    ]


def test_named_children_isinstance_getattr_fstrings_and_comprehensions():
    source = """
        import torch.nn as nn
        from collections import OrderedDict


        class Tagged(nn.Module):
            def __init__(self, c):
                super().__init__()
                self._stage_end = True
                self.conv = nn.Conv2d(c, c, 3, padding=1)

            def forward(self, x):
                return self.conv(x)


        # convlint: input=3x16x16
        def build():
            net = nn.Sequential(nn.Conv2d(3, 8, 3), nn.MaxPool2d(2), Tagged(8), nn.Conv2d(8, 16, 1), Tagged(16))
            ends = [i for i, m in enumerate(net) if getattr(m, "_stage_end", False)]
            pools = [i for i, m in enumerate(net) if isinstance(m, nn.modules.pooling._MaxPoolNd)]
            names = {f"layer{i}": str(i) for i in ends}
            del names["layer2"]
            kept = OrderedDict((name, child) for name, child in net.named_children() if name in names.values())
            return nn.Sequential(*net[: pools[0] + 1], kept["4"])
    """
    # Conv(3→8), MaxPool, then the Tagged(16) at index 4: it receives 8 channels
    assert findings(source) == [
        (10, "channel-mismatch", "Conv2d expects 16 input channels but receives 8 (out_channels of the Conv2d on line 18)"),
    ]


def test_a_backbone_given_to_a_detector_is_checked_on_its_own():
    source = """
        import torch
        import torch.nn as nn


        class Neck(nn.Module):
            def __init__(self, c_in, c_out):
                super().__init__()
                self.reduce = nn.Conv2d(c_in, c_out, 1)
                self.smooth = nn.Conv2d(c_in, c_out, 3, padding=1)

            def forward(self, x):
                return self.smooth(self.reduce(x))


        class Head(nn.Module):
            def __init__(self, c):
                super().__init__()
                self.conv = nn.Conv2d(c, c, 3, padding=1)
                self.out = nn.Conv2d(2 * c, 4, 1)

            def forward(self, levels: list[torch.Tensor]):
                outs = []
                for f in levels:
                    outs.append(self.out(self.conv(f)))
                return outs


        class Detector(nn.Module):
            def __init__(self, neck, head):
                super().__init__()
                self.neck, self.head = neck, head

            def forward(self, images, targets=None):
                return self.head([self.neck(x) for x in images])


        def detector():
            return Detector(Neck(64, 32), Head(32))
    """
    analysis = analyze_source(textwrap.dedent(source), "m.py")
    parts = [(m.name, m.part_of) for m in analysis.models if m.part_of]
    assert parts == [("detector.neck", "detector"), ("detector.head", "detector")]
    # the neck runs on a tensor of its own: its mismatch is reported; the head's list loop is
    # followed on a fresh tensor for shapes only (Head.out never fits, yet nothing is said)
    assert findings(source) == [
        (10, "channel-mismatch", "Conv2d expects 64 input channels but receives 32 (out_channels of the Conv2d on line 9)"),
    ]


def test_an_unused_plain_sequential_of_heads_is_not_run_as_a_chain():
    source = """
        import torch.nn as nn


        class Heads(nn.Module):
            def __init__(self):
                super().__init__()
                self.stem = nn.Conv2d(3, 16, 3)
                self.heads = nn.Sequential(nn.Conv2d(16, 4, 1), nn.Conv2d(16, 6, 1))

            def forward(self, images):
                feats = self.stem(images[0])
                return [head(feats) for head in self.heads]
    """
    assert findings(source) == []


# ------------------------------------------------------------------ what must be forgotten


def test_a_list_changed_in_an_undecided_branch_is_forgotten():
    source = """
        import torch.nn as nn


        class Block(nn.Module):
            def __init__(self, expand, extra):
                super().__init__()
                layers = [nn.Conv2d(3, 16, 3)]
                if expand:
                    layers.append(nn.Conv2d(16, 32, 1))
                else:
                    layers.append(nn.Conv2d(16, 16, 1))
                kwargs = {"kernel_size": 1}
                if extra:
                    kwargs["in_channels"] = 99
                self.body = nn.Sequential(*layers)  # wrong when expand is true: that is not known
                self.tail = nn.Conv2d(out_channels=8, **{"in_channels": 16, **kwargs})

            def forward(self, x):
                return self.tail(self.body(x))
    """
    assert findings(source) == []


def test_a_layer_attribute_set_after_construction():
    source = """
        import torch.nn as nn

        # convlint: input=4x7x7
        def build():
            net = nn.Sequential(nn.MaxPool2d(2), nn.Conv2d(4, 8, 1), nn.MaxPool2d(2))
            net[0].ceil_mode = True  # torch reads it at every forward: 7 -> 4
            net[1].in_channels = 5  # the weight keeps its shape: nothing is known any more
            return net
    """
    assert [shape for _, _, shape in steps_of(source, "build")] == [(4, 4, 4), (8, 4, 4), (8, 2, 2)]
    assert findings(source) == []


ONE_LINE_BODIES = '''
import torch.nn as nn

def block(c_in, c_out): return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1), nn.ReLU())

# convlint: input=3x32x32
class Net(nn.Module):
    def __init__(self, k=3):
        super().__init__()
        if k % 2 == 0: raise ValueError("odd kernels only")
        self.features = block(3, 16)
        self.head = nn.Conv2d(32, 10, 1)
    def forward(self, x): return self.head(self.features(x))
'''


def test_one_line_bodies_are_run():
    """`def f(): return ...` and `if c: raise ...` on one line run like any body (torch: the head
    raises "expected input[1, 16, 32, 32] to have 32 channels, but got 16 channels instead")."""
    analysis = analyze_source(ONE_LINE_BODIES, "one_line.py")
    assert [(f.name, f.line, f.column, f.message) for f in analysis.findings] == [
        ("channel-mismatch", 12, 21, "Conv2d expects 32 input channels but receives 16 "
                                    "(out_channels of the Conv2d on line 11)"),  # where the helper is called
    ]
    assert [(m.name, [(s.kind, s.line, s.out_shape) for s in m.steps]) for m in analysis.models] == [
        # a builder: run too, on an unknown input, which its first layer makes a map of unknown channels
        ("block", [("Conv2d", 4, (None, var("H"), var("W"))), ("ReLU", 4, (None, var("H"), var("W")))]),
        ("Net", [("Conv2d", 4, (16, 32, 32)), ("ReLU", 4, (16, 32, 32)), ("Conv2d", 12, (10, 32, 32))]),
    ]


def test_in_a_string_is_a_substring_test():
    """timm's `if 'small' in variant:` chose MobileNetV3-Large's stages for mobilenetv3_small_100."""
    source = (
        "import torch.nn as nn\n\n\ndef build(variant='mobilenetv3_small_100'):\n"
        "    # convlint: input=3x8x8\n"
        "    width = 16 if 'small' in variant else 64\n"
        "    width = width if 'v3_s' in variant and 'large' not in variant and 's' in 'ms' else 0\n"
        "    return nn.Sequential(nn.Conv2d(3, width, 3), nn.Conv2d(32, 8, 1))\n"
    )
    assert [(f.line, f.message) for f in lint_source(source, "variants.py")] == [
        (8, "Conv2d expects 32 input channels but receives 16 (out_channels of the Conv2d on line 8)"),
    ]


def test_an_or_decided_by_a_later_bool_with_the_first_operand_unknown():
    """`rate == 0. or not training` is True in evaluation mode whatever the rate (torch 2.13: the
    Linear(4, 6) runs on (N, 4)); an `or` whose undecided operand is not a bool (`rate or True`:
    the rate itself, or True) stays unknown, so its branch is taken both ways."""
    source = """
        import torch
        import torch.nn as nn


        class Net(nn.Module):
            def __init__(self, rate):
                super().__init__()
                self.rate = rate
                self.fc = nn.Linear(4, 6)
                self.wide = nn.Linear(4, 8)

            def forward(self, x):
                if self.rate == 0. or not self.training:
                    x = self.fc(x)
                else:
                    x = self.wide(x)
                if self.rate or True:
                    x = x * 2
                else:
                    x = x[:, :3]
                return x

        # convlint: input=4
        def build():
            return Net(torch.rand(1).item() * 0.1)
    """
    # the first branch: self.fc alone; the second: both arms (x * 2 keeps the tensor), joined: 6 or 3 features
    assert steps_of(source, "build") == [("Linear", 10, (6,)), ("index", 21, (3,)), ("join", 18, (None,))]


def test_a_size_of_the_input_against_a_positional_embedding_is_the_embedding_s():
    """Without an input size the patch grid is ⌊H/16⌋·⌊W/16⌋; adding a (1, 196, 64) embedding
    runs only when that is 196 (or 1), so the sum has 196 tokens (torch 2.13 at 3×224×224:
    (N, 196, 64), then the qkv reshape (N, 196, 3, 4, 16)); a cat along the channels needs the
    same tokens: 196 too."""
    source = """
        import torch
        import torch.nn as nn


        class Embed(nn.Module):
            def __init__(self):
                super().__init__()
                self.proj = nn.Conv2d(3, 64, 16, stride=16)
                self.pos = nn.Parameter(torch.zeros(1, 196, 64))
                self.extra = nn.Parameter(torch.zeros(1, 196, 8))
                self.qkv = nn.Linear(64, 192)

            def forward(self, x):
                x = self.proj(x).flatten(2).transpose(1, 2) + self.pos
                B, N, C = x.shape
                qkv = self.qkv(x).reshape(B, N, 3, 4, C // 4)
                return qkv, torch.cat([x, self.extra.expand(B, -1, -1)], dim=2)
    """
    steps = steps_of(source, "Embed")
    assert [shape for kind, _, shape in steps if kind in ("broadcast", "view", "cat")] == \
        [(196, 64), (196, 3, 4, 16), (196, 72)]


def test_a_fused_qkv_viewed_with_a_free_size_over_a_symbolic_token_count():
    """(N, ⌊H/16⌋·⌊W/16⌋, 144) viewed as (B, N, 3, 4, -1): the -1 is 144 / 12 = 12 whatever the
    tokens (torch 2.13 at 3×64×64: (2, 16, 3, 4, 12)); normalising and a group norm keep the shape
    ((2, 16, 48) and (2, 48, 4, 4)); the tokens viewed back as (B, -1, H, W) with H and W read off
    the image: (2, 48, 4, 4)."""
    source = """
        import torch.nn as nn
        import torch.nn.functional as F


        class Tokens(nn.Module):
            def __init__(self):
                super().__init__()
                self.proj = nn.Conv2d(3, 48, 16, stride=16)
                self.qkv = nn.Linear(48, 144)
                self.out = nn.Linear(48, 8)

            def forward(self, x):
                x = F.group_norm(self.proj(x), 4)
                t = F.normalize(x.flatten(2).transpose(1, 2), dim=-1)
                B, N, C = t.shape
                qkv = self.qkv(t).reshape(B, N, 3, 4, -1)
                _, _, H, W = x.shape
                return self.out(t), qkv, t.transpose(1, 2).reshape(B, -1, H, W)
    """
    shown = [(kind, line, tuple(map(str, shape))) for kind, line, shape in steps_of(source, "Tokens")]
    tokens = "⌊H/16⌋·⌊W/16⌋"
    assert shown == [("Conv2d", 9, ("48", "⌊H/16⌋", "⌊W/16⌋")), ("flatten", 15, ("48", tokens)),
                     ("permute", 15, (tokens, "48")), ("Linear", 10, (tokens, "144")),
                     ("view", 17, (tokens, "3", "4", "12")), ("Linear", 11, (tokens, "8")),
                     ("permute", 19, ("48", tokens)), ("view", 19, ("48", "⌊H/16⌋", "⌊W/16⌋"))]


def test_a_list_annotated_for_torchscript_is_the_list():
    """`torch.jit.annotate(List[torch.Tensor], [])` is `[]` when the model runs as Python (torch
    2.13: the cat of the two heads' (N, 4) outputs is (N, 8))."""
    source = """
        from typing import List

        import torch
        import torch.nn as nn


        # convlint: input=6
        class Heads(nn.Module):
            def __init__(self):
                super().__init__()
                self.heads = nn.ModuleList([nn.Linear(6, 4), nn.Linear(6, 4)])

            def forward(self, x):
                outs = torch.jit.annotate(List[torch.Tensor], [])
                for head in self.heads:
                    outs.append(head(x))
                return torch.cat(outs, dim=1)
    """
    assert steps_of(source, "Heads") == [("Linear", 12, (4,)), ("Linear", 12, (4,)), ("cat", 18, (8,))]


TWO_INPUT_HEAD = '''
import torch.nn as nn


class Head(nn.Module):
    def __init__(self):
        super().__init__()
        self.reduce = nn.Conv2d(8, 16, 1)
        self.out = nn.Conv2d(WIDTH, 4, 1)

    def forward(self, features, mask):
        return self.out(self.reduce(features)) * mask


class Detector(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = nn.Conv2d(3, 8, 3)
        self.head = Head()

    def forward(self, x):
        return self.backbone(x)
'''


def test_a_sub_module_nothing_called_is_run_with_a_tensor_for_each_parameter():
    """Detector's forward never calls its head, whose forward takes two tensors: run on its own, it
    is given an unknown tensor for each (torch, for any features and mask of matching sizes: the
    broken head raises "expected input[1, 16, 5, 5] to have 32 channels, but got 16 channels instead")."""
    analysis = analyze_source(TWO_INPUT_HEAD.replace("WIDTH", "16"), "detector.py")
    head = next(m for m in analysis.models if m.name == "Detector.head")
    assert [(s.kind, s.out_shape) for s in head.steps if s.kind == "Conv2d"] == [
        ("Conv2d", (16, var("H"), var("W"))), ("Conv2d", (4, var("H"), var("W")))]
    assert analysis.findings == []
    findings = [(f.line, f.message) for f in analyze_source(TWO_INPUT_HEAD.replace("WIDTH", "32"), "detector.py").findings]
    assert findings == [(9, "Conv2d expects 32 input channels but receives 16 (out_channels of the Conv2d on line 8)")]
