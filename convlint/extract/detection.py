"""torchvision's detection plumbing, for the forwards whose code works on lists of images and boxes
of data-dependent length (which the interpreter does not unroll): what each does to the shapes of
the tensors the model runs on, as ops of propagation (convlint.detection has their rules). Each is
one entry of FORWARDS, keyed by the qualified name of the class whose forward it replaces."""

from __future__ import annotations

from typing import Any

from ..sizes import UNKNOWN
from .values import ClassInfo, DictVal, Instance, Lazy, ListVal, Tensor, is_tensor


def _ints(value: Any) -> tuple | None:
    """An int or a tuple or list of ints, as a tuple (None: not that)."""
    items = (value,) if isinstance(value, int) and not isinstance(value, bool) else \
        tuple(value.items) if isinstance(value, ListVal) and not value.lost else value
    if isinstance(items, tuple) and all(isinstance(v, int) and not isinstance(v, bool) for v in items):
        return items
    return None


def _length(value: Any) -> int | None:
    if isinstance(value, ListVal) and not value.lost:
        return len(value.items)
    return len(value) if isinstance(value, tuple) else None


def _bound(args: list, kwargs: dict, names: tuple) -> dict | None:
    """The arguments of a forward by parameter name (after self); None: they do not bind."""
    if len(args) > len(names) or set(kwargs) - set(names) or set(kwargs) & set(names[:len(args)]):
        return None
    return {**dict(zip(names, args)), **kwargs}


def _global(interp, cls: ClassInfo, name: str) -> Any:
    """A global of the module that defines `cls` (the classes its forward makes; a sliced module
    runs what binds it first)."""
    globals_ = cls.env
    while globals_.parent is not None:
        globals_ = globals_.parent
    value = interp.module_attr(globals_, name, cls.foreign) if cls.foreign else globals_.get(name)
    return interp.resolve(value) if type(value) is Lazy else value


def rcnn_transform(interp, module: Instance, args: list, kwargs: dict, node) -> Any:
    """GeneralizedRCNNTransform.forward(images, targets=None): a batch of the images (the model's
    tensor: each of its rows an image) normalized, resized and padded, as an ImageList of unknown
    image sizes, and the targets (None)."""
    bound = _bound(args, kwargs, ("images", "targets"))
    if bound is None or not is_tensor(bound.get("images")) or bound.get("targets") is not None:
        return interp.unknown_result(args, kwargs, node)
    attrs = module.attrs
    fixed = _ints(attrs.get("fixed_size"))
    batched = interp.emit("rcnn_transform", (bound["images"].value,), node,
                          mean=_length(attrs.get("image_mean")), std=_length(attrs.get("image_std")),
                          min_size=_ints(attrs.get("min_size")), max_size=attrs.get("max_size"),
                          size_divisible=attrs.get("size_divisible"),
                          fixed_size=fixed if fixed is not None else attrs.get("fixed_size", UNKNOWN),
                          training=interp.mode, skip_resize=attrs.get("_skip_resize"))
    image_list = _global(interp, module.cls, "ImageList")
    if not isinstance(batched, Tensor) or not isinstance(image_list, ClassInfo):
        return UNKNOWN
    return interp.instantiate(image_list, [batched, UNKNOWN], {}, node), None


def multiscale_roi_align(interp, module: Instance, args: list, kwargs: dict, node) -> Any:
    """MultiScaleRoIAlign.forward(x, boxes, image_shapes): the feature maps of x that featmap_names
    names, in x's order, pooled to output_size per box (the boxes are data: their count is the batch)."""
    bound = _bound(args, kwargs, ("x", "boxes", "image_shapes"))
    features = None if bound is None else bound.get("x")
    names = module.attrs.get("featmap_names")
    names = tuple(names.items) if isinstance(names, ListVal) and not names.lost else names
    if not isinstance(features, DictVal) or features.lost or features.maybe or not isinstance(names, tuple) \
            or not all(isinstance(k, str) for k in (*features.keys, *names)):
        return interp.unknown_result(args, kwargs, node)
    levels = [v for k, v in zip(features.keys, features.values) if k in names]
    if not levels or not all(is_tensor(v) for v in levels):
        return interp.unknown_result(args, kwargs, node)
    return interp.emit("roi_pool", tuple(v.value for v in levels), node, output_size=_ints(module.attrs.get("output_size")))


FORWARDS = {
    "torchvision.models.detection.transform.GeneralizedRCNNTransform": rcnn_transform,
    "torchvision.ops.poolers.MultiScaleRoIAlign": multiscale_roi_align,
}
