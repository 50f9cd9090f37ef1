"""`--verify`: run the models convlint found under torch, in a child process, and compare.

The parent never imports torch; convlint.verify_child does, and runs the user's code."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path

from .findings import Finding, Span

DEFAULT_TIMEOUT = 60.0
NO_TORCH_MESSAGE = "--verify needs PyTorch: pip install 'convlint[torch]'"


class VerifyError(Exception):
    """The pass could not run at all (no torch, a timeout, a crashed child)."""


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


def verify_paths(paths, input_shape=None, timeout: float = DEFAULT_TIMEOUT) -> VerifyResult:
    from .engine import analyze_source, read_source
    from .files import discover

    analyses = {}
    request = []
    for path in discover([str(p) for p in paths]):
        source = read_source(path)
        if not isinstance(source, bytes):
            continue
        analysis = analyze_source(source, str(path), input_shape, details=True)
        if not analysis.models:
            continue
        analyses[str(path)] = analysis
        request.append({
            "path": str(path),
            "models": [{"name": m.name, "shape": list(m.input_shape) if _concrete(m.input_shape) else None}
                       for m in analysis.models],
        })
    result = VerifyResult()
    if not request:
        return result
    for entry in _run_child(request, timeout):
        _compare(analyses[entry["path"]], entry, result)
    result.findings.sort(key=Finding.sort_key)
    return result


def _run_child(request: list[dict], timeout: float) -> list[dict]:
    with tempfile.TemporaryDirectory(prefix="convlint-verify-") as folder:
        answer = Path(folder, "answer.json")
        child = subprocess.Popen(
            [sys.executable, "-m", "convlint.verify_child", str(answer)],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            start_new_session=True,
        )
        try:
            _, err = child.communicate(json.dumps(request).encode(), timeout=timeout)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(child.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                child.kill()
            child.communicate()
            raise VerifyError(f"--verify timed out after {timeout:g} s (a model that hangs? raise --verify-timeout)") from None
        from .verify_child import NO_TORCH

        if child.returncode == NO_TORCH:
            raise VerifyError(NO_TORCH_MESSAGE)
        if child.returncode != 0 or not answer.exists():
            last = (err or b"").decode("utf-8", "replace").strip().splitlines()[-1:] or ["no output"]
            raise VerifyError(f"--verify: the child process failed (exit {child.returncode}): {last[0]}")
        return json.loads(answer.read_text(encoding="utf-8"))


def _compare(analysis, entry: dict, result: VerifyResult) -> None:
    path = entry["path"]
    if "import_error" in entry:
        result.findings.append(_finding(path, 1, "runtime-error", f"importing the file raised {entry['import_error']}"))
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
        doing = "building" if error.get("building") else "running"
        result.findings.append(_finding(path, line, "runtime-error", f"torch raised {doing} `{view.name}`: {error['message']}"))


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
