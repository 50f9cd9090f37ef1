"""Jupyter notebooks (nbformat 4): the code cells, in order, read as one Python module.

- IPython syntax that is not Python is neutralised line for line, so that every line keeps its
  number: a line magic, shell escape or help request (`%matplotlib inline`, `!pip install ...`,
  `files = !ls`, `?obj`, `obj??`) becomes `pass` at its indentation (still a statement inside
  a block), its backslash continuations blank lines; a cell magic (`%%bash`, `%%writefile`)
  blanks the whole cell, except those whose body is Python (`%%time`, `%%capture`...), which
  lose only their first line. Only lines outside brackets and strings are considered.
- Findings are mapped back to (code cell, line, column), code cells counted from 1 as Jupyter's
  and ruff's `cell N` do, and to the position of that text in the .ipynb file itself (its JSON,
  for SARIF viewers and GitHub annotations); "line N" in a message becomes "line M of cell K".
- `Notebook.with_sources` writes new cell sources into the file's JSON text, replacing only
  the JSON strings of the cells that changed: formatting, outputs and metadata stay byte for byte.

A notebook that is not valid JSON, or not a notebook (no `cells` list, a code cell without a
`source` of strings), is an `unreadable-file` finding. One whose kernel is not Python has no
code convlint reads.
"""

from __future__ import annotations

import bisect
import codecs
import json
import re
from dataclasses import dataclass, field, replace
from json.decoder import scanstring

from .findings import Finding, Span

SUFFIX = ".ipynb"
PYTHON_CELL_MAGICS = {"time", "timeit", "capture", "prun", "debug", "pypy", "python", "python3"}
_LINES = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")
_HELP = re.compile(r"\s*(?:\?{1,2}[\w.*]+|[\w.*]+\?{1,2})\s*")
_ASSIGNED_MAGIC = re.compile(r"\s*[\w.]+(?:\s*,\s*[\w.]+)*\s*=\s*[%!]")
_WS = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()


def is_notebook(path) -> bool:
    return str(path).endswith(SUFFIX)


def split_lines(text: str) -> list[str]:
    """Lines with their ends, as Python's tokenizer counts them (\\n, \\r\\n or \\r)."""
    return _LINES.findall(text)


@dataclass
class Token:
    """One JSON string of a cell's source: where it is in the file, and what it decodes to."""

    start: int  # the opening quote
    end: int  # just past the closing quote
    text: str


@dataclass
class Cell:
    number: int  # 1-based over the code cells
    text: str  # the cell's source, as the notebook has it
    tokens: list[Token]
    is_list: bool  # source stored as a list of strings (nbformat's way) rather than one string
    value: tuple[int, int]  # the span of the source value in the file's text
    first_line: int = 0  # 0-based line of the module where the cell starts
    lines: list[str] = field(default_factory=list)  # the cell's lines as the module has them
    originals: list[str] = field(default_factory=list)  # ... and as the cell has them
    added_newline: bool = False  # the module ends the cell's last line with a \n it lacks


