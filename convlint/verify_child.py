"""The child process of `--verify`: imports the user's files, builds their models, runs them.

Imports torch first, then reads the JSON request on stdin (so that the parent's static pass runs
meanwhile), and reports on stdout, one JSON object a line, as it goes: `{"file": path}` before
importing a file, `{"import_error": message}`, `{"model": name}` before building one,
`{"layer": [class, index]}` as each layer starts and `{"layer": null}` as it ends,
`{"outcome": {...}}` when a model is done, and `{"end": true}`. The parent times each file and
model by these lines. Executes user code: only ever run as a child, and only when `--verify` asks
(see convlint.verify)."""

from __future__ import annotations

import contextlib
import importlib.util
import inspect
import json
import os
import sys
from pathlib import Path

NO_TORCH = 3
FACTORY_HINT = "name a factory in [tool.convlint.factories]"


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}".rstrip(": ")


def _required(func) -> list[str]:
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError):
        return []
    return [
        p.name for p in signature.parameters.values()
        if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    ]


class _Undefined(Exception):
    pass


def _value(module, argument):
    """A factory argument: a literal as it is, a name looked up in the user's file."""
    from .config import FactoryName

    if not isinstance(argument, FactoryName):
        return argument
    value = module
    for part in argument.split("."):
        if not hasattr(value, part):
            raise _Undefined(f"`{argument}` is not defined in the file")
        value = getattr(value, part)
    return value


def _build(module, name: str, factory: str | None, nn):
    """(model, None) or (None, reason it is skipped) or raises (a runtime error while building)."""
    if factory is not None:
        from .config import parse_factory

        func, args, kwargs = parse_factory(factory)
        try:
            func, args = _value(module, func), [_value(module, a) for a in args]
            kwargs = {key: _value(module, a) for key, a in kwargs.items()}
        except _Undefined as error:
            return None, f"factory `{factory}`: {error}"
        built = func(*args, **kwargs)
        if not isinstance(built, nn.Module):
            return None, f"factory `{factory}` returned {type(built).__name__}, not an nn.Module"
        return built, None
    if not hasattr(module, name):
        return None, "not found at module level after import"
    obj = getattr(module, name)
    if isinstance(obj, nn.Module):
        return obj, None
    if isinstance(obj, type) and issubclass(obj, nn.Module):
        needed = _required(obj.__init__)[1:]
        if needed:
            return None, f"constructor needs arguments ({', '.join(needed)}): {FACTORY_HINT}"
        return obj(), None
    if callable(obj):
        needed = _required(obj)
        if needed:
            return None, f"function needs arguments ({', '.join(needed)}): {FACTORY_HINT}"
        built = obj()
        if not isinstance(built, nn.Module):
            return None, f"returned {type(built).__name__}, not an nn.Module"
        return built, None
    return None, f"is a {type(obj).__name__}, not an nn.Module"


def _build_on_meta(module, name: str, factory: str | None, torch):
    """As _build, with parameters on the meta device: no memory, no initialisation. A constructor
    that needs real data (`.item()`, a checkpoint) is built again on the CPU."""
    try:
        with torch.device("meta"):
            return _build(module, name, factory, torch.nn)
    except Exception:  # noqa: BLE001 - the CPU build below says what is wrong, if anything
        return _build(module, name, factory, torch.nn)


def _run(model, shape, device, torch, send):
    events: list[dict] = []
    stack: list[str] = []
    entered: dict[str, int] = {}
    handles = []
    leaves = [m for m in model.modules() if not list(m.children())]

    def pre(mod, _inputs):
        cls = type(mod).__name__
        stack.append(cls)
        send(layer=[cls, entered.get(cls, 0)])
        entered[cls] = entered.get(cls, 0) + 1

    def post(mod, _inputs, output):
        if stack:
            stack.pop()
        send(layer=None)  # a hang from here on is not this layer's
        out = list(output.shape[1:]) if isinstance(output, torch.Tensor) else None
        events.append({"cls": type(mod).__name__, "shape": out})

    for leaf in leaves:
        handles.append(leaf.register_forward_pre_hook(pre))
        handles.append(leaf.register_forward_hook(post))
    try:
        with torch.no_grad():
            if device == "meta":
                model = model.to("meta")
            else:  # the values do not matter, only that they exist: zeros, as the input
                model = model.to_empty(device="cpu")
                for tensor in [*model.parameters(), *model.buffers()]:
                    tensor.zero_()
            x = torch.zeros(2, *shape, device=device)
            model.eval()
            model(x)
        return events, None
    except Exception as error:  # noqa: BLE001 - torch's error is the result
        raising = stack[-1] if stack else None
        index = sum(1 for e in events if e["cls"] == raising) if raising else None
        return events, {"message": _first_line(error), "cls": raising, "index": index, "exc": error}
    finally:
        for handle in handles:
            handle.remove()


