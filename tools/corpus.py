"""Lint a real-world corpus: the published wheels of well-known PyTorch libraries.

    python tools/corpus.py [--fetch-only] [--packages torchvision timm] [--jobs N]
                           [--json OUT] [--show error,warning] [--dry-run]

Wheels are fetched with `pip download` (never installed: torchvision's wheel is
built against one exact torch and breaks beside ours) into the gitignored
`.corpus/` folder, only their `.py` files are unpacked (plain zipfile, nothing is
executed), and every file is linted in-process with `convlint.engine.lint_source`.
One row per package: files, lines, crashes, findings per check, seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import traceback
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from functools import partial
from multiprocessing import Pool
from pathlib import Path, PurePosixPath
from typing import Callable, Iterable

REPO_ROOT = Path(__file__).resolve().parent.parent
CACHE = REPO_ROOT / ".corpus"
sys.path.insert(0, str(REPO_ROOT))  # run as a script: make `convlint` importable from the tree

# Exact pins, so the numbers are comparable from run to run.  Newest release
# `pip index versions` offers, each a py3-none-any wheel except torchvision (its
# wheel is platform-specific but its models are plain .py files).  torchvision is
# capped at 0.29.1 by this machine's pip constraints file.
PACKAGES: dict[str, str] = {
    "torchvision": "0.29.1",
    "timm": "1.0.31",
    "fastai": "2.8.12",
    "d2l": "1.0.3",
    "segmentation-models-pytorch": "0.6.0",
    "kornia": "0.9.0",
    "monai": "1.6.1",
}

INTERNAL_ERROR = "internal-error"
MAX_CRASHES_SHOWN = 20

Linter = Callable[[bytes, str], list]


# --------------------------------------------------------------------------- fetch


def wheel_stem(name: str, version: str) -> str:
    """The start of a wheel's file name: names are normalised to underscores (PEP 427)."""
    return f"{name.replace('-', '_').lower()}-{version}-"


def find_wheel(wheel_dir: Path, name: str, version: str) -> Path | None:
    stem = wheel_stem(name, version)
    found = sorted(p for p in wheel_dir.glob("*.whl") if p.name.lower().startswith(stem))
    return found[0] if found else None


def fetch_wheel(name: str, version: str, wheel_dir: Path) -> Path:
    """Download one pinned wheel unless it is already cached."""
    wheel = find_wheel(wheel_dir, name, version)
    if wheel is None:
        wheel_dir.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "-d", str(wheel_dir), f"{name}=={version}"]
        # pip's stderr is noisy (warnings about local index folders); show it only on failure
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stdout}{done.stderr}")
        wheel = find_wheel(wheel_dir, name, version)
        if wheel is None:
            raise RuntimeError(f"pip download {name}=={version} left no wheel in {wheel_dir}")
    return wheel


def safe_member_path(member: str) -> PurePosixPath | None:
    """The member's relative path, or None if it would escape the target folder."""
    path = PurePosixPath(member)
    if path.is_absolute() or ".." in path.parts or not path.parts:
        return None
    return path


def unpack_py_files(wheel: Path, dest: Path) -> list[Path]:
    """Extract only the wheel's .py files (skipping metadata) into dest; return them sorted.

    A marker file makes this idempotent: a half-finished unpack is redone.
    """
    marker = dest / ".unpacked"
    if not marker.exists():
        with zipfile.ZipFile(wheel) as zf:
            for member in zf.namelist():
                rel = safe_member_path(member)
                if rel is None or rel.suffix != ".py" or rel.parts[0].endswith(".dist-info"):
                    continue
                target = dest.joinpath(*rel.parts)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(zf.read(member))
        marker.write_text(wheel.name + "\n")
    return sorted(p for p in dest.rglob("*.py") if p.is_file())


def package_dir(name: str, version: str, cache: Path = CACHE) -> Path:
    return cache / "src" / f"{name}-{version}"


