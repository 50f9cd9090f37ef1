"""What the model zoos' own plumbing does to a model's shapes, for the few functions whose code we
cannot usefully read: timm's `create_model` and torchvision's `get_model` look a name up in a
registry that `@register_model` fills when the zoo is imported (convlint imports nothing: it finds
the function registered under that name in the zoo's source); timm's `build_model_with_cfg`
resolves a pretrained configuration through that registry before it calls the model class; monai's
layer factories (`Conv[Conv.CONV, 2]`) are filled by decorators and looked up through
`__getitem__`, its `has_option` reads a signature with `inspect`, its `same_padding` computes with
numpy. Each is one entry keyed by its qualified name, taken both when user code imports it by that
name and when a zoo's own file reaches it by a relative import."""

from __future__ import annotations

import ast
import re
from functools import lru_cache
from pathlib import Path
from collections.abc import Iterator
from typing import Any

from .. import layers as L
from .. import syntax
from ..imports import find_module, package_root
from ..sizes import UNKNOWN, var
from .detection import FORWARDS
from .nn import torch_class
from .pythonlib import clone
from .values import (
    JUMPS, ClassInfo, DictVal, EnumMember, Function, Instance, Lazy, ListVal, MethodRef, Partial, Qual, Raise, SetVal,
    forward_of, int_value, is_enum, known, positional_params,
)

# timm.models._builder.build_model_with_cfg's parameters before its **kwargs (the model's arguments)
_BUILD_PARAMS = (
    "model_cls", "variant", "pretrained", "pretrained_cfg", "pretrained_cfg_overlay", "model_cfg", "feature_cfg",
    "pretrained_strict", "pretrained_filter_fn", "cache_dir", "kwargs_filter", "pretrained_model_args",
)
# timm.models._pretrained.PretrainedCfg's defaults of the fields the builder hands to the model
_CFG_FIELDS = {"num_classes": 1000, "input_size": (3, 224, 224), "fixed_input_size": False}
_MODEL_FIELDS = ("num_classes", "in_chans", "fixed_input_size", "img_size")


def _accepts(cls: Any, name: str) -> bool:
    """Whether constructing `cls` may take the keyword `name` (a parameter of that name, or **kwargs)."""
    init = cls.lookup("__init__") if isinstance(cls, ClassInfo) else cls
    if not isinstance(init, Function):
        return False
    params = init.node.args
    return params.kwarg is not None or any(p.arg == name for p, _ in positional_params(params)) \
        or any(p.arg == name for p in params.kwonlyargs)


def timm_build_model_with_cfg(interp, args: list, kwargs: dict, node) -> Any:
    """The model `model_cls(**kwargs)` builds, as timm's builder calls it: `pruned` and `features_only`
    variants are not followed, `kwargs_filter` names are dropped, and the arguments the variant's
    pretrained configuration would supply (num_classes, in_chans; img_size for a class that takes
    it, when that configuration fixes the input size) are unknown unless the caller gives them."""
    if len(args) > len(_BUILD_PARAMS):
        return interp.unknown_result(args, kwargs, node)
    bound = dict(zip(_BUILD_PARAMS, args))
    model_kwargs = dict(kwargs)
    for name in _BUILD_PARAMS:
        if name in model_kwargs:
            if name in bound:
                return interp.unknown_result(args, kwargs, node)  # given twice: a TypeError
            bound[name] = model_kwargs.pop(name)
    model_cls = bound.get("model_cls", UNKNOWN)
    if interp.truth(model_kwargs.pop("pruned", False)) is not False:
        return interp.unknown_result(args, kwargs, node)  # adapted from a file of pruned widths
    features = interp.truth(model_kwargs.pop("features_only", False))
    feature_cfg = _feature_cfg(bound.get("feature_cfg"), model_kwargs) if features else {}
    if features is None or feature_cfg is None:
        return interp.unknown_result(args, kwargs, node)
    names = interp.iterate(bound.get("kwargs_filter")) if bound.get("kwargs_filter") is not None else []
    if names is None or not all(isinstance(n, str) for n in names):
        return interp.unknown_result(args, kwargs, node)
    for name in names:
        model_kwargs.pop(name, None)
    tag = bound.get("pretrained_cfg")  # a str: that tag's configuration ("resnet50.a1_in1k" -> "a1_in1k")
    given = tag is not None and not isinstance(tag, str) or bound.get("pretrained_cfg_overlay") is not None
    cfg = dict.fromkeys(_MODEL_FIELDS, UNKNOWN) if given else variant_cfg(interp, bound.get("variant"), tag)
    num_classes, fixed = cfg["num_classes"], cfg["fixed_input_size"]
    if not (int_value(num_classes) and num_classes < 0):  # a negative count is not passed on
        model_kwargs.setdefault("num_classes", num_classes)
    model_kwargs.setdefault("in_chans", cfg["in_chans"])
    if fixed is True or fixed is UNKNOWN and _accepts(model_cls, "img_size"):
        model_kwargs.setdefault("img_size", cfg["img_size"] if fixed is True else UNKNOWN)
    model_cfg = bound.get("model_cfg")
    if model_cfg is not None:
        if "cfg" in model_kwargs:
            return interp.unknown_result(args, kwargs, node)
        model_kwargs["cfg"] = model_cfg
    model = interp.invoke(model_cls, [], model_kwargs, node)
    model = _feature_net(interp, model, feature_cfg, node) if features else model
    shape = configured_input(model_kwargs["in_chans"], model_kwargs.get("img_size", cfg["img_size"]))
    interp.configured = (model, shape, TIMM_CONFIGURED)
    return model


