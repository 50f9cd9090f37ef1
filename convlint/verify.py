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
    clean_models: list[tuple[str, set[int]]] = field(default_factory=list)  # (path, lines) of models torch ran through


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


def verify_paths(paths, input_shape=None, timeout: float = DEFAULT_TIMEOUT, resolver=None, progress=None) -> VerifyResult:
    """`progress`: a stream (stderr) for the progress line, shown if it is a terminal."""
    from .config import Resolver
    from .engine import analyze_source, read_source
    from .files import discover

    files = list(discover([str(p) for p in paths]))
    result = VerifyResult()
    notebooks = [path for path in files if str(path).endswith(".ipynb")]
    files = [path for path in files if path not in notebooks]
    result.skipped += [f"{path}: skipped: notebooks are not run (the static check reads them)" for path in notebooks]
    if not files:
        return result
    resolver = resolver or Resolver()
    child = _Child()  # torch imports while the static pass below runs
    try:
        analyses = {}
        request = []
        for path in files:
            source = read_source(path)
            if not isinstance(source, bytes):
                continue
            config = resolver.config_for(path)
            analysis = analyze_source(source, str(path), input_shape, details=True, config_inputs=config.inputs_for(path))
            # torch runs what the file defines, in evaluation mode: not the training-mode runs, nor the
            # sub-modules convlint ran on their own
            analysis.models = [m for m in analysis.models if not m.training and m.part_of is None]
            if not analysis.models:
                continue
            analyses[str(path)] = analysis
            request.append({"path": str(path), "models": [
                {"name": m.name, "shape": list(m.input_shape) if _concrete(m.input_shape) else None,
                 "factory": config.factory_for(path, m.name)}
                for m in analysis.models
            ]})
        shown = Progress(progress, request)
        try:
            answers = _answers(request, timeout, child, shown) if request else []
        finally:
            shown.end()
    finally:
        child.kill()
    for entry in answers:
        _compare(analyses[entry["path"]], entry, result)
    result.findings.sort(key=Finding.sort_key)
    return result


class _Child:
    """One child process. A thread reads its progress lines, so that the parent can wait for the
    next one with a time limit."""

    def __init__(self) -> None:
        # a file, not a pipe: a child that prints a lot never blocks on it
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 - closed by kill()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "convlint.verify_child"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, start_new_session=True,
        )
        self.lines: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            try:
                self.lines.put(json.loads(line))
            except ValueError:
                continue
        self.lines.put(None)

    def send(self, request: list[dict]) -> None:
        """In a thread: the child reads only once torch is imported, and a large request must
        not block the parent past its time limits."""

        def write(data: bytes) -> None:
            try:
                self.process.stdin.write(data)
                self.process.stdin.close()
            except OSError:
                pass  # it has ended already: the end of its output says why

        threading.Thread(target=write, args=(json.dumps(request).encode(),), daemon=True).start()

    def next(self, deadline: float) -> dict | None:
        """The next progress line; None: the child has ended; raises queue.Empty at the deadline."""
        return self.lines.get(timeout=max(0.0, deadline - time.monotonic()))

    def kill(self, grace: float = 0.0) -> int:
        """Its exit status, once it has ended: after `grace` s it is killed, with the processes it started."""
        if not self.log.closed:
            try:
                self.process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.process.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError, AttributeError):
                    self.process.kill()
                self.process.wait()
            self.log.seek(0)
            self.last_words = (self.log.read().decode("utf-8", "replace").strip().splitlines() or ["no output"])[-1]
            self.log.close()
        return self.process.returncode


def _answers(request: list[dict], timeout: float, child: _Child, progress: Progress | None = None) -> list[dict]:
    """Each file's outcome. A file or model that hangs, or ends the child, is reported as such,
    and a new child goes on with the rest."""
    answers = {entry["path"]: {"path": entry["path"], "models": []} for entry in request}
    pending = request
    while pending:
        child = child or _Child()
        try:
            step, layer, stopped = _follow(child, pending, timeout, answers, progress)
        finally:
            child.kill()
        if step is None:
            break
        path, name = step
        if name is None:
            answers[path]["import_error"] = stopped
        else:
            cls, index = layer or (None, None)
            answers[path]["models"].append({"name": name, "error": {"message": stopped, "cls": cls, "index": index,
                                                                      "stopped": True}})
        pending, child = _rest(request, answers), None
    return list(answers.values())


