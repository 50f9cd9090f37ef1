"""Mutation testing of convlint's arithmetic core: does the test suite notice a one-token change?

    python tools/mutants.py [--seed S] [--count N] [--files GLOB ...] [--tests FILE ...]
                            [--timeout SECONDS] [--jobs N] [--list] [--keys FILE] [--json OUT]
                            [--resume LOG ...]

Not a CI step: a tool to run by hand (it takes tens of minutes) before and after changing the
core, to see that the tests still pin every behaviour of it.

Mutants.  Only code inside functions (never docstrings, never strings or f-strings, so never a
message's text) is mutated, one token at a time:

* ``binop:A->B``   an arithmetic operator swapped (``+``/``-``, ``*``->``//``, ``//``->``*`` and
                   ``//``->``/``, ``%``->``//``), also in augmented assignments (``+=``...);
* ``cmp:A->B``     a comparison swapped (``<``/``<=``, ``>``/``>=``, ``==``/``!=``, ``is``/``is not``,
                   ``in``/``not in``);
* ``int:+1``, ``int:-1``  an integer constant (not a bool) one more or one less;
* ``bool:and->or``, ``bool:or->and``;
* ``not:drop``     a ``not`` removed;
* ``return:early`` ``return None`` as the first statement of the function (after its docstring).

Keys.  A mutant is named by what survives moving code between files (a module split into a
package, a function moved to a helper module): ``qualname | operator#occurrence | line`` with
the function's qualified name (``_Conv.output``), the operator, the index of that operator's
occurrence among the function's lines with that same text, and the stripped text of the
source line where the mutated node starts.  File paths and line numbers are not part of it.
The selection draws the ``--count`` mutants whose key hashes lowest with ``--seed``
(SHA-256), so the same seed picks the same mutants wherever the code lives, and a change
elsewhere never changes whether a mutant is drawn (only how many others compete).  Two files
with a function of the same name and an identical line can give two mutants one key; both are
kept, and an entry in the equivalent list applies to both.

Running.  The repository (without .git, .venv and caches) is copied once per job into a
temporary directory; each mutant is written into the copy, the tests run there with
``python -m pytest -x -q -p no:cacheprovider`` on ``--tests`` (by default the fast test files
that exercise the core, see DEFAULT_TESTS: the slow subprocess, language-server and verify
tests are left out), with the copy first on PYTHONPATH, and the file is restored.  A failing
run kills the mutant; a run over ``--timeout`` seconds counts as killed by timeout.  The
working tree is never written.  ``--resume LOG ...`` takes the output of earlier runs and does
not run again the mutants they killed: valid only while the mutated files are unchanged (added
tests cannot revive a killed mutant).

Equivalent mutants are listed in tools/equivalent_mutants.txt, one per line:
``qualname | operator#occurrence | line | why it cannot change behaviour``.  They are not
run, and the kill rate is over the others: (killed + timeout) / (selected − equivalent).
"""

from __future__ import annotations

import argparse
import ast
import glob
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tokenize
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# The core, as paths or globs relative to the repository root (a pattern that matches nothing is skipped).
DEFAULT_FILES = [
    "convlint/sizes.py",
    "convlint/layers/*.py",
    "convlint/propagate/*.py",
    "convlint/views.py",
    "convlint/sizing.py",
    "convlint/checks/dropped_pixels.py",
    "convlint/checks/channel_mismatch.py",
]

# Fast tests that exercise the core, the quickest killers first (pytest -x stops at the first
# failure). A pattern that matches nothing is skipped.
DEFAULT_TESTS = [
    "tests/test_sizes.py",
    "tests/test_mutants_*.py",
    "tests/test_layers.py",
    "tests/test_check.py",
    "tests/test_summary.py",
    "tests/test_advice.py",
    "tests/test_extraction.py",
    "tests/test_evidence.py",
    "tests/test_fix.py",
    "tests/test_differential.py",
    "tests/test_tensor_ops.py",
    "tests/test_summary_trust.py",
]

EQUIVALENT_FILE = ROOT / "tools" / "equivalent_mutants.txt"
DEFAULT_SEED = 19
DEFAULT_COUNT = 320