def configured_input(in_chans: Any, img_size: Any) -> tuple | None:
    """The input a timm model is built for: `in_chans` channels of `img_size` (an int: a square;
    the model's argument if given, else the pretrained configuration's input_size), when known."""
    size = (img_size, img_size) if int_value(img_size) else tuple(img_size.items) if isinstance(img_size, ListVal) \
        else img_size
    if not isinstance(size, tuple) or len(size) != 2 or not all(int_value(n) and n > 0 for n in (in_chans, *size)):
        return None
    return (in_chans, *size)


def default_input(cls: ClassInfo, path: str | None) -> tuple | None:
    """The input a timm class built on its defaults is sized for: `in_chans` channels of
    `img_size`, the literal defaults of its __init__ (`img_size=224, in_chans=3`: a position
    embedding of 14×14 patches of 16), when the class is timm's own."""
    init = cls.lookup("__init__")
    module = module_name(cls.foreign or path) if (cls.foreign or path) else None
    if not isinstance(init, Function) or module is None or not module.startswith("timm."):
        return None
    defaults = {param.arg: default for param, default in positional_params(init.node.args) if default is not None}
    defaults.update((p.arg, d) for p, d in zip(init.node.args.kwonlyargs, init.node.args.kw_defaults) if d is not None)
    try:
        values = [ast.literal_eval(defaults[name]) for name in ("in_chans", "img_size")]
    except (KeyError, ValueError, TypeError, SyntaxError, RecursionError):
        return None
    size = values[1]
    return configured_input(values[0], tuple(size) if isinstance(size, list) else size)


TIMM_CONFIGURED = "the input size timm configures for it (a pretrained input_size, or img_size and in_chans)"
WEIGHTS_CONFIGURED = "the input its pretrained weights are made for (the channels of their transforms' mean, their crop_size)"
# torchvision.transforms._presets' classes that crop: the spatial rank of what they give; a video's
# frame count is no preset's (torchvision's builders take any): it stays the size variable D
_PRESETS = {"torchvision.transforms._presets.ImageClassification": 2,
            "torchvision.transforms._presets.VideoClassification": 3}


def weights_input(interp, builder: ast.FunctionDef) -> tuple | None:
    """The input a torchvision builder's pretrained weights are made for: each entry of the
    WeightsEnum classes its `weights` parameter is annotated with (`Optional[AlexNet_Weights]`)
    gives `transforms=partial(ImageClassification, crop_size=224)`, an image of as many channels
    as the preset's mean has (its own, else the preset's default) cropped to that size; known when
    every entry agrees (vit_b_16's SWAG weights are 384 and built so: its defaults are not)."""
    args = builder.args
    param = next((p for p in (*args.posonlyargs, *args.args, *args.kwonlyargs) if p.arg == "weights"), None)
    if param is None or param.annotation is None:
        return None
    found = set()
    for node in ast.walk(param.annotation):
        enum = interp.globals.get(node.id) if type(node) is ast.Name else None
        enum = interp.resolve(enum) if isinstance(enum, Lazy) else enum
        if not isinstance(enum, ClassInfo) or not any(
                c.name == "WeightsEnum" and _module_of(interp, c) == "torchvision.models._api" for c in enum.mro()):
            continue
        for entry in {id(v): v for v in enum.attrs.values() if isinstance(v, Instance)}.values():
            found.add(_preset_input(interp, entry.attrs.get("transforms")))
    return found.pop() if len(found) == 1 else None


