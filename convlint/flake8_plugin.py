"""convlint as a flake8 plugin: `flake8 --select CL` reports convlint's findings through flake8.

Registered as the `flake8.extension` entry point `CL` (pyproject.toml), so flake8 selects,
ignores, `# noqa`s and formats them like its own. What runs is what `convlint check` would run
on the file: the checks `[tool.convlint]` selects for it (default: the error and warning
checks; add the `info` ones with `extend-select`), its per-file ignores and excludes, its
`inputs`. convlint's own `# convlint: ignore[...]` comments apply; `# noqa` is flake8's to
apply (so `--disable-noqa` works). A file that does not parse is flake8's E999, not reported twice.
A broken convlint configuration is reported as `CL000` on line 1 (a traceback from one of
flake8's worker processes would be all flake8 shows), and the file is checked with the defaults.
"""

from __future__ import annotations

from . import __version__

LEFT_TO_FLAKE8 = {"syntax-error", "unused-suppression"}  # E999, and flake8's own noqa handling


class ConvlintChecker:
    name = "convlint"
    version = __version__

    def __init__(self, tree, filename: str, lines: list[str]) -> None:
        self.filename = filename
        self.lines = lines

    def run(self):
        found, problem = findings("".join(self.lines), self.filename)
        if problem is not None:
            yield 1, 0, f"CL000 [configuration-error] {problem}; checked with the default selection", type(self)
        for finding in found:
            yield finding.line, finding.column - 1, f"{finding.code} [{finding.name}] {finding.message}", type(self)


def findings(source: str, filename: str) -> tuple[list, str | None]:
    """(what `convlint check` reports for the file, minus what flake8 reports itself; the
    configuration error, if convlint's configuration is broken: the default checks ran then)."""
    from .config import ConfigError, Options, Resolver, Settings, default_select
    from .engine import analyze_source
    from .suppress import directives

    path = "-" if filename in ("stdin", "-", None) else filename
    problem, inputs = None, {}
    try:
        file = Settings(Options(), Resolver()).for_file(path)
    except ConfigError as error:
        problem, select = str(error), set(default_select())
    else:
        if file.excluded:
            return [], None
        select, inputs = set(file.select), file.config.inputs_for(path)
    select -= LEFT_TO_FLAKE8
    data = source.encode("utf-8", "surrogatepass")
    analysis = analyze_source(data, filename, None, select, details=False, config_inputs=inputs)
    found = [f for f in analysis.findings if f.name in select]
    if not found or b"convlint" not in data:
        return found, problem
    by_line = directives(data)
    kept = [
        f for f in found
        if not any(d.kind == "convlint" and d.matching_code(f) is not None for d in by_line.get(f.line, ()))
    ]
    return kept, problem