class Notebook:
    def __init__(self, path: str, text: str, cells: list[Cell], bom: bool, python: bool = True) -> None:
        self.path = path
        self.text = text
        self.bom = bom
        self.cells = cells
        self._line_starts = [0] + [m.end() for m in re.finditer(r"\n", text)]
        module: list[str] = []
        self.owner: list[Cell] = []  # the cell of each module line
        for cell in cells:
            cell.first_line = len(module)
            cell.originals = split_lines(cell.text) if python else []
            cell.lines = python_lines(cell.originals)
            if cell.lines and not cell.lines[-1].endswith(("\n", "\r")):
                cell.lines[-1] += "\n"
                cell.originals[-1] += "\n"
                cell.added_newline = True
            module += cell.lines
            self.owner += [cell] * len(cell.lines)
        self.module_lines = module
        self.python = "".join(module).encode("utf-8")

    @classmethod
    def from_cells(cls, path: str, sources: list[str]) -> Notebook:
        """The code cells' sources alone (an editor's notebook document): no file to point into."""
        cells = [Cell(number, text, [], False, (0, 0)) for number, text in enumerate(sources, 1)]
        return cls(path, "", cells, False)

    # ------------------------------------------------------------------ positions

    def cell_at(self, line: int) -> Cell | None:
        """The cell of a 1-based module line."""
        return self.owner[line - 1] if 1 <= line <= len(self.owner) else None

    def to_cells(self, finding: Finding) -> Finding:
        """The finding with its span relative to its cell, and where that is in the file."""
        cell = self.cell_at(finding.span.line)
        if cell is None:
            return finding
        span = finding.span
        end_line = span.end_line if self.cell_at(span.end_line) is cell else span.line
        end_column = span.end_column if end_line == span.end_line else span.column
        local = Span(span.line - cell.first_line, span.column, end_line - cell.first_line, end_column)
        file_span = None
        if cell.tokens:
            start = self._file_position(cell, local.line, local.column)
            end = self._file_position(cell, local.end_line, local.end_column)
            file_span = Span(*start, *end)
        return replace(finding, span=local, cell=cell.number, file_span=file_span,
                       message=self.message(finding.message))

    def message(self, message: str) -> str:
        def cell_line(match: re.Match) -> str:
            line = int(match.group(1))
            cell = self.cell_at(line)
            return match.group(0) if cell is None else f"line {line - cell.first_line} of cell {cell.number}"

        return re.sub(r"\bline (\d+)\b", cell_line, message)

    def _file_position(self, cell: Cell, line: int, column: int) -> tuple[int, int]:
        """(line, column), 1-based, in the file's text of the character at a cell position."""
        offset = sum(len(text) for text in cell.originals[: line - 1]) + column - 1
        index = cell.value[0]
        for token in cell.tokens:
            if offset < len(token.text) or token is cell.tokens[-1]:
                index = token.start + 1 + _raw_length(self.text, token.start + 1, token.end - 1, offset)
                break
            offset -= len(token.text)
        row = bisect.bisect_right(self._line_starts, index) - 1
        return row + 1, index - self._line_starts[row] + 1

    # ------------------------------------------------------------------ writing

    def sources_after(self, module: str) -> dict[int, str] | None:
        """The new source of each cell that differs in `module` (an edit of `self.python`),
        magics restored; None when an edit crosses a cell boundary."""
        import difflib

        new = split_lines(module)
        result: dict[int, list[str]] = {cell.number: [] for cell in self.cells}
        matcher = difflib.SequenceMatcher(None, self.module_lines, new, autojunk=False)
        for tag, i1, i2, j1, j2 in matcher.get_opcodes():
            if tag == "equal":
                for k in range(i1, i2):
                    result[self.owner[k].number].append(self.owner[k].originals[k - self.owner[k].first_line])
                continue
            owners = {id(self.owner[k]) for k in range(i1, i2)}
            if len(owners) > 1:
                return None
            cell = self.owner[i1] if i1 < i2 else self.owner[max(i1 - 1, 0)] if self.owner else None
            if cell is None:
                return None
            result[cell.number] += new[j1:j2]
        changed = {}
        for cell in self.cells:
            text = "".join(result[cell.number])
            if cell.added_newline and text.endswith("\n"):
                text = text[:-1]
            if text != cell.text:
                changed[cell.number] = text
        return changed

    def with_sources(self, sources: dict[int, str]) -> bytes:
        """The file with these cells' sources replaced, every other byte as it was."""
        escape_all = "\\u" in self.text and self.text.isascii()
        edits = []
        for cell in self.cells:
            if cell.number not in sources:
                continue
            new = sources[cell.number]
            if not cell.is_list:
                token = cell.tokens[0]
                edits.append((token.start, token.end, json.dumps(new, ensure_ascii=escape_all)))
                continue
            lines = split_lines(new)
            if len(lines) == len(cell.tokens):
                for token, line in zip(cell.tokens, lines):
                    if token.text != line:
                        edits.append((token.start, token.end, json.dumps(line, ensure_ascii=escape_all)))
                continue
            if not cell.tokens:  # an empty list: the whole value
                edits.append((*cell.value, json.dumps(lines, ensure_ascii=escape_all)))
                continue
            first, last = cell.tokens[0], cell.tokens[-1]
            separator = self.text[first.end : cell.tokens[1].start] if len(cell.tokens) > 1 else ", "
            joined = separator.join(json.dumps(line, ensure_ascii=escape_all) for line in lines)
            edits.append((first.start, last.end, joined))
        text = self.text
        for start, end, new_text in sorted(edits, reverse=True):
            text = text[:start] + new_text + text[end:]
        return (codecs.BOM_UTF8 if self.bom else b"") + text.encode("utf-8")