def _preset_input(interp, transforms: Any) -> tuple | None:
    """The input `partial(ImageClassification, crop_size=224)` (or VideoClassification's
    `crop_size=(112, 112)`) crops to."""
    preset = transforms.func if isinstance(transforms, Partial) and not transforms.args else None
    rank = _PRESETS.get(f"{_module_of(interp, preset)}.{preset.name}") if isinstance(preset, ClassInfo) else None
    init = preset.lookup("__init__") if rank else None
    if not isinstance(init, Function):
        return None
    mean = transforms.kwargs.get("mean")
    if mean is None:
        defaults = dict(zip((p.arg for p in init.node.args.kwonlyargs), init.node.args.kw_defaults))
        try:
            mean = ast.literal_eval(defaults.get("mean"))
        except (ValueError, TypeError, SyntaxError):
            return None
    channels = len(mean.items) if isinstance(mean, ListVal) else len(mean) if isinstance(mean, tuple) else None
    crop = transforms.kwargs.get("crop_size")
    crop = tuple(crop.items) if isinstance(crop, ListVal) else crop
    if rank == 2:
        size = (crop, crop) if int_value(crop) else None  # an int: ImageClassification's crop is square
    else:
        size = (var("D"), *crop) if isinstance(crop, tuple) and len(crop) == 2 else None
    if not channels or size is None or not all(int_value(n) and n > 0 for n in size[-2:]):
        return None
    return (channels, *size)


def _module_of(interp, cls: ClassInfo) -> str | None:
    """The qualified name of the module that defines a class (None: outside a package)."""
    file = cls.foreign or interp.path
    return module_name(file) if file else None


def _feature_cfg(given: Any, model_kwargs: dict) -> dict | None:
    """The arguments of the feature wrapper, as the builder gathers them: the entry point's
    feature_cfg, out_indices (0, 1, 2, 3, 4) unless it or the caller names others, the caller's
    feature_cls (None: a feature_cfg we cannot read)."""
    if given is not None and not (isinstance(given, DictVal) and not given.lost and not given.maybe
                                  and all(isinstance(k, str) for k in given.keys)):
        return None
    cfg = dict(zip(given.keys, given.values)) if given is not None else {}
    cfg.setdefault("out_indices", (0, 1, 2, 3, 4))
    for name in ("out_indices", "feature_cls"):
        if name in model_kwargs:
            cfg[name] = model_kwargs.pop(name)
    return cfg


# the feature wrappers of timm.models._features that feature_cls names (a str, lowercased); the
# hook and fx wrappers trace the model's forward by other means: not followed
_FEATURE_CLASSES = {"list": "FeatureListNet", "dict": "FeatureDictNet", "getter": "FeatureGetterNet"}


def _feature_net(interp, model: Any, cfg: dict, node) -> Any:
    """`feature_cls(model, **feature_cfg)`, the wrapper around the model that features_only builds
    (FeatureListNet unless feature_cls names another), read from timm's source; the builder drops
    flatten_sequential for the getter, no_rewrite for all but the hook wrapper, and gives the
    model's output_fmt to all but the getter."""
    kind = cfg.pop("feature_cls", "list")
    name = _FEATURE_CLASSES.get(kind.lower()) if isinstance(kind, str) else None
    path = find_module("timm.models._features", interp.path, interp.extra_paths)
    if name is None or path is None or not isinstance(model, Instance):
        return UNKNOWN
    cfg.pop("no_rewrite", None)
    if name == "FeatureGetterNet":
        cfg.pop("flatten_sequential", None)
    elif "output_fmt" in model.attrs:
        cfg.setdefault("output_fmt", model.attrs["output_fmt"])
    return interp.invoke(interp.resolve(Lazy(path, name)), [model], cfg, node)


def variant_cfg(interp, variant: Any, tag: str | None = None) -> dict:
    """The _MODEL_FIELDS of the pretrained configuration timm's registry holds for `variant` (`tag`:
    for that one of its configurations):
    read from the `default_cfgs` of the file whose code calls the builder (`{'resnet18.a1_in1k':
    _rcfg(...), ...}`, as a literal given to generate_default_cfgs or assigned first). Which of a
    variant's tags is its default depends on where weights are hosted, so a field is known only when
    every tag of the variant agrees on it; without an entry for the variant it is unknown."""
    unknown = dict.fromkeys(_MODEL_FIELDS, UNKNOWN)
    file = interp.code_file or interp.path
    if not isinstance(variant, str) or file is None:
        return unknown
    local = interp.code_file is None
    tree = interp.module if local else _tree(file)
    entries = [] if tree is None else cfg_entries(tree, variant, tag)
    if not entries:
        return unknown
    if local:
        env = interp.globals
    else:
        env = None
        for name in {n.id for entry in entries for n in ast.walk(entry) if type(n) is ast.Name}:
            env = interp.load(Path(file), name)  # a sliced file grows by what the entries read
        if env is None:
            return unknown
    found: dict = {}
    saved = interp.code_file
    try:
        for entry in entries:
            value = interp.ev(entry, env)
            if not isinstance(value, DictVal) or value.lost or value.maybe:
                return unknown
            for name, field in model_fields(value).items():
                found[name] = field if found.get(name, field) == field and known(field) else UNKNOWN
    except JUMPS:
        return unknown
    finally:
        interp.code_file = saved
    return found


