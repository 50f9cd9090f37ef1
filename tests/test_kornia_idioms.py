"""Idioms of kornia's models (issue 15), each in a model of our own written in its style. Every
expected number was checked once with torch 2.13 (each model built and run on zeros of the input
shown, its parameters summed; the broken ones raise where the finding says)."""

from __future__ import annotations

from convlint.engine import lint_source
from convlint.summary.tables import summarize_source

NAMED_TUPLE_CONFIG = """
from typing import NamedTuple, Type
import torch.nn as nn


class StackConfig(NamedTuple):
    width: int
    depth: int
    head: Type[nn.Module]
    expansion: int = 2


class Stack(nn.Module):
    def __init__(self, width: int = 16, expansion: int = 2):
        super().__init__()
        cfg = StackConfig(width, 2, head=nn.Identity, expansion=expansion)
        self.stem = nn.Conv2d(3, cfg.width, 3, padding=1)
        self.body = nn.Sequential(*[nn.Conv2d(cfg.width, cfg.width, 3, padding=1) for _ in range(cfg.depth)])
        self.expand = nn.Conv2d(cfg.width, cfg.width * cfg.expansion, 1)
        self.out = nn.Conv2d(32, 8, 1)
        self.head = cfg.head()

    def forward(self, x):
        return self.head(self.out(self.expand(self.body(self.stem(x)))))


def wide_stack():
    return Stack(expansion=4)
"""


def test_a_typing_named_tuple_config_gives_its_fields():
    # torch: Stack() holds 5,896 parameters and maps (1, 3, 32, 32) to (1, 8, 32, 32); wide_stack()
    # raises "weight of size [8, 32, 1, 1], expected input[1, 64, 32, 32] to have 32 channels, but
    # got 64 channels instead" (its expansion, a keyword of the tuple, is 4)
    model = summarize_source(NAMED_TUPLE_CONFIG, "x.py", input_shape=(3, 32, 32), model_name="Stack")[0]
    assert (model.params, model.output_shape) == (5_896, (8, 32, 32))
    findings = [(f.span.line, f.code, f.message) for f in lint_source(NAMED_TUPLE_CONFIG, "x.py", input_shape=(3, 32, 32))]
    assert findings == [(20, "CL001", "Conv2d expects 32 input channels but receives 64 "
                                      "(out_channels of the Conv2d on line 19)")]


DOCTESTED = '''import torch
import torch.nn as nn


class Upscaler(nn.Module):
    """Doubles an image.

    Example:
        >>> import torch
        >>> net = Upscaler(
        ...     in_ch=3, feat=8)
        >>> net(torch.rand(1, 3, 8, 8)).shape
        torch.Size([1, 3, 16, 16])
    """

    def __init__(self, in_ch: int, feat: int = 64) -> None:
        super().__init__()
        self.head = nn.Conv2d(in_ch, feat, 3, padding=1)
        self.body = nn.Conv2d(feat, feat * 4, 3, padding=1)
        self.shuffle = nn.PixelShuffle(2)
        self.tail = nn.Conv2d(feat, in_ch, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.tail(self.shuffle(self.body(self.head(x))))


class FixedTail(Upscaler):
    """Its tail assumes the default width.

    Example:
        >>> net = FixedTail(1, feat=8)
    """

    def __init__(self, in_ch: int, feat: int = 64) -> None:
        super().__init__(in_ch, feat)
        self.tail = nn.Conv2d(64, in_ch, 3, padding=1)


class Undocumented(FixedTail):
    def __init__(self, in_ch: int, feat: int = 8) -> None:
        super().__init__(in_ch, feat)
'''


def test_a_class_that_needs_arguments_is_built_as_its_docstring_example_builds_it():
    # torch: Upscaler(in_ch=3, feat=8) holds 2,779 parameters and maps (1, 3, 8, 8) to (1, 3, 16, 16)
    model = summarize_source(DOCTESTED, "x.py", model_name="Upscaler")[0]
    assert model.params == 2_779
    assert model.rows[-1].layer == "nn.Conv2d(feat, in_ch, 3, padding=1)"
    assert model.rows[-1].params["total"] == 219  # Conv2d(8, 3, 3): the example's widths


