"""The exact shape rule, argument binding, argument checks and parameter count of
each supported ``torch.nn`` layer, without importing torch.

Shapes exclude the batch dimension: a Conv2d input is ``(C, H, W)``.  Each entry
is an int, a ``Sym`` or None (unknown); a whole shape may be None (unknown rank).
Inputs are assumed batched: a layer whose batched input would have the batch in
a non-batch role (a 2-d ``(H, W)`` into Conv2d, which torch would read as an
unbatched ``(C, H, W)``) is a rank error.  Dimension arguments (Flatten's
``start_dim``, Softmax's ``dim``...) index the batched tensor, as in torch.
"""

from __future__ import annotations

from dataclasses import replace

from ..sizes import UNKNOWN
from .base import REQUIRED, AnyDims, LayerSpec, LazyRule, Rule, ShapeError, Unranked, Window, at_least
from .shapes import (
    GLU, Attention, ChannelShuffle, Dense, Elementwise, Flatten, GroupNorm, LayerNorm, Norm, Pad, PixelShuffle, Unflatten,
    Squeeze, Unfold, Unsqueeze, Upsample,
)
from .windows import AdaptivePool, ColumnFold, ColumnUnfold, Conv, Pool, dropped, skips_by_design

__all__ = [
    "REQUIRED",
    "LayerSpec",
    "LAYERS",
    "FOREIGN_LAYERS",
    "ANY_DIMS",
    "ANY_DIMS_KINDS",
    "Unranked",
    "unranked_output",
    "ShapeError",
    "Window",
    "bind",
    "output_shape",
    "config_errors",
    "check_operands",
    "windows",
    "parameter_count",
    "FUNCTIONAL",
    "bind_functional",
    "METHODS",
    "bind_method",
    "dropped",
    "skips_by_design",
    "FORWARD_READ",
    "is_convolution",
]

# --------------------------------------------------------------------------- the table

R = REQUIRED
_DEVICE = (("device", None), ("dtype", None))
_INPLACE = (("inplace", False),)
_RULES: dict = {}


def _add(rule: Rule) -> None:
    _RULES[rule.name] = rule


for _n in (1, 2, 3):
    _add(Conv(f"Conv{_n}d", (("in_channels", R), ("out_channels", R), ("kernel_size", R), ("stride", 1),
                              ("padding", 0), ("dilation", 1), ("groups", 1), ("bias", True),
                              ("padding_mode", "zeros"), *_DEVICE), _n, transposed=False))
    _add(Conv(f"ConvTranspose{_n}d", (("in_channels", R), ("out_channels", R), ("kernel_size", R), ("stride", 1),
                                       ("padding", 0), ("output_padding", 0), ("groups", 1), ("bias", True),
                                       ("dilation", 1), ("padding_mode", "zeros"), *_DEVICE), _n, transposed=True))
    _add(Pool(f"MaxPool{_n}d", (("kernel_size", R), ("stride", None), ("padding", 0), ("dilation", 1),
                                 ("return_indices", False), ("ceil_mode", False)), _n, "max"))
    _avg = (("kernel_size", R), ("stride", None), ("padding", 0), ("ceil_mode", False), ("count_include_pad", True))
    _add(Pool(f"AvgPool{_n}d", _avg + ((("divisor_override", None),) if _n > 1 else ()), _n, "avg"))
    _add(Pool(f"LPPool{_n}d", (("norm_type", R), ("kernel_size", R), ("stride", None), ("ceil_mode", False)),
               _n, "lp"))
    _add(AdaptivePool(f"AdaptiveAvgPool{_n}d", (("output_size", R),), _n))
    _add(AdaptivePool(f"AdaptiveMaxPool{_n}d", (("output_size", R), ("return_indices", False)), _n))
    _norm = (("num_features", R), ("eps", 1e-5), ("momentum", 0.1))
    _add(Norm(f"BatchNorm{_n}d", _norm + (("affine", True), ("track_running_stats", True), *_DEVICE, ("bias", True)),
               rank={1: (1, 2), 2: (3,), 3: (4,)}[_n], keyword_only=("bias",)))
    _add(Norm(f"InstanceNorm{_n}d", _norm + (("affine", False), ("track_running_stats", False), *_DEVICE,
                                              ("bias", True)), rank=(_n + 1,), keyword_only=("bias",)))
    # torch: Dropout2d (training) rejects an input with nothing but the batch, Dropout3d unsqueezes it and runs
    _add(Elementwise(f"Dropout{_n}d", (("p", 0.5), *_INPLACE), rank=(2,) if _n == 1 else None,
                     min_rank=1 if _n == 2 else 0))
    _pad_kinds = (("ZeroPad", "constant", ()), ("ConstantPad", "constant", (("value", R),)),
                  ("ReflectionPad", "reflect", ()), ("ReplicationPad", "replicate", ()),
                  ("CircularPad", "circular", ()))
    for _prefix, _mode, _extra in _pad_kinds:
        _add(Pad(f"{_prefix}{_n}d", (("padding", R), *_extra), _n, _mode))

