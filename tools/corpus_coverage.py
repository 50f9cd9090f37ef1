"""How much of the corpus does convlint follow? Channel sites resolved, models followed, per package.

    python tools/corpus_coverage.py [--verbose] [--jobs N] [--packages torchvision timm ...]
    python tools/corpus_coverage.py --conv2d      # the older measure: torchvision's Conv2d sites

A *site* is a call to Conv1d/2d/3d, ConvTranspose1d/2d/3d, Linear, BatchNorm1d/2d/3d, GroupNorm,
LayerNorm or InstanceNorm2d (by callee name, found with libcst, so strings and comments never
count; the line is the one the call starts on) in a `.py` file whose name does not contain
"test". It is *resolved* when some model step of that kind at that line receives an int channel
count (features for Linear and LayerNorm: the last axis) that does not come from the layer's own
declaration (a first layer that seeds an undeclared input, or one fed by timm's configured input of
the model's own in_chans, does not count), in the analysis of any
file of the package: a block of `ops/misc.py` that `models/mobilenetv2.py` builds is resolved by
that file's models, as `convlint check` of the package checks it there (the "own file" column
counts only the analysis of the site's own file, the measure before 2026-12-04). A model is *followed*
when its output shape is fully known at its declared input (3x224x224 when it declares none);
sub-modules run on their own and second runs in training mode are not counted. The packages of
the corpus are on convlint's search path, as if installed side by side (corpus.install_side_by_side).
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
# the layers that consume a channel (feature) count of their input
SITE_KINDS = {
    *(f"{family}{n}d" for family in ("Conv", "ConvTranspose", "BatchNorm") for n in (1, 2, 3)),
    "Linear", "GroupNorm", "LayerNorm", "InstanceNorm2d",
}
FEATURE_KINDS = {"Linear", "LayerNorm"}  # they receive the last axis, the others the channel axis
FORCED = (3, 224, 224)


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


def channel_sites(source: bytes) -> list[tuple[int, str]]:
    """(line, kind) of every call to a channel-consuming layer, sorted and distinct."""
    module, positions = parse_with_positions(source)
    return sorted({(line, name) for line, name, _ in find_calls(module, positions, SITE_KINDS)})


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


def received(kind: str, step) -> object:
    """The count a layer of `kind` receives (`step`: its propagate.Step): the last axis for Linear
    and LayerNorm, the channel axis for the others, known even at an unknown rank."""
    return step.received(last=kind in FEATURE_KINDS)


def pinned_sites(analysis, path: str | None) -> set[tuple[str | None, int, str]]:
    """(file, line, kind) of the steps that know, as an int, the count they receive from something
    other than their own declaration (not a first layer whose input shape it sets itself). A layer
    another file's code built (a block of a sibling this file's model uses) counts at that file's
    line: that site is resolved by this file's call."""
    sites = set()
    for step in iter_steps(analysis):
        run = step.step
        if step.kind not in SITE_KINDS or run.seeded or not is_int(received(step.kind, run)):
            continue
        layer = getattr(getattr(run, "op", None), "layer", None)
        built_by = getattr(layer, "file", None)
        sites.add((os.path.realpath(built_by), layer.node.lineno, step.kind) if built_by else (path, step.line, step.kind))
    return sites


def pinned_lines(analysis, kind: str) -> set[int]:
    """The lines of this file's own steps of `kind` that pin what they receive (see pinned_sites)."""
    return {line for file, line, k in pinned_sites(analysis, None) if file is None and k == kind}


def followed_models(source: bytes, path: str) -> tuple[int, int]:
    """(models, models whose output shape is fully known) among the models the file defines for
    use (not sub-modules run on their own, not a second run in training mode), each at its
    declared input or, without one, at 3x224x224."""
    from convlint.engine import read
    from convlint.propagate import propagate

    reading = read(source, path)
    if not hasattr(reading, "models"):
        return 0, 0
    models = known = 0
    for model in reading.models:
        if model.part_of or model.training:
            continue
        models += 1
        evident = reading.evidence.get(model.name)
        shape = model.declared_input or (evident.shape if evident is not None else FORCED)
        out = next((s.out_shape for s in propagate(model, shape) if s.op.output == model.output), None)
        known += out is not None and all(is_int(d) for d in out)
    return models, known


