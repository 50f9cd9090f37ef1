"""The rule registry: one module per check, each with CODE, NAME, SEVERITY, a documented
docstring (what, why, a bad and a good example) and `check(ctx)` yielding (node, message).

Codes that no check module emits (syntax errors, unreadable files, crashes) are listed in
`convlint.rules` with their documentation too.
"""

from __future__ import annotations

from . import (  # design advice (info)
    capacity_drop,
    channel_mismatch,
    dropped_pixels,
    invalid_layer_config,
    misplaced_flatten,
    redundant_bias,
    shape_mismatch,
    spatial_collapse,
    symbolic_dropped_pixels,
    wasted_computation,
)

CHECKS = (
    channel_mismatch,
    dropped_pixels,
    misplaced_flatten,
    spatial_collapse,
    invalid_layer_config,
    shape_mismatch,
    wasted_computation,
    redundant_bias,
    capacity_drop,
    symbolic_dropped_pixels,
)