_add(GroupNorm("GroupNorm", (("num_groups", R), ("num_channels", R), ("eps", 1e-5), ("affine", True), *_DEVICE,
                              ("bias", True)), keyword_only=("bias",)))
_add(LayerNorm("LayerNorm", (("normalized_shape", R), ("eps", 1e-5), ("elementwise_affine", True), ("bias", True),
                              *_DEVICE)))
_add(LayerNorm("RMSNorm", (("normalized_shape", R), ("eps", None), ("elementwise_affine", True), *_DEVICE)))
_add(Elementwise("LocalResponseNorm", (("size", R), ("alpha", 1e-4), ("beta", 0.75), ("k", 1.0)),
                  rank=at_least(2)))

for _name, _params in {
    "Dropout": (("p", 0.5), *_INPLACE),
    "AlphaDropout": (("p", 0.5), *_INPLACE),
    "FeatureAlphaDropout": (("p", 0.5), *_INPLACE),
    "ReLU": _INPLACE, "ReLU6": _INPLACE, "SELU": _INPLACE, "SiLU": _INPLACE, "Mish": _INPLACE,
    "Hardswish": _INPLACE, "Hardsigmoid": _INPLACE,
    "LeakyReLU": (("negative_slope", 0.01), *_INPLACE),
    "ELU": (("alpha", 1.0), *_INPLACE),
    "CELU": (("alpha", 1.0), *_INPLACE),
    "GELU": (("approximate", "none"),),
    "Sigmoid": (), "Tanh": (), "Softsign": (), "Tanhshrink": (), "LogSigmoid": (),
    "Hardtanh": (("min_val", -1.0), ("max_val", 1.0), *_INPLACE, ("min_value", None), ("max_value", None)),
    "Softplus": (("beta", 1.0), ("threshold", 20.0)),
    "Threshold": (("threshold", R), ("value", R), *_INPLACE),
    "Hardshrink": (("lambd", 0.5),), "Softshrink": (("lambd", 0.5),),
    "RReLU": (("lower", 0.125), ("upper", 1 / 3), *_INPLACE),
    "PReLU": (("num_parameters", 1), ("init", 0.25), *_DEVICE),
    "Softmax": (("dim", None),), "LogSoftmax": (("dim", None),), "Softmin": (("dim", None),),
}.items():
    _add(Elementwise(_name, _params))
_add(Elementwise("Softmax2d", (), rank=(3,)))
_add(Elementwise("Identity", (), accepts_anything=True))
_add(GLU("GLU", (("dim", -1),)))
_add(Flatten("Flatten", (("start_dim", 1), ("end_dim", -1))))
_add(Unflatten("Unflatten", (("dim", R), ("unflattened_size", R))))
_add(Attention("MultiheadAttention", (("embed_dim", R), ("num_heads", R), ("dropout", 0.0), ("bias", True),
                                       ("add_bias_kv", False), ("add_zero_attn", False), ("kdim", None),
                                       ("vdim", None), ("batch_first", False), *_DEVICE)))
_add(Dense("Linear", (("in_features", R), ("out_features", R), ("bias", True), *_DEVICE),
            ("in_features", "out_features"), channels_param="in_features", macs="features"))
_add(Dense("Bilinear", (("in1_features", R), ("in2_features", R), ("out_features", R), ("bias", True), *_DEVICE),
            ("in1_features", "in2_features", "out_features"), channels_param="in1_features"))
