"""Every code convlint can report: the checks, and the findings about files themselves."""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from types import ModuleType

from .checks import CHECKS


@dataclass(frozen=True)
class Rule:
    code: str
    name: str
    severity: str
    doc: str
    module: ModuleType | None = None

    @property
    def summary(self) -> str:
        return self.doc.strip().splitlines()[0]


FILE_RULES = (
    Rule(
        "CL900",
        "syntax-error",
        "error",
        """The file is not valid Python: convlint cannot read its models.

The finding points at the position the parser stopped at. The other files are still linted.
""",
    ),
    Rule(
        "CL901",
        "unreadable-file",
        "error",
        """The file cannot be read or decoded (permissions, a broken encoding, a file that vanished).

The other files are still linted.
""",
    ),
    Rule(
        "CL902",
        "internal-error",
        "error",
        """convlint itself failed on this file. This is a bug in convlint: please report it with the file.

The other files are still linted; the exit status is 2.
""",
    ),
    Rule(
        "CL903",
        "unused-suppression",
        "info",
        """A `# convlint: ignore` comment that suppresses nothing on its line.

The finding it was written for has gone (the model was fixed, or the finding moved to
another line), or it names a check that does not exist. A stale suppression would silently
hide the next real finding on that line. Only convlint's own comments are reported: a
`# noqa` may serve other linters. Off by default; `--select unused-suppression` (or ALL).
Codes of checks that are not selected are not reported, since they did not run.

Bad:
    nn.Conv2d(16, 64, 3),  # convlint: ignore[channel-mismatch]  (16 is what it receives)

Good:
    nn.Conv2d(16, 64, 3),
""",
    ),
    Rule(
        "CL801",
        "verify-mismatch",
        "error",
        """`--verify`: torch disagrees with convlint's static prediction at a layer.

Torch gave a different output shape than convlint predicted, or ran the model through where
convlint reported an error. Either way convlint misread the model: please report it.
Only reported by `convlint verify` and `convlint check --verify`.
""",
    ),
    Rule(
        "CL802",
        "runtime-error",
        "error",
        """`--verify`: torch raised while building or running the model.

The finding points at the layer whose forward raised, and carries torch's own message. A file
or model that does not finish within `--verify-timeout` seconds, or that ends the process, is
reported here too. Only reported by `convlint verify` and `convlint check --verify`.
""",
    ),
)


def _from_module(module: ModuleType) -> Rule:
    return Rule(module.CODE, module.NAME, module.SEVERITY, inspect.getdoc(module) or "", module)


RULES: tuple[Rule, ...] = tuple(_from_module(m) for m in CHECKS) + FILE_RULES
BY_CODE = {r.code: r for r in RULES}
BY_NAME = {r.name: r for r in RULES}
DEFAULT_SELECTION = frozenset(r.name for r in RULES if r.severity != "info")  # info checks are opt-in


def lookup(key: str) -> Rule | None:
    """A rule by code (`CL001`) or name (`channel-mismatch`)."""
    return BY_CODE.get(key.upper()) or BY_NAME.get(key.lower())


def markdown() -> str:
    """The checks' documentation for the README: a table, then each check's examples."""
    lines = ["| code | name | severity | what it finds |", "| --- | --- | --- | --- |"]
    lines += [f"| {r.code} | `{r.name}` | {r.severity} | {r.summary} |" for r in RULES]
    for rule in RULES:
        if rule.module is None:
            continue
        lines += ["", f"#### {rule.code} `{rule.name}`", ""]
        body = rule.doc.strip().split("\n", 1)[1].strip() if "\n" in rule.doc.strip() else ""
        prose, _, examples = body.partition("\nBad:")
        lines.append(prose.strip())
        if examples:
            bad, _, good = examples.partition("\nGood:")
            lines += ["", "Bad:", "```python", _dedent(bad), "```", "Good:", "```python", _dedent(good), "```"]
    return "\n".join(lines) + "\n"


def _dedent(block: str) -> str:
    import textwrap

    return textwrap.dedent(block.strip("\n")).rstrip()