def _verify_model(module, wanted: dict, torch, send) -> dict:
    result: dict = {"name": wanted["name"]}
    if wanted.get("shape") is None:
        result["skipped"] = "no input size: declare `# convlint: input=CxHxW`"
        return result
    try:
        model, reason = _build_on_meta(module, wanted["name"], wanted.get("factory"), torch)
    except Exception as error:  # noqa: BLE001
        result["error"] = {"message": _first_line(error), "cls": None, "index": None, "building": True}
        return result
    if model is None:
        result["skipped"] = reason
        return result
    events, error = _run(model, wanted["shape"], "meta", torch, send)
    if error is not None and (isinstance(error["exc"], NotImplementedError) or "meta" in error["message"].lower()):
        result["fallback"] = f"meta tensors unsupported ({error['message']}): ran on CPU zeros"
        events, error = _run(model, wanted["shape"], "cpu", torch, send)
    result["events"] = events
    if error is not None:
        error.pop("exc", None)
        result["error"] = error
    return result


def verify_file(entry: dict, torch, send) -> None:
    path = Path(entry["path"]).resolve()
    folder = str(path.parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    send(file=entry["path"])
    try:
        spec = importlib.util.spec_from_file_location(f"_convlint_verify_{abs(hash(str(path)))}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    except BaseException as error:  # noqa: BLE001 - SystemExit too: the user's file is not ours
        send(import_error=_first_line(error))
        return
    for wanted in entry["models"]:
        send(model=wanted["name"])
        send(outcome=_verify_model(module, wanted, torch, send))


def _skip_dynamo_import(torch) -> None:
    """Many of torch's Python meta kernels are wrapped by `torch._compile._disable_dynamo`, whose
    first call imports torch._dynamo (over a second, more than the rest of the pass) only to run
    the kernel with torch.compile switched off. Nothing compiles here, so give each wrapper its own
    function as the switched-off one, which it caches in `fn.__dynamo_disable`. Should torch change
    this, nothing is found and the import just costs its time again."""
    import gc
    import types

    try:
        code = torch._compile._disable_dynamo(lambda: None).__code__
        slot = code.co_freevars.index("fn")
    except (AttributeError, TypeError, ValueError):
        return
    for obj in gc.get_objects():
        if type(obj) is types.FunctionType and obj.__code__ is code:
            fn = obj.__closure__[slot].cell_contents
            try:
                setattr(fn, "__dynamo_disable", fn)
            except (AttributeError, TypeError):
                continue


def _warm_up(torch) -> None:
    """Run a few layers on meta once: torch imports what its meta kernels need (sympy: half a
    second) on first use, and that belongs to the start, not to the time of the user's first model."""
    nn = torch.nn
    with contextlib.suppress(Exception), torch.device("meta"), torch.no_grad():  # only ever a head start
        layers = nn.Sequential(nn.Conv2d(1, 1, 1), nn.BatchNorm2d(1), nn.Flatten(), nn.Linear(1, 1))
        layers.eval()(torch.zeros(1, 1, 1, 1))


def main() -> int:
    out = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # the user's output, even from C code, stays out of the progress lines

    def send(**message) -> None:
        out.write(json.dumps(message) + "\n")
        out.flush()

    try:
        import torch
    except Exception:  # noqa: BLE001 - any failure to import is "no torch"
        return NO_TORCH
    if "torch._dynamo" not in sys.modules:
        _skip_dynamo_import(torch)
    _warm_up(torch)
    for entry in json.load(sys.stdin):
        verify_file(entry, torch, send)
    send(end=True)  # the parent need not wait for torch's slow exit
    return 0


if __name__ == "__main__":
    sys.exit(main())
