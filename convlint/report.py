"""Reporters: they only format findings.

Each takes (findings, files checked, stream). Findings marked `suppressed` (shown only with
`--show-suppressed`) are labelled as such and do not count in the summary.
"""

from __future__ import annotations

import json
import os
import re
import urllib.parse
from pathlib import Path
from typing import TextIO

from .console import can_encode
from .findings import Finding

INFORMATION_URI = "https://pypi.org/project/convlint/"
SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
SARIF_LEVELS = {"error": "error", "warning": "warning", "info": "note"}
GITHUB_COMMANDS = {"error": "error", "warning": "warning", "info": "notice"}


COLOURS = {"error": "\033[1;31m", "warning": "\033[1;33m", "info": "\033[1;36m"}
BOLD, RESET = "\033[1m", "\033[0m"


def text(findings: list[Finding], files: int, out: TextIO, colour: bool = False, quiet: bool = False) -> None:
    """`path:line:col: CODE [name] message`; with `colour`, the path bold and the code in its
    severity's colour (as ruff does on a terminal)."""
    for f in findings:
        mark = " (suppressed)" if f.suppressed else ""
        if colour:
            position = f.where[len(f.path) + 1 :]  # `line:col`, or `cell N:line:col`
            out.write(f"{BOLD}{f.path}{RESET}:{position}: {COLOURS[f.severity]}{f.code}{RESET} [{f.name}] {f.message}{mark}\n")
        else:
            out.write(f"{f.where}: {f.code} [{f.name}] {f.message}{mark}\n")
    if not quiet:
        out.write(summary(findings, files) + "\n")


def counts(findings: list[Finding]) -> list[tuple[int, str, str]]:
    """(count, code, name) per check, most frequent first, suppressed findings left out."""
    tally: dict[tuple[str, str], int] = {}
    for f in findings:
        if not f.suppressed:
            tally[(f.code, f.name)] = tally.get((f.code, f.name), 0) + 1
    return sorted(((n, code, name) for (code, name), n in tally.items()), key=lambda row: (-row[0], row[1]))


def statistics(findings: list[Finding], files: int, out: TextIO, quiet: bool = False) -> None:
    """`--statistics`: one line per check, `count  CODE  name`, then the summary line."""
    rows = counts(findings)
    width = max((len(str(n)) for n, _, _ in rows), default=1)
    for n, code, name in rows:
        out.write(f"{n:>{width}}  {code}  {name}\n")
    if not quiet:
        out.write(summary(findings, files) + "\n")


def json_statistics(findings: list[Finding], files: int, out: TextIO) -> None:
    json.dump([{"code": code, "name": name, "count": n} for n, code, name in counts(findings)], out, indent=2)
    out.write("\n")


def json_report(findings: list[Finding], files: int, out: TextIO) -> None:
    json.dump([_json_item(f) for f in findings], out, indent=2, ensure_ascii=not can_encode(out))
    out.write("\n")


def _json_item(f: Finding) -> dict:
    item = f.to_dict()
    if f.suppressed:
        item["suppressed"] = True
    return item


def summary(findings: list[Finding], files: int) -> str:
    hidden = sum(1 for f in findings if f.suppressed)
    findings = [f for f in findings if not f.suppressed]
    checked = f"{files} file{'s' if files != 1 else ''} checked"
    if hidden:
        checked += f"; {hidden} suppressed"
    if not findings:
        return f"No findings ({checked})."
    counts: dict[str, int] = {}
    for f in findings:
        counts[f.severity] = counts.get(f.severity, 0) + 1
    parts = [f"{n} {severity}{'s' if n != 1 else ''}" for severity, n in sorted(counts.items())]
    total = len(findings)
    return f"Found {total} finding{'s' if total != 1 else ''} ({', '.join(parts)}; {checked})."


# --------------------------------------------------------------------------- SARIF 2.1.0


def sarif(findings: list[Finding], files: int, out: TextIO) -> None:
    json.dump(sarif_log(findings), out, indent=2, ensure_ascii=not can_encode(out))
    out.write("\n")


