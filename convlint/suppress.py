"""Inline suppressions, on the line a finding starts on (its `span.line`).

    x = nn.Conv2d(32, 64, 3)  # convlint: ignore[channel-mismatch]
    x = nn.Conv2d(32, 64, 3)  # convlint: ignore[CL001, dropped-pixels]
    x = nn.Conv2d(32, 64, 3)  # convlint: ignore
    x = nn.Conv2d(32, 64, 3)  # noqa: CL001
    x = nn.Conv2d(32, 64, 3)  # noqa

Only real comments count (read with `tokenize`, so a `#` inside a string is not one). The
`unused-suppression` check (CL903) reports a `# convlint: ignore` that suppressed nothing;
`# noqa` comments belong to every linter on the line and are never reported.
"""

from __future__ import annotations

import dataclasses
import io
import re
import tokenize
from dataclasses import dataclass, field

from .findings import Finding, Span

UNUSED = "unused-suppression"
UNSUPPRESSIBLE = frozenset({"internal-error"})  # a crash is ours to hear about: it sets the exit status

CONVLINT = re.compile(r"#\s*convlint\s*:\s*ignore(?![\w-])(?:\[(?P<codes>[^\]]*)\])?", re.IGNORECASE)
NOQA = re.compile(r"#\s*noqa(?::\s?(?P<codes>[A-Z]+[0-9]+(?:[,\s]+[A-Z]+[0-9]+)*))?", re.IGNORECASE)
QUICK = re.compile(rb"#\s*(?:noqa|convlint\s*:\s*ignore)", re.IGNORECASE)
QUICK_OWN = re.compile(rb"#\s*convlint\s*:\s*ignore", re.IGNORECASE)


@dataclass
class Directive:
    line: int
    column: int  # 1-based, the `#`
    end_column: int  # just past the directive
    kind: str  # "convlint" or "noqa"
    codes: tuple[str, ...] | None  # as written; None: every check
    used: set = field(default_factory=set)  # the codes that suppressed something ("" for a bare one)

    @property
    def text(self) -> str:
        if self.kind == "noqa":
            return "# noqa" + (f": {', '.join(self.codes)}" if self.codes else "")
        return "# convlint: ignore" + (f"[{', '.join(self.codes)}]" if self.codes is not None else "")

    def matching_code(self, finding: Finding) -> str | None:
        """The code of this directive that suppresses `finding` ("" for a bare one), or None."""
        if self.codes is None:
            return ""
        for code in self.codes:
            if self.kind == "noqa":
                if code.upper() == finding.code:
                    return code
            elif _rule_name(code) == finding.name:
                return code
        return None


def _rule_name(code: str) -> str | None:
    from . import rules

    rule = rules.lookup(code)
    return rule.name if rule is not None else None


def might_suppress(source: bytes) -> bool:
    """The cheap test before tokenizing: does the file hold anything that looks like a directive?"""
    return QUICK.search(source) is not None


def directives(source: bytes | str) -> dict[int, list[Directive]]:
    """Every suppression comment, by line. A file that stops tokenizing keeps what came before."""
    if isinstance(source, str):
        source = source.encode("utf-8")
    found: dict[int, list[Directive]] = {}
    try:
        for token in tokenize.tokenize(io.BytesIO(source).readline):
            if token.type == tokenize.COMMENT:
                for directive in parse_comment(token.string, token.start[0], token.start[1] + 1):
                    found.setdefault(directive.line, []).append(directive)
    except (tokenize.TokenError, SyntaxError, UnicodeDecodeError, LookupError):
        pass
    return found


def parse_comment(comment: str, line: int, column: int = 1) -> list[Directive]:
    """The directives in one comment token (`column`: where its `#` is, 1-based)."""
    result = []
    for pattern, kind in ((CONVLINT, "convlint"), (NOQA, "noqa")):
        for match in pattern.finditer(comment):
            raw = match.group("codes")
            if kind == "convlint" and raw is not None:
                codes = tuple(c.strip() for c in raw.split(",") if c.strip())
            elif raw is not None:
                codes = tuple(c for c in re.split(r"[,\s]+", raw) if c)
            else:
                codes = None
            start, end = column + match.start(), column + match.end()
            result.append(Directive(line, start, end, kind, codes))
    return sorted(result, key=lambda d: d.column)


@dataclass
class Outcome:
    kept: list[Finding]
    suppressed: list[Finding]


def apply(
    findings: list[Finding],
    source: bytes | str,
    path: str,
    selected: frozenset[str] | set[str],
    severity: dict | None = None,
) -> Outcome:
    """Split one file's findings into kept and suppressed (the latter marked `suppressed`), and
    add the `unused-suppression` findings when that check is selected."""
    report_unused = UNUSED in selected
    if isinstance(source, str):
        source = source.encode("utf-8")
    if not findings and not (report_unused and QUICK_OWN.search(source)):
        return Outcome([], [])  # the cheap path: nothing to suppress, no own comment to check
    if not might_suppress(source):
        return Outcome(list(findings), [])
    by_line = directives(source)
    if not by_line:
        return Outcome(list(findings), [])
    kept, suppressed = [], []
    for finding in findings:
        if _suppress(finding, by_line.get(finding.span.line, ())):
            suppressed.append(dataclasses.replace(finding, suppressed=True))
        else:
            kept.append(finding)
    if report_unused:
        for finding in unused(by_line, path, selected, severity):
            if _suppress(finding, by_line.get(finding.span.line, ()), explicit_only=True):
                suppressed.append(dataclasses.replace(finding, suppressed=True))
            else:
                kept.append(finding)
    return Outcome(kept, suppressed)


def _suppress(finding: Finding, on_line, explicit_only: bool = False) -> bool:
    if finding.name in UNSUPPRESSIBLE:
        return False
    hit = False
    for directive in on_line:
        code = directive.matching_code(finding)
        if code is None or (explicit_only and code == ""):
            continue
        directive.used.add(code)
        hit = True
    return hit


def unused(by_line: dict[int, list[Directive]], path: str, selected, severity: dict | None = None) -> list[Finding]:
    """A finding for each `# convlint: ignore` that suppressed nothing. A code naming a check
    that did not run here (not selected) is not reported: nothing can be known about it."""
    from . import rules

    rule = rules.BY_NAME[UNUSED]
    level = (severity or {}).get(UNUSED, rule.severity)
    result = []
    for line in sorted(by_line):
        for directive in by_line[line]:
            if directive.kind != "convlint":
                continue
            if directive.codes is None:
                if directive.used:
                    continue
                message = f"`{directive.text}` suppresses nothing: there is no finding on this line"
            else:
                idle, unknown = [], []
                for code in directive.codes:
                    if code in directive.used:
                        continue
                    name = _rule_name(code)
                    if name is None:
                        unknown.append(code)
                    elif name != UNUSED and name in selected:
                        idle.append(f"{name} ({rules.BY_NAME[name].code})")
                if not idle and not unknown:
                    continue
                parts = []
                if idle:
                    parts.append(f"no {' or '.join(idle)} finding on this line")
                if unknown:
                    parts.append(f"unknown check{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}")
                message = f"`{directive.text}` suppresses nothing: {'; '.join(parts)}"
            span = Span(line, directive.column, line, directive.end_column)
            result.append(Finding(path, span, rule.code, rule.name, level, message))
    return result
