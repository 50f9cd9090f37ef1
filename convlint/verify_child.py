"""The child process of `--verify`: imports the user's files, builds their models, runs them.

Imports torch first, then reads the JSON request on stdin (so that the parent's static pass runs
meanwhile): a part of the files for each stream (stdout, and the pipes named in its arguments).
It forks a worker a part, and each reports on its stream, one JSON object a line, as it goes:
`{"worker": pid}`, `{"file": path}` before importing a file, `{"import_error": message, "lines":
[...]}` (the file's lines in the traceback) or `{"import_skip": reason}`, `{"model": name}` before
building one, `{"layer": path}` as each module starts and `{"layer": null}` as it ends,
`{"outcome": {...}}` when a model is done, and `{"end": true}`; should a worker end before its
end, this process adds `{"exited": status}`. The parent times each file and model by these lines.

Each model runs on meta first; where meta may be wrong (ops it does not check) or its run
disagrees with the static pass (the request's `expect`, see convlint.verify_match), it is built
again on the CPU and run on randn, and that run is the outcome. Models with a static error
(`check`: its lines) that ran clean on meta wait until the file's other models have run: if every
model that runs such a line ran clean, they run again on the CPU. Sockets refuse to connect.
Executes user code: only ever run as a child, and only when `--verify` asks (see convlint.verify)."""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import inspect
import json
import os
import sys
import traceback
import weakref
from pathlib import Path
from typing import ClassVar

from .verify_build import NETWORK_SKIP, Network, build_on
from .verify_start import prepare

NO_TORCH = 3


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}".rstrip(": ")


class _NeedsIndices(Exception):
    """The model's input goes to an embedding: it takes token ids, which verify does not make up."""


class _Frames:
    """Which code a frame belongs to: torch's own, or the user's file being verified."""

    known: ClassVar[dict[str, bool]] = {}  # file name -> torch's: the same for every file verified

    def __init__(self, torch, path: str) -> None:
        self.torch_dir = os.path.dirname(os.path.realpath(torch.__file__)) + os.sep
        self.path = os.path.realpath(path)
        self.mine: dict[str, bool] = {}

    def is_torch(self, filename: str) -> bool:
        found = self.known.get(filename)
        if found is None:
            found = self.known[filename] = os.path.realpath(filename).startswith(self.torch_dir)
        return found

    def is_user(self, filename: str) -> bool:
        found = self.mine.get(filename)
        if found is None:
            found = self.mine[filename] = filename == self.path or os.path.realpath(filename) == self.path
        return found

    def user_lines(self, error: BaseException) -> list[int]:
        """The lines of the user's file in the error's traceback, outermost first."""
        lines = []
        tb = error.__traceback__
        while tb is not None:
            if self.is_user(tb.tb_frame.f_code.co_filename):
                lines.append(tb.tb_lineno)
            tb = tb.tb_next
        return lines


def _flat(values):
    for value in values:
        if isinstance(value, (list, tuple)):
            yield from _flat(value)
        elif isinstance(value, dict):
            yield from _flat(value.values())
        else:
            yield value


# calls whose arguments the meta device does not check: indices (it has no values) and softmax's dim
UNCHECKED_ON_META = {"embedding", "index_select", "gather", "take", "take_along_dim", "scatter", "index_add",
                     "embedding_bag", "one_hot"}
SOFTMAX = {"softmax", "log_softmax", "softmin"}


def _unchecked(name: str, args, kwargs) -> bool:
    """Whether the meta device would let a wrong use of this call through."""
    if name in UNCHECKED_ON_META:
        return True
    if name in SOFTMAX and args and hasattr(args[0], "dim"):
        dim = kwargs.get("dim", args[1] if len(args) > 1 else None)
        rank = max(args[0].dim(), 1)
        return isinstance(dim, int) and not -rank <= dim < rank
    return False


