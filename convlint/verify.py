"""`--verify`: run the models convlint found under torch, in a child process, and compare.

The parent never imports torch; convlint.verify_child does, and runs the user's code."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field, replace

from .findings import Finding, Span

DEFAULT_TIMEOUT = 60.0  # per file import and per model (build and run): a hang must not stop the pass
STARTUP_TIMEOUT = 60.0  # importing torch, which a short --verify-timeout must not cut
NO_TORCH_MESSAGE = "--verify needs PyTorch: pip install 'convlint[torch]'"


class VerifyError(Exception):
    """The pass could not run at all (no torch, torch not starting, a crashed child)."""


@dataclass
class VerifyResult:
    findings: list[Finding] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # "path: skipped Net: constructor needs arguments (x)"
    notes: list[str] = field(default_factory=list)  # agreements, CPU fallbacks
    clean_models: list[tuple[str, set[int]]] = field(default_factory=list)  # (path, lines) of models torch ran through on the CPU
    other_models: list[tuple[str, set[int]]] = field(default_factory=list)  # (path, lines) of the models not (or not cleanly) run
    raised: list[tuple[str, set[int]]] = field(default_factory=list)  # (path, chain of lines) of each problem torch showed


def _finding(path: str, line: int, name: str, message: str) -> Finding:
    from . import rules

    rule = rules.BY_NAME[name]
    return Finding(path, Span(line, 1, line, 1), rule.code, name, rule.severity, message)


def _fmt(shape) -> str:
    return "×".join(str(d) for d in shape) if shape else "()"


def _concrete(shape) -> bool:
    return shape is not None and all(isinstance(d, int) and not isinstance(d, bool) for d in shape)


class Progress:
    """`verify: file 2/5 (models/resnet.py), model 3/12 (ResNet18)` on one line of `stream`,
    rewritten in place, erased at the end; only when the stream is a terminal."""

    def __init__(self, stream, request: list[dict]) -> None:
        isatty = getattr(stream, "isatty", None)
        self.stream = stream if isatty is not None and isatty() else None
        self.files, self.models = len(request), sum(len(entry["models"]) for entry in request)
        self.file_count = self.model_count = 0
        self.file = self.model = ""
        self.shown = False

    def started_file(self, path: str) -> None:
        self.file_count, self.file, self.model = self.file_count + 1, path, ""
        self._show()

    def started_model(self, name: str) -> None:
        self.model_count, self.model = self.model_count + 1, name
        self._show()

    def _show(self) -> None:
        if self.stream is None:
            return
        line = f"verify: file {self.file_count}/{self.files} ({self.file})"
        if self.model:
            line += f", model {self.model_count}/{self.models} ({self.model})"
        self.stream.write("\r\033[K" + line)
        self.stream.flush()
        self.shown = True

    def end(self) -> None:
        if self.stream is not None and self.shown:
            self.stream.write("\r\033[K")
            self.stream.flush()


class _Plan:
    """What the static pass predicts for one model, by identity (see convlint.verify_match): the
    expected calls, and for each the line a finding about it goes to and the lines of its chain
    (a layer's construction and the helper call that made it)."""

    def __init__(self, view, positions) -> None:
        from .verify_match import call_name

        self.view = view
        self.expect: list[dict] = []
        self.where: dict[tuple, tuple[int, set[int], str]] = {}  # key -> (line, chain, what)
        self.layers: dict[str, tuple[int, set[int]]] = {}  # module path -> (line, chain)
        self.lines: set[int] = {view.line}
        model = view.model
        paths = model.paths if model is not None else {}
        for layer in model.registered if model is not None else []:
            if id(layer) in paths:
                self.layers[paths[id(layer)]] = self._chain(layer, positions)
        counts: dict[tuple, int] = {}
        for step in view.steps:
            op = step.step.op
            if op.kind in ("input", "join", "rank") or op.speculative:
                continue  # an arm that may not run: its family is left uncompared (the counts differ)
            if op.kind == "layer" and id(op.layer) in paths:
                path = paths[id(op.layer)]
                head = ("m", path)
                line, chain = self.layers.get(path) or self._chain(op.layer, positions)
            else:
                if not positions.local(op.node):
                    continue
                name = call_name(op.node)
                if name is None:
                    continue
                line = positions.line(op.node)
                head, chain = ("f", line, name), {line}
            k = counts.get(head, 0)
            counts[head] = k + 1
            key = [*head, k]
            shape = list(step.out_shape) if _concrete(step.out_shape) else None
            self.expect.append({"key": key, "shape": shape})
            self.where[tuple(key)] = (line, chain, step.kind)
            self.lines |= chain
        for step in view.steps:
            self.lines.add(step.line)
        if model is not None:
            for layer in model.layers:
                self.lines |= self._chain(layer, positions)[1]

    def _chain(self, layer, positions) -> tuple[int, set[int]]:
        """Where a finding about the layer goes, as the static pass reports it: the helper call that
        built it (or the local call into another file's code), else its constructor; and both."""
        chain = {positions.line(n) for n in (layer.node, layer.site) if positions.local(n)}
        for node in (layer.site, layer.node):
            if positions.local(node):
                return positions.line(node), chain
        return self.view.line, {self.view.line}

    def locate(self, key) -> tuple[int, set[int], str]:
        """Where a torch call goes: its static step's line, else its own line (a call of the file),
        else the module's construction, else the model."""
        found = self.where.get(tuple(key))
        if found is not None:
            return found
        if key[0] == "f":
            return key[1], {key[1]}, key[2]
        line, chain = self.layers.get(key[1], (self.view.line, {self.view.line}))
        return line, chain, f"module `{key[1]}`"


def start_child(workers: int | None = None) -> _Child:
    """The child process verify_paths will use; it imports torch while the caller goes on."""
    return _Child(workers or worker_count())


def verify_paths(paths, input_shape=None, timeout: float = DEFAULT_TIMEOUT, resolver=None, progress=None,
                 workers: int | None = None, child: _Child | None = None) -> VerifyResult:
    """`progress`: a stream (stderr) for the progress line, shown if it is a terminal; `workers`:
    run the models in that many processes (default: one a core, for requests large enough);
    `child`: one start_child started earlier (verify_paths ends it)."""
    from .files import discover

    files = list(discover([str(p) for p in paths]))
    result = VerifyResult()
    notebooks = [path for path in files if str(path).endswith(".ipynb")]
    files = [path for path in files if path not in notebooks]
    result.skipped += [f"{path}: skipped: notebooks are not run (the static check reads them)" for path in notebooks]
    if not files:
        if child is not None:
            child.kill()
        return result
    child = child or start_child(workers)  # torch imports while the static pass below runs, and its modules import
    try:
        from .config import Resolver
        from .engine import analyze_source, read_source

        resolver = resolver or Resolver()
        analyses = {}
        planned: dict[str, dict] = {}  # path -> model name -> _Plan
        request = []
        for path in files:
            source = read_source(path)
            if not isinstance(source, bytes):
                continue
            config = resolver.config_for(path)
            analysis = analyze_source(source, str(path), input_shape, details=True, config_inputs=config.inputs_for(path))
            # torch runs what the file defines, in evaluation mode: not the training-mode runs, nor the
            # sub-modules convlint ran on their own
            for other in analysis.models:
                if other.training or other.part_of is not None:  # its static findings are not torch's to judge here
                    result.other_models.append((str(path), _Plan(other, analysis.positions).lines))
            analysis.models = [m for m in analysis.models if not m.training and m.part_of is None]
            if not analysis.models:
                continue
            analyses[str(path)] = analysis
            errors = {f.line for f in analysis.findings if f.severity == "error"}
            plans = [_Plan(m, analysis.positions) for m in analysis.models]
            planned[str(path)] = {m.name: plan for m, plan in zip(analysis.models, plans)}
            request.append({"path": str(path), "models": [
                {"name": m.name, "shape": list(m.input_shape) if _concrete(m.input_shape) else None,
                 "factory": config.factory_for(path, m.name), "expect": plan.expect,
                 "check": sorted(errors & plan.lines)}
                for m, plan in zip(analysis.models, plans)
            ]})
        shown = Progress(progress, request)
        try:
            answers = _answers(request, timeout, child, shown, workers) if request else []
        finally:
            shown.end()
    finally:
        child.kill()
    for entry in answers:
        _compare(analyses[entry["path"]], planned[entry["path"]], entry, result)
    result.findings.sort(key=Finding.sort_key)
    return result


MODELS_A_WORKER = 8  # a request of fewer models a worker is not split: a worker's own start would cost more


def worker_count() -> int:
    """How many workers a child may fork: one a core, at most 4 (each may run a model on the CPU)."""
    if not hasattr(os, "fork"):
        return 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(4, cores))