# --------------------------------------------------------------------------- reading


def read_notebook(raw: bytes, path: str) -> Notebook | Finding:
    bom = raw.startswith(codecs.BOM_UTF8)
    try:
        text = raw[3:].decode("utf-8") if bom else raw.decode("utf-8")
    except UnicodeDecodeError as error:
        return _unreadable(path, f"cannot decode the notebook as UTF-8: {error}")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        return _unreadable(path, f"not a notebook: invalid JSON at line {error.lineno} column {error.colno} ({error.msg})")
    except RecursionError:
        return _unreadable(path, "not a notebook: the JSON nests too deeply")
    if not isinstance(data, dict) or not isinstance(data.get("cells"), list):
        return _unreadable(path, 'not a notebook: no "cells" list (only nbformat 4 notebooks are read)')
    for number, cell in enumerate(data["cells"], 1):
        if not isinstance(cell, dict):
            return _unreadable(path, f"not a notebook: cell {number} is not an object")
        source = cell.get("source")
        if cell.get("cell_type") == "code" and not (
            isinstance(source, str) or (isinstance(source, list) and all(isinstance(s, str) for s in source))
        ):
            return _unreadable(path, f'not a notebook: code cell {number} has no "source" text')
    cells = _code_cells(text)
    return Notebook(path, text, cells, bom, python=_is_python(data))


def _is_python(data: dict) -> bool:
    metadata = data.get("metadata") if isinstance(data.get("metadata"), dict) else {}
    for key, field_name in (("language_info", "name"), ("kernelspec", "language")):
        value = metadata.get(key)
        if isinstance(value, dict) and isinstance(value.get(field_name), str):
            return value[field_name].lower() == "python"
    return True


def _unreadable(path: str, message: str) -> Finding:
    from . import rules

    rule = rules.BY_NAME["unreadable-file"]
    return Finding(path, Span(1, 1, 1, 1), rule.code, rule.name, rule.severity, message)


def _code_cells(text: str) -> list[Cell]:
    """The code cells of a valid notebook's JSON text, with the positions of their sources."""
    cells: list[Cell] = []
    top = _members(text, _ws(text, 0))
    for key, start in top:
        if key != "cells":
            continue
        cells = []  # the last "cells" wins, as in json.loads
        for element in _elements(text, start):
            cell_type, source = None, None
            for member, at in _members(text, element):
                if member == "cell_type":
                    cell_type = _DECODER.raw_decode(text, at)[0]
                elif member == "source":
                    source = at
            if cell_type == "code" and source is not None:
                cells.append(_cell(text, len(cells) + 1, source))
    return cells


def _cell(text: str, number: int, start: int) -> Cell:
    if text[start] == '"':
        value, end = scanstring(text, start + 1)
        return Cell(number, value, [Token(start, end, value)], False, (start, end))
    tokens = []
    for at in _elements(text, start):
        value, end = scanstring(text, at + 1)
        tokens.append(Token(at, end, value))
    end = _DECODER.raw_decode(text, start)[1]
    return Cell(number, "".join(t.text for t in tokens), tokens, True, (start, end))


def _ws(text: str, i: int) -> int:
    return _WS.match(text, i).end()


def _members(text: str, i: int):
    """(key, start of its value) for each member of the JSON object at text[i] (valid JSON)."""
    i = _ws(text, i + 1)
    if text[i] == "}":
        return
    while True:
        key, i = scanstring(text, i + 1)
        i = _ws(text, _ws(text, i) + 1)  # past the ':'
        yield key, i
        i = _ws(text, _DECODER.raw_decode(text, i)[1])
        if text[i] == "}":
            return
        i = _ws(text, i + 1)


def _elements(text: str, i: int):
    """The start of each element of the JSON array at text[i] (valid JSON)."""
    i = _ws(text, i + 1)
    if text[i] == "]":
        return
    while True:
        yield i
        i = _ws(text, _DECODER.raw_decode(text, i)[1])
        if text[i] == "]":
            return
        i = _ws(text, i + 1)


def _raw_length(text: str, start: int, end: int, count: int) -> int:
    """How many characters of the JSON string body text[start:end] spell its first `count` characters."""
    i, n = start, 0
    while n < count and i < end:
        if text[i] == "\\":
            if text[i + 1] == "u":
                high = int(text[i + 2 : i + 6], 16)
                i += 12 if 0xD800 <= high < 0xDC00 and text[i + 6 : i + 8] == "\\u" else 6
            else:
                i += 2
        else:
            i += 1
        n += 1
    return i - start


