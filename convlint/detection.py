"""The shapes of torchvision's detection plumbing, as torch computes them: the transform that turns
a detector's images into one padded batch (GeneralizedRCNNTransform), and the RoI pooling that
turns feature maps and boxes into one fixed-size map per box (MultiScaleRoIAlign). Pure functions
of sizes; propagation runs them as ops (extract/detection.py emits them)."""

from __future__ import annotations

import math
from typing import Any

Shape = tuple


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _broadcast(sizes: list[int | None]) -> int | None | bool:
    """The size broadcasting gives one axis of these sizes (None: unknown); False when torch raises.
    An unknown size next to a known one above 1 gives that one: any other would raise."""
    known = {s for s in sizes if s is not None and s != 1}
    if len(known) > 1:
        return False
    if known:
        return known.pop()
    return None if None in sizes else 1


def transformed_channels(channels: int | None, mean: int | None, std: int | None) -> int | None | bool:
    """The channels of `(image - mean[:, None, None]) / std[:, None, None]` (GeneralizedRCNNTransform's
    normalize) for an image of `channels`, a mean and a std of those lengths; False: torch raises."""
    if mean is None or std is None:
        return None
    return _broadcast([channels, mean, std])


def resized_size(height: Any, width: Any, min_size: int, max_size: int) -> tuple[int, int] | None:
    """The (height, width) torchvision's `_resize_image_and_masks` gives an image: scaled by
    min(min_size / shorter side, max_size / longer side), each side `interpolate` with
    recompute_scale_factor truncating side * scale, in Python floats as torch does."""
    h, w = _count(height), _count(width)
    if h is None or w is None or h <= 0 or w <= 0:
        return None
    scale = min(min_size / min(h, w), max_size / max(h, w))
    return int(h * scale), int(w * scale)


def padded(size: int | None, divisible: int) -> int | None:
    """batch_images' padding of one side up to a multiple of size_divisible (its float arithmetic)."""
    if size is None:
        return None
    stride = float(divisible)
    return int(math.ceil(float(size) / stride) * stride)


def rcnn_transform_shape(args: dict, shape: Shape | None) -> Shape | None | bool:
    """The batch GeneralizedRCNNTransform makes of images of `shape` (C, H, W each; None: unknown):
    normalized, resized (to `fixed_size` (w, h) when given, else by min_size / max_size; in
    training mode by a random choice of min_size), padded to multiples of size_divisible. The
    channels are known even when the image's are not when mean or std has more than one entry.
    False: torch raises (an image that is not 3-d, channels that do not broadcast)."""
    if shape is not None and len(shape) != 3:
        return False  # "images is expected to be a list of 3d tensors of shape [C, H, W]"
    channels = transformed_channels(shape[0] if shape is not None else None, args.get("mean"), args.get("std"))
    if channels is False:
        return False
    size = None
    fixed, divisible = args.get("fixed_size"), _count(args.get("size_divisible"))
    if isinstance(fixed, tuple) and len(fixed) == 2 and all(_count(v) for v in fixed):
        size = (fixed[1], fixed[0])
    elif args.get("training") is True and args.get("skip_resize") is True:
        size = tuple(shape[1:]) if shape is not None else None
    elif fixed is None and shape is not None:
        choices, top = args.get("min_size"), _count(args.get("max_size"))
        if isinstance(choices, tuple) and choices and all(_count(v) for v in choices) and top is not None \
                and (args.get("training") is False or len(choices) == 1):
            size = resized_size(shape[1], shape[2], choices[-1], top)
    if size is None or divisible is None or divisible <= 0:
        return (channels, None, None)
    return (channels, *(padded(_count(s), divisible) for s in size))


def roi_pool_shape(output_size: Any, levels: list[Shape | None]) -> Shape | None:
    """One map per box that MultiScaleRoIAlign pools from feature maps of these shapes (C, H, W
    each): (C of the first level, *output_size); the box count, data, is the batch."""
    if not levels or levels[0] is None or len(levels[0]) != 3 or not isinstance(output_size, tuple) \
            or len(output_size) != 2 or not all(_count(v) for v in output_size):
        return None
    return (levels[0][0], *output_size)