def model_fields(cfg: DictVal) -> dict:
    """What one pretrained configuration (a dict) gives the model: num_classes, in_chans (the
    channels of its input_size), fixed_input_size and img_size (the rest of its input_size)."""
    fields = {}
    for name, default in _CFG_FIELDS.items():
        field = cfg.values[cfg.keys.index(name)] if name in cfg.keys else default
        fields[name] = tuple(field.items) if isinstance(field, ListVal) else field
    size = fields.pop("input_size")
    sized = isinstance(size, tuple) and len(size) == 3
    fields["in_chans"], fields["img_size"] = (size[0], size[1:]) if sized else (UNKNOWN, UNKNOWN)
    return fields


@lru_cache(maxsize=64)
def _tree(path: str) -> ast.Module | None:
    """The file's tree, the one reading it as an import parsed (syntax.parse keeps it)."""
    try:
        tree = syntax.parse(Path(path).read_bytes(), path)
    except OSError:
        return None
    return tree if isinstance(tree, ast.Module) else None


def cfg_entries(tree: ast.Module, variant: str, tag: str | None = None) -> list[ast.expr]:
    """The values of the keys `variant` and `variant.<tag>` (only `variant.<tag>` with `tag`) of the
    dict literal a module-level `default_cfgs = ...` assigns (directly, or as generate_default_cfgs'
    argument)."""
    for stmt in tree.body:
        if type(stmt) is not ast.Assign or not any(type(t) is ast.Name and t.id == "default_cfgs" for t in stmt.targets):
            continue
        value = stmt.value
        if type(value) is ast.Call and len(value.args) == 1:
            value = value.args[0]
        if type(value) is not ast.Dict:
            continue
        entries = []
        for key, entry in zip(value.keys, value.values):
            if key is None:
                return []  # `**other`: what it holds is not read
            name = key.value if type(key) is ast.Constant and isinstance(key.value, str) else None
            if name is None:
                return []
            if (name == f"{variant}.{tag}") if tag else name.split(".", 1)[0] == variant:
                entries.append(entry)
        return entries
    return []


# monai.networks.layers.factories: each LayerFactory, by its name, maps a factory name to the torch.nn
# class it gives: one name, or one per spatial dimension 1, 2, 3 (what the registrations of that file
# make; Act's swish, memswish, mish and geglu give monai's own classes, read from monai's source)
_DIMS = ("{}1d", "{}2d", "{}3d")
_MONAI_FACTORIES = {
    "Convolution layers": {"CONV": "Conv", "CONVTRANS": "ConvTranspose"},
    "Normalization layers": {"INSTANCE": "InstanceNorm", "BATCH": "BatchNorm", "GROUP": ("GroupNorm",),
                             "LAYER": ("LayerNorm",), "LOCALRESPONSE": ("LocalResponseNorm",),
                             "SYNCBATCH": ("SyncBatchNorm",)},
    "Activation layers": {**{name.upper(): (name,) for name in (
        "ELU", "ReLU", "LeakyReLU", "PReLU", "ReLU6", "SELU", "CELU", "GELU", "Sigmoid", "Tanh", "Softmax",
        "LogSoftmax")}, **{name.upper(): f"monai.networks.blocks.activation.{cls}" for name, cls in (
            ("swish", "Swish"), ("memswish", "MemoryEfficientSwish"), ("mish", "Mish"), ("geglu", "GEGLU"))}},
    "Pooling layers": {"MAX": "MaxPool", "ADAPTIVEMAX": "AdaptiveMaxPool", "AVG": "AvgPool",
                       "ADAPTIVEAVG": "AdaptiveAvgPool"},
    "Padding layers": {"REPLICATIONPAD": "ReplicationPad", "CONSTANTPAD": "ConstantPad"},
    "Dropout layers": {"DROPOUT": ("Dropout", "Dropout2d", "Dropout3d"), "ALPHADROPOUT": ("AlphaDropout",)},
}


