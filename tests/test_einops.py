"""einops' rearrange and Rearrange (extract/einops.py), monai's optional_import of them, and a first
layer whose own input count is unknown. Every shape and error was checked once with torch 2.13 and
einops 0.8.2 (fixtures/einops_blocks.py: each model called on torch.zeros of its declared input)."""

from __future__ import annotations

from pathlib import Path

import pytest

from convlint.engine import lint_source
from convlint.extract.einops import parse_pattern, parse_side
from convlint.summary.tables import summarize_source

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "fixtures" / "einops_blocks.py"
ZOO = ROOT / "fixtures" / "zoo"


def outputs(path: Path, source: bytes | None = None) -> dict:
    source = path.read_bytes() if source is None else source
    return {s.name: s.output_shape for s in summarize_source(source, str(path)) if "." not in s.name}


def test_a_side_of_a_pattern_is_its_entries():
    assert parse_side("b c (h p1) (w p2)") == [("b",), ("c",), ("h", "p1"), ("w", "p2")]
    assert parse_side("b () h 1 ...") == [("b",), (), ("h",), (), ("...",)]
    # what einops' rearrange rejects, or this reading does not follow, is None
    for text in ("b (h (w))", "b h h", "b (h", "b h)", "b 2 h", "b (... c)"):
        assert parse_side(text) is None
    assert parse_pattern("b h w -> b (h w)") == ([("b",), ("h",), ("w",)], [("b",), ("h", "w")])
    for pattern in ("b h -> b h w", "b h w -> b h", "b h", "b -> b -> b", 3):
        assert parse_pattern(pattern) is None


def test_the_rearranged_shapes_are_torchs():
    # torch + einops: (2, 16, 64), (2, 96, 8, 8), (2, 1, 2) from the declared inputs with a batch of 2
    found = outputs(FIXTURE)
    assert found["HeadsAttention"] == (16, 64)
    assert found["PatchTokens"] == (96, 8, 8)
    assert found["ChannelsLast"] == (1, 2)
    assert found["NarrowPatchTokens"] == (64, 96)  # the Linear's output, as torch would give after the fix
    assert found["UnfollowedPatterns"] is None  # the batch split: unknown


def test_a_linear_after_a_rearrange_is_checked_against_the_features_it_makes():
    # torch: "mat1 and mat2 shapes cannot be multiplied (64x48 and 16x96)"; UnfollowedPatterns raises
    # too, but after a pattern this reading does not follow: nothing is said there
    findings = [(f.span.line, f.code, f.message) for f in lint_source(FIXTURE.read_bytes(), str(FIXTURE))]
    assert findings == [(48, "CL001", "Linear expects 16 input features but receives 48 "
                                      "(the output of the Rearrange on line 48)")]


@pytest.mark.parametrize("pattern, axes, shape", [
    # torch + einops on (2, 6, 4, 10): each shape without the batch
    ("b c h w -> b (c h w)", "", (240,)),
    ("b c h w -> b w h c", "", (10, 4, 6)),
    ("b (g c) h w -> b g c h w", ", g=3", (3, 2, 4, 10)),
    ("b c h (w p) -> b (c p) h w", ", p=5", (30, 4, 2)),
    ("b c h w -> b c () h w 1", "", (6, 1, 4, 10, 1)),
    ("b ... w -> b w ...", "", (10, 6, 4)),
    ("b c h w -> (b h) c w", "", (6, 10)),  # 4 rows per sample folded into the batch
])
def test_patterns_on_a_declared_input(pattern, axes, shape):
    source = f"""import torch.nn as nn
from einops import rearrange


# convlint: input=6x4x10
class Net(nn.Module):
    def forward(self, x):
        return rearrange(nn.Identity()(x), "{pattern}"{axes})
"""
    assert outputs(Path("net.py"), source.encode())["Net"] == shape


@pytest.mark.parametrize("pattern, axes", [
    ("b (g c) h w -> b g c h w", ""),  # two sizes of one group unknown: einops raises
    ("b c h w -> b c h", ""),  # a name on one side only
    ("b c h -> b c h", ""),  # three axes for a tensor of four
    ("b c h w -> c (b h) w", ""),  # the batch merged behind another axis: not followed
    ("b c h w -> b c h w", ", c=0"),
])
def test_what_einops_rejects_or_is_not_followed_is_unknown(pattern, axes):
    source = f"""import torch.nn as nn
from einops import rearrange


# convlint: input=6x4x10
class Net(nn.Module):
    def forward(self, x):
        return rearrange(nn.Identity()(x), "{pattern}"{axes})
"""
    assert outputs(Path("net.py"), source.encode())["Net"] is None
    assert lint_source(source, "net.py") == []


def test_monai_optional_import_gives_the_einops_layer():
    # fixtures/zoo/monai/networks/blocks/tokens.py: `Rearrange, _ = optional_import("einops.layers.torch",
    # name="Rearrange")`; torch + einops: TokenMixer()(torch.zeros(1, 4, 8, 8)) is (1, 64, 16); the
    # broken one raises "mat1 and mat2 shapes cannot be multiplied (64x4 and 8x16)"
    path = ZOO / "monai" / "networks" / "blocks" / "tokens.py"
    found = {s.name: s.output_shape for s in summarize_source(path.read_bytes(), str(path))}
    assert found["TokenMixer"] == (64, 16)
    findings = [(f.span.line, f.code) for f in lint_source(path.read_bytes(), str(path))]
    assert findings == [(29, "CL001")]


UNKNOWN_IN = """import torch.nn as nn


class Net(nn.Module):
    def __init__(self, in_channels, width=16):
        super().__init__()
        self.stem = nn.Conv2d(in_channels, width, 3)
        self.body = nn.Conv2d(WIDTH, 8, 3)

    def forward(self, x):
        return self.body(self.stem(x))
"""


def test_a_first_layer_whose_own_count_is_unknown_still_gives_its_output_channels():
    # Net() cannot be built (in_channels is required); built from its defaults, the stem's input
    # count is unknown but its output's is 16, which the body receives: torch, for any in_channels,
    # raises "expected input[1, 16, 6, 6] to have 32 channels" for the broken one
    assert lint_source(UNKNOWN_IN.replace("WIDTH", "16"), "net.py") == []
    findings = [(f.span.line, f.code, f.message) for f in lint_source(UNKNOWN_IN.replace("WIDTH", "32"), "net.py")]
    assert findings == [(8, "CL001", "Conv2d expects 32 input channels but receives 16 "
                                     "(out_channels of the Conv2d on line 7)")]
