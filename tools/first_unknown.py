"""Why a package's channel sites stay unresolved: for each unresolved site, the op upstream of it
whose output first turns unknown (its inputs known), or that the layer was built but never run,
or never built at all.

    python tools/first_unknown.py [--package timm] [--jobs 2] [--only FILE_SUBSTRING]
"""

from __future__ import annotations

import argparse
import os
import sys
from collections import Counter, defaultdict
from multiprocessing import Pool
from pathlib import Path

import corpus
import corpus_coverage as cc


def _text(node, files: dict) -> str:
    import ast

    try:
        return " ".join(ast.unparse(node).split())[:90]
    except Exception:  # noqa: BLE001
        return type(node).__name__


def _where(op, path) -> str:
    origin = op.origin
    line = getattr(op.node, "lineno", "?")
    return f"{os.path.basename(origin[0] if origin else path)}:{line}"


def _culprit(steps, index: int, path: str) -> str:
    """Walk back from step `index` along its first input of unknown shape to the op whose output
    is unknown although its inputs are known."""
    by_value = {}
    for i, s in enumerate(steps[:index]):
        by_value[s.op.output] = i
    seen = set()
    current = index
    while current not in seen:
        seen.add(current)
        step = steps[current]
        bad = [v for v, t in zip(step.op.inputs, step.inputs) if t.shape is None or t.batch_at]
        if current != index and not bad:
            return f"{step.op.kind}{'/' + step.op.layer.kind if step.op.layer else ''} @ {_where(step.op, path)}: {_text(step.op.node, {})}"
        if not bad:
            return "?no-bad-input"
        nxt = by_value.get(bad[0])
        if nxt is None:
            return "model-input-unknown" if bad[0] == 0 else f"value {bad[0]} never produced"
        current = nxt
        # restrict the map to before the producer
        by_value = {s.op.output: i for i, s in enumerate(steps[:current])}
    return "?cycle"


def examine(task):
    from convlint.engine import analyze_source

    real = os.path.realpath(task)
    source = Path(real).read_bytes()
    out = {}  # (file, line, kind) -> list of reasons
    built = set()
    if b"torch" not in source:
        return out, built
    try:
        analysis = analyze_source(source, real, details=True)
    except Exception:  # noqa: BLE001
        return out, built
    for model in analysis.models:
        m = model.model
        if m is not None:
            for layer in m.layers:
                f = os.path.realpath(layer.file) if layer.file else real
                built.add((f, layer.node.lineno, layer.kind))
        raw = [s.step for s in model.steps]
        for i, view in enumerate(model.steps):
            step = view.step
            if step.op.kind != "layer" or step.op.layer is None or step.op.layer.kind not in cc.SITE_KINDS:
                continue
            layer = step.op.layer
            key = (os.path.realpath(layer.file) if layer.file else real, layer.node.lineno, layer.kind)
            got = cc.received(layer.kind, step)
            if cc.is_int(got) and not step.seeded:
                out.setdefault(key, []).append("OK")
                continue
            if step.in_shape is None and got is None:
                reason = _culprit(raw, i, real)
            else:
                origin = step.inputs[0].origin
                reason = f"symbolic {got!r}" + (f" from {origin.kind} @ {_where(origin, real)}: {_text(origin.node, {})}" if origin else "")
            if model.part_of and reason == "model-input-unknown":
                reason = "only run alone (a sub-module no model ran)"
            out.setdefault(key, []).append(f"{reason}    [in {os.path.basename(real)}::{model.name}]")
    return out, built


def _enclosing(path: str, line: int) -> str:
    import ast

    tree = ast.parse(Path(path).read_bytes())
    names = []

    def visit(node, trail):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.ClassDef, ast.FunctionDef)) and child.lineno <= line <= child.end_lineno:
                names.append(".".join(trail + [child.name]))
                visit(child, trail + [child.name])
            elif hasattr(child, "lineno") and child.lineno <= line <= (child.end_lineno or child.lineno):
                visit(child, trail)

    visit(tree, [])
    return names[-1] if names else "module"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--package", default="timm")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--only", default=None)
    args = ap.parse_args()
    corpus.install_side_by_side()
    files = [p for p in cc.package_files(args.package)]
    sites = {}
    for p in files:
        real = os.path.realpath(p)
        for line, kind in cc.channel_sites(Path(real).read_bytes()):
            sites[(real, line, kind)] = p
    tasks = [str(p) for p in files if args.only is None or args.only in str(p)]
    reasons = defaultdict(list)
    built = set()
    with Pool(args.jobs) as pool:
        for out, b in pool.imap_unordered(examine, tasks):
            built |= b
            for k, v in out.items():
                reasons[k].extend(v)
    causes = Counter()
    for key in sorted(sites):
        got = reasons.get(key, [])
        if "OK" in got:
            continue
        if got:
            informative = [r for r in got if not r.startswith(("model-input-unknown", "only run alone"))] or got
            cause = Counter(r.split("    [")[0] for r in informative).most_common(1)[0][0]
            example = next(r for r in got if r.startswith(cause))
        else:
            cause = "built, never run" if key in built else "never built"
            example = f"{cause} (in {_enclosing(key[0], key[1])})"
        causes[cause] += 1
        print(f"{os.path.relpath(key[0], corpus.CACHE / 'src')}:{key[1]} {key[2]}: {example}")
    print()
    for cause, n in causes.most_common():
        print(f"{n:4d}  {cause}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    sys.exit(main())


def first_unknowns(task):
    """Per file: (model name, the first op whose output turns unknown with its inputs known) of
    each model the file defines for use."""
    from convlint.engine import analyze_source

    real = os.path.realpath(task)
    source = Path(real).read_bytes()
    if b"torch" not in source:
        return task, []
    analysis = analyze_source(source, real, details=True)
    found = []
    for model in analysis.models:
        if model.part_of or model.training:
            continue
        raw = [s.step for s in model.steps]
        culprit = None
        for i, step in enumerate(raw):
            if step.output.shape is None and all(t.shape is not None and not t.batch_at for t in step.inputs) and step.inputs:
                culprit = f"{step.op.kind}{'/' + step.op.layer.kind if step.op.layer else ''} @ {_where(step.op, real)}: {_text(step.op.node, {})}"
                break
        found.append((model.name, culprit or "-"))
    return task, found