def monai_layer_factory_item(interp, factory: Instance, key: Any, node) -> Any:
    """`Conv[Conv.CONV, spatial_dims]`, `Norm["batch", 2]`, `Act["relu"]`: the torch class monai's
    LayerFactory.__getitem__ gives for a factory name and its arguments (the spatial dimensions)."""
    table = _MONAI_FACTORIES.get(factory.attrs.get("name"))
    if table is None:
        return UNKNOWN
    if isinstance(key, Qual) and torch_class(key.name) is not None:
        return key  # a class given as it is
    name, args = (key, ()) if isinstance(key, str) else (key[0], key[1:]) if isinstance(key, tuple) and key else (None, ())
    if isinstance(name, MethodRef) and name.owner is factory:
        name = name.name  # `Conv.CONV`: its __getattr__ gives the factory name itself
    entry = table.get(name.strip().upper()) if isinstance(name, str) else None
    if entry is None:
        return UNKNOWN
    if isinstance(entry, str) and entry.startswith("monai."):  # a factory function that imports monai's own class
        if args:
            return UNKNOWN
        value = interp.imported(entry)
        return interp.resolve(value) if type(value) is Lazy else value
    if isinstance(entry, tuple) and len(entry) == 1:  # a class registered as it is: `lambda x=None: cls`
        return Qual(f"torch.nn.{entry[0]}") if len(args) <= 1 else UNKNOWN
    if len(args) == 1 and args[0] is UNKNOWN:  # a spatial_dims nobody gives: the family's layer of unknown dimensions (layers.AnyDims)
        kind = L.ANY_DIMS.get(entry if isinstance(entry, str) else entry[-1][:-2])  # ("Dropout", ..., "Dropout3d")
        return UNKNOWN if kind is None else Qual(f"torch.nn.{kind}")
    if len(args) != 1 or args[0] not in (1, 2, 3) or isinstance(args[0], bool):
        return UNKNOWN
    kind = entry[args[0] - 1] if isinstance(entry, tuple) else _DIMS[args[0] - 1].format(entry)
    return Qual(f"torch.nn.{kind}")


def monai_layer_factory_attribute(interp, factory: Instance, name: str) -> Any:
    """`Act.PRELU`, `Norm.BATCH`: LayerFactory.__getattr__ gives a registered factory name itself
    (None: not one of the names convlint knows the factory by; the attribute stays unread)."""
    table = _MONAI_FACTORIES.get(factory.attrs.get("name"))
    return name if table is not None and name in table else None


def monai_has_option(interp, args: list, kwargs: dict, node) -> Any:
    """monai.utils.has_option(obj, keywords): whether each keyword is a parameter of obj's signature
    (a torch.nn layer's, or the __init__ of a class we read; **kwargs does not count)."""
    if len(args) != 2 or kwargs:
        return UNKNOWN
    obj, keywords = args
    keywords = (keywords,) if isinstance(keywords, str) else interp.iterate(keywords)
    if keywords is None or not all(isinstance(k, str) for k in keywords):
        return UNKNOWN
    kind = torch_class(obj.name) or _any_dims(obj.name) if isinstance(obj, Qual) else None
    if kind is not None and kind in L.LAYERS:
        names = {name for name, _ in L.LAYERS[kind].params}
    elif isinstance(obj, (ClassInfo, Function)):
        init = obj.lookup("__init__") if isinstance(obj, ClassInfo) else obj
        if not isinstance(init, Function):
            return UNKNOWN
        params = init.node.args
        names = {p.arg for p, _ in positional_params(params)} | {p.arg for p in params.kwonlyargs}
        if isinstance(obj, ClassInfo):
            names.discard(positional_params(params)[0][0].arg if positional_params(params) else "")  # self
    else:
        return UNKNOWN
    return all(k in names for k in keywords)


def _any_dims(name: str) -> str | None:
    """`torch.nn.ConvNd` -> "ConvNd": the row of a monai factory's layer of unknown dimensions."""
    kind = name.removeprefix("torch.nn.")
    return kind if kind in L.ANY_DIMS_KINDS else None


def monai_same_padding(interp, args: list, kwargs: dict, node) -> Any:
    """monai.networks.layers.convutils.same_padding(kernel_size, dilation=1): (k - 1) / 2 * d per
    dimension, broadcast as numpy does; one int when there is one dimension; raises when odd."""
    if not 1 <= len(args) <= 2 or set(kwargs) - {"kernel_size", "dilation"}:
        return UNKNOWN
    bound = dict(zip(("kernel_size", "dilation"), args), **kwargs)
    kernel, dilation = (_ints(bound.get(name, 1)) for name in ("kernel_size", "dilation"))
    if kernel is None or dilation is None or len(kernel) != len(dilation) and 1 not in (len(kernel), len(dilation)):
        return UNKNOWN
    size = max(len(kernel), len(dilation))
    pairs = [(kernel[i if len(kernel) > 1 else 0], dilation[i if len(dilation) > 1 else 0]) for i in range(size)]
    if any((k - 1) * d % 2 == 1 for k, d in pairs):
        raise Raise
    padding = tuple(int((k - 1) / 2 * d) for k, d in pairs)
    return padding if len(padding) > 1 else padding[0]


def _ints(value: Any) -> tuple | None:
    """An int, or a tuple or list of ints, as a non-empty tuple (what np.atleast_1d gives)."""
    items = (value,) if int_value(value) else tuple(value.items) if isinstance(value, ListVal) else value
    if not isinstance(items, tuple) or not items or not all(int_value(i) for i in items):
        return None
    return items