def _run(model, shape, device, torch, send, frames: _Frames, seen: set | None = None):
    """Run the model on a batch of 2 (zeros on meta, randn on the CPU) and record each module call
    (by its path) and each torch call of the user's file (by line and name), in order. `seen`
    collects the names of the calls the meta device does not check."""
    from torch.overrides import TorchFunctionMode

    from .verify_match import runtime_name

    Tensor = torch.Tensor
    indexed = (torch.nn.Embedding, torch.nn.EmbeddingBag)
    made_up: list[str] = []
    events: list[dict] = []
    stack: list[tuple[str, bool]] = []  # (path, a torch class) of the modules running
    calls: dict = {}
    handles = []
    names = {}
    for path, mod in model.named_modules():
        names.setdefault(id(mod), path)
    computed: dict[int, weakref.ref] = {}  # the tensors computed from the input (not kept alive: on the CPU they are real)

    def derived(value) -> bool:
        found = computed.get(id(value))
        return found is not None and found() is value

    def mark(output) -> bool:
        marked = False
        for value in _flat([output]):
            if isinstance(value, Tensor):
                computed[id(value)] = weakref.ref(value)
                marked = True
        return marked

    def record(key_head: tuple, output, act: bool) -> None:
        count = calls.get(key_head, 0)
        calls[key_head] = count + 1
        shape = list(output.shape) if isinstance(output, Tensor) else None
        events.append({"key": [*key_head, count], "shape": shape, "act": act})

    def pre(mod, inputs):
        path = names.get(id(mod), "?")
        if isinstance(mod, indexed) and any(isinstance(v, Tensor) and v.is_floating_point() and derived(v)
                                            for v in _flat(inputs)):
            raise _NeedsIndices(f"`{path}` is an {type(mod).__name__} fed the model's input: verify runs a model "
                                "on float tensors, not token ids")
        stack.append((path, type(mod).__module__.startswith("torch.")))
        send(layer=path)

    def post(mod, inputs, output):
        path = names.get(id(mod), "?")
        if stack:
            stack.pop()
        send(layer=None)  # a hang from here on is not this layer's
        try:
            act = any(derived(v) for v in _flat(inputs) if isinstance(v, Tensor)) and mark(output)
            record(("m", path), output, act)
        except Exception:  # noqa: BLE001 - the bookkeeping must never become the model's error
            pass

    class Calls(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            try:
                name = runtime_name(getattr(func, "__name__", "") or "")
                if seen is not None and _unchecked(name, args, kwargs):
                    seen.add(name)
                indices = name in UNCHECKED_ON_META and any(
                    isinstance(v, Tensor) and not v.is_floating_point() and derived(v) for v in _flat([args, kwargs]))
            except Exception:  # noqa: BLE001 - the bookkeeping must never become the model's error
                name, indices = "", False
            if indices:
                made_up.append(name)  # indices computed from the input verify made up: an error here is not the model's
                output = func(*args, **kwargs)
                made_up.pop()
            else:
                output = func(*args, **kwargs)
            try:
                self.note(func, name, args, kwargs, output)
            except Exception:  # noqa: BLE001
                pass
            return output

        @staticmethod
        def note(func, name, args, kwargs, output) -> None:
            act = any(derived(v) for v in _flat([args, kwargs]) if isinstance(v, Tensor))
            if act:
                mark(output)
            if not name or not isinstance(output, Tensor):
                return
            frame = sys._getframe(2)
            while frame is not None and frames.is_torch(frame.f_code.co_filename):
                if frame.f_code.co_name in ("_call_impl", "_wrapped_call_impl"):
                    return  # inside a torch module: its call is the module's
                frame = frame.f_back
            if frame is not None and frames.is_user(frame.f_code.co_filename):
                record(("f", frame.f_lineno, name), output, act)

    for mod in model.modules():
        handles.append(mod.register_forward_pre_hook(pre))
        handles.append(mod.register_forward_hook(post))
    try:
        with torch.no_grad():
            if device == "meta":
                model = model.to("meta")
                x = torch.zeros(2, *shape, device="meta")
            else:
                x = torch.randn(2, *shape)
            model.eval()
            mark(x)
            with Calls():
                output = model(x)
        batch = list(output.shape)[0] if isinstance(output, Tensor) and output.dim() > 0 else None
        return events, None, batch
    except _NeedsIndices:
        raise
    except Exception as error:  # noqa: BLE001 - torch's error is the result
        if made_up and (isinstance(error, IndexError) or "out of range" in str(error) or "out of bounds" in str(error)):
            raise _NeedsIndices(f"its {made_up[0]} takes indices computed from the input: verify runs a model "
                                "on random floats, not real ids") from None
        torch_module = stack[-1] if stack and stack[-1][1] else None
        return events, {"message": _first_line(error), "module": torch_module[0] if torch_module else None,
                        "lines": frames.user_lines(error), "exc": error}, None
    finally:
        for handle in handles:
            handle.remove()
        computed.clear()


def _forward_inputs(model) -> list[str]:
    """The parameters of the model's forward that need an argument."""
    try:
        signature = inspect.signature(model.forward)
    except (TypeError, ValueError):
        return []
    return [p.name for p in signature.parameters.values()
            if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]


def _suspect(model, torch) -> str | None:
    """Why the meta device cannot be trusted with this model (it validates less than the CPU)."""
    nn = torch.nn
    for mod in model.modules():
        if isinstance(mod, nn.modules.conv._ConvTransposeNd):
            return "a transposed convolution"
    for tensor in [*model.parameters(), *model.buffers()]:
        if 0 in tensor.shape:
            return "a zero-width layer"
    for mod in model.modules():
        bias = getattr(mod, "bias", None)
        out = getattr(mod, "out_channels", getattr(mod, "out_features", None))
        if isinstance(bias, torch.Tensor) and isinstance(out, int) and tuple(bias.shape) != (out,):
            return "a bias of another length than the layer's outputs"
    return None


def _build_model(device: str, module, wanted: dict, torch, frames: _Frames, result: dict):
    """The model built on `device`, or None with the skip or the error put in `result`."""
    Network.used = False
    try:
        model, reason = build_on(device, module, wanted["name"], wanted.get("factory"), torch)
    except Exception as error:  # noqa: BLE001
        if Network.used:
            result["skipped"] = NETWORK_SKIP
        else:
            result["error"] = {"message": _first_line(error), "module": None, "lines": frames.user_lines(error),
                               "building": True}
        return None
    if model is None:
        result["skipped"] = reason
        return None
    if type(model).forward is torch.nn.Module.forward:
        result["skipped"] = "defines no forward: not a model to run"
        return None
    needs = _forward_inputs(model)
    if len(needs) > 1:
        result["skipped"] = f"forward takes {len(needs)} inputs ({', '.join(needs)}): verify runs a model on one tensor"
        return None
    return model


def _verify_model(module, wanted: dict, torch, send, frames: _Frames, why: str | None = None) -> dict:
    """Build and run the model on meta; where the meta run may be wrong or disagrees with the
    static pass (or `why` says so), again on the CPU, fresh, whose verdict is then the one reported."""
    from .verify_match import batch_change, mismatches

    result: dict = {"name": wanted["name"]}
    if wanted.get("shape") is None:
        result["skipped"] = "no input size: declare `# convlint: input=CxHxW`"
        return result
    expect, shape = wanted.get("expect", []), wanted["shape"]
    meta_error = None
    if why is None:
        model = _build_model("meta", module, wanted, torch, frames, result)
        if model is None:
            return result
        unchecked: set = set()
        try:
            events, error, batch = _run(model, shape, "meta", torch, send, frames, unchecked)
        except _NeedsIndices as skip:
            result["skipped"] = str(skip)
            return result
        if error is not None:  # meta validates less than the CPU, never more: except what it cannot run at all
            meta_error = error
            if isinstance(error["exc"], NotImplementedError) or "meta" in error["message"].lower():
                why = "meta tensors unsupported"
        elif batch is not None and batch != 2:
            why = "the batch changed"
        elif mismatches(expect, events, 2):
            why = "a shape differs"
        else:
            why = _suspect(model, torch) or (f"meta does not check {', '.join(sorted(unchecked))}" if unchecked else None)
        result["device"] = "meta"
    if why is not None:
        result["why"] = why
        model = _build_model("cpu", module, wanted, torch, frames, result)
        if model is None:
            return result
        try:
            events, error, batch = _run(model, shape, "cpu", torch, send, frames)
        except _NeedsIndices as skip:
            result["skipped"] = str(skip)
            return result
        result["device"] = "cpu"
        if meta_error is not None and error is None:
            result["fallback"] = f"meta tensors unsupported ({meta_error['message']}): ran on the CPU"
    result["events"] = events
    result["batch"] = batch
    changed = batch_change(events, 2) if batch is not None and batch != 2 else None
    if changed is not None:
        result["batch_change"] = changed
    if error is not None:
        error.pop("exc", None)
        result["error"] = error
    return result


def _clean(outcome: dict) -> bool:
    return not {"error", "batch_change", "skipped"} & set(outcome)


def _clean_on_meta(outcome: dict) -> bool:
    return outcome.get("device") == "meta" and _clean(outcome)


def _package(path: Path) -> tuple[str, str] | None:
    """(root folder, dotted module name) of a file inside a package (folders with __init__.py)."""
    parts = [path.stem]
    folder = path.parent
    while (folder / "__init__.py").is_file() and folder.name.isidentifier():
        parts.insert(0, folder.name)
        folder = folder.parent
    if len(parts) == 1:
        return None
    if path.name == "__init__.py":
        parts.pop()
    return str(folder), ".".join(parts)


def _import(path: Path):
    package = _package(path)
    if package is not None:
        root, name = package
        if root not in sys.path:
            sys.path.insert(0, root)
        module = importlib.import_module(name)
        if os.path.realpath(getattr(module, "__file__", "") or "") != os.path.realpath(path):
            raise ImportError(f"`{name}` is already another file's module in this run (verify the projects one at a time)")
        return module
    folder = str(path.parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    spec = importlib.util.spec_from_file_location(f"_convlint_verify_{abs(hash(str(path)))}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def verify_file(entry: dict, torch, send) -> None:
    path = Path(entry["path"]).resolve()
    frames = _Frames(torch, str(path))
    send(file=entry["path"])
    Network.used = False
    try:
        module = _import(path)
    except BaseException as error:  # noqa: BLE001 - SystemExit too: the user's file is not ours
        if Network.used:
            send(import_skip=NETWORK_SKIP)
        elif isinstance(error, ImportError):  # a module this machine lacks, or a relative import outside a package
            send(import_skip=f"importing it raised {_first_line(error)}")
        elif not frames.user_lines(error):  # its package's __init__, or a module it imports: not this file's code
            send(import_skip=f"importing the modules it needs raised {_first_line(error)}")
        else:
            send(import_error=_first_line(error), lines=frames.user_lines(error))
        return
    outcomes: dict[str, dict] = {}
    held = []
    for wanted in entry["models"]:
        send(model=wanted["name"])
        outcome = outcomes[wanted["name"]] = _verify_model(module, wanted, torch, send, frames)
        if wanted.get("check") and _clean_on_meta(outcome):
            held.append(wanted)  # perhaps a static error torch "ran": see below
        else:
            send(outcome=outcome)
    # A static error line is contradicted only if every model that runs it runs clean, and then
    # only on the CPU's word: those models run again there.
    lines: dict[int, list[str]] = {}
    for wanted in entry["models"]:
        for line in wanted.get("check") or ():
            lines.setdefault(line, []).append(wanted["name"])
    again = {name for names in lines.values() if all(_clean(outcomes[n]) for n in names) for name in names}
    for wanted in held:
        if wanted["name"] in again:
            send(model=wanted["name"])
            outcomes[wanted["name"]] = _verify_model(module, wanted, torch, send, frames,
                                                     why="convlint reports an error torch ran through")
        send(outcome=outcomes[wanted["name"]])


def _sender(stream):
    def send(**message) -> None:
        stream.write(json.dumps(message) + "\n")
        stream.flush()

    return send


def _work(part: list[dict], torch, stream) -> None:
    send = _sender(stream)
    send(worker=os.getpid())
    for entry in part:
        verify_file(entry, torch, send)
    send(end=True)  # the parent need not wait for torch's slow exit


def _worker_status(part: list[dict], torch, stream) -> int:
    """A forked worker's exit status, as Python's would be: it ends by os._exit, as the parent
    need not wait for torch's slow exit (nor the user's atexit handlers: their models were run)."""
    status = 0
    try:
        _work(part, torch, stream)
    except SystemExit as error:  # the user's code called sys.exit
        status = error.code if isinstance(error.code, int) else 0 if error.code is None else 1
    except BaseException:  # noqa: BLE001 - printed to the log, whose last line the parent shows
        traceback.print_exc()
        status = 1
    for std in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            std.flush()
    return status


def main(argv: list[str] | None = None) -> int:
    """The arguments: the file descriptors of the streams of the workers after the first (whose
    is stdout). Each worker is forked once torch is ready, runs its part of the request, and
    reports on its stream; this process only waits for them, and says how each one ended."""
    out = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # the user's output, even from C code, stays out of the progress lines
    streams = [out, *(os.fdopen(int(fd), "w", encoding="utf-8") for fd in (sys.argv[1:] if argv is None else argv))]
    try:
        import torch
    except Exception:  # noqa: BLE001 - any failure to import is "no torch"
        return NO_TORCH
    prepare(torch)
    Network.block()
    parts = json.load(sys.stdin)
    if not hasattr(os, "fork"):
        for part, stream in zip(parts, streams):
            _work(part, torch, stream)
        return 0
    workers = {}
    for part, stream in zip(parts, streams):
        pid = os.fork()
        if pid == 0:
            for other in streams:
                if other is not stream:
                    other.close()
            os._exit(_worker_status(part, torch, stream))
        workers[pid] = stream
    while workers:
        pid, status = os.wait()
        stream = workers.pop(pid, None)
        if stream is not None:  # what the parent reads if the worker ended without its end
            _sender(stream)(exited=os.waitstatus_to_exitcode(status))
            stream.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