_BINOPS = {
    ast.Add: ["Sub"], ast.Sub: ["Add"], ast.Mult: ["FloorDiv"], ast.FloorDiv: ["Mult", "Div"],
    ast.Mod: ["FloorDiv"], ast.Div: ["FloorDiv"],
}
_BINOP_TEXT = {"Add": "+", "Sub": "-", "Mult": "*", "FloorDiv": "//", "Div": "/", "Mod": "%"}
_CMPOPS = {
    ast.Lt: "LtE", ast.LtE: "Lt", ast.Gt: "GtE", ast.GtE: "Gt", ast.Eq: "NotEq", ast.NotEq: "Eq",
    ast.Is: "IsNot", ast.IsNot: "Is", ast.In: "NotIn", ast.NotIn: "In",
}
_CMP_TEXT = {"Lt": "<", "LtE": "<=", "Gt": ">", "GtE": ">=", "Eq": "==", "NotEq": "!=",
             "Is": "is", "IsNot": "is not", "In": "in", "NotIn": "not in"}


@dataclass(frozen=True)
class Mutant:
    file: str  # relative path, where the code is now (reported, not part of the key)
    qualname: str
    operator: str
    occurrence: int
    line: str  # stripped text of the line where the mutated node starts
    start: int  # character offsets of the replaced text in the file
    end: int
    replacement: str

    @property
    def key(self) -> str:
        return f"{self.qualname} | {self.operator}#{self.occurrence} | {self.line}"

    def apply(self, text: str) -> str:
        return text[:self.start] + self.replacement + text[self.end:]

    def diff(self, text: str) -> str:
        """The line(s) before and after, for reports."""
        first = text.rfind("\n", 0, self.start) + 1
        last = text.find("\n", self.end)
        last = len(text) if last < 0 else last
        mutated = self.apply(text)
        after = mutated.find("\n", self.start + len(self.replacement))
        after = len(mutated) if after < 0 else after
        return f"- {text[first:last].strip()}\n+ {mutated[first:after].strip()}"


# --------------------------------------------------------------------------- finding mutants


class _Source:
    """Offsets: ast gives (line, UTF-8 byte column), tokenize (line, character column)."""

    def __init__(self, text: str):
        self.text = text
        self.lines = text.splitlines(keepends=True)
        self.starts = [0]
        for line in self.lines:
            self.starts.append(self.starts[-1] + len(line))
        self.tokens = [t for t in tokenize.generate_tokens(io.StringIO(text).readline)
                       if t.type in (tokenize.OP, tokenize.NAME)]

    def offset(self, lineno: int, byte_col: int) -> int:
        line = self.lines[lineno - 1]
        return self.starts[lineno - 1] + len(line.encode("utf-8")[:byte_col].decode("utf-8"))

    def token_offset(self, pos) -> int:
        return self.starts[pos[0] - 1] + pos[1]

    def start(self, node) -> int:
        return self.offset(node.lineno, node.col_offset)

    def end(self, node) -> int:
        return self.offset(node.end_lineno, node.end_col_offset)

    def tokens_between(self, low: int, high: int, strings: set) -> list:
        """(start, end) of the tokens in [low, high) whose text is one of `strings`."""
        found = []
        for tok in self.tokens:
            start = self.token_offset(tok.start)
            if low <= start < high and tok.string in strings:
                found.append((start, self.token_offset(tok.end)))
        return found


def _docstring(body) -> ast.AST | None:
    first = body[0] if body else None
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
        return first
    return None


