"""Model zoos' factories: `timm.create_model("resnet50", num_classes=10)`,
`torchvision.models.get_model("resnet18")`. Both look a name up in a registry that decorators fill
when the zoo is imported; convlint imports nothing, so it finds the function registered under
that name in the zoo's source (on the search path, convlint.imports) and calls it as the factory
would. Library knowledge as a table keyed by qualified name, like the other rooms' hooks.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from ..imports import find_module
from ..sizes import UNKNOWN
from .values import Lazy

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


QUAL_CALLS = {
    **dict.fromkeys(("timm.create_model", "timm.models.create_model", "timm.models._factory.create_model"),
                    timm_create_model),
    **dict.fromkeys(("torchvision.models.get_model", "torchvision.models._api.get_model"), torchvision_get_model),
    **dict.fromkeys(("torchvision.models.get_model_builder", "torchvision.models._api.get_model_builder"),
                    torchvision_get_model_builder),
}