def test_a_docstring_example_that_breaks_is_reported_and_another_class_s_is_not_borrowed():
    # torch: FixedTail(1, feat=8) on (1, 1, 8, 8) raises "weight of size [1, 64, 3, 3], expected
    # input[1, 8, 16, 16] to have 64 channels, but got 8 channels instead"; Undocumented, whose
    # docstring has no example, stays at its defaults (in_ch unknown): nothing is said of it
    findings = [(f.span.line, f.code, f.message) for f in lint_source(DOCTESTED, "x.py")]
    assert findings == [(36, "CL001", "Conv2d expects 64 input channels but receives 8 "
                                      "(the output of the PixelShuffle on line 20)")]
    assert summarize_source(DOCTESTED, "x.py", model_name="Undocumented")[0].params is None


UNFLATTENED = '''import torch
import torch.nn as nn


class Tokens(nn.Module):
    def __init__(self, dim: int = 32, grid: int = 8):
        super().__init__()
        self.grid = (grid, grid)
        self.embed = nn.Conv2d(3, dim, 4, stride=4)
        self.norm = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Conv2d(dim, 16, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = self.norm(self.embed(x).flatten(2).transpose(1, 2))
        q, k, v = self.qkv(t).unflatten(-1, (3, 2, -1)).unbind(2)
        return self.proj((t + v.flatten(2)).transpose(1, 2).unflatten(2, self.grid))


class WrongGrid(Tokens):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = self.norm(self.embed(x).flatten(2).transpose(1, 2))
        return self.proj(t.transpose(1, 2).unflatten(2, (4, 4)))
'''


def test_a_tensor_s_unflatten_method_splits_one_axis():
    # torch: Tokens() holds 5,328 parameters and maps (1, 3, 32, 32) to (1, 16, 8, 8) (its qkv
    # unflattened to (64, 3, 2, 16), its tokens back to an 8x8 grid); WrongGrid's raises
    # "unflatten: Provided sizes [4, 4] don't multiply up to the size of dim 2 (64) in the input tensor"
    model = summarize_source(UNFLATTENED, "x.py", input_shape=(3, 32, 32), model_name="Tokens")[0]
    assert (model.params, model.output_shape) == (5_328, (16, 8, 8))
    assert [r.output_shape for r in model.rows if r.layer.startswith("self.qkv(t).unflatten")][0] == (64, 3, 2, 16)
    findings = [(f.span.line, f.code, f.message) for f in lint_source(UNFLATTENED, "x.py", input_shape=(3, 32, 32))]
    assert findings == [(23, "CL006", "Unflatten: sizes (4, 4) don't multiply up to the size of dim 2 (64)")]


HEADS_IN_THE_BATCH = '''import torch
import torch.nn as nn


class WindowAttention(nn.Module):
    def __init__(self, dim: int = 32, heads: int = 4):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, 16)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, H, W, _ = x.shape
        qkv = self.qkv(x).reshape(B, H * W, 3, self.heads, -1).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.reshape(3, B * self.heads, H * W, -1).unbind(0)
        attn = (q * 0.125) @ k.transpose(-2, -1)
        x = (attn.softmax(dim=-1) @ v).view(B, self.heads, H, W, -1).permute(0, 2, 3, 1, 4).reshape(B, H, W, -1)
        return self.proj(x)


class WrongWidth(WindowAttention):
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(8, 16)
'''


def test_a_view_of_a_tensor_whose_batch_moved_folds_the_heads_into_it():
    # sam's attention: torch maps (2, 7, 7, 32) to (2, 7, 7, 16) with 3,696 parameters; q, k and v
    # are (8, 49, 8): the 4 heads folded into the batch of 2. WrongWidth's proj raises "mat1 and
    # mat2 shapes cannot be multiplied (98x32 and 8x16)"
    model = summarize_source(HEADS_IN_THE_BATCH, "x.py", input_shape=(7, 7, 32), model_name="WindowAttention")[0]
    assert (model.params, model.output_shape) == (3_696, (7, 7, 16))
    assert [r.output_shape for r in model.rows if r.layer.startswith("(q * 0.125) @")] == [(49, 49)]
    findings = [(f.span.line, f.code, f.message) for f in lint_source(HEADS_IN_THE_BATCH, "x.py", input_shape=(7, 7, 32))]
    # the reshape keeps (H, W, ·), known even where its -1 is not: no flatten, so no input size is searched
    assert findings == [(24, "CL001", "Linear expects 8 input features but receives 32 (the output of the reshape "
                                      "on line 17)")]