_OPTIONAL_IMPORT = ("module", "version", "version_checker", "name", "descriptor", "version_args",
                    "allow_namespace_pkg", "as_type")


def monai_optional_import(interp, args: list, kwargs: dict, node) -> Any:
    """monai.utils.optional_import(module, version="", ..., name=""): (what `import module` or
    `from module import name` binds, whether that import succeeds), as an import statement reads
    it: einops' rearrange as modelled (extract.einops), a module of the search path read from its
    source, what neither has an unknown qualified name. Whether the import succeeds is known only
    for what convlint models or finds, without a version to check."""
    if len(args) > len(_OPTIONAL_IMPORT) or set(kwargs) - set(_OPTIONAL_IMPORT):
        return UNKNOWN
    bound = {**dict(zip(_OPTIONAL_IMPORT, args)), **kwargs}
    module, name, version = bound.get("module"), bound.get("name", ""), bound.get("version", "")
    if not isinstance(module, str) or not isinstance(name, str) or bound.get("as_type", "default") != "default":
        return UNKNOWN
    dotted = f"{module}.{name}" if name else module
    found = interp.importable(module, dotted)
    return (interp.imported(dotted), True if found and version == "" else UNKNOWN)


def monai_look_up_option(interp, args: list, kwargs: dict, node) -> Any:
    """monai.utils.look_up_option(opt_str, supported, default="no_default"): the member of an Enum
    class whose value (or which) it is, the value of a dict's key, the option itself when a list,
    tuple or set holds it, else the default; with no default it raises."""
    if not 2 <= len(args) <= 3 or set(kwargs) - {"default", "print_all_options"}:
        return UNKNOWN
    option, supported = args[0], args[1]
    default = args[2] if len(args) == 3 else kwargs.get("default", "no_default")
    if isinstance(option, str):
        option = option.strip()
    if isinstance(supported, ClassInfo) and is_enum(supported):
        members = interp.enum_members(supported)
        if members is None:
            return UNKNOWN
        if isinstance(option, EnumMember) and option in members:
            return option
        found = next((m for m in members if isinstance(option, str) and m.value == option), None)
        if found is not None:
            return found
        if not (known(option) or isinstance(option, EnumMember)):
            return UNKNOWN
    elif isinstance(supported, DictVal) and not supported.lost and not supported.maybe and known(option):
        if all(known(k) for k in supported.keys) and option in supported.keys:
            return supported.values[supported.keys.index(option)]
        if not all(known(k) for k in supported.keys):
            return UNKNOWN
    else:
        items = list(supported.items) if isinstance(supported, SetVal) and not supported.lost else interp.iterate(supported)
        if items is None or not known(option) or not all(known(i) for i in items):
            return UNKNOWN
        if option in items:
            return option
    if default != "no_default":
        return default
    raise Raise  # a ValueError naming the closest options


# `@register_model` or `@register_model(name="quantized_googlenet")`, other decorators (on several lines), the def
_REGISTERED = re.compile(
    rb"^@register_model\b(?:\((?:\s*name\s*=\s*[\"'](?P<key>[\w.-]+)[\"'])?[^)]*\))?[ \t]*\r?\n"
    rb"(?:[@ \t)][^\n]*\n)*?(?:async\s+)?def\s+(?P<name>\w+)\s*\(",
    re.MULTILINE,
)


@lru_cache(maxsize=16)
def _files(folder: Path) -> tuple[Path, ...]:
    return tuple(sorted(folder.rglob("*.py")))


@lru_cache(maxsize=256)
def _registered(folder: Path, key: str) -> tuple[Path, str] | None:
    """(file, function name) of the function registered under `key` in the folder or below; the
    decorators are matched only in the files whose text has the key."""
    word = key.encode()
    for file in _files(folder):
        try:
            text = file.read_bytes()
        except OSError:
            continue
        if word not in text or b"register_model" not in text:
            continue
        for match in _REGISTERED.finditer(text):
            name = match.group("name").decode()
            if (match.group("key") or match.group("name")).decode() == key:
                return file, name
    return None


def registered(interp, package: str, name: str) -> Any:
    """The function the zoo `package` (its models package, e.g. "timm.models") registers under `name`."""
    init = find_module(package, interp.path, interp.extra_paths)
    if init is None or init.name != "__init__.py":
        return UNKNOWN
    entry = _registered(init.parent, name)
    return UNKNOWN if entry is None else interp.resolve(Lazy(*entry))


# segmentation_models_pytorch's encoder tables, one per encoder file (`senet_encoders = {"se_resnet50":
# {"encoder": SENetEncoder, "params": {...}, ...}}`): most of its encoders are reached only by a name
# given to get_encoder, which builds `encoder(**deepcopy(params), depth=5, output_stride=32)` at its
# defaults (the merged table of the package's __init__ is not read again)
_ENCODER_TABLES = "segmentation_models_pytorch.encoders."
_GET_ENCODER = {"depth": 5, "output_stride": 32}


