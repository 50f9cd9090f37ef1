"""Lint many files: discovery, one analysis per file, findings in a deterministic order."""

from __future__ import annotations

from dataclasses import dataclass, field

from .findings import Finding


@dataclass
class RunResult:
    findings: list[Finding] = field(default_factory=list)
    files: int = 0


def lint_paths(paths: list[str], select: set[str], input_shape: tuple[int, ...] | None = None) -> RunResult:
    from .engine import analyze_source, read_source
    from .files import discover

    result = RunResult()
    for path in discover(paths):
        result.files += 1
        source = read_source(path)
        if not isinstance(source, bytes):
            result.findings.append(source)
            continue
        analysis = analyze_source(source, str(path), input_shape, select, details=False)
        result.findings.extend(f for f in analysis.findings if f.name in select)
    result.findings.sort(key=Finding.sort_key)
    return result
