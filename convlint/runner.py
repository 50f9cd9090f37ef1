"""Lint many files: discovery, one analysis per file, findings in a deterministic order."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field, replace

from .findings import Finding


@dataclass
class RunResult:
    findings: list[Finding] = field(default_factory=list)
    files: int = 0
    suppressed: list[Finding] = field(default_factory=list)  # dropped by inline suppressions (marked)
    failing: int = 0  # findings at or above their file's fail-on severity


def lint_paths(
    paths: list[str],
    select: set[str],
    input_shape: tuple[int, ...] | None = None,
    settings=None,
    jobs: int | None = 1,
    cache_dir: str | os.PathLike | None = None,
    stdin: tuple[str, bytes] | None = None,
) -> RunResult:
    """`settings` (a config.Settings): per-file select, exclude, severity and fail-on from the
    configuration files, which then replace `select`. `jobs`: processes to analyse in (None: the
    machine's cores). `cache_dir`: where the findings cache lives (None: no cache). `stdin`:
    (the path it stands for, its bytes), linted instead of `paths`."""
    from . import imports
    from .config import DEFAULT_FAIL_ON, severity_rank
    from .engine import might_define_models, read_source
    from .notebooks import Notebook, is_notebook, read_notebook

    cache = None
    if cache_dir is not None:
        from .cache import Cache

        cache = Cache(cache_dir)
    result = RunResult()
    outcomes: list[tuple | None] = []
    fail_ons: list[int] = []
    pending: list[tuple[int, tuple, str | None]] = []  # (index, task, cache key)
    documents: dict[int, object] = {}  # index -> the notebook whose cells the findings map back to
    files = list(_inputs(paths, stdin))
    linted = {os.path.realpath(path): str(path) for path, given in files if given is None}
    for path, given in files:
        file = settings.for_file(path) if settings is not None else None
        if file is not None and file.excluded:
            continue
        chosen = file.select if file is not None else select
        severity = dict(file.severity) if file is not None and file.severity else None
        result.files += 1
        fail_ons.append(severity_rank(file.fail_on if file is not None else DEFAULT_FAIL_ON))
        source = given if given is not None else read_source(path)
        if isinstance(source, bytes) and is_notebook(path):
            notebook = read_notebook(source, str(path))
            if isinstance(notebook, Notebook):
                documents[len(outcomes)] = notebook
                source = notebook.python
            else:
                source = notebook
        if not isinstance(source, bytes):
            outcomes.append(([source], []))
            continue
        inputs = file.config.inputs_for(path) if file is not None else None  # from --config, or none if --isolated
        extra_paths = file.config.extra_paths if file is not None else None
        task = (source, str(path), input_shape, frozenset(chosen), severity, inputs, extra_paths)
        if not might_define_models(source):  # nothing to parse: cheaper than a cache look-up
            outcomes.append(lint_one(task)[:2])
            continue
        key = None
        if cache is not None:
            from .cache import config_token, key_for

            config = file.config if file is not None else None
            token = config_token(sorted(chosen), input_shape, severity,
                                 str(getattr(config, "path", None)), getattr(config, "inputs", None),
                                 [str(p) for p in (*imports.EXTRA_PATHS, *(extra_paths or ()))])
            key = key_for(source, str(path), token)
            hit = cache.get(key, str(path))
            if hit is not None:
                outcomes.append(hit)
                continue
        outcomes.append(None)
        pending.append((len(outcomes) - 1, task, key))
    for (index, task, key), (kept, suppressed, read) in zip(pending, _run_all([task for _, task, _ in pending], jobs)):
        outcomes[index] = (kept, suppressed)
        if cache is not None and key is not None and not any(f.name == "internal-error" for f in kept):
            cache.put(key, kept, suppressed, read, task[1])
    for index, notebook in documents.items():
        found, suppressed = outcomes[index]
        outcomes[index] = ([notebook.to_cells(f) for f in found], [notebook.to_cells(f) for f in suppressed])
    seen: set[tuple] = set()  # a bad layer of one linted file that several others use: reported once, there
    for (found, suppressed), fail_on in zip(outcomes, fail_ons):
        found, moved = _moved(found, linted, select)
        suppressed = suppressed + moved
        found = [f for f in found if (f.path, f.code, f.span) not in seen and not seen.add((f.path, f.code, f.span))]
        result.failing += sum(severity_rank(f.severity) >= fail_on for f in found)
        result.findings.extend(found)
        result.suppressed.extend(suppressed)
    result.suppressed.sort(key=Finding.sort_key)
    result.findings.sort(key=Finding.sort_key)
    return result


def _moved(found: list[Finding], linted: dict[str, str], select) -> tuple[list[Finding], list[Finding]]:
    """(the findings, the suppressed ones) once those on a layer another file built are moved into
    that file where it is linted too, and its own comments suppress them there."""
    from .engine import read_source
    from .suppress import apply

    kept, moved, suppressed = [], {}, []
    for finding in found:
        if finding.home is None or finding.home[0] not in linted:
            kept.append(finding)
            continue
        path = linted[finding.home[0]]
        home = replace(finding, path=path, span=finding.home[1], message=finding.home[2], home=None, fix=None,
                       reached=(finding.path, finding.line))
        moved.setdefault(path, []).append(home)
    for path, findings in moved.items():
        source = read_source(path)
        if not isinstance(source, bytes):
            kept += findings
            continue
        outcome = apply(findings, source, path, set(select) - {"unused-suppression"})
        kept += outcome.kept
        suppressed += outcome.suppressed
    return kept, suppressed


def _inputs(paths: list[str], stdin: tuple[str, bytes] | None):
    """(path, its bytes or None to read it) for each file to lint."""
    from pathlib import Path

    from .files import discover

    if stdin is not None:
        yield Path(stdin[0]), stdin[1]
        return
    for path in discover(paths):
        yield path, None


def lint_one(task: tuple) -> tuple[list[Finding], list[Finding], tuple[str, ...]]:
    """One readable file, start to end: (kept findings, suppressed findings, the other files its
    analysis read). Runs in a worker."""
    from dataclasses import replace

    from .engine import analyze_source
    from .imports import READ
    from .suppress import apply

    source, path, input_shape, chosen, severity, inputs, extra_paths = task
    READ.clear()
    analysis = analyze_source(source, path, input_shape, chosen, details=False, config_inputs=inputs,
                              extra_paths=extra_paths)
    _collect_now_and_then(len(source))
    found = [f for f in analysis.findings if f.name in chosen]
    if severity:
        found = [replace(f, severity=severity.get(f.name, f.severity)) for f in found]
    outcome = apply(found, source, path, chosen, severity)
    return list(outcome.kept), list(outcome.suppressed), tuple(sorted(READ))


_UNCOLLECTED = [0]  # source bytes analysed since the last full collection, in this process
COLLECT_EVERY = 16 * 1024 * 1024  # a full collection costs about 0.7 s at the size a worker reaches


def _collect_now_and_then(size: int) -> None:
    """The collector is off while files are analysed (_run_all): trees are millions of small objects
    and it would rescan them over and over (a quarter of the time with CPython's thresholds, a tenth
    with raised ones). The reference cycles an analysis leaves are young: collecting the youngest
    generation after each file frees them, at the cost of a look at what that file left alive; a
    full collection every COLLECT_EVERY bytes of source frees the older ones (a sibling forgotten)."""
    import gc

    _UNCOLLECTED[0] += size
    if _UNCOLLECTED[0] >= COLLECT_EVERY:
        gc.collect()
        _UNCOLLECTED[0] = 0
    else:
        gc.collect(0)


def _run_all(tasks: list[tuple], jobs: int | None) -> list[tuple]:
    """The outcomes in the order of the tasks: in this process for one task or one job, else in a pool;
    the collector off meanwhile (see _collect_now_and_then)."""
    import gc

    enabled = gc.isenabled()
    gc.disable()
    try:
        return _run_each(tasks, jobs)
    finally:
        if enabled:
            gc.enable()


def _run_each(tasks: list[tuple], jobs: int | None) -> list[tuple]:
    jobs = max(1, jobs or os.cpu_count() or 1)
    jobs = min(jobs, len(tasks))
    if jobs <= 1:
        return lint_chunk(tasks)
    import multiprocessing

    chunks = guided_chunks(tasks, jobs)
    try:
        methods = multiprocessing.get_all_start_methods()
        context = multiprocessing.get_context("fork" if "fork" in methods and sys.platform == "linux" else None)
        with context.Pool(jobs) as pool:
            return [outcome for chunk in pool.map(lint_chunk, chunks, chunksize=1) for outcome in chunk]
    except (OSError, ImportError):  # no processes to be had (a sandbox): do it here
        return lint_chunk(tasks)


def guided_chunks(tasks: list, jobs: int) -> list[list]:
    """Contiguous runs of files (sorted by path), each a third of what is left per worker: siblings
    that import each other meet in the same process, which interprets each one's module body once
    (extract.LOADED), and the runs shrink towards the end, so no worker is left with a long one
    while the others wait (guided self-scheduling)."""
    chunks, start = [], 0
    while start < len(tasks):
        size = -(-(len(tasks) - start) // (jobs * 3))
        chunks.append(tasks[start : start + size])
        start += size
    return chunks


def lint_chunk(tasks: list[tuple]) -> list[tuple]:
    return [lint_one(task) for task in tasks]
