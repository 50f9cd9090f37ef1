"""How many of torchvision's Conv2d call sites does convlint resolve the input channels of?

    python tools/corpus_coverage.py [--verbose] [--jobs N]

A *site* is a source line holding a call whose callee is `Conv2d` or `<anything>.Conv2d`
(found with libcst, so strings and comments never count; the line is the one the
call expression starts on).  Classes passed uncalled (`conv_layer=nn.Conv2d`) are
not sites.  A site is *resolved* when `convlint.engine.analyze_source` yields, in
some model, a step of kind "Conv2d" at that line whose `in_shape[0]` is an int.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, field
from multiprocessing import Pool
from pathlib import Path

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider

import corpus  # tools/corpus.py: the cached, unpacked wheels

TORCHVISION = "torchvision"


def callee_name(call: cst.Call) -> str | None:
    """`Conv2d(...)` -> "Conv2d", `torch.nn.Conv2d(...)` -> "Conv2d", anything else -> None."""
    if isinstance(call.func, cst.Name):
        return call.func.value
    if isinstance(call.func, cst.Attribute):
        return call.func.attr.value
    return None


def parse_with_positions(source: bytes):
    """The module and a map from each of its nodes to its source range."""
    module = cst.parse_module(source)
    return module, MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)


class _CallCollector(cst.CSTVisitor):
    def __init__(self, names: set[str]) -> None:
        self.names = names
        self.calls: list[cst.Call] = []

    def visit_Call(self, node: cst.Call) -> None:
        if callee_name(node) in self.names:
            self.calls.append(node)


def find_calls(module: cst.Module, positions, names: set[str]) -> list[tuple[int, str, cst.Call]]:
    """(start line, callee name, node) of every call to one of `names`, in source order."""
    collector = _CallCollector(names)
    module.visit(collector)
    return [(positions[call].start.line, callee_name(call), call) for call in collector.calls]


def conv2d_sites(source: bytes) -> list[int]:
    """The sorted distinct lines on which a Conv2d call starts."""
    module, positions = parse_with_positions(source)
    return sorted({line for line, _, _ in find_calls(module, positions, {"Conv2d"})})


def iter_models(analysis):
    models = analysis.models
    return list(models.values()) if isinstance(models, Mapping) else list(models)


def iter_steps(analysis):
    for model in iter_models(analysis):
        yield from model.steps


def is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def resolved_lines(analysis, kind: str, need_channels: bool = True) -> set[int]:
    """Lines of steps of `kind` whose input shape is known (and, if asked, whose channels are an int)."""
    lines = set()
    for step in iter_steps(analysis):
        shape = step.in_shape
        if step.kind == kind and shape is not None and (not need_channels or (shape and is_int(shape[0]))):
            lines.add(step.line)
    return lines


@dataclass
class FileCoverage:
    path: str
    sites: list[int]
    resolved: list[int] = field(default_factory=list)
    error: str | None = None  # analyze_source raised: every site counts as unresolved

    @property
    def unresolved(self) -> list[int]:
        return sorted(set(self.sites) - set(self.resolved))


def cover_file(task: tuple[str, str]) -> FileCoverage:
    from convlint.engine import analyze_source

    real_path, shown_path = task
    source = Path(real_path).read_bytes()
    result = FileCoverage(shown_path, conv2d_sites(source))
    if result.sites:
        try:
            lines = resolved_lines(analyze_source(source, shown_path), "Conv2d")
            result.resolved = sorted(set(result.sites) & lines)
        except Exception:  # noqa: BLE001 - report it, keep measuring the rest
            result.error = traceback.format_exc()
    return result


def torchvision_model_files() -> list[Path]:
    files = corpus.prepare_package(TORCHVISION, corpus.PACKAGES[TORCHVISION])
    models = corpus.package_dir(TORCHVISION, corpus.PACKAGES[TORCHVISION]) / "torchvision" / "models"
    return [p for p in files if models in p.parents]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--verbose", action="store_true", help="list the unresolved lines of each file")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    args = ap.parse_args(argv)
    corpus.require_engine("analyze_source")

    tasks = [(str(p), corpus.display_path(p)) for p in torchvision_model_files()]
    with Pool(args.jobs) as pool:
        results = sorted(pool.map(cover_file, tasks), key=lambda r: r.path)

    sites = sum(len(r.sites) for r in results)
    resolved = sum(len(r.resolved) for r in results)
    errors = [r for r in results if r.error]
    for r in errors[:5]:
        print(f"--- analyze_source raised on {r.path}\n{r.error.rstrip()}")
    if args.verbose:
        for r in results:
            if r.unresolved:
                print(f"{r.path}: {len(r.resolved)}/{len(r.sites)} resolved; unresolved lines "
                      + ", ".join(map(str, r.unresolved)))
    pct = 100.0 * resolved / sites if sites else 0.0
    print(f"files {len(results)}  files-with-sites {sum(1 for r in results if r.sites)}  "
          f"analysis-errors {len(errors)}")
    print(f"Conv2d sites {sites}  resolved {resolved}  coverage {pct:.1f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