@dataclass
class Coverage:
    """A file's channel sites, the sites its models resolve (its own and other files'), its models
    (followed to a known output of all)."""

    path: str
    real_path: str
    sites: list[tuple[int, str]] = field(default_factory=list)
    pinned: set[tuple[str, int, str]] = field(default_factory=set)
    models: int = 0
    followed: int = 0
    error: str | None = None


def cover_channels(task: tuple[str, str]) -> Coverage:
    from convlint.engine import analyze_source

    real_path, shown_path = os.path.realpath(task[0]), task[1]
    source = Path(real_path).read_bytes()
    result = Coverage(shown_path, real_path, channel_sites(source))
    try:
        if b"torch" in source:
            analysis = analyze_source(source, real_path, details=True)
            result.pinned = pinned_sites(analysis, real_path)
            result.models, result.followed = followed_models(source, real_path)
    except Exception:  # noqa: BLE001 - report it, keep measuring the rest
        result.error = traceback.format_exc()
    return result


def package_files(name: str) -> list[Path]:
    """The package's .py files, without tests (a file whose name contains "test")."""
    return [p for p in corpus.prepare_package(name, corpus.PACKAGES[name]) if "test" not in p.name]


def channel_report(jobs: int, verbose: bool, packages: list[str]) -> None:
    """Per package: sites, those resolved by the analysis of the file they are in ("own file"),
    those resolved by the analysis of any file of the package (a block of one file built by
    another file's model: `convlint check` of the package checks it), and the models."""
    tasks = {name: [(str(p), corpus.display_path(p)) for p in package_files(name)] for name in packages}
    with Pool(jobs) as pool:
        results = {name: pool.map(cover_channels, files) for name, files in tasks.items()}
    totals = [0, 0, 0, 0, 0]
    print(f"{'package':<30} {'sites':>6} {'own file':>9} {'resolved':>9} {'share':>6}   {'models':>6} {'followed':>8}")
    for name, found in results.items():
        pinned = set().union(*(r.pinned for r in found))
        own = resolved = 0
        for r in found:
            if r.error:
                print(f"--- analysis raised on {r.path}\n{r.error.rstrip()}")
            mine = [(line, kind) for line, kind in r.sites if (r.real_path, line, kind) in r.pinned]
            anyone = [(line, kind) for line, kind in r.sites if (r.real_path, line, kind) in pinned]
            own, resolved = own + len(mine), resolved + len(anyone)
            if verbose and len(anyone) < len(r.sites):
                missing = sorted(set(r.sites) - set(anyone))
                print(f"{r.path}: unresolved " + ", ".join(f"{line} {kind}" for line, kind in missing))
        row = [sum(len(r.sites) for r in found), own, resolved,
               sum(r.models for r in found), sum(r.followed for r in found)]
        totals = [a + b for a, b in zip(totals, row)]
        print(_row(name, *row))
    print(_row("all", *totals))


def _row(name: str, sites: int, own: int, resolved: int, models: int, followed: int) -> str:
    share = f"{100 * resolved / sites:.0f}%" if sites else "-"
    return f"{name:<30} {sites:>6} {own:>9} {resolved:>9} {share:>6}   {models:>6} {followed:>8}"


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
    ap.add_argument("--conv2d", action="store_true", help="the older measure: torchvision's Conv2d sites only")
    ap.add_argument("--packages", nargs="*", default=list(corpus.PACKAGES))
    args = ap.parse_args(argv)
    corpus.require_engine("analyze_source")
    corpus.install_side_by_side()
    if not args.conv2d:
        channel_report(args.jobs, args.verbose, args.packages)
        return 0

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