_add(Dense("Embedding", (("num_embeddings", R), ("embedding_dim", R), ("padding_idx", None), ("max_norm", None),
                          ("norm_type", 2.0), ("scale_grad_by_freq", False), ("sparse", False), ("_weight", None),
                          ("_freeze", False), *_DEVICE), ("num_embeddings", "embedding_dim"), appends=True))
_add(Upsample("Upsample", (("size", None), ("scale_factor", None), ("mode", "nearest"), ("align_corners", None),
                            ("recompute_scale_factor", None))))
_add(Upsample("UpsamplingNearest2d", (("size", None), ("scale_factor", None)), mode="nearest"))
_add(Upsample("UpsamplingBilinear2d", (("size", None), ("scale_factor", None)), mode="bilinear"))
_add(PixelShuffle("PixelShuffle", (("upscale_factor", R),), "upscale_factor", up=True))
_add(PixelShuffle("PixelUnshuffle", (("downscale_factor", R),), "downscale_factor", up=False))
_add(ChannelShuffle("ChannelShuffle", (("groups", R),), rank=at_least(2)))
_BLOCKS = (("kernel_size", R), ("dilation", 1), ("padding", 0), ("stride", 1))
_add(ColumnUnfold("Unfold", _BLOCKS))
_add(ColumnFold("Fold", (("output_size", R), *_BLOCKS)))
_add(Unsqueeze("unsqueeze", (("dim", R),)))
_add(Squeeze("squeeze", (("dim", None),)))
_add(Unfold("unfold", (("dimension", R), ("size", R), ("step", R))))
for _n in (1, 2, 3):
    for _base, _inferred in ((f"Conv{_n}d", "in_channels"), (f"ConvTranspose{_n}d", "in_channels"),
                             (f"BatchNorm{_n}d", "num_features"), (f"InstanceNorm{_n}d", "num_features")):
        _add(LazyRule(f"Lazy{_base}", _RULES[_base], _inferred, 0,
                      **({"affine": True, "track_running_stats": True} if _base.startswith("Instance") else {})))
_add(LazyRule("LazyLinear", _RULES["Linear"], "in_features", -1))
# family -> the row of its layers whose number of spatial dimensions is unknown (AnyDims): no torch class
ANY_DIMS = {family: f"{family}Nd" for family in (
    "Conv", "ConvTranspose", "BatchNorm", "InstanceNorm", "MaxPool", "AvgPool", "AdaptiveAvgPool", "AdaptiveMaxPool",
    "Dropout")}
for _family, _name in ANY_DIMS.items():
    _add(AnyDims(_name, _RULES[f"{_family}2d"]))
ANY_DIMS_KINDS = frozenset(ANY_DIMS.values())
# F.pad has no module of its own; its rule goes by this functional-only name.
_add(Pad("pad", (("pad", R), ("mode", "constant"), ("value", None)), 0, None, key="pad"))


class _CalledOnly(Rule):
    """A module without parameters whose call the interpreter follows as other ops (einops'
    Rearrange: extract.einops); applied as one layer, its output is unknown."""

    def output(self, p, shape):
        return None


# rows for modules of other packages than torch, by the module that defines them (not torch.nn classes)
FOREIGN_LAYERS = {"Rearrange": "einops.layers.torch"}
_add(_CalledOnly("Rearrange", (), accepts_anything=True))
del R