class _Finder(ast.NodeVisitor):
    def __init__(self, file: str, source: _Source):
        self.file, self.src = file, source
        self.scope: list[str] = []
        self.function: str | None = None  # qualname of the innermost enclosing function
        self.found: list[tuple] = []  # (qualname, operator, line, start, end, replacement)

    # ---- scopes
    def visit_ClassDef(self, node):
        self.scope.append(node.name)
        for child in node.body:
            self.visit(child)
        self.scope.pop()

    def _function(self, node):
        self.scope.append(node.name)
        outer, self.function = self.function, ".".join(self.scope)
        body = list(node.body)
        doc = _docstring(body)
        if doc is not None:
            body = body[1:]
        if body and body[0].lineno > node.lineno:  # skip one-line functions
            first = body[0]
            line_start = self.src.starts[first.lineno - 1]
            indent = self.src.text[line_start:self.src.start(first)]
            if not indent.strip():
                self._add("return:early", node, line_start, line_start, f"{indent}return None\n")
        for child in body:
            self.visit(child)
        self.function = outer
        self.scope.pop()

    visit_FunctionDef = visit_AsyncFunctionDef = _function

    def visit_Lambda(self, node):
        if self.function is not None:
            self.generic_visit(node)

    # ---- never mutated: strings, f-strings (messages), annotations
    def visit_JoinedStr(self, node):
        return

    def visit_AnnAssign(self, node):
        if node.value is not None:
            self.visit(node.value)
        self.visit(node.target)

    # ---- mutation sites
    def _add(self, operator, node, start, end, replacement):
        if self.function is None:
            return
        line = self.src.lines[node.lineno - 1].strip()
        self.found.append((self.function, operator, line, start, end, replacement))

    def _swap_token(self, node, low, high, old: str, new: str, operator: str):
        words = old.split()
        hits = self.src.tokens_between(low, high, set(words))
        if not hits:
            return
        if len(words) == 2:  # "is not" / "not in": two tokens, first and last of the hits
            if len(hits) < 2:
                return
            span = (hits[0][0], hits[1][1])
        else:
            span = hits[0]
        self._add(operator, node, span[0], span[1], new)

    def visit_BinOp(self, node):
        self.generic_visit(node)
        for new in _BINOPS.get(type(node.op), []):
            old = type(node.op).__name__
            self._swap_token(node, self.src.end(node.left), self.src.start(node.right), _BINOP_TEXT[old],
                             _BINOP_TEXT[new], f"binop:{old}->{new}")

    def visit_AugAssign(self, node):
        self.generic_visit(node)
        for new in _BINOPS.get(type(node.op), []):
            old = type(node.op).__name__
            self._swap_token(node, self.src.end(node.target), self.src.start(node.value), _BINOP_TEXT[old] + "=",
                             _BINOP_TEXT[new] + "=", f"binop:{old}->{new}")

    def visit_Compare(self, node):
        self.generic_visit(node)
        operands = [node.left, *node.comparators]
        for i, op in enumerate(node.ops):
            new = _CMPOPS.get(type(op))
            if new is None:
                continue
            old = type(op).__name__
            low, high = self.src.end(operands[i]), self.src.start(operands[i + 1])
            self._swap_token(node, low, high, _CMP_TEXT[old], _CMP_TEXT[new], f"cmp:{old}->{new}")

    def visit_BoolOp(self, node):
        self.generic_visit(node)
        old = "and" if isinstance(node.op, ast.And) else "or"
        new = "or" if old == "and" else "and"
        low, high = self.src.end(node.values[0]), self.src.start(node.values[1])
        self._swap_token(node, low, high, old, new, f"bool:{old}->{new}")

    def visit_UnaryOp(self, node):
        self.generic_visit(node)
        if isinstance(node.op, ast.Not):
            start, operand = self.src.start(node), self.src.start(node.operand)
            # keep the operand's own text, parenthesised: `not a == b` becomes `(a == b)`
            self._add("not:drop", node, start, self.src.end(node),
                      "(" + self.src.text[operand:self.src.end(node.operand)] + ")")

    def visit_Constant(self, node):
        value = node.value
        if isinstance(value, bool) or not isinstance(value, int):
            return
        start, end = self.src.start(node), self.src.end(node)
        for delta, operator in ((1, "int:+1"), (-1, "int:-1")):
            self._add(operator, node, start, end, str(value + delta))


def find_mutants(file: str, text: str) -> list[Mutant]:
    source = _Source(text)
    tree = ast.parse(text)
    finder = _Finder(file, source)
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            finder.visit(node)
    found = sorted(finder.found, key=lambda f: (f[3], f[4], f[1]))
    counts: dict = {}
    mutants = []
    for qualname, operator, line, start, end, replacement in found:
        group = (qualname, operator, line)
        counts[group] = counts.get(group, -1) + 1
        mutants.append(Mutant(file, qualname, operator, counts[group], line, start, end, replacement))
    return mutants


def expand(patterns: list[str]) -> list[str]:
    files: list[str] = []
    for pattern in patterns:
        for path in sorted(glob.glob(str(ROOT / pattern))):
            rel = Path(path).relative_to(ROOT).as_posix()
            if rel not in files:
                files.append(rel)
    return files


def all_mutants(files: list[str]) -> tuple[list[Mutant], dict[str, str]]:
    texts = {f: (ROOT / f).read_text(encoding="utf-8") for f in files}
    mutants = [m for f in files for m in find_mutants(f, texts[f])]
    return mutants, texts


def select(mutants: list[Mutant], seed: int, count: int) -> list[Mutant]:
    """`count` mutants: those whose key hashes lowest with the seed. A mutant's draw depends on its
    key and the seed only, so adding or removing code elsewhere never changes whether it is drawn
    (it can only push it out of, or into, the `count` lowest)."""
    def score(m: Mutant) -> str:
        return hashlib.sha256(f"{seed}\n{m.key}".encode("utf-8")).hexdigest()

    chosen = sorted(mutants, key=lambda m: (score(m), m.file))[:count]
    return sorted(chosen, key=lambda m: (m.file, m.start, m.operator))


