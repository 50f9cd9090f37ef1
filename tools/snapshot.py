"""Dump everything convlint says about a tree of files, to compare two versions of convlint.

    python tools/snapshot.py OUT.jsonl [--corpus] [PATH ...]

For each file (the fixtures and the given paths; with --corpus also every file of
`tools/corpus.py`'s packages): every finding of every check, every model view (each step's
kind, line, input and output shape), and `convlint summary --format json`, each once as the
file stands and once with `--input 3x224x224`. One JSON line per file, in path order, so
that `diff before.jsonl after.jsonl` shows exactly what a change of convlint changed.
"""

from __future__ import annotations

import argparse
import json
import sys
from multiprocessing import Pool
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

FORCED = (3, 224, 224)


def _text(value):
    if isinstance(value, (tuple, list)):
        return [_text(v) for v in value]
    return value if value is None or isinstance(value, (int, float, str)) else str(value)


def _check(source: bytes, path: str, forced) -> dict:
    from convlint import rules
    from convlint.engine import analyze_source

    analysis = analyze_source(source, path, forced, select={r.name for r in rules.RULES}, config_inputs={})
    return {
        "findings": [f.to_dict() for f in analysis.findings],
        "models": [
            {
                "name": m.name, "line": m.line, "input": _text(m.input_shape), "training": m.training,
                "part_of": m.part_of,
                "steps": [[s.kind, s.line, _text(s.in_shape), _text(s.out_shape)] for s in m.steps],
            }
            for m in analysis.models
        ],
    }


def _summary(source: bytes, path: str, forced) -> list | str:
    from convlint.summary import summarize_source, to_json

    try:
        return to_json(summarize_source(source, path, forced))
    except ValueError as error:
        return f"ValueError: {error}"


def snapshot(path: str) -> str:
    source = Path(path).read_bytes()
    record: dict = {"path": path}
    for label, forced in (("as-is", None), ("forced", FORCED)):
        try:
            record[label] = {"check": _check(source, path, forced), "summary": _summary(source, path, forced)}
        except Exception as error:  # noqa: BLE001 - a crash is part of the record
            record[label] = f"crash: {type(error).__name__}: {error}"
    return json.dumps(record, ensure_ascii=False, sort_keys=True, default=str)


def files(paths: list[str], corpus: bool) -> list[str]:
    roots = [REPO_ROOT / "fixtures", *map(Path, paths)]
    if corpus:
        sys.path.insert(0, str(REPO_ROOT / "tools"))
        import corpus as corpus_tool

        roots += [corpus_tool.package_dir(n, v) for n, v in corpus_tool.PACKAGES.items()]
    found = []
    for root in roots:
        found += [root] if root.is_file() else sorted(root.rglob("*.py"))
    return sorted({p.resolve().relative_to(REPO_ROOT).as_posix() if p.resolve().is_relative_to(REPO_ROOT)
                   else str(p) for p in found})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("paths", nargs="*")
    parser.add_argument("--corpus", action="store_true")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args(argv)
    todo = files(args.paths, args.corpus)
    with Pool(args.jobs) as pool, open(args.out, "w", encoding="utf-8") as out:
        for line in pool.imap(snapshot, todo, chunksize=8):
            out.write(line + "\n")
    print(f"{len(todo)} files -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