# --------------------------------------------------------------------------- IPython syntax


def python_lines(lines: list[str]) -> list[str]:
    """The cell's lines with IPython's own syntax replaced, one line for one line."""
    if not lines:
        return []
    first = lines[0].strip()
    if first.startswith("%%"):
        name = first[2:].split(None, 1)[0] if first[2:].strip() else ""
        if name not in PYTHON_CELL_MAGICS:
            return [_blank(line) for line in lines]
        lines = [_blank(lines[0]), *lines[1:]]
    out = []
    depth, quote, continued = 0, None, False
    for line in lines:
        if continued:  # the backslash continuation of a magic
            out.append(_blank(line))
            continued = line.rstrip("\r\n").endswith("\\")
            continue
        if depth == 0 and quote is None and _is_ipython(line):
            indent = line[: len(line) - len(line.lstrip(" \t"))]
            out.append(indent + "pass" + _ending(line))
            continued = line.rstrip("\r\n").endswith("\\")
            continue
        out.append(line)
        depth, quote = _scan(line, depth, quote)
    return out


def _is_ipython(line: str) -> bool:
    stripped = line.strip()
    if not stripped or stripped.startswith("#"):
        return False
    return stripped[0] in "%!" or _HELP.fullmatch(stripped) is not None or _ASSIGNED_MAGIC.match(line) is not None


def _blank(line: str) -> str:
    return _ending(line)


def _ending(line: str) -> str:
    return line[len(line.rstrip("\r\n")) :]


def _scan(line: str, depth: int, quote: str | None) -> tuple[int, str | None]:
    """Bracket depth and open triple-quoted string after `line` (enough to tell where statements start)."""
    i = 0
    while i < len(line):
        if quote is not None:
            if line[i] == "\\":
                i += 2
                continue
            if line.startswith(quote, i):
                i += len(quote)
                quote = None
                continue
            i += 1
            continue
        c = line[i]
        if c == "#":
            break
        if c in "\"'":
            triple = line[i : i + 3]
            if triple in ('"""', "'''"):
                quote, i = triple, i + 3
                continue
            close = i + 1
            while close < len(line) and line[close] not in (c, "\n", "\r"):
                close += 2 if line[close] == "\\" else 1
            i = close + 1
            continue
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth = max(depth - 1, 0)
        i += 1
    return depth, quote


# --------------------------------------------------------------------------- convlint summary


class CellLine(int):
    """A line of a notebook cell: the number is the line within the cell, the text says which cell."""

    cell: int

    def __new__(cls, line: int, cell: int) -> CellLine:
        value = super().__new__(cls, line)
        value.cell = cell
        return value

    def __str__(self) -> str:
        return f"{int(self)} of cell {self.cell}"

    __format__ = lambda self, spec: format(str(self), spec)  # noqa: E731 - "line 5 of cell 7" in f-strings


def summaries(raw: bytes, path: str, input_shape, model_name, advice: bool) -> list:
    """`convlint summary` of a notebook: the tables of its module, lines given per cell."""
    from .summary import summarize_source

    notebook = read_notebook(raw, path)
    if isinstance(notebook, Finding):
        raise ValueError(f"{path}: {notebook.message}")
    found = summarize_source(notebook.python, path, input_shape, model_name, advice=advice)

    def line(value: int) -> int:
        cell = notebook.cell_at(value)
        return value if cell is None else CellLine(value - cell.first_line, cell.number)

    for summary in found:
        summary.line = line(summary.line)
        for row in summary.rows:
            row.line = line(row.line)
        summary.notes = [notebook.message(note) for note in summary.notes]
        if summary.input_source:
            summary.input_source = notebook.message(summary.input_source)
        summary.findings = [_cell_lines(notebook.to_cells(f)) for f in summary.findings]
    return found


def _cell_lines(finding: Finding) -> Finding:
    """The finding with its lines as CellLines (`line 6 of cell 7` where the summary names its line)."""
    if finding.cell is None:
        return finding
    span = finding.span
    return replace(finding, span=Span(CellLine(span.line, finding.cell), span.column,
                                      CellLine(span.end_line, finding.cell), span.end_column))