def table_models(interp, table: DictVal, node) -> Iterator[tuple[str, Any]]:
    """(name, thunk building it) for each entry of an encoder table of a file of smp's encoders:
    the first entry of each family (its encoder class, parameter names and the classes they pass)
    before the other sizes of a family, which run the same lines, so that the file's step budget
    reaches every family."""
    if table.lost or table.maybe or interp.path is None or \
            not (module_name(interp.path) or "").startswith(_ENCODER_TABLES):
        return
    firsts, sizes, families = [], [], set()
    for name, entry in zip(table.keys, table.values):
        fields = dict(zip(entry.keys, entry.values)) if isinstance(entry, DictVal) and not entry.lost else {}
        cls, params = fields.get("encoder"), fields.get("params")
        if isinstance(name, str) and isinstance(cls, ClassInfo) and isinstance(params, DictVal) and \
                not params.lost and not params.maybe and all(isinstance(k, str) for k in params.keys):
            family = (id(cls), tuple(params.keys), tuple(id(v) for v in params.values if isinstance(v, ClassInfo)))
            (sizes if family in families else firsts).append((name, cls, params))
            families.add(family)
    for name, cls, params in firsts + sizes:
        yield name, lambda cls=cls, params=params: interp.instantiate(
            cls, [], {**dict(zip(params.keys, clone(params, True, {}).values)), **_GET_ENCODER}, node)


TIMM_CREATE = ("model_name", "pretrained", "pretrained_cfg", "pretrained_cfg_overlay", "checkpoint_path", "cache_dir",
               "scriptable", "exportable", "no_jit")


def timm_create_model(interp, args, kwargs, node):
    """timm's create_model: drop the None keyword arguments, split the pretrained tag off the
    name ("resnet50.a1_in1k"), call the entry point (a hub name is not known here)."""
    named = dict(zip(TIMM_CREATE, args))
    rest = {k: v for k, v in kwargs.items() if k not in TIMM_CREATE}
    named.update((k, v) for k, v in kwargs.items() if k in TIMM_CREATE)
    model_name = named.get("model_name")
    if len(args) > len(TIMM_CREATE) or not isinstance(model_name, str) or ":" in model_name:
        return interp.unknown_result(args, kwargs, node)
    arch, _, tag = model_name.partition(".")
    entry = registered(interp, "timm.models", arch)
    if entry is UNKNOWN:
        return interp.unknown_result(args, kwargs, node)
    call = {k: v for k, v in rest.items() if v is not None}
    call.update(pretrained=named.get("pretrained", False), pretrained_cfg=named.get("pretrained_cfg") or tag or None,
                pretrained_cfg_overlay=named.get("pretrained_cfg_overlay"), cache_dir=named.get("cache_dir"))
    return interp.invoke(entry, [], call, node)


def torchvision_get_model(interp, args, kwargs, node):
    """torchvision's get_model(name, **config): the builder registered under the name, lowercased."""
    config = dict(kwargs)
    name = args[0] if len(args) == 1 else None if args else config.pop("name", None)
    builder = torchvision_get_model_builder(interp, [name], {}, node)
    if builder is UNKNOWN:
        return interp.unknown_result(args, kwargs, node)
    return interp.invoke(builder, [], config, node)


def torchvision_get_model_builder(interp, args, kwargs, node):
    name = args[0] if len(args) == 1 and not kwargs else kwargs.get("name") if not args and len(kwargs) == 1 else None
    return registered(interp, "torchvision.models", name.lower()) if isinstance(name, str) else UNKNOWN


def no_shape_effect(interp, args, kwargs, node):
    """Telemetry and the table of pretrained configurations (variant_cfg reads its literal): not run."""
    return None


def initialised_module(interp, args, kwargs, node):
    """timm's `named_apply(init_fn, module)`: weight initialisation fills tensors and changes no
    shape: the module, as it was."""
    return kwargs["module"] if "module" in kwargs else args[1] if len(args) > 1 else UNKNOWN


def initialised_tensor(interp, args, kwargs, node):
    """timm's `trunc_normal_(tensor, std=.02)` and its kin: the tensor, as it was."""
    return kwargs["tensor"] if "tensor" in kwargs else args[0] if args else UNKNOWN