# torch.nn base classes of layers besides the layer's own class and nn.Module, from torch 2.13's class
# hierarchy: isinstance(layer, nn.modules.batchnorm._BatchNorm) and the like
_TORCH_BASES = {
    **{f"AdaptiveAvgPool{d}d": ("_AdaptiveAvgPoolNd",) for d in (1, 2, 3)},
    **{f"AdaptiveMaxPool{d}d": ("_AdaptiveMaxPoolNd",) for d in (1, 2, 3)},
    **{f"AvgPool{d}d": ("_AvgPoolNd",) for d in (1, 2, 3)},
    **{f"MaxPool{d}d": ("_MaxPoolNd",) for d in (1, 2, 3)},
    **{f"LPPool{d}d": ("_LPPoolNd",) for d in (1, 2, 3)},
    **{f"BatchNorm{d}d": ("_BatchNorm", "_NormBase") for d in (1, 2, 3)},
    **{f"InstanceNorm{d}d": ("_InstanceNorm", "_NormBase") for d in (1, 2, 3)},
    **{f"Conv{d}d": ("_ConvNd",) for d in (1, 2, 3)},
    **{f"ConvTranspose{d}d": ("_ConvTransposeNd", "_ConvNd") for d in (1, 2, 3)},
    **{f"CircularPad{d}d": ("_CircularPadNd",) for d in (1, 2, 3)},
    **{f"ConstantPad{d}d": ("_ConstantPadNd",) for d in (1, 2, 3)},
    **{f"ReflectionPad{d}d": ("_ReflectionPadNd",) for d in (1, 2, 3)},
    **{f"ReplicationPad{d}d": ("_ReplicationPadNd",) for d in (1, 2, 3)},
    **{f"ZeroPad{d}d": (f"ConstantPad{d}d", "_ConstantPadNd") for d in (1, 2, 3)},
    **{name: ("_DropoutNd",) for name in ("Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout", "FeatureAlphaDropout")},
    "ReLU6": ("Hardtanh",), "UpsamplingBilinear2d": ("Upsample",), "UpsamplingNearest2d": ("Upsample",),
}
for _name, _rule in _RULES.items():  # a lazy conv or linear is an instance of its base class; a lazy norm is not
    if isinstance(_rule, LazyRule):
        _own = (_rule.base.name,) if _rule.base.name.startswith(("Conv", "Linear")) else ()
        _mixins = ("_LazyConvXdMixin",) if _rule.convolution else ("_LazyNormBase",) if not _own else ()
        _TORCH_BASES[_name] = (*_mixins, "LazyModuleMixin", *_own, *_TORCH_BASES.get(_rule.base.name, ()))
LAYERS: dict = {name: replace(rule.spec, torch_bases=_TORCH_BASES.get(name, ())) for name, rule in _RULES.items()}
PADS = frozenset(name for name, rule in _RULES.items() if isinstance(rule, Pad))  # they keep channels and rank
RESAMPLERS = frozenset(name for name, rule in _RULES.items() if isinstance(rule, Upsample))  # so do they, always


def is_convolution(kind: str, transposed: bool = True) -> bool:
    """Conv1d..3d, and ConvTranspose1d..3d unless `transposed` is False."""
    spec = LAYERS.get(kind)
    return spec is not None and spec.convolution and (transposed or not spec.transposed)


# attributes of a layer that torch's forward reads from the module (so assigning one changes what it does)
FORWARD_READ = {
    "stride", "padding", "dilation", "ceil_mode", "count_include_pad", "divisor_override", "return_indices",
    "output_size", "size", "scale_factor", "mode", "align_corners", "padding_mode", "output_padding",
    "start_dim", "end_dim", "dim", "p", "inplace", "eps", "momentum", "negative_slope", "approximate",
}


# --------------------------------------------------------------------------- binding


_SIGNATURES: dict[tuple[int, int], tuple] = {}  # (id(params), id(keyword_only)) -> (params, keyword_only, positional, names)


def _signature(params: tuple, keyword_only: tuple) -> tuple[tuple, frozenset]:
    """(positional names, all names) of a signature, worked out once per signature (every layer
    construction binds one; the tuples live in the tables, and the entry holding them keeps their ids theirs)."""
    kept = _SIGNATURES.get((id(params), id(keyword_only)))
    if kept is None:
        positional = tuple(name for name, _ in params if name not in keyword_only)
        kept = _SIGNATURES[id(params), id(keyword_only)] = (params, keyword_only, positional,
                                                              frozenset(name for name, _ in params))
    return kept[2], kept[3]


def _bind(params: tuple, keyword_only: tuple, args: list, kwargs: dict):
    positional, names = _signature(params, keyword_only)
    if len(args) > len(positional):
        return None
    bound = dict(zip(positional, args))
    for key, value in kwargs.items():
        if key not in names or key in bound:
            return None
        bound[key] = value
    for name, default in params:
        if name not in bound:
            if default is REQUIRED:
                return None
            bound[name] = default
    return bound


def bind(name: str, args: list, kwargs: dict) -> dict | None:
    """Bind constructor arguments as torch's signature would; None if torch would
    reject the call (too many arguments, unknown or repeated keyword, missing one)."""
    rule = _RULES[name]
    if rule.accepts_anything:
        return {}
    return _bind(rule.params, rule.keyword_only, args, kwargs)


