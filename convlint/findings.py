"""The one thing every stage after analysis passes around: a Finding."""

from __future__ import annotations

from dataclasses import dataclass, field

SEVERITIES = ("info", "warning", "error")


@dataclass(frozen=True, order=True)
class Span:
    """A source range, 1-based; end_column points just past the last character (as ruff does)."""

    line: int
    column: int
    end_line: int
    end_column: int


@dataclass(frozen=True)
class Finding:
    path: str
    span: Span
    code: str
    name: str
    severity: str
    message: str
    suppressed: bool = field(default=False, compare=False)
    fix: dict | None = field(default=None, compare=False, repr=False)  # machine-readable hint for `--fix`
    # In a notebook: the code cell (1-based, counting code cells) that `span` is relative to, and
    # where that is in the .ipynb file itself (its JSON text), for SARIF and GitHub annotations.
    cell: int | None = None
    file_span: Span | None = field(default=None, compare=False, repr=False)
    # On a layer another file built: (that file's real path, the span there, the message written
    # from there), where the runner moves the finding when that file is linted too.
    home: tuple | None = field(default=None, compare=False, repr=False)
    reached: tuple[str, int] | None = field(default=None, compare=False, repr=False)  # moved: the call it was at

    @property
    def line(self) -> int:
        return self.span.line

    @property
    def column(self) -> int:
        return self.span.column

    def places(self) -> list[tuple[str, int]]:
        """(path, line) where it is, and where it was found when it was moved into its layer's file."""
        return [(self.path, self.span.line), *([self.reached] if self.reached else [])]

    def sort_key(self) -> tuple:
        return (self.path, self.cell or 0, self.span.line, self.span.column, self.code, self.message)

    @property
    def where(self) -> str:
        """`path:line:col`, or `path:cell N:line:col` in a notebook (as ruff writes it)."""
        cell = f"cell {self.cell}:" if self.cell is not None else ""
        return f"{self.path}:{cell}{self.span.line}:{self.span.column}"

    def to_dict(self) -> dict:
        where = {"path": self.path} if self.cell is None else {"path": self.path, "cell": self.cell}
        return {
            **where,
            "line": self.span.line,
            "column": self.span.column,
            "end_line": self.span.end_line,
            "end_column": self.span.end_column,
            "code": self.code,
            "name": self.name,
            "severity": self.severity,
            "message": self.message,
        }
