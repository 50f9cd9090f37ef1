"""The child process of `--verify`: imports the user's files, builds their models, runs them.

Reads a JSON request on stdin; writes its JSON answer to the path given as argv[1]. Executes user code:
only ever run as a child, and only when `--verify` asks (see convlint.verify)."""

from __future__ import annotations

import importlib.util
import inspect
import json
import sys
from pathlib import Path

NO_TORCH = 3


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


def _build(module, name: str, nn):
    """(model, None) or (None, reason it is skipped) or raises (a runtime error while building)."""
    if not hasattr(module, name):
        return None, "not found at module level after import"
    obj = getattr(module, name)
    if isinstance(obj, nn.Module):
        return obj, None
    if isinstance(obj, type) and issubclass(obj, nn.Module):
        needed = _required(obj.__init__)[1:]
        if needed:
            return None, f"constructor needs arguments ({', '.join(needed)})"
        return obj(), None
    if callable(obj):
        needed = _required(obj)
        if needed:
            return None, f"function needs arguments ({', '.join(needed)})"
        built = obj()
        if not isinstance(built, nn.Module):
            return None, f"returned {type(built).__name__}, not an nn.Module"
        return built, None
    return None, f"is a {type(obj).__name__}, not an nn.Module"


def _run(model, shape, device, torch):
    events: list[dict] = []
    stack: list[str] = []
    handles = []
    leaves = [m for m in model.modules() if not list(m.children())]

    def pre(mod, _inputs):
        stack.append(type(mod).__name__)

    def post(mod, _inputs, output):
        if stack:
            stack.pop()
        out = list(output.shape[1:]) if isinstance(output, torch.Tensor) else None
        events.append({"cls": type(mod).__name__, "shape": out})

    for leaf in leaves:
        handles.append(leaf.register_forward_pre_hook(pre))
        handles.append(leaf.register_forward_hook(post))
    try:
        model = model.to(device)
        with torch.no_grad():
            if device == "meta":
                x = torch.empty(2, *shape, device="meta")
            else:
                x = torch.zeros(2, *shape)
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


def verify_file(entry: dict, torch) -> dict:
    nn = torch.nn
    path = Path(entry["path"]).resolve()
    out: dict = {"path": entry["path"], "models": []}
    folder = str(path.parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    try:
        spec = importlib.util.spec_from_file_location(f"_convlint_verify_{abs(hash(str(path)))}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    except BaseException as error:  # noqa: BLE001 - SystemExit too: the user's file is not ours
        out["import_error"] = _first_line(error)
        return out
    for wanted in entry["models"]:
        result: dict = {"name": wanted["name"]}
        out["models"].append(result)
        if wanted.get("shape") is None:
            result["skipped"] = "no input size: declare `# convlint: input=CxHxW`"
            continue
        try:
            model, reason = _build(module, wanted["name"], nn)
        except Exception as error:  # noqa: BLE001
            result["error"] = {"message": _first_line(error), "cls": None, "index": None, "building": True}
            continue
        if model is None:
            result["skipped"] = reason
            continue
        events, error = _run(model, wanted["shape"], "meta", torch)
        if error is not None and (isinstance(error["exc"], NotImplementedError) or "meta" in error["message"].lower()):
            result["fallback"] = f"meta tensors unsupported ({error['message']}): ran on CPU zeros"
            events, error = _run(model, wanted["shape"], "cpu", torch)
        result["events"] = events
        if error is not None:
            error.pop("exc", None)
            result["error"] = error
    return out


def main() -> int:
    request = json.load(sys.stdin)
    answer_path = sys.argv[1]
    try:
        import torch
    except Exception:  # noqa: BLE001 - any failure to import is "no torch"
        return NO_TORCH
    sys.stdout = sys.stderr  # the user's prints stay out of the answer
    answer = [verify_file(entry, torch) for entry in request]
    with open(answer_path, "w", encoding="utf-8") as handle:
        json.dump(answer, handle)
    return 0


if __name__ == "__main__":
    sys.exit(main())