def sarif_log(findings: list[Finding], cwd: str | os.PathLike | None = None) -> dict:
    from . import __version__, rules

    cwd = Path(os.path.abspath(cwd or os.getcwd()))
    index = {rule.code: i for i, rule in enumerate(rules.RULES)}
    results = []
    for f in findings:
        uri, relative = artifact_uri(f.path, cwd)
        location = {"uri": uri, "uriBaseId": "%SRCROOT%"} if relative else {"uri": uri}
        result = {
            "ruleId": f.code,
            "ruleIndex": index[f.code],
            "level": SARIF_LEVELS[f.severity],
            "message": {"text": f.message},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": location,
                        "region": _region(f.file_span or f.span),
                    }
                }
            ],
        }
        if f.cell is not None:  # the region is in the notebook's JSON; where that is in the cell:
            result["properties"] = {"cell": f.cell, "cellLine": f.span.line, "cellColumn": f.span.column}
        if f.suppressed:
            result["suppressions"] = [{"kind": "inSource"}]
        results.append(result)
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "convlint",
                        "version": __version__,
                        "semanticVersion": __version__,
                        "informationUri": INFORMATION_URI,
                        "rules": [_sarif_rule(rule) for rule in rules.RULES],
                    }
                },
                "originalUriBaseIds": {"%SRCROOT%": {"uri": cwd.as_uri().rstrip("/") + "/"}},
                "invocations": [{"executionSuccessful": not any(f.name == "internal-error" for f in findings)}],
                "columnKind": "unicodeCodePoints",
                "results": results,
            }
        ],
    }


def _region(span) -> dict:
    return {"startLine": span.line, "startColumn": span.column, "endLine": span.end_line, "endColumn": span.end_column}


def artifact_uri(path: str, cwd: Path) -> tuple[str, bool]:
    """(uri, relative?): relative to `cwd` with `/` when the file is under it, else a file: URI."""
    absolute = Path(os.path.abspath(path))
    try:
        relative = absolute.relative_to(cwd)
    except ValueError:
        return absolute.as_uri(), False
    return urllib.parse.quote(relative.as_posix()), True


def _sarif_rule(rule) -> dict:
    doc = rule.doc.strip()
    description = re.split(r"\n\s*\n(?=(?:Bad|Good):)", doc, maxsplit=1)[0].strip()
    return {
        "id": rule.code,
        "name": rule.name,
        "shortDescription": {"text": rule.summary},
        "fullDescription": {"text": description},
        "help": {"text": doc, "markdown": _markdown(doc)},
        "defaultConfiguration": {"level": SARIF_LEVELS[rule.severity]},
        "properties": {"tags": ["convlint"]},
    }


def _markdown(doc: str) -> str:
    """The docstring's indented examples as fenced Python blocks (an indented block right after
    a `Bad:` line would otherwise be read as part of that paragraph)."""
    lines, block, result = doc.splitlines(), [], []

    def flush() -> None:
        if block:
            while block and not block[-1].strip():
                block.pop()
            result.extend(["```python", *[line[4:] if line.startswith("    ") else line for line in block], "```", ""])
            block.clear()

    for line in lines:
        if line.startswith("    ") or (block and not line.strip()):
            block.append(line)
        else:
            flush()
            result.append(line)
    flush()
    return "\n".join(result).strip() + "\n"


# --------------------------------------------------------------------------- GitHub Actions


def github(findings: list[Finding], files: int, out: TextIO) -> None:
    """Workflow commands that GitHub turns into annotations on the pull request."""
    cwd = Path.cwd()
    for f in findings:
        if f.suppressed:
            continue
        path = _github_path(f.path, cwd)
        span = f.file_span or f.span  # a notebook's annotation goes on its JSON line
        properties = [
            ("file", path),
            ("line", str(span.line)),
            ("col", str(span.column)),
            ("endLine", str(span.end_line)),
            ("endColumn", str(span.end_column)),
            ("title", f"{f.code} {f.name}" + (f" (cell {f.cell}, line {f.span.line})" if f.cell is not None else "")),
        ]
        props = ",".join(f"{key}={escape_property(value)}" for key, value in properties)
        out.write(f"::{GITHUB_COMMANDS[f.severity]} {props}::{escape_data(f.message)}\n")


def _github_path(path: str, cwd: Path) -> str:
    absolute = Path(os.path.abspath(path))
    try:
        return absolute.relative_to(cwd).as_posix()
    except ValueError:
        return absolute.as_posix()


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


FORMATS = {"text": text, "json": json_report, "sarif": sarif, "github": github}