def _follow(child: _Child, request: list[dict], timeout: float, answers: dict, progress: Progress | None = None):
    """Follow one child through `request`, filling `answers`. (None, None, None) when it got to the
    end; else the step it stopped in, (path, None) importing the file or (path, name) running that
    model, the layer it was in, and why it stopped."""
    from .verify_child import NO_TORCH

    child.send(request)
    path = step = layer = None
    startup = max(timeout, STARTUP_TIMEOUT)
    deadline = time.monotonic() + startup
    while True:
        try:
            message = child.next(deadline)
        except queue.Empty:
            if path is None:
                raise VerifyError(f"--verify: torch did not start within {startup:g} s") from None
            if step is None:
                raise VerifyError("--verify: the child process stopped answering") from None
            what = "a file" if step[1] is None else "a model"
            return step, layer, f"did not finish within {timeout:g} s ({what} that hangs? raise --verify-timeout)"
        if message is None:
            code = child.kill(grace=5.0)
            if path is None and code == NO_TORCH:
                raise VerifyError(NO_TORCH_MESSAGE)
            if step is None:
                raise VerifyError(f"--verify: the child process failed (exit {code}): {child.last_words}")
            return step, layer, f"ended the verify process ({f'exit {code}' if code >= 0 else f'signal {-code}'})"
        if "end" in message:
            return None, None, None
        if "file" in message:
            path = message["file"]
            step, deadline = (path, None), time.monotonic() + timeout
            if progress is not None:
                progress.started_file(path)
        elif "import_error" in message:
            answers[path]["import_error"] = f"raised {message['import_error']}"
            step, deadline = None, time.monotonic() + timeout
        elif "model" in message:
            step, layer, deadline = (path, message["model"]), None, time.monotonic() + timeout
            if progress is not None:
                progress.started_model(message["model"])
        elif "layer" in message:
            layer = message["layer"]
        elif "outcome" in message:
            answers[path]["models"].append(message["outcome"])
            step, deadline = None, time.monotonic() + timeout


def _rest(request: list[dict], answers: dict) -> list[dict]:
    """The part of the request that has no answer yet."""
    rest = []
    for entry in request:
        answer = answers[entry["path"]]
        if "import_error" in answer:
            continue
        done = {outcome["name"] for outcome in answer["models"]}
        models = [m for m in entry["models"] if m["name"] not in done]
        if models:
            rest.append({"path": entry["path"], "models": models})
    return rest


def _compare(analysis, entry: dict, result: VerifyResult) -> None:
    path = entry["path"]
    if "import_error" in entry:
        result.findings.append(_finding(path, 1, "runtime-error", f"importing the file {entry['import_error']}"))
        return
    views = {m.name: m for m in analysis.models}
    for outcome in entry["models"]:
        view = views[outcome["name"]]
        if "skipped" in outcome:
            result.skipped.append(f"{path}: skipped {view.name}: {outcome['skipped']}")
            continue
        if "fallback" in outcome:
            result.notes.append(f"{path}: {view.name}: {outcome['fallback']}")
        by_kind: dict[str, list] = {}
        for step in view.steps:
            by_kind.setdefault(step.kind, []).append(step)
        seen: dict[str, int] = {}
        compared = agreed = 0
        for event in outcome.get("events", []):
            index = seen.get(event["cls"], 0)
            seen[event["cls"]] = index + 1
            steps = by_kind.get(event["cls"], [])
            if index >= len(steps) or event["shape"] is None:
                continue
            step = steps[index]
            if not _concrete(step.out_shape):
                continue
            compared += 1
            torch_shape = tuple(event["shape"])
            if tuple(step.out_shape) == torch_shape:
                agreed += 1
                continue
            result.findings.append(_finding(
                path, step.line, "verify-mismatch",
                f"{step.kind} gives {_fmt(torch_shape)} under torch but convlint predicted {_fmt(step.out_shape)}",
            ))
        error = outcome.get("error")
        if error is None:
            result.notes.append(f"{path}: {view.name}: {agreed} of {compared} layers agree with torch")
            result.clean_models.append((path, {view.line} | {s.line for s in view.steps}))
            continue
        line = view.line
        steps = by_kind.get(error.get("cls") or "", [])
        if error.get("index") is not None and error["index"] < len(steps):
            line = steps[error["index"]].line
        if error.get("stopped"):
            message = f"`{view.name}` {error['message']}"
        else:
            doing = "building" if error.get("building") else "running"
            message = f"torch raised {doing} `{view.name}`: {error['message']}"
        result.findings.append(_finding(path, line, "runtime-error", message))


def merge(static: list[Finding], verified: VerifyResult) -> list[Finding]:
    """The static findings, confirmed where torch raised on their line, plus the verify findings;
    a static error in a model torch ran through is reported against convlint."""
    raised = {(f.path, f.line) for f in verified.findings if f.name == "runtime-error"}
    merged, extra = [], []
    for finding in static:
        if finding.severity == "error" and (finding.path, finding.line) in raised:
            finding = replace(finding, message=f"{finding.message} (confirmed by torch)")
        elif finding.severity == "error" and any(
            finding.path == path and finding.line in lines for path, lines in verified.clean_models
        ):
            extra.append(_finding(finding.path, finding.line, "verify-mismatch",
                                  f"convlint reports {finding.name} here but torch ran the model without error"))
        merged.append(finding)
    return sorted(merged + verified.findings + extra, key=Finding.sort_key)