def _resolved(rule: Rule, params: dict) -> dict:
    """params with defaults filled in; a missing required argument is UNKNOWN."""
    full = {key: (UNKNOWN if default is REQUIRED else default) for key, default in rule.params}
    full.update(params)
    return full


# --------------------------------------------------------------------------- public rules


def output_shape(name: str, params: dict, shape):
    """Exact output shape (batch excluded) for an input `shape`; None when unknown.

    Raises ShapeError when torch would reject the input for a reason other than
    a channel mismatch or an output size collapsing to <= 0 (which is returned).
    """
    rule = _RULES[name]
    if shape is None:
        return None
    shape = tuple(shape)
    p = _resolved(rule, params)
    if rule.errors(p):
        return None
    return rule.output(p, shape)


def unranked_output(name: str, params: dict, incoming: Unranked) -> Unranked | None:
    """What the layer makes of a tensor of unknown rank (Rule.unranked); None when nothing is known."""
    rule = _RULES[name]
    p = _resolved(rule, params)
    return None if rule.errors(p) else rule.unranked(p, incoming)


def check_operands(name: str, params: dict, shapes: list) -> None:
    """For a layer called on several tensors (nn.MultiheadAttention's query, key, value): raise
    ShapeError when torch would reject the others next to the first."""
    rule = _RULES[name]
    if hasattr(rule, "check_operands") and shapes[0] is not None and not rule.errors(_resolved(rule, params)):
        rule.check_operands(_resolved(rule, params), *shapes)


def config_errors(name: str, params: dict) -> list:
    """Input-independent arguments torch rejects at construction or first call."""
    rule = _RULES[name]
    return rule.errors(_resolved(rule, params))


def windows(name: str, params: dict, shape) -> list:
    """One Window per spatial axis for sliding layers (Conv*, *Pool*), else []."""
    rule = _RULES[name]
    p = _resolved(rule, params)
    if rule.errors(p):
        return []
    if shape is not None:
        shape = tuple(shape)
        if rule.rank is not None and len(shape) not in rule.rank:
            return []
    return rule.windows(p, shape)


def parameter_count(name: str, params: dict):
    """(weights, biases) as sum(p.numel()) splits them in torch; None if unknown."""
    rule = _RULES[name]
    p = _resolved(rule, params)
    if rule.errors(p):
        return None
    return rule.count(p)


# --------------------------------------------------------------------------- functional forms

_POOL_ARGS = (("kernel_size", REQUIRED), ("stride", None), ("padding", 0))
_DROPOUT_ARGS = (("p", 0.5), ("training", True), ("inplace", False))
_SOFTMAX_ARGS = (("dim", None), ("_stacklevel", 3), ("dtype", None))

