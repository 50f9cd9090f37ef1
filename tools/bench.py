"""Benchmark convlint on the real corpus against flake8 and the parsers' own parse times.

    pip install -e '.[bench]'            # flake8
    python tools/bench.py [--runs 3] [--jobs N] [--packages timm kornia ...] [--out table.md]

The corpus is the one of tools/corpus.py (pinned wheels of torchvision, timm, fastai, d2l,
segmentation-models-pytorch, kornia and monai, unpacked into the gitignored `.corpus/`; fetched
on first use). Every measurement runs as a separate process (start-up included) over the same
files, with the same number of jobs, and the table shows the median of `--runs` runs:

* convlint cold:   `convlint check --no-cache --jobs N FILES...`
* convlint warm:   `convlint check --cache-dir D --jobs N FILES...` after a run has filled D
* flake8:          `flake8 --jobs N FILES...` with its own checks only (pycodestyle + pyflakes + mccabe; not
                   convlint's CL plugin, which is installed beside it: see flake8_alone)
* parse floor:     libcst `parse_module` of exactly the files convlint parses (those that pass
                   its textual pre-filter and the files of the same package they import), each
                   once, in N processes: what any libcst-based linter pays
* ast parse floor: the same with CPython's `ast.parse`, which convlint's static path uses: what
                   convlint pays before it analyses anything
* import torch:    `python -c "import torch"`: what any runtime-based checker pays first
* one file:        `convlint check FILE` on one model file, as a pre-commit hook runs it
* backbone:        the same on fixtures/zoo/resnet_backbone.py, torchvision's resnet18 with a new
                   head, torchvision's source read from the corpus (`--extra-path`)
* summary:         `convlint summary fixtures/resnet_like.py` (three models), process start included
* lsp:             `convlint lsp` driven by a minimal LSP client (tools/lsp_bench.py): a 500-line
                   model file is opened, then edited one number at a time; the time from each
                   didChange to the publishDiagnostics of that version (debounce included),
                   median of 10 changes per run
* verify:          `convlint verify fixtures/`: its time beyond `import torch` is the meta-device pass
* peak memory:     the largest resident set (ru_maxrss) of any child process, per tool

Targets: cold <= 0.5x flake8, warm <= 2 s, one file (and with a backbone) <= 0.35 s, cold <= 1.25x the
parse floor, peak memory <= 300 MB; summary <= 0.4 s; verify <= 1 s beyond importing
torch; LSP diagnostics <= 300 ms after a change. The script prints a
markdown table with the date and the machine's core count, and exits 1 if a target is missed.

convlint's bytecode is compiled first (an installed package has it; PYTHONDONTWRITEBYTECODE
would otherwise make every run compile convlint again), and the one-file commands run once
untimed first, as a pre-commit hook has run before (the file system's cache is warm).
`--only single` times just the one-file rows (one file, summary, lsp): no corpus run, a minute.
`--only summary` times `convlint summary` of torchvision's 16 classifiers, one per family, and of
resnet.py's models in one call (targets: each <= 0.5 s, resnet.py <= 1.5 s).
`--only verify` times just `convlint verify fixtures/` and `import torch`, in turn.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
SUMMARY_FILE = REPO_ROOT / "fixtures" / "resnet_like.py"  # a file of a few models, as issue 7 asks
sys.path.insert(0, str(REPO_ROOT / "tools"))
sys.path.insert(0, str(REPO_ROOT))

import corpus  # noqa: E402 - tools/corpus.py: fetch and unpack
import lsp_bench  # noqa: E402 - tools/lsp_bench.py: the language server's latency

PARSE_FLOOR = r"""
import sys, multiprocessing
from pathlib import Path

def parse(path):
    try:
        PARSE(Path(path).read_bytes())
    except Exception:
        pass

