"""Where a cold run's CPU time goes: one process over the corpus, each phase timed exclusively.

    python tools/cost.py [--packages timm kornia ...]

Phases: the parse (CPython's `ast`: targets and the siblings their imports reach), building the
models (constructors and forward runs, sibling imports excluded), importing siblings (running
their module bodies), the rest of extraction (the linted file's own module body), the file's
input evidence, shape propagation, the full collections the runner asks for, and the
rest (reading, pre-filter, checks, suppressions). The benchmark (tools/bench.py) says how long;
this says why, for whoever makes it shorter. Run it on an idle machine: it measures CPU time.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT / "tools"))
sys.path.insert(0, str(REPO_ROOT))

import corpus  # noqa: E402 - tools/corpus.py: the packages
from bench import corpus_files, recording_parses  # noqa: E402 - the benchmark's files and its parse log

from convlint import engine, evidence, extract, rules, runner, syntax  # noqa: E402


def exclusive_timers(phases: dict[str, float]):
    """Wrap functions so each phase counts its own CPU time, not that of the phases inside it."""
    inner: list[float] = []

    def wrap(owner, name: str, phase: str) -> None:
        original = getattr(owner, name)

        def timed(*args, **kwargs):
            start = time.process_time()
            inner.append(0.0)
            try:
                return original(*args, **kwargs)
            finally:
                spent = time.process_time() - start
                phases[phase] = phases.get(phase, 0.0) + spent - inner.pop()
                if inner:
                    inner[-1] += spent

        setattr(owner, name, timed)

    return wrap


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packages", nargs="*", default=list(corpus.PACKAGES))
    args = parser.parse_args(argv)
    files = [str(path) for path in corpus_files(args.packages)]
    phases: dict[str, float] = {}
    wrap = exclusive_timers(phases)
    wrap(syntax, "parse", "parse")
    parsed = recording_parses(syntax)
    wrap(extract.Extractor, "build", "build models")
    wrap(extract.Extractor, "load", "import siblings")
    wrap(extract, "extract", "module bodies")
    wrap(evidence, "input_evidence", "input evidence")
    wrap(engine, "propagate", "propagate shapes")
    wrap(runner, "_collect_now_and_then", "full collections")
    wrap(runner, "lint_paths", "rest")
    start = time.process_time()
    runner.lint_paths(files, set(rules.DEFAULT_SELECTION), jobs=1)
    total = time.process_time() - start
    floor = sum(Path(path).stat().st_size for path in parsed)
    print(f"{len(files)} files, {total:.1f} s of CPU in one process; the {len(parsed)} files parsed are {floor / 1e6:.1f} MB")
    for phase, seconds in sorted(phases.items(), key=lambda item: -item[1]):
        print(f"  {phase:<18} {seconds:6.1f} s  {seconds / total:4.0%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