FUNCTIONAL: dict = {
    "relu": ("ReLU", _INPLACE),
    "relu6": ("ReLU6", _INPLACE),
    "gelu": ("GELU", (("approximate", "none"),)),
    "silu": ("SiLU", _INPLACE),
    "mish": ("Mish", _INPLACE),
    "sigmoid": ("Sigmoid", ()),
    "tanh": ("Tanh", ()),
    "hardswish": ("Hardswish", _INPLACE),
    "hardsigmoid": ("Hardsigmoid", _INPLACE),
    "leaky_relu": ("LeakyReLU", (("negative_slope", 0.01), *_INPLACE)),
    "elu": ("ELU", (("alpha", 1.0), *_INPLACE)),
    "selu": ("SELU", _INPLACE),
    "softmax": ("Softmax", _SOFTMAX_ARGS),
    "log_softmax": ("LogSoftmax", _SOFTMAX_ARGS),
    "softmin": ("Softmin", _SOFTMAX_ARGS),
    "glu": ("GLU", (("dim", -1),)),
    "dropout": ("Dropout", _DROPOUT_ARGS),
    "dropout1d": ("Dropout1d", _DROPOUT_ARGS),
    "dropout2d": ("Dropout2d", _DROPOUT_ARGS),
    "dropout3d": ("Dropout3d", _DROPOUT_ARGS),
    "avg_pool1d": ("AvgPool1d", _POOL_ARGS + (("ceil_mode", False), ("count_include_pad", True))),
    "interpolate": ("Upsample", (("size", None), ("scale_factor", None), ("mode", "nearest"),
                                 ("align_corners", None), ("recompute_scale_factor", None), ("antialias", False))),
    "pad": ("pad", (("pad", REQUIRED), ("mode", "constant"), ("value", None))),
    "layer_norm": ("LayerNorm", (("normalized_shape", REQUIRED), ("weight", None), ("bias", None), ("eps", 1e-5))),
    "flatten": ("Flatten", (("start_dim", 0), ("end_dim", -1))),  # torch.flatten / Tensor.flatten
    "unflatten": ("Unflatten", (("dim", REQUIRED), ("sizes", REQUIRED))),
    "pixel_shuffle": ("PixelShuffle", (("upscale_factor", REQUIRED),)),
    "pixel_unshuffle": ("PixelUnshuffle", (("downscale_factor", REQUIRED),)),
    "unfold": ("Unfold", (("kernel_size", REQUIRED), ("dilation", 1), ("padding", 0), ("stride", 1))),
    "fold": ("Fold", (("output_size", REQUIRED), ("kernel_size", REQUIRED), ("dilation", 1), ("padding", 0), ("stride", 1))),
}
_MAX_POOL_ARGS = _POOL_ARGS + (("dilation", 1), ("ceil_mode", False), ("return_indices", False))
_AVG_POOL_ARGS = _POOL_ARGS + (("ceil_mode", False), ("count_include_pad", True), ("divisor_override", None))
for _n in (1, 2, 3):
    FUNCTIONAL[f"max_pool{_n}d"] = (f"MaxPool{_n}d", _MAX_POOL_ARGS)
    if _n > 1:  # avg_pool1d has no divisor_override
        FUNCTIONAL[f"avg_pool{_n}d"] = (f"AvgPool{_n}d", _AVG_POOL_ARGS)
    FUNCTIONAL[f"adaptive_avg_pool{_n}d"] = (f"AdaptiveAvgPool{_n}d", (("output_size", REQUIRED),))
    FUNCTIONAL[f"adaptive_max_pool{_n}d"] = (f"AdaptiveMaxPool{_n}d", (("output_size", REQUIRED),
                                                                       ("return_indices", False)))

_FUNCTIONAL_KEYWORD_ONLY = {"gelu": ("approximate",)}
# Function argument -> layer parameter, where the names differ (None: not a layer parameter).
_FUNCTIONAL_RENAMES = {
    "unflatten": {"sizes": "unflattened_size"},
    "layer_norm": {"weight": None, "bias": None},
}


# tensor methods with a rule of their own: name -> (the rule's layer name, the signature after self)
METHODS: dict = {
    "unsqueeze": ("unsqueeze", (("dim", REQUIRED),)),
    "squeeze": ("squeeze", (("dim", None),)),
    "unflatten": ("Unflatten", (("dim", REQUIRED), ("sizes", REQUIRED))),  # as torch.unflatten
}


def bind_functional(fname: str, args: list, kwargs: dict):
    """Bind a torch.nn.functional / torch.* call (arguments after the input
    tensor) and return (layer name whose rule applies, its params), or None."""
    return _bind_row(FUNCTIONAL, fname, args, kwargs)


def bind_method(name: str, args: list, kwargs: dict):
    """Bind `x.<name>(*args, **kwargs)` (or `torch.<name>(x, *args, **kwargs)`) and return (layer
    name whose rule applies, its params), or None."""
    return _bind_row(METHODS, name, args, kwargs)


def _bind_row(table: dict, fname: str, args: list, kwargs: dict):
    if fname not in table:
        return None
    layer, signature = table[fname]
    kwargs = {k: v for k, v in kwargs.items() if k != "input"}
    bound = _bind(signature, _FUNCTIONAL_KEYWORD_ONLY.get(fname, ()), list(args), kwargs)
    if bound is None:
        return None
    renames = _FUNCTIONAL_RENAMES.get(fname, {})
    params = {key: default for key, default in _RULES[layer].params if default is not REQUIRED}
    for key, value in bound.items():
        target = renames.get(key, key)
        if target is not None:
            params[target] = value
    return layer, params
