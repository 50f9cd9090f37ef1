"""Mutation score: does convlint notice when one channel/feature count is off by one?

    python tools/mutate.py [--verbose] [--limit N] [--seed S] [--jobs N] [--packages torchvision timm ...]

Corpus: every package of tools/corpus.py (files whose name does not contain "test").
A mutation site is the integer literal given as Conv1d/2d/3d `in_channels`,
Linear `in_features` or BatchNorm1d/2d/3d `num_features` (first positional argument
or keyword) at a *resolved position*: `analyze_source` has a step of that kind at the
call's line that knows, as a concrete int, the count the layer receives -- the value
the literal must equal (`in_shape[0]` for Conv and BatchNorm, `in_shape[-1]` for
Linear) -- from something other than the layer itself.  A model's first layer with no
declared input is not such a position: nothing but its own literal fixes what it
receives (convlint seeds the input from it), so n+1 there is an equivalent mutant.
The mutant is the file with exactly that literal changed n -> n+1 (libcst round-trips
everything else byte for byte).  It is *killed* when linting it yields a
channel-mismatch, misplaced-flatten or shape-mismatch finding whose (code, line) the
unmutated file's findings lack.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
from dataclasses import dataclass
from multiprocessing import Pool
from pathlib import Path

import libcst as cst

import corpus
from corpus_coverage import find_calls, package_files, parse_with_positions, pinned_lines

# callee name -> the keyword of the argument that carries the input size
TARGET_ARGUMENT = {
    **{f"Conv{d}d": "in_channels" for d in (1, 2, 3)},
    "Linear": "in_features",
    **{f"BatchNorm{d}d": "num_features" for d in (1, 2, 3)},
}
KILLING_CHECKS = {"channel-mismatch", "misplaced-flatten", "shape-mismatch"}


@dataclass(frozen=True, order=True)
class Site:
    path: str  # shown path (relative to the repo root)
    call_line: int  # where the call starts: what steps' .line refer to
    line: int  # where the literal is
    column: int  # 0-based, as libcst positions are
    kind: str  # callee name, e.g. "Conv2d"
    literal: str  # the literal's source text


def size_argument(call: cst.Call, keyword: str) -> cst.Arg | None:
    """The argument carrying the input size: `keyword=...`, else the first positional one."""
    for arg in call.args:
        if arg.keyword is not None and arg.keyword.value == keyword:
            return arg
    first = call.args[0] if call.args else None
    if first is not None and first.keyword is None and first.star == "":
        return first
    return None


def literal_sites(source: bytes, path: str) -> list[Site]:
    """Every integer literal passed as the input size of one of the TARGET_ARGUMENT layers."""
    module, positions = parse_with_positions(source)
    sites = []
    for call_line, kind, call in find_calls(module, positions, set(TARGET_ARGUMENT)):
        arg = size_argument(call, TARGET_ARGUMENT[kind])
        if arg is not None and isinstance(arg.value, cst.Integer):
            start = positions[arg.value].start
            sites.append(Site(path, call_line, start.line, start.column, kind, arg.value.value))
    return sorted(sites)


class _ReplaceInteger(cst.CSTTransformer):
    def __init__(self, target: cst.Integer, value: str) -> None:
        self.target, self.value = target, value

    def leave_Integer(self, original: cst.Integer, updated: cst.Integer) -> cst.Integer:
        return updated.with_changes(value=self.value) if original is self.target else updated


def mutate_literal(source: bytes, line: int, column: int) -> bytes:
    """The source with the integer literal starting at (line, column) replaced by n+1."""
    module, positions = parse_with_positions(source)
    targets = [n for n, r in positions.items()
               if isinstance(n, cst.Integer) and (r.start.line, r.start.column) == (line, column)]
    if len(targets) != 1:
        raise ValueError(f"no single integer literal at {line}:{column}")
    new_value = str(int(targets[0].value, 0) + 1)  # int(.., 0) reads 0x10, 1_000 too
    return module.visit(_ReplaceInteger(targets[0], new_value)).bytes


def finding_keys(findings) -> set[tuple[str, int]]:
    return {(f.code, f.span.line) for f in findings}


# ------------------------------------------------------------------ the two passes


@dataclass
class Survey:
    path: str
    resolved: list[Site]  # the mutation sites
    unresolved: int  # literal sites skipped: not a resolved position
    baseline: set[tuple[str, int]]  # (code, line) of the unmutated file's findings
    error: str | None = None  # analyze_source/lint_source raised on the unmutated file


def survey_file(task: tuple[str, str]) -> Survey:
    """Pass 1, per file: which literal sites are resolved, and the unmutated findings."""
    from convlint.engine import analyze_source, lint_source

    real_path, shown_path = task
    source = Path(real_path).read_bytes()
    sites = literal_sites(source, shown_path)
    if not sites:
        return Survey(shown_path, [], 0, set())
    try:
        analysis = analyze_source(source, shown_path)
        baseline = finding_keys(lint_source(source, shown_path))
    except Exception as exc:  # noqa: BLE001 - its sites cannot be judged; report and go on
        return Survey(shown_path, [], len(sites), set(), f"{type(exc).__name__}: {exc}")
    known = {kind: pinned_lines(analysis, kind) for kind in {s.kind for s in sites}}
    resolved = [s for s in sites if s.call_line in known[s.kind]]
    return Survey(shown_path, resolved, len(sites) - len(resolved), baseline)


def run_mutant(task: tuple[str, Site, set]) -> tuple[Site, str]:
    """Pass 2, per mutant: "killed", "survived" or "crashed" (lint raised or internal-error)."""
    from convlint.engine import lint_source

    real_path, site, baseline = task
    mutant = mutate_literal(Path(real_path).read_bytes(), site.line, site.column)
    try:
        findings = lint_source(mutant, site.path)
    except Exception:  # noqa: BLE001 - a crash is neither a kill nor a survivor
        return site, "crashed"
    if any(f.name == "internal-error" for f in findings):
        return site, "crashed"
    new = [f for f in findings if f.name in KILLING_CHECKS and (f.code, f.span.line) not in baseline]
    return site, "killed" if new else "survived"


def corpus_files(packages: list[str]) -> list[Path]:
    return [path for name in packages for path in package_files(name)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--verbose", action="store_true", help="list surviving mutants")
    ap.add_argument("--limit", type=int, help="mutate a random sample of this many sites")
    ap.add_argument("--seed", type=int, default=0, help="seed for --limit's sample")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--packages", nargs="*", default=list(corpus.PACKAGES))
    args = ap.parse_args(argv)
    corpus.require_engine("analyze_source", "lint_source")
    corpus.install_side_by_side()  # as corpus_coverage.py: the packages installed in one environment

    files = {corpus.display_path(p): str(p) for p in corpus_files(args.packages)}
    with Pool(args.jobs) as pool:
        surveys = pool.map(survey_file, [(real, shown) for shown, real in files.items()])
        sites = sorted(s for survey in surveys for s in survey.resolved)
        if args.limit is not None and args.limit < len(sites):
            sites = sorted(random.Random(args.seed).sample(sites, args.limit))
        baselines = {survey.path: survey.baseline for survey in surveys}
        tasks = [(files[s.path], s, baselines[s.path]) for s in sites]
        outcomes = sorted(pool.map(run_mutant, tasks))

    for survey in surveys:
        if survey.error:
            print(f"unmutated file failed, its sites skipped: {survey.path}: {survey.error}")
    killed = [s for s, o in outcomes if o == "killed"]
    survived = [s for s, o in outcomes if o == "survived"]
    crashed = [s for s, o in outcomes if o == "crashed"]
    if args.verbose:
        for s in survived:
            print(f"survived: {s.path}:{s.line}: {s.kind} {TARGET_ARGUMENT[s.kind]}={s.literal}")
        for s in crashed:
            print(f"crashed:  {s.path}:{s.line}: {s.kind} {TARGET_ARGUMENT[s.kind]}={s.literal}")
    for kind in sorted({s.kind for s, _ in outcomes}):
        n = sum(1 for s, _ in outcomes if s.kind == kind)
        k = sum(1 for s in killed if s.kind == kind)
        print(f"  {kind:12} mutants {n:4}  killed {k:4}")
    score = 100.0 * len(killed) / len(outcomes) if outcomes else 0.0
    print(f"literal sites skipped as unresolved {sum(survey.unresolved for survey in surveys)}")
    print(f"mutants {len(outcomes)}  killed {len(killed)}  survived {len(survived)}  "
          f"crashed {len(crashed)}  score {score:.1f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