def read_equivalents(path: Path = EQUIVALENT_FILE) -> dict[str, str]:
    """key -> reason, from lines `qualname | operator#occurrence | line | reason` (# comments)."""
    found = {}
    if not path.exists():
        return found
    for raw in path.read_text(encoding="utf-8").splitlines():
        if not raw.strip() or raw.startswith("#"):
            continue
        parts = raw.split(" | ")
        if len(parts) < 4:
            raise SystemExit(f"{path}: not `qualname | operator#n | line | reason`: {raw}")
        key = " | ".join(parts[:-1]).strip()
        found[key] = parts[-1].strip()
    return found


# --------------------------------------------------------------------------- running


def _copy_repository(into: Path) -> Path:
    target = into / "repo"
    ignore = shutil.ignore_patterns(".git", ".venv", "__pycache__", "*.egg-info", ".convlint_cache",
                                    ".hypothesis", ".pytest_cache", "build", ".corpus", "corpus")
    shutil.copytree(ROOT, target, ignore=ignore)
    return target


def _environment(copy: Path) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(copy) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # a restored file must never meet a stale mutant's .pyc
    env["CONVLINT_NO_CACHE"] = "1"
    return env


def _pytest(copy: Path, tests: list[str], timeout: float) -> tuple[str, float, str]:
    command = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests]
    began = time.monotonic()
    try:
        done = subprocess.run(command, cwd=copy, env=_environment(copy), capture_output=True, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        return "timeout", time.monotonic() - began, ""
    elapsed = time.monotonic() - began
    tail = "\n".join(done.stdout.strip().splitlines()[-3:])
    return ("survived" if done.returncode == 0 else "killed"), elapsed, tail


def _check_copy(copy: Path) -> None:
    probe = subprocess.run([sys.executable, "-c", "import convlint; print(convlint.__file__)"], cwd=copy,
                           env=_environment(copy), capture_output=True, text=True)
    where = Path(probe.stdout.strip()).resolve()
    if copy.resolve() not in where.parents:
        raise SystemExit(f"the copy's tests would import convlint from {where}, not from {copy}")


def run(mutants: list[Mutant], texts: dict[str, str], tests: list[str], timeout: float | None, jobs: int,
        log) -> dict[str, dict]:
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="convlint-mutants-") as tmp:
        copies = [_copy_repository(Path(tmp) / str(j)) for j in range(jobs)]
        for copy in copies:
            _check_copy(copy)
        status, baseline, tail = _pytest(copies[0], tests, timeout=3600)
        if status != "survived":
            raise SystemExit(f"the unmutated tests fail in the copy:\n{tail}")
        limit = timeout if timeout is not None else max(60.0, 3 * baseline)
        log(f"baseline: {len(tests)} test files pass in {baseline:.1f}s; timeout per mutant {limit:.0f}s")
        queue = list(enumerate(mutants))
        free = list(copies)

        def one(item):
            index, mutant = item
            copy = free.pop()
            path = copy / mutant.file
            try:
                path.write_text(mutant.apply(texts[mutant.file]), encoding="utf-8")
                status, elapsed, tail = _pytest(copy, tests, limit)
            finally:
                path.write_text(texts[mutant.file], encoding="utf-8")
                free.append(copy)
            results[f"{index}"] = {"key": mutant.key, "file": mutant.file, "status": status,
                                   "seconds": round(elapsed, 1), "diff": mutant.diff(texts[mutant.file])}
            log(f"[{index + 1}/{len(mutants)}] {status:8} {elapsed:5.1f}s {mutant.file}: {mutant.key}")

        with ThreadPoolExecutor(max_workers=jobs) as pool:
            list(pool.map(one, queue))
    return results


# --------------------------------------------------------------------------- report


def report(selected: list[Mutant], outcome: dict[str, str], files: list[str]) -> tuple[str, float]:
    rows = []
    totals = {"killed": 0, "survived": 0, "timeout": 0, "equivalent": 0}
    for file in files:
        counts = {k: 0 for k in totals}
        for mutant, status in zip(selected, (outcome[str(i)] for i in range(len(selected)))):
            if mutant.file == file:
                counts[status] += 1
        if not sum(counts.values()):
            continue
        for k in totals:
            totals[k] += counts[k]
        rows.append((file, counts))
    rows.append(("total", totals))
    lines = [f"{'file':40} {'mutants':>7} {'killed':>6} {'timeout':>7} {'survived':>8} {'equiv':>5} {'rate':>6}"]
    rate_total = 0.0
    for name, c in rows:
        real = c["killed"] + c["timeout"] + c["survived"]
        rate = 100.0 * (c["killed"] + c["timeout"]) / real if real else 100.0
        if name == "total":
            rate_total = rate
        lines.append(f"{name:40} {sum(c.values()):>7} {c['killed']:>6} {c['timeout']:>7} {c['survived']:>8} "
                     f"{c['equivalent']:>5} {rate:>5.1f}%")
    return "\n".join(lines), rate_total