QUAL_CALLS = {
    **dict.fromkeys(("torchvision.utils._log_api_usage_once", "timm.models._registry.generate_default_cfgs"),
                    no_shape_effect),
    "timm.models._manipulate.named_apply": initialised_module,
    **dict.fromkeys((f"timm.layers.weight_init.{name}" for name in (
        "trunc_normal_", "trunc_normal_tf_", "variance_scaling_", "lecun_normal_")), initialised_tensor),
    "timm.models._builder.build_model_with_cfg": timm_build_model_with_cfg,
    **dict.fromkeys(("timm.create_model", "timm.models.create_model", "timm.models._factory.create_model"),
                    timm_create_model),
    **dict.fromkeys(("torchvision.models.get_model", "torchvision.models._api.get_model"), torchvision_get_model),
    **dict.fromkeys(("torchvision.models.get_model_builder", "torchvision.models._api.get_model_builder"),
                    torchvision_get_model_builder),
    "monai.utils.module.look_up_option": monai_look_up_option,
    "monai.utils.module.optional_import": monai_optional_import,
    "monai.utils.misc.has_option": monai_has_option,
    "monai.networks.layers.convutils.same_padding": monai_same_padding,
}
# the qualified name of a class of a zoo -> what subscripting one of its instances gives
CLASS_ITEMS = {
    "monai.networks.layers.factories.LayerFactory": monai_layer_factory_item,
}
# the qualified name of a class of a zoo -> the attribute its __getattr__ gives (None: none known)
CLASS_ATTRIBUTES = {
    "monai.networks.layers.factories.LayerFactory": monai_layer_factory_attribute,
}
# helpers of the zoos whose result depends only on their arguments: they read no state that
# changes and change none (padding and rounding arithmetic, `to_2tuple`'s inner `parse`)
PURE = frozenset({
    *(f"timm.layers.padding.{name}" for name in ("get_padding", "get_same_padding", "is_static_pad",
                                                 "get_padding_value")),
    "timm.layers.helpers.parse", "timm.layers.helpers.make_divisible",
    "timm.layers.adaptive_avgmax_pool.adaptive_pool_feat_mult",
    "timm.models._efficientnet_builder.round_channels", "timm.models._efficientnet_builder._parse_ksize",
    "timm.models._efficientnet_blocks.num_groups", "timm.models.cspnet._pad_arg",
    "timm.models.efficientvit_mit.val2tuple", "kornia.models.efficient_vit.utils.list.val2tuple",
    "torchvision.models._utils._make_divisible", "torchvision.models.efficientnet.adjust_channels",
    "torchvision.models.mobilenetv3.adjust_channels", "monai.utils.misc.ensure_tuple_rep",
})
NAMES = {qualified.rpartition(".")[2] for qualified in QUAL_CALLS}  # a cheap test before the qualified name
_PURE_NAMES = {qualified.rpartition(".")[2] for qualified in PURE}
_ITEM_CLASSES = {qualified.rpartition(".")[2] for qualified in (*CLASS_ITEMS, *CLASS_ATTRIBUTES)}
_FORWARD_CLASSES = {qualified.rpartition(".")[2] for qualified in FORWARDS}


@lru_cache(maxsize=1024)
def module_name(path: str) -> str | None:
    """`.../timm/models/_builder.py` -> "timm.models._builder" (None: not inside a package)."""
    file = Path(path).resolve()
    root = package_root(file)
    if root is None:
        return None
    parts = file.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def item_hook(interp, instance: Instance, table: dict = CLASS_ITEMS) -> Any:
    """The entry of CLASS_ITEMS (or of another table keyed by class) for the class of `instance`,
    if it has one."""
    cls = instance.cls
    if cls.name not in _ITEM_CLASSES:
        return None
    module = _module_of(interp, cls)
    return None if module is None else table.get(f"{module}.{cls.name}")


def forward_hook(interp, instance: Instance) -> Any:
    """The entry of FORWARDS for the class whose forward `instance` runs (a subclass that overrides
    forward runs its own; one its __init__ assigned is no class's), if it has one."""
    if forward_of(instance) is not instance.cls.lookup("forward"):
        return None
    owner = next((cls for cls in instance.cls.mro() if "forward" in cls.attrs), None)
    if owner is None or owner.name not in _FORWARD_CLASSES:
        return None
    module = _module_of(interp, owner)
    return None if module is None else FORWARDS.get(f"{module}.{owner.name}")


def _qualified(func: Function, short_names: set[str]) -> str | None:
    """`timm.layers.padding.get_padding` for a function read from another file of a zoo, when its
    name is one of `short_names` (a cheap test before the qualified name)."""
    if func.foreign is None or func.node.name not in short_names:
        return None
    module = module_name(func.foreign)
    return None if module is None else f"{module}.{func.node.name}"


def is_pure(func: Function) -> bool:
    """Whether the function is one of the zoos' helpers in PURE."""
    return _qualified(func, _PURE_NAMES) in PURE


def hook_of(func: Function) -> Any:
    """The entry of QUAL_CALLS for a function read from another file of a zoo, if it has one."""
    qualified = _qualified(func, NAMES)
    return None if qualified is None else QUAL_CALLS.get(qualified)
