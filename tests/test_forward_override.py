"""A forward chosen in __init__: `self.forward = self.forward_split_cat` (timm's fasternet picks
its partial convolution's forward so) is the forward a call runs. Checked with torch 2.13 (CPU):
Block()(torch.zeros(1, 32, 8, 8)) with mlp = Conv2d(30, 32, 1) raises "expected input[1, 32, 8, 8]
to have 30 channels, but got 32 channels instead"; with Conv2d(32, 32, 1) it runs."""

from convlint.engine import lint_source

SOURCE = """\
import torch
import torch.nn as nn


class PartialConv(nn.Module):
    def __init__(self, dim, n_div, mode="split_cat"):
        super().__init__()
        self.dim_conv = dim // n_div
        self.dim_untouched = dim - self.dim_conv
        self.conv = nn.Conv2d(self.dim_conv, self.dim_conv, 3, 1, 1, bias=False)
        if mode == "slicing":
            self.forward = self.forward_slicing
        elif mode == "split_cat":
            self.forward = self.forward_split_cat
        else:
            raise NotImplementedError

    def forward_slicing(self, x):
        x = x.clone()
        x[:, :self.dim_conv] = self.conv(x[:, :self.dim_conv])
        return x

    def forward_split_cat(self, x):
        x1, x2 = torch.split(x, [self.dim_conv, self.dim_untouched], dim=1)
        return torch.cat((self.conv(x1), x2), 1)


class Block(nn.Module):
    def __init__(self, dim=32):
        super().__init__()
        self.mixing = PartialConv(dim, 4)
        self.mlp = nn.Conv2d({mlp_in}, dim, 1)

    def forward(self, x):
        return x + self.mlp(self.mixing(x))
"""


def test_the_forward_assigned_in_init_is_the_one_run():
    findings = lint_source(SOURCE.format(mlp_in=30), "partial.py", input_shape=(32, 8, 8))
    assert [(f.span.line, f.code, f.message) for f in findings] == [
        (32, "CL001", "Conv2d expects 30 input channels but receives 32 (the output of the torch.cat on line 25)")]
    assert lint_source(SOURCE.format(mlp_in=32), "partial.py", input_shape=(32, 8, 8)) == []
