"""Reporters: they only format findings."""

from __future__ import annotations

import json
from typing import TextIO

from .findings import Finding


def text(findings: list[Finding], files: int, out: TextIO) -> None:
    for f in findings:
        out.write(f"{f.path}:{f.span.line}:{f.span.column}: {f.code} [{f.name}] {f.message}\n")
    out.write(summary(findings, files) + "\n")


def json_report(findings: list[Finding], files: int, out: TextIO) -> None:
    json.dump([f.to_dict() for f in findings], out, indent=2, ensure_ascii=False)
    out.write("\n")


def summary(findings: list[Finding], files: int) -> str:
    checked = f"{files} file{'s' if files != 1 else ''} checked"
    if not findings:
        return f"No findings ({checked})."
    counts: dict[str, int] = {}
    for f in findings:
        counts[f.severity] = counts.get(f.severity, 0) + 1
    parts = [f"{n} {severity}{'s' if n != 1 else ''}" for severity, n in sorted(counts.items())]
    total = len(findings)
    return f"Found {total} finding{'s' if total != 1 else ''} ({', '.join(parts)}; {checked})."


FORMATS = {"text": text, "json": json_report}