def install_side_by_side(cache: Path = CACHE) -> None:
    """Put every package of the corpus on convlint's search path (convlint.imports), as if they
    were installed in one environment: smp's encoders read torchvision's and timm's source."""
    from convlint import imports

    imports.EXTRA_PATHS[:] = [package_dir(name, version, cache) for name, version in PACKAGES.items()]


def prepare_package(name: str, version: str, cache: Path = CACHE) -> list[Path]:
    wheel = fetch_wheel(name, version, cache / "wheels")
    return unpack_py_files(wheel, package_dir(name, version, cache))


def display_path(path: Path) -> str:
    """Paths are shown relative to the repo root so that `path:line` can be opened as is."""
    try:
        return path.resolve().relative_to(REPO_ROOT).as_posix()
    except ValueError:
        return path.as_posix()


# ---------------------------------------------------------------------------- lint


@dataclass
class FileResult:
    path: str
    lines: int
    findings: list[dict] = field(default_factory=list)  # Finding.to_dict(), internal errors included
    crash: str | None = None  # traceback, or the internal-error messages
    seconds: float = 0.0


def count_lines(source: bytes) -> int:
    return len(source.splitlines())


def lint_one(lint: Linter, file: tuple[str, str]) -> FileResult:
    """Lint one file, turning anything that goes wrong into a recorded crash."""
    real_path, shown_path = file
    source = Path(real_path).read_bytes()
    result = FileResult(shown_path, count_lines(source))
    start = time.perf_counter()
    try:
        findings = lint(source, shown_path)
        result.findings = [f.to_dict() for f in findings]
    except BaseException:  # noqa: BLE001 - any escape is a crash; Ctrl-C still ends the pool
        result.crash = traceback.format_exc()
    result.seconds = time.perf_counter() - start
    internal = [f for f in result.findings if f["name"] == INTERNAL_ERROR]
    if internal and result.crash is None:
        result.crash = "\n".join(f"{INTERNAL_ERROR} at line {f['line']}: {f['message']}" for f in internal)
    return result


def lint_files(files: list[Path], lint: Linter, pool: Pool | None) -> list[FileResult]:
    tasks = [(str(p), display_path(p)) for p in files]
    worker = partial(lint_one, lint)
    results = pool.imap(worker, tasks, chunksize=4) if pool else map(worker, tasks)
    return sorted(results, key=lambda r: r.path)


def dry_run_lint(source: bytes, path: str) -> list:
    """Stand-in for lint_source (--dry-run): only parses, to exercise the pipeline."""
    import libcst

    libcst.parse_module(source)
    return []


def require_engine(*names: str) -> list:
    """The named functions of convlint.engine, or exit with a clear message if it is not there yet."""
    try:
        import convlint.engine as engine

        return [getattr(engine, name) for name in names]
    except (ImportError, AttributeError) as exc:
        sys.exit(f"convlint.engine is not usable ({exc}); corpus.py can still --dry-run or --fetch-only")


def load_linter(dry_run: bool) -> Linter:
    return dry_run_lint if dry_run else require_engine("lint_source")[0]


# -------------------------------------------------------------------------- report


@dataclass
class PackageRow:
    package: str
    version: str
    files: int
    lines: int
    crashes: int | None = None  # files with an escaped exception or an internal-error finding
    by_check: Counter = field(default_factory=Counter)
    seconds: float | None = None


def summarise(package: str, version: str, results: list[FileResult], seconds: float) -> PackageRow:
    row = PackageRow(package, version, len(results), sum(r.lines for r in results), seconds=seconds)
    row.crashes = sum(1 for r in results if r.crash)
    row.by_check = Counter(f["name"] for r in results for f in r.findings if f["name"] != INTERNAL_ERROR)
    return row