_LOG_LINE = re.compile(r"^\[\d+/\d+\] (?P<status>\w+) +[\d.]+s (?P<file>\S+): (?P<key>.*)$")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--count", type=int, default=DEFAULT_COUNT, help="mutants drawn (all of them if larger)")
    parser.add_argument("--files", nargs="+", default=DEFAULT_FILES, help="paths or globs of the modules to mutate")
    parser.add_argument("--tests", nargs="+", default=DEFAULT_TESTS, help="test files or globs to run")
    parser.add_argument("--timeout", type=float, default=None, help="seconds per mutant (default 3x the baseline)")
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--list", action="store_true", help="list the selected mutants and stop")
    parser.add_argument("--keys", type=Path, help="run only the mutants (drawn or not) whose key is a line of this file")
    parser.add_argument("--json", type=Path, help="write every result here")
    parser.add_argument("--resume", type=Path, nargs="+",
                        help="output of earlier runs (their `[i/n] status ...` lines): mutants they killed, or that "
                             "timed out, are not run again. Valid only while the mutated files are unchanged since "
                             "(tests may have been added: a killed mutant stays killed)")
    args = parser.parse_args(argv)

    files = expand(args.files)
    tests = [t for pattern in args.tests for t in sorted(glob.glob(pattern, root_dir=ROOT))]
    mutants, texts = all_mutants(files)
    selected = select(mutants, args.seed, args.count)
    equivalents = read_equivalents()
    print(f"{len(mutants)} mutants in {len(files)} files; {len(selected)} selected with seed {args.seed}",
          flush=True)
    if args.list:
        for m in selected:
            mark = "equivalent " if m.key in equivalents else ""
            print(f"{mark}{m.file}: {m.key}\n{m.diff(texts[m.file])}")
        return 0
    wanted = None
    if args.keys:  # any mutant, drawn or not: to re-run the survivors of an earlier run
        wanted = {line.strip() for line in args.keys.read_text(encoding="utf-8").splitlines() if line.strip()}
        selected = [m for m in sorted(mutants, key=lambda m: (m.file, m.start, m.operator)) if m.key in wanted]
    earlier = {}
    for log in args.resume or ():
        for line in log.read_text(encoding="utf-8").splitlines():
            found = _LOG_LINE.match(line)
            if found and found["status"] in ("killed", "timeout"):
                earlier[(found["file"], found["key"])] = found["status"]
    outcome: dict[str, str] = {}
    to_run = []
    for i, m in enumerate(selected):
        if m.key in equivalents:
            outcome[str(i)] = "equivalent"
        elif (m.file, m.key) in earlier:
            outcome[str(i)] = earlier[(m.file, m.key)]
        elif wanted is not None and m.key not in wanted:
            outcome[str(i)] = "skipped"
        else:
            to_run.append((i, m))
    if earlier:
        print(f"{len(selected) - len(to_run) - sum(1 for v in outcome.values() if v == 'equivalent')} mutants "
              f"killed in the earlier runs, {len(to_run)} to run", flush=True)
    results = run([m for _, m in to_run], texts, tests, args.timeout, args.jobs,
                  lambda s: print(s, flush=True))
    for j, (i, m) in enumerate(to_run):
        outcome[str(i)] = results[str(j)]["status"]
    survivors = [(m, results[str(j)]) for j, (i, m) in enumerate(to_run) if results[str(j)]["status"] == "survived"]
    if args.json:
        args.json.write_text(json.dumps({"seed": args.seed, "count": args.count, "tests": tests,
                                         "results": [dict(results[str(j)]) for j in range(len(to_run))]},
                                        indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print()
    if survivors:
        print("survivors:")
        for m, r in survivors:
            print(f"{m.file}: {m.key}\n{r['diff']}")
        print()
    if wanted is not None:
        print(f"ran {len(to_run)} mutants named in {args.keys}: "
              f"{len(to_run) - len(survivors)} killed, {len(survivors)} survived")
        return 1 if survivors else 0
    text, rate = report(selected, outcome, files)
    print(f"seed {args.seed}, count {args.count}, tests: {' '.join(tests)}")
    print(text)
    return 1 if survivors else 0


if __name__ == "__main__":
    sys.exit(main())
