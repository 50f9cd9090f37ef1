"""convlint: a static architecture linter for PyTorch convolutional networks."""

__version__ = "0.1.0"
