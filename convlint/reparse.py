"""Parse an edited buffer again, reusing the top-level statements that did not change.

The language server analyses the whole buffer after every change, and libcst's parse is
the largest part of that (45 ms of a 500-line file). An edit touches one top-level statement:
CPython's parser (ten times faster) finds where each top-level statement starts, the buffer is
cut there into chunks, and only the chunks whose text is new are parsed by libcst; the module
is assembled from the statements of all chunks. The result generates exactly the buffer's
text, line for line: a chunk's trailing blank and comment lines (libcst's module footer for
the chunk) become leading lines of the next statement, as libcst makes them when it parses
the whole file (a statement owns the comments before it at its own indentation; what is
indented further stays in the block's footer in both cases).

Whatever is unusual (a syntax error, chunks that detect different indentation or newlines,
a form feed or a line continuation between statements) falls back to parsing the whole buffer.
"""

from __future__ import annotations

import ast

import libcst as cst

MIN_CHUNKS = 4  # fewer top-level statements: a whole parse is as cheap


class _Chunk:
    __slots__ = ("body", "footer", "header", "indent", "indented", "newline", "trailing")

    def __init__(self, module: cst.Module) -> None:
        self.body = list(module.body)
        self.header = list(module.header)
        self.footer = list(module.footer)
        self.indent = module.default_indent
        self.newline = module.default_newline
        self.indented = any(isinstance(getattr(s, "body", None), cst.IndentedBlock) for s in self.body)
        self.trailing = module.has_trailing_newline


class Reparser:
    """One per document: the chunks of the last version, by their text."""

    def __init__(self) -> None:
        self.chunks: dict[str, _Chunk] = {}
        self.reused = 0  # chunks taken from the previous version by the last parse (for tests)

    def parse(self, source: str) -> cst.Module | None:
        """The module of `source`, or None when it must be parsed whole (by the caller, who
        then reports a syntax error the way it always does)."""
        texts = _split(source)
        if texts is None:
            self.chunks = {}
            return None
        chunks: dict[str, _Chunk] = {}
        parts: list[_Chunk] = []
        reused = 0
        try:
            for text in texts:
                chunk = chunks.get(text) or self.chunks.get(text)
                if chunk is None:
                    chunk = _Chunk(cst.parse_module(text))
                else:
                    reused += 1
                chunks[text] = chunk
                parts.append(chunk)
        except (cst.ParserSyntaxError, RecursionError, ValueError):
            self.chunks = {}
            return None
        module = _assemble(parts)
        self.chunks, self.reused = (chunks, reused) if module is not None else ({}, 0)
        return module


ODD_BREAKS = ("\f", "\v", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029")  # str.splitlines breaks there, Python does not


def _split(source: str) -> list[str] | None:
    """The buffer cut before each top-level statement (its first decorator), or None."""
    if any(odd in source for odd in ODD_BREAKS):
        return None
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    starts: list[int] = []
    for stmt in tree.body:
        first = min([stmt.lineno] + [d.lineno for d in getattr(stmt, "decorator_list", ())])
        if not starts or first > starts[-1]:  # `a = 1; b = 2` share a line, and a chunk
            starts.append(first)
    if len(starts) < MIN_CHUNKS:
        return None
    lines = source.splitlines(keepends=True)
    cuts = [1, *starts[1:], len(lines) + 1]  # the first chunk also holds the module's header
    return ["".join(lines[a - 1 : b - 1]) for a, b in zip(cuts, cuts[1:])]


def _assemble(parts: list[_Chunk]) -> cst.Module | None:
    indents = {p.indent for p in parts if p.indented}
    newlines = {p.newline for p in parts}
    if len(indents) > 1 or len(newlines) > 1 or not all(p.body for p in parts) or any(p.header for p in parts[1:]):
        return None
    if not all(p.trailing for p in parts[:-1]):
        return None
    body: list = []
    carried: list = []  # the previous chunk's footer: blank and comment lines before this statement
    for part in parts:
        first, *rest = part.body
        if carried:
            first = first.with_changes(leading_lines=[*carried, *first.leading_lines])
        body.append(first)
        body.extend(rest)
        carried = part.footer
    return cst.Module(
        body=body,
        header=parts[0].header,
        footer=carried,
        encoding="utf-8",
        default_indent=indents.pop() if indents else parts[0].indent,
        default_newline=newlines.pop(),
        has_trailing_newline=parts[-1].trailing,
    )