EARLY_RETURN = '''import torch
import torch.nn as nn


class ChannelNorm(nn.Module):
    def __init__(self, num_channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(num_channels))
        self.bias = nn.Parameter(torch.zeros(num_channels))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dtype in (torch.float16, torch.bfloat16):
            return self._normalize(x.float(), self.weight.float(), self.bias.float()).to(x.dtype)
        return self._normalize(x, self.weight, self.bias)

    def _normalize(self, x, weight, bias):
        u = x.mean(1, keepdim=True)
        s = (x - u).pow(2).mean(1, keepdim=True)
        return weight[:, None, None] * (x - u) / (s + self.eps).sqrt() + bias[:, None, None]


class Neck(nn.Module):
    def __init__(self, width: int = 8):
        super().__init__()
        self.neck = nn.Sequential(nn.Conv2d(3, 8, 1), ChannelNorm(8), nn.Conv2d(width, 4, 3, padding=1))

    def forward(self, x):
        return self.neck(x)


def wide_neck():
    return Neck(width=16)
'''


def test_an_early_return_under_an_uncertain_branch_keeps_both_returns():
    # kornia's LayerNorm2d: `if x.dtype in (torch.float16, ...): return ...` before the common return.
    # torch: Neck() holds 340 parameters and maps (1, 3, 8, 8) to (1, 4, 8, 8); wide_neck() raises
    # "weight of size [4, 16, 3, 3], expected input[1, 8, 8, 8] to have 16 channels, but got 8"
    model = summarize_source(EARLY_RETURN, "x.py", input_shape=(3, 8, 8), model_name="Neck")[0]
    assert (model.params, model.output_shape) == (340, (4, 8, 8))
    findings = [(f.span.line, f.code, f.message) for f in lint_source(EARLY_RETURN, "x.py", input_shape=(3, 8, 8))]
    assert findings == [(26, "CL001", "Conv2d expects 16 input channels but receives 8 "
                                      "(out_channels of the Conv2d on line 26)")]


PATCHES = '''import torch
import torch.nn as nn


class PatchAttention(nn.Module):
    def __init__(self, dim: int = 16, heads: int = 2, out: int = 16) -> None:
        super().__init__()
        self.heads = heads
        self.ph = self.pw = 2
        self.to_qkv = nn.Linear(dim, dim * 3, bias=False)
        self.to_out = nn.Linear(dim, dim)
        self.fuse = nn.Conv2d(out, 8, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, d, h, w = x.shape
        nh, nw = h // self.ph, w // self.pw
        x = x.reshape(b * d * nh, self.ph, nw, self.pw).transpose(1, 2)
        x = x.reshape(b, d, nh * nw, self.ph * self.pw).transpose(1, 3)
        qkv = self.to_qkv(x).chunk(3, dim=-1)
        _, p, n, hd = qkv[0].shape
        q, k, v = (t.reshape(b, p, n, self.heads, hd // self.heads).transpose(2, 3) for t in qkv)
        out = torch.matmul(torch.matmul(q, k.transpose(-1, -2)).softmax(dim=-1), v)
        x = self.to_out(out.transpose(2, 3).reshape(b, p, n, hd))
        x = x.transpose(1, 3).reshape(b * d * nh, nw, self.ph, self.pw).transpose(1, 2)
        return self.fuse(x.reshape(b, d, h, w))


def wide_patches():
    return PatchAttention(out=32)
'''


def test_patches_folded_into_the_batch_by_a_product_and_a_chunk_unpacked_from_a_generator():
    # mobilevit's block: `reshape(b * d * nh, ph, nw, pw)` folds d·nh rows per sample into the batch,
    # `q, k, v = (t.reshape(...) for t in qkv)` unpacks the chunks. torch: PatchAttention() holds
    # 1,176 parameters and maps (1, 16, 8, 8) to (1, 8, 8, 8); wide_patches() raises "weight of size
    # [8, 32, 1, 1], expected input[1, 16, 8, 8] to have 32 channels, but got 16 channels instead"
    model = summarize_source(PATCHES, "x.py", input_shape=(16, 8, 8), model_name="PatchAttention")[0]
    assert (model.params, model.output_shape) == (1_176, (8, 8, 8))
    assert model.rows[0].output_shape == (2, 4, 2)  # 16·4 rows of each sample
    findings = [(f.span.line, f.code, f.message) for f in lint_source(PATCHES, "x.py", input_shape=(16, 8, 8))]
    assert findings == [(12, "CL001", "Conv2d expects 32 input channels but receives 16 "
                                      "(the output of the reshape on line 25)")]