if __name__ == "__main__":
    if sys.argv[3] == "ast":
        import ast
        PARSE = ast.parse
    else:
        import libcst
        PARSE = libcst.parse_module
    jobs = int(sys.argv[1])
    paths = Path(sys.argv[2]).read_text().splitlines()
    if jobs <= 1 or len(paths) <= 1:
        for p in paths:
            parse(p)
    else:
        with multiprocessing.get_context("fork").Pool(jobs) as pool:
            pool.map(parse, paths, chunksize=max(1, min(16, len(paths) // (jobs * 8))))
"""

ONE_FILE = "torchvision-0.29.1/torchvision/models/alexnet.py"
# what `verify` runs: the fixtures but the zoos, whose modules exit if imported (they are read, never run)
VERIFIED = [str(p) for p in sorted((REPO_ROOT / "fixtures").iterdir()) if p.name != "zoo"]
BACKBONE_FILE = REPO_ROOT / "fixtures" / "zoo" / "resnet_backbone.py"  # a torchvision backbone with a new head
BACKBONE = ["--extra-path", "torchvision-0.29.1"]  # read from the corpus's torchvision (the cwd is the corpus)


class Timed:
    def __init__(self, seconds: float, maxrss_kb: int, returncode: int) -> None:
        self.seconds, self.maxrss_kb, self.returncode = seconds, maxrss_kb, returncode


def run(cmd: list[str], cwd: Path | None = None) -> Timed:
    """Wall time and peak RSS (of this process and its descendants) of one command."""
    start = time.perf_counter()
    # wait4 gives the resource usage of exactly this child (and its waited-for descendants)
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=cwd)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if proc.stderr:
        proc.stderr.close()
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(cmd[:4])} ... failed ({proc.returncode}):\n{err[-2000:]}")
    return Timed(seconds, usage.ru_maxrss, proc.returncode)


def children_maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def corpus_files(packages: list[str]) -> list[Path]:
    files: list[Path] = []
    for name in packages:
        files.extend(corpus.prepare_package(name, corpus.PACKAGES[name]))
    return sorted(files)


def recording_parses(syntax) -> set[str]:
    """Make `syntax.parse` note the real path of every file it parses; the set it fills."""
    parsed: set[str] = set()
    parse = syntax.parse

    def recorded(source, path):
        parsed.add(os.path.realpath(path))
        return parse(source, path)

    syntax.parse = recorded
    return parsed


def _lint_and_list_parsed(paths: list[Path]) -> list[str]:
    from convlint import rules, runner, syntax

    parsed = recording_parses(syntax)
    selection = frozenset(rules.DEFAULT_SELECTION)
    for path in paths:
        runner.lint_one((path.read_bytes(), str(path), None, selection, None, None, None))
    return sorted(parsed)


def parsed_by_convlint(files: list[Path], jobs: int) -> list[Path]:
    """The files a cold run parses: those that pass the pre-filter, and the siblings they import
    (each once: what a libcst-based linter that follows imports cannot avoid)."""
    from multiprocessing import get_context

    chunks = [files[i::jobs] for i in range(jobs)]
    with get_context("fork").Pool(jobs) as pool:
        found = pool.map(_lint_and_list_parsed, chunks)
    return sorted({Path(p) for paths in found for p in paths})


SINGLE = ("convlint, one file", "convlint, one file with a torchvision backbone",
          "convlint summary, one file")  # the rows --only single times
IMPORT_TORCH, VERIFY = "python -c 'import torch'", "convlint verify fixtures/"
LSP_NAME = f"convlint lsp: change to diagnostics, {len(lsp_bench.MODEL_FILE.splitlines())}-line file"


def lsp_row(seconds: float) -> str:
    return f"| {LSP_NAME} | {seconds:.2f} s | – |"


def lsp_target(seconds: float) -> tuple:
    return ("LSP diagnostics after a change", f"{1000 * seconds:.0f} ms", "≤ 300 ms", seconds <= 0.3)


def time_lsp(runs: int) -> float:
    """The median over runs (a fresh server each) of each run's median over 10 changes."""
    medians = []
    for i in range(runs):
        result = lsp_bench.measure(changes=10)
        medians.append(result["median"])
        print(f"run {i + 1}/{runs}: {LSP_NAME}: {1000 * result['median']:.0f} ms "
              f"({len(result['samples'])} changes, {result['diagnostics']} diagnostics)", file=sys.stderr)
    return statistics.median(medians)


def time_in_turn(commands: dict[str, list[str]], runs: int, cwd: Path) -> tuple[dict[str, float], dict[str, int]]:
    """Each command's median wall time and largest peak RSS (kB) over `runs` rounds, the commands
    in turn within a round, so that a drift of the machine's speed reaches them all alike."""
    times: dict[str, list[float]] = {k: [] for k in commands}
    rss: dict[str, int] = {k: 0 for k in commands}
    for i in range(runs):
        for name, cmd in commands.items():
            t = run(cmd, cwd=cwd)
            times[name].append(t.seconds)
            rss[name] = max(rss[name], t.maxrss_kb)
            print(f"run {i + 1}/{runs}: {name}: {t.seconds:.2f} s, {t.maxrss_kb / 1024:.0f} MB", file=sys.stderr)
    return {k: statistics.median(v) for k, v in times.items()}, rss


def load_average() -> float:
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")


def heading(invocation: str, runs: int, columns: tuple[str, ...], what: str = "") -> list[str]:
    """A benchmark's first lines: when, where and how it ran (`what`: what it read), then its table's header."""
    return [
        f"Benchmark of {datetime.date.today().isoformat()} on {os.cpu_count()} cores ({platform.python_implementation()} "
        f"{platform.python_version()}, load average {load_average():.1f} at the end), `python tools/bench.py "
        f"{invocation}`: {what}median of {runs} runs, each a fresh process.",
        "", "| " + " | ".join(columns) + " |", "| --- |" + " ---: |" * (len(columns) - 1),
    ]


TIMES = ("what", "wall time", "peak memory (one process)")


def targets_table(targets: list[tuple]) -> list[str]:
    """The lines of the table of (target, measured, wanted, met)."""
    return ["", "| target | measured | wanted | met |", "| --- | ---: | ---: | :---: |",
            *(f"| {name} | {got} | {want} | {'yes' if ok else '**no**'} |" for name, got, want, ok in targets)]


def verify_target(extra: float) -> tuple:
    return ("verify fixtures/ beyond import torch", f"{extra:.2f} s", "≤ 1 s", extra <= 1.0)


def bench_verify(args) -> tuple[str, bool]:
    """`--only verify`: `convlint verify` of the fixtures and `import torch`, in turn, no corpus needed."""
    commands = {IMPORT_TORCH: [sys.executable, "-c", "import torch"],
                VERIFY: [sys.executable, "-m", "convlint", "verify", *VERIFIED]}
    for cmd in commands.values():
        run(cmd, cwd=REPO_ROOT)  # once untimed: the file system's cache is warm
    med, rss = time_in_turn(commands, args.runs, REPO_ROOT)
    target = verify_target(med[VERIFY] - med[IMPORT_TORCH])
    out = heading(f"--only verify --runs {args.runs}", args.runs, TIMES)
    out += [f"| {name} | {med[name]:.2f} s | {rss[name] / 1024:.0f} MB |" for name in commands]
    return "\n".join(out + targets_table([target])), target[-1]


def compile_convlint() -> None:
    """Bytecode for convlint, as an installed package has (see the module's docstring)."""
    import compileall

    compileall.compile_dir(str(REPO_ROOT / "convlint"), quiet=1)


def bench_single(args) -> tuple[str, bool]:
    """`--only single`: the one-file rows, in the same table format, without the corpus run."""
    files = corpus.prepare_package("torchvision", corpus.PACKAGES["torchvision"])
    assert any(p.as_posix().endswith(ONE_FILE) for p in files), ONE_FILE
    root = corpus.CACHE / "src"
    convlint = [sys.executable, "-m", "convlint"]
    commands = {
        "convlint, one file": [*convlint, "check", "--no-cache", ONE_FILE],
        "convlint, one file with a torchvision backbone": [*convlint, "check", "--no-cache", *BACKBONE,
                                                          str(BACKBONE_FILE)],
        "convlint summary, one file": [*convlint, "summary", str(SUMMARY_FILE)],
    }
    for cmd in commands.values():
        run(cmd, cwd=root)  # once untimed, as after a previous commit
    med, rss = time_in_turn(commands, args.runs, root)
    lsp = time_lsp(args.runs)
    one, summary = med["convlint, one file"], med["convlint summary, one file"]
    backbone = med["convlint, one file with a torchvision backbone"]
    targets = [
        ("convlint, one file (pre-commit)", f"{one:.2f} s", "≤ 0.35 s", one <= 0.35),
        ("convlint, one file with a torchvision backbone", f"{backbone:.2f} s", "≤ 0.35 s", backbone <= 0.35),
        ("convlint summary, one file", f"{summary:.2f} s", "≤ 0.4 s", summary <= 0.4),
        lsp_target(lsp),
    ]
    out = heading(f"--only single --runs {args.runs}", args.runs, TIMES)
    out += [f"| {name} | {med[name]:.2f} s | {rss[name] / 1024:.0f} MB |" for name in commands]
    out.append(lsp_row(lsp))
    return "\n".join(out + targets_table(targets)), all(ok for *_, ok in targets)


FLAKE8_DISTRIBUTIONS = ("flake8", "pycodestyle", "pyflakes", "mccabe")


def flake8_alone(work: Path) -> list[str]:
    """A command that runs flake8 with its own checks only: convlint, installed beside it, is
    also a flake8 plugin (CL), which flake8 would run too. A folder holds flake8 and its three
    dependencies (their modules and metadata, linked), and Python runs isolated, without site-packages."""
    import importlib.metadata

    alone = work / "flake8-alone"
    alone.mkdir()
    for name in FLAKE8_DISTRIBUTIONS:
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            raise SystemExit("flake8 is not installed: pip install -e '.[bench]'") from None
        top = {Path(str(f)).parts[0] for f in dist.files or () if not str(f).startswith("..")}
        for entry in top:
            source = Path(dist.locate_file(entry))
            if source.exists() and not (alone / entry).exists() and entry != "__pycache__" and \
                    (source.suffix == ".py" or source.is_dir()):
                (alone / entry).symlink_to(source)
    run_flake8 = f"import sys; sys.path.insert(0, {str(alone)!r}); from flake8.main.cli import main; sys.exit(main())"
    return [sys.executable, "-I", "-S", "-c", run_flake8]  # -I: not even the current folder


def bench(args) -> tuple[str, bool]:
    files = corpus_files(args.packages)
    root = corpus.CACHE / "src"
    rel = [p.relative_to(root).as_posix() for p in files]
    parsed = parsed_by_convlint(files, args.jobs)
    lines = sum(len(p.read_bytes().splitlines()) for p in files)
    work = Path(tempfile.mkdtemp(prefix="convlint-bench-"))
    listing = work / "parsed.txt"
    listing.write_text("\n".join(str(p) for p in parsed) + "\n")
    floor_script = work / "floor.py"
    floor_script.write_text(PARSE_FLOOR)
    cache_dir = work / "cache"
    convlint = [sys.executable, "-m", "convlint", "check"]
    jobs = str(args.jobs)
    flake8 = flake8_alone(work)

    commands = {
        "convlint cold": [*convlint, "--no-cache", "--jobs", jobs, *rel],
        "convlint warm": [*convlint, "--cache-dir", str(cache_dir), "--jobs", jobs, *rel],
        "flake8": [*flake8, "--jobs", jobs, "--exit-zero", *rel],
        "libcst parse floor": [sys.executable, str(floor_script), jobs, str(listing), "libcst"],
        "ast parse floor": [sys.executable, str(floor_script), jobs, str(listing), "ast"],
        IMPORT_TORCH: [sys.executable, "-c", "import torch"],
        "convlint, one file": [*convlint, "--no-cache", ONE_FILE],
        "convlint, one file with a torchvision backbone": [*convlint, "--no-cache", *BACKBONE, str(BACKBONE_FILE)],
        "convlint summary, one file": [sys.executable, "-m", "convlint", "summary", str(SUMMARY_FILE)],
        VERIFY: [sys.executable, "-m", "convlint", "verify", *VERIFIED],
    }
    # fill the warm cache once before timing it, and run the one-file commands once
    run(commands["convlint warm"], cwd=root)
    for name in SINGLE:
        run(commands[name], cwd=root)
    timed = {k: v for k, v in commands.items() if not (k == IMPORT_TORCH and args.skip_torch)}
    med, rss = time_in_turn(timed, args.runs, root)
    shutil.rmtree(work, ignore_errors=True)
    lsp = time_lsp(args.runs)

    cold, warm, one = med["convlint cold"], med["convlint warm"], med["convlint, one file"]
    backbone = med["convlint, one file with a torchvision backbone"]
    summary = med["convlint summary, one file"]
    verify_extra = med[VERIFY] - med.get(IMPORT_TORCH, 0.0)
    flake, floor = med["flake8"], med["libcst parse floor"]
    peak = max(rss["convlint cold"], rss["convlint warm"], rss["convlint, one file"]) / 1024
    targets = [
        ("convlint cold / flake8", f"{cold / flake:.2f}×", "≤ 0.5×", cold <= 0.5 * flake),
        ("convlint cold / parse floor", f"{cold / floor:.2f}×", "≤ 1.25×", cold <= 1.25 * floor),
        ("convlint warm", f"{warm:.2f} s", "≤ 2 s", warm <= 2.0),
        ("convlint, one file (pre-commit)", f"{one:.2f} s", "≤ 0.35 s", one <= 0.35),
        ("convlint, one file with a torchvision backbone", f"{backbone:.2f} s", "≤ 0.35 s", backbone <= 0.35),
        ("convlint peak memory (one process)", f"{peak:.0f} MB", "≤ 300 MB", peak <= 300),
        ("convlint summary, one file", f"{summary:.2f} s", "≤ 0.4 s", summary <= 0.4),
        verify_target(verify_extra),
        lsp_target(lsp),
    ]
    out = heading(f"--runs {args.runs} --jobs {args.jobs}", args.runs, TIMES,
                  f"{len(files)} files, {lines:,} lines ({len(parsed)} files parsed: those that pass convlint's "
                  f"pre-filter and the siblings they import); ")
    for name in commands:
        if name in med:
            out.append(f"| {name} | {med[name]:.2f} s | {rss[name] / 1024:.0f} MB |")
    out.append(lsp_row(lsp))
    return "\n".join(out + targets_table(targets)), all(ok for *_, ok in targets)


# torchvision's classifiers, one per family, as issue 16 times them: (model, file, input side)
CLASSIFIERS = (
    ("alexnet", "alexnet", 224), ("vgg11", "vgg", 224), ("resnet18", "resnet", 224), ("squeezenet1_0", "squeezenet", 224),
    ("densenet121", "densenet", 224), ("inception_v3", "inception", 299), ("googlenet", "googlenet", 224),
    ("shufflenet_v2_x1_0", "shufflenetv2", 224), ("mobilenet_v2", "mobilenetv2", 224),
    ("mobilenet_v3_small", "mobilenetv3", 224), ("mnasnet1_0", "mnasnet", 224), ("efficientnet_b0", "efficientnet", 224),
    ("regnet_y_400mf", "regnet", 224), ("convnext_tiny", "convnext", 224), ("vit_b_16", "vision_transformer", 224),
    ("swin_t", "swin_transformer", 224),
)


def bench_summary(args) -> tuple[str, bool]:
    """`--only summary`: `convlint summary` of each torchvision classifier, and of all of resnet.py's
    models in one call (targets: each <= 0.5 s, resnet.py <= 1.5 s, process start included)."""
    corpus.prepare_package("torchvision", corpus.PACKAGES["torchvision"])
    root = corpus.CACHE / "src"
    models = "torchvision-0.29.1/torchvision/models/"
    convlint = [sys.executable, "-m", "convlint", "summary"]
    commands = {name: [*convlint, f"{models}{file}.py", "--model", name, "--input", f"3x{side}x{side}"]
                for name, file, side in CLASSIFIERS}
    commands["resnet.py, all its models"] = [*convlint, f"{models}resnet.py", "--input", "3x224x224"]
    for cmd in commands.values():
        run(cmd, cwd=root)  # once untimed: the file system's cache is warm
    times: dict[str, list[float]] = {k: [] for k in commands}
    for i in range(args.runs):
        for name, cmd in commands.items():
            times[name].append(run(cmd, cwd=root).seconds)
        print(f"run {i + 1}/{args.runs} done", file=sys.stderr)
    med = {k: statistics.median(v) for k, v in times.items()}
    slowest = max((n for n, *_ in CLASSIFIERS), key=med.get)
    every = med["resnet.py, all its models"]
    targets = [
        (f"one classifier, the slowest ({slowest})", f"{med[slowest]:.2f} s", "≤ 0.5 s", med[slowest] <= 0.5),
        ("resnet.py's models in one call", f"{every:.2f} s", "≤ 1.5 s", every <= 1.5),
    ]
    out = heading(f"--only summary --runs {args.runs}", args.runs, ("convlint summary of", "wall time"))
    out += [f"| {name} | {med[name]:.2f} s |" for name in commands]
    return "\n".join(out + targets_table(targets)), all(ok for *_, ok in targets)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3, help="runs per measurement; the median is shown (default 3)")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="processes for convlint, flake8 and the floor")
    ap.add_argument("--packages", nargs="+", choices=list(corpus.PACKAGES), default=list(corpus.PACKAGES))
    ap.add_argument("--skip-torch", action="store_true", help="do not time `import torch`")
    ap.add_argument("--out", metavar="FILE", help="also write the table to FILE")
    ap.add_argument("--only", choices=("all", "single", "summary", "verify"), default="all",
                    help="single: only the one-file rows (one file, summary, lsp), without the corpus run; "
                         "summary: convlint summary of torchvision's classifiers; verify: convlint verify of "
                         "the fixtures beside import torch")
    args = ap.parse_args(argv)
    compile_convlint()
    table, met = {"single": bench_single, "summary": bench_summary, "verify": bench_verify}.get(args.only, bench)(args)
    print(table)
    if args.out:
        Path(args.out).write_text(table + "\n", encoding="utf-8")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