def total_row(rows: list[PackageRow]) -> PackageRow:
    total = PackageRow("TOTAL", "", sum(r.files for r in rows), sum(r.lines for r in rows))
    if all(r.crashes is not None for r in rows):
        total.crashes = sum(r.crashes for r in rows)
    for r in rows:
        total.by_check.update(r.by_check)
    if all(r.seconds is not None for r in rows):
        total.seconds = sum(r.seconds for r in rows)
    return total


def format_table(rows: list[PackageRow]) -> str:
    """A plain aligned table; one column per check name seen anywhere."""
    checks = sorted({name for r in rows for name in r.by_check})
    header = ["package", "version", "files", "lines", "crashes", *checks, "seconds"]
    body = [
        [r.package, r.version, str(r.files), str(r.lines), "-" if r.crashes is None else str(r.crashes),
         *(str(r.by_check.get(c, 0)) for c in checks),
         "-" if r.seconds is None else f"{r.seconds:.1f}"]
        for r in rows
    ]
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]

    def fmt(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    return "\n".join([fmt(header), *(fmt(b) for b in body)])


def format_finding(f: dict) -> str:
    return f"{f['path']}:{f['line']}: {f['code']} [{f['name']}] {f['message']}"


def finding_key(f: dict) -> tuple:
    return (f["path"], f["line"], f["column"], f["code"], f["message"])


def print_shown(results: Iterable[FileResult], severities: set[str]) -> None:
    shown = [f for r in results for f in r.findings if f["severity"] in severities]
    for f in sorted(shown, key=finding_key):
        print(format_finding(f))


def print_crashes(results: list[FileResult]) -> None:
    crashed = [r for r in results if r.crash]
    for r in crashed[:MAX_CRASHES_SHOWN]:
        print(f"--- crash: {r.path}\n{r.crash.rstrip()}")
    if len(crashed) > MAX_CRASHES_SHOWN:
        print(f"--- ... and {len(crashed) - MAX_CRASHES_SHOWN} more crashed files")


# ---------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--packages", nargs="+", metavar="NAME", choices=list(PACKAGES), default=list(PACKAGES),
                    help="subset of: " + ", ".join(PACKAGES))
    ap.add_argument("--fetch-only", action="store_true", help="download and unpack; print sizes, lint nothing")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--json", metavar="OUT", help="write all findings as a JSON list")
    ap.add_argument("--show", default="", help="comma-separated severities to print, e.g. error,warning")
    ap.add_argument("--dry-run", action="store_true", help="parse only, with a stub instead of lint_source")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None, lint: Linter | None = None, cache: Path = CACHE) -> int:
    args = parse_args(argv)
    files = {name: prepare_package(name, PACKAGES[name], cache) for name in args.packages}

    if args.fetch_only:
        rows = [PackageRow(n, PACKAGES[n], len(fs), sum(count_lines(p.read_bytes()) for p in fs))
                for n, fs in files.items()]
        print(format_table([*rows, total_row(rows)]))
        return 0

    lint = lint or load_linter(args.dry_run)
    install_side_by_side(cache)
    rows, everything = [], []
    pool = Pool(args.jobs) if args.jobs > 1 else None
    try:
        for name, package_files in files.items():
            start = time.perf_counter()
            results = lint_files(package_files, lint, pool)
            rows.append(summarise(name, PACKAGES[name], results, time.perf_counter() - start))
            everything.extend(results)
    finally:
        if pool:
            pool.close()
            pool.join()

    if args.json:
        all_findings = sorted((f for r in everything for f in r.findings), key=finding_key)
        Path(args.json).write_text(json.dumps(all_findings, indent=1) + "\n")
    if args.show:
        print_shown(everything, {s.strip() for s in args.show.split(",") if s.strip()})
    print_crashes(everything)
    slowest = sorted(everything, key=lambda r: -r.seconds)[:5]
    print("slowest: " + ", ".join(f"{r.path} {r.seconds:.2f}s" for r in slowest))
    print(format_table([*rows, total_row(rows)]))
    return 1 if any(r.crashes for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