def split(request: list[dict], parts: int, by_size: bool = True) -> list[list[dict]]:
    """The request in `parts` parts of about the same work (a file stays whole: its models are
    judged together), each in the request's order; with `by_size`, fewer parts when there are
    not MODELS_A_WORKER models a part (the rest are empty)."""
    if by_size:
        parts = min(parts, max(1, sum(len(entry["models"]) for entry in request) // MODELS_A_WORKER))

    def work(entry: dict) -> int:
        return sum(1 + len(model["expect"]) for model in entry["models"])

    shares: list[list[int]] = [[] for _ in range(parts)]
    loads = [0] * parts
    for index in sorted(range(len(request)), key=lambda i: -work(request[i])):
        lightest = loads.index(min(loads))
        shares[lightest].append(index)
        loads[lightest] += work(request[index])
    return [[request[i] for i in sorted(share)] for share in shares]


class _Child:
    """One child process, which forks a worker for each of its streams (stdout and the pipes
    given to it). A thread a stream reads its progress lines, so that the parent can wait for
    the next one of any with a time limit."""

    def __init__(self, streams: int = 1) -> None:
        # a file, not a pipe: a child that prints a lot never blocks on it
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 - closed by kill()
        pipes = [os.pipe() for _ in range(streams - 1)]
        self.process = subprocess.Popen(
            [sys.executable, "-m", "convlint.verify_child", *(str(w) for _, w in pipes)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, start_new_session=True,
            pass_fds=[w for _, w in pipes],
        )
        for _, w in pipes:
            os.close(w)
        self.streams = [self.process.stdout, *(os.fdopen(r, "rb") for r, _ in pipes)]
        self.lines: queue.Queue = queue.Queue()
        for index, stream in enumerate(self.streams):
            threading.Thread(target=self._read, args=(index, stream), daemon=True).start()

    def _read(self, index: int, stream) -> None:
        with stream:
            for line in stream:
                try:
                    self.lines.put((index, json.loads(line)))
                except ValueError:
                    continue
        self.lines.put((index, None))

    def send(self, parts: list[list[dict]]) -> None:
        """A part for each stream's worker. In a thread: the child reads only once torch is
        imported, and a large request must not block the parent past its time limits."""

        def write(data: bytes) -> None:
            try:
                self.process.stdin.write(data)
                self.process.stdin.close()
            except OSError:
                pass  # it has ended already: the end of its output says why

        threading.Thread(target=write, args=(json.dumps(parts).encode(),), daemon=True).start()

    def next(self, deadline: float) -> tuple[int, dict | None]:
        """(stream, its next progress line); None: the stream has ended; raises queue.Empty at the deadline."""
        return self.lines.get(timeout=max(0.0, deadline - time.monotonic()))

    @staticmethod
    def kill_worker(pid: int | None) -> None:
        if pid is not None:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass

    def kill(self, grace: float = 0.0) -> int:
        """Its exit status, once it has ended: after `grace` s it is killed, and the processes it
        started (its workers, and theirs) are, whether it has ended or not."""
        if not self.log.closed:
            try:
                self.process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                pass
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            except AttributeError:  # no process groups: no workers either
                self.process.kill()
            self.process.wait()
            self.log.seek(0)
            self.last_words = (self.log.read().decode("utf-8", "replace").strip().splitlines() or ["no output"])[-1]
            self.log.close()
        return self.process.returncode


def _answers(request: list[dict], timeout: float, child: _Child, progress: Progress | None = None,
             workers: int | None = None) -> list[dict]:
    """Each file's outcome. A file or model that hangs, or ends its worker, is reported as such,
    and once the other workers are done a new child goes on with the rest. `workers`: split the
    request in that many parts whatever its size (else by size, into as many as the child has)."""
    answers = {entry["path"]: {"path": entry["path"], "models": []} for entry in request}
    pending = request
    while pending:
        child = child or _Child(workers or worker_count())
        try:
            parts = split(pending, len(child.streams), by_size=workers is None)
            stops = _follow(child, parts + [[]] * (len(child.streams) - len(parts)), timeout, answers, progress)
        finally:
            child.kill()
        if not stops:
            break
        for (path, name), layer, stopped in stops:
            if name is None:
                answers[path]["import_error"] = stopped
            else:
                answers[path]["models"].append({"name": name, "error": {"message": stopped, "module": layer,
                                                                          "lines": [], "stopped": True}})
        pending, child = _rest(request, answers), None
    return list(answers.values())


@dataclass
class _Worker:
    """What the parent knows of one worker: the step it is in, (path, None) importing the file or
    (path, name) running that model, the layer it is in, and when that step must be done by."""

    deadline: float
    pid: int | None = None
    path: str | None = None
    step: tuple | None = None
    layer: str | None = None
    done: bool = False


def _follow(child: _Child, parts: list[list[dict]], timeout: float, answers: dict, progress: Progress | None = None):
    """Follow one child's workers through their parts, filling `answers`, until each has got to
    its end or stopped: the steps they stopped in, each with the layer and why."""
    from .verify_child import NO_TORCH

    child.send(parts)
    startup = max(timeout, STARTUP_TIMEOUT)
    workers = [_Worker(time.monotonic() + startup) for _ in parts]
    stops = []

    def stop(worker: _Worker, why: str) -> None:
        stops.append((worker.step, worker.layer, why))
        worker.done = True
        child.kill_worker(worker.pid)

    while not all(w.done for w in workers):
        try:
            index, message = child.next(min(w.deadline for w in workers if not w.done))
        except queue.Empty:
            for worker in workers:
                if worker.done or worker.deadline > time.monotonic():
                    continue
                if worker.path is None:
                    raise VerifyError(f"--verify: torch did not start within {startup:g} s") from None
                if worker.step is None:
                    raise VerifyError("--verify: the child process stopped answering") from None
                what = "a file" if worker.step[1] is None else "a model"
                stop(worker, f"did not finish within {timeout:g} s ({what} that hangs? raise --verify-timeout)")
            continue
        worker = workers[index]
        if worker.done:
            continue
        if message is None or "exited" in message:  # the child has ended, or this worker without its end
            code = child.kill(grace=5.0) if message is None else message["exited"]
            if worker.path is None and code == NO_TORCH:
                raise VerifyError(NO_TORCH_MESSAGE)
            if worker.step is None:
                child.kill()
                raise VerifyError(f"--verify: the child process failed (exit {code}): {child.last_words}")
            stop(worker, f"ended the verify process ({f'exit {code}' if code >= 0 else f'signal {-code}'})")
        elif "end" in message:
            worker.done = True
        elif "worker" in message:
            worker.pid = message["worker"]
        elif "file" in message:
            worker.path = path = message["file"]
            worker.step, worker.deadline = (path, None), time.monotonic() + timeout
            if progress is not None:
                progress.started_file(path)
        elif "import_error" in message:
            answers[worker.path]["import_error"] = f"raised {message['import_error']}"
            answers[worker.path]["import_lines"] = message.get("lines") or []
            worker.step, worker.deadline = None, time.monotonic() + timeout
        elif "import_skip" in message:
            answers[worker.path]["import_skip"] = message["import_skip"]
            worker.step, worker.deadline = None, time.monotonic() + timeout
        elif "model" in message:
            worker.step, worker.layer = (worker.path, message["model"]), None
            worker.deadline = time.monotonic() + timeout
            if progress is not None:
                progress.started_model(message["model"])
        elif "layer" in message:
            worker.layer = message["layer"]
        elif "outcome" in message:
            answers[worker.path]["models"].append(message["outcome"])
            worker.step, worker.deadline = None, time.monotonic() + timeout
    return stops


def _rest(request: list[dict], answers: dict) -> list[dict]:
    """The part of the request that has no answer yet."""
    rest = []
    for entry in request:
        answer = answers[entry["path"]]
        if "import_error" in answer or "import_skip" in answer:
            continue
        done = {outcome["name"] for outcome in answer["models"]}
        models = [m for m in entry["models"] if m["name"] not in done]
        if models:
            rest.append({"path": entry["path"], "models": models})
    return rest


def _compare(analysis, plans: dict, entry: dict, result: VerifyResult) -> None:
    from .verify_match import mismatches, paired

    path = entry["path"]
    if "import_skip" in entry:
        result.skipped.append(f"{path}: skipped the file: {entry['import_skip']}")
        return
    if "import_error" in entry:
        lines = entry.get("import_lines") or [1]
        result.findings.append(_finding(path, lines[-1], "runtime-error", f"importing the file {entry['import_error']}"))
        result.raised.append((path, set(lines)))
        return
    views = {m.name: m for m in analysis.models}
    for outcome in entry["models"]:
        view = views[outcome["name"]]
        plan = plans[view.name]
        if "skipped" in outcome:
            result.skipped.append(f"{path}: skipped {view.name}: {outcome['skipped']}")
            result.other_models.append((path, plan.lines))
            continue
        if "fallback" in outcome:
            result.notes.append(f"{path}: {view.name}: {outcome['fallback']}")
        events = outcome.get("events", [])
        problems = 0
        changed = outcome.get("batch_change")
        if changed is not None:
            line, chain, what = plan.locate(changed["key"])
            result.findings.append(_finding(
                path, line, "runtime-error",
                f"torch ran `{view.name}` on a batch of 2, but the {what} here gives {_fmt(changed['shape'])}: the "
                f"output's first dimension is {outcome['batch']}, not the batch, so samples are mixed into each other",
            ))
            result.raised.append((path, chain))
            problems += 1
        for step, event in mismatches(plan.expect, events, 2):
            line, chain, what = plan.locate(step["key"])
            result.findings.append(_finding(
                path, line, "verify-mismatch",
                f"{what} gives {_fmt(event['shape'][1:])} under torch but convlint predicted {_fmt(step['shape'])}",
            ))
            problems += 1
        error = outcome.get("error")
        if error is None:
            compared = sum(1 for step, event in paired(plan.expect, events)
                           if step["shape"] is not None and event.get("shape") and event["shape"][0] == 2)
            if not problems:
                result.notes.append(f"{path}: {view.name}: {compared} of {compared} steps agree with torch")
            if outcome.get("device") == "cpu" and not problems:
                result.clean_models.append((path, plan.lines))
            else:
                result.other_models.append((path, plan.lines))
            continue
        result.other_models.append((path, plan.lines))
        lines = error.get("lines") or []
        if error.get("module") is not None and error["module"] in plan.layers:
            line, chain = plan.layers[error["module"]]  # not the forward lines that called it: their findings are not this
        elif lines:
            line, chain = lines[-1], set(lines)
        else:
            line, chain = view.line, {view.line}
        if error.get("stopped"):
            message = f"`{view.name}` {error['message']}"
        else:
            doing = "building" if error.get("building") else "running"
            message = f"torch raised {doing} `{view.name}`: {error['message']}"
        result.findings.append(_finding(path, line, "runtime-error", message))
        result.raised.append((path, chain))


def merge(static: list[Finding], verified: VerifyResult) -> list[Finding]:
    """The static findings, confirmed where torch raised (or changed the batch) at a line of the
    problem's chain, plus the verify findings; a static error is reported against convlint only
    when every model that runs its line ran clean on real CPU tensors."""
    merged, extra = [], []
    for finding in static:
        places = finding.places()
        if finding.severity == "error" and any(
            (path, line) in places for path, chain in verified.raised for line in chain
        ):
            finding = replace(finding, message=f"{finding.message} (confirmed by torch)")
        elif finding.severity == "error" and any(
            (path, line) in places for path, lines in verified.clean_models for line in lines
        ) and not any((path, line) in places for path, lines in verified.other_models for line in lines):
            extra.append(_finding(finding.path, finding.line, "verify-mismatch",
                                  f"convlint reports {finding.name} here but torch ran the model without error"))
        merged.append(finding)
    return sorted(merged + verified.findings + extra, key=Finding.sort_key)
