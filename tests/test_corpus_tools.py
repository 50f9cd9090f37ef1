"""Offline tests of the pure parts of tools/ (corpus.py, corpus_coverage.py, mutate.py).

Nothing here downloads or needs convlint.engine: linting is a stub passed in.
"""

from __future__ import annotations

import json
import os
import sys
import zipfile
from multiprocessing import Pool
from pathlib import Path
from types import SimpleNamespace

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))

import corpus  # noqa: E402
import corpus_coverage  # noqa: E402
import mutate  # noqa: E402
from convlint.findings import Finding, Span  # noqa: E402
from convlint.layers import Unranked  # noqa: E402
from convlint.propagate import Step, TensorInfo  # noqa: E402


def make_wheel(path: Path, members: dict[str, str]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, text in members.items():
            zf.writestr(name, text)
    return path


# ------------------------------------------------------------------ unpacking


def test_unpack_keeps_only_py_files_inside_the_target(tmp_path):
    wheel = make_wheel(tmp_path / "pkg-1.0-py3-none-any.whl", {
        "pkg/__init__.py": "",
        "pkg/sub/model.py": "x = 1\n",
        "pkg/data.json": "{}",
        "pkg-1.0.dist-info/METADATA": "Name: pkg",
        "pkg-1.0.dist-info/hook.py": "",
        "../evil.py": "boom",
        "/abs.py": "boom",
    })
    dest = tmp_path / "out" / "pkg-1.0"
    files = corpus.unpack_py_files(wheel, dest)
    assert [p.relative_to(dest).as_posix() for p in files] == ["pkg/__init__.py", "pkg/sub/model.py"]
    assert (dest / "pkg/sub/model.py").read_text() == "x = 1\n"
    assert not (tmp_path / "out" / "evil.py").exists()
    # a second call reuses the unpacked tree
    (dest / "pkg/sub/model.py").write_text("changed\n")
    assert corpus.unpack_py_files(wheel, dest) == files
    assert (dest / "pkg/sub/model.py").read_text() == "changed\n"


def test_find_wheel_normalises_dashes(tmp_path):
    (tmp_path / "segmentation_models_pytorch-0.6.0-py3-none-any.whl").write_bytes(b"")
    (tmp_path / "segmentation_models_pytorch-0.5.0-py3-none-any.whl").write_bytes(b"")
    found = corpus.find_wheel(tmp_path, "segmentation-models-pytorch", "0.6.0")
    assert found.name.startswith("segmentation_models_pytorch-0.6.0-")
    assert corpus.find_wheel(tmp_path, "segmentation-models-pytorch", "0.6") is None


# ------------------------------------------------------------ linting, stubbed


def stub_lint(source: bytes, path: str) -> list[Finding]:
    if b"RAISE" in source:
        raise RuntimeError("stub blew up")
    name = "internal-error" if b"INTERNAL" in source else "channel-mismatch"
    severity = "error"
    return [Finding(path, Span(2, 1, 2, 5), "CL001", name, severity, f"msg for {Path(path).name}")]


@pytest.fixture
def stub_files(tmp_path):
    texts = {"a.py": "x\ny\n", "b.py": "RAISE\n", "c.py": "INTERNAL\n\n\n"}
    for name, text in texts.items():
        (tmp_path / name).write_text(text)
    return sorted(tmp_path / name for name in texts)


@pytest.mark.parametrize("jobs", [1, 2])
def test_lint_files_counts_crashes_and_findings(stub_files, jobs):
    pool = Pool(jobs) if jobs > 1 else None
    try:
        results = corpus.lint_files(stub_files, stub_lint, pool)
    finally:
        if pool:
            pool.close()
            pool.join()
    assert [Path(r.path).name for r in results] == ["a.py", "b.py", "c.py"]
    a, b, c = results
    assert a.crash is None and a.lines == 2 and a.findings[0]["name"] == "channel-mismatch"
    assert "stub blew up" in b.crash and b.findings == []
    assert "internal-error at line 2" in c.crash
    row = corpus.summarise("pkg", "1.0", results, 0.5)
    assert (row.files, row.lines, row.crashes) == (3, 6, 2)
    assert row.by_check == {"channel-mismatch": 1}  # internal errors are counted as crashes only


def test_table_has_a_column_per_check_and_a_total():
    rows = [corpus.PackageRow("a", "1", 2, 10, 0, corpus.Counter({"x-check": 3}), 1.0),
            corpus.PackageRow("b", "2", 1, 5, 1, corpus.Counter({"y-check": 1}), 2.0)]
    lines = corpus.format_table([*rows, corpus.total_row(rows)]).splitlines()
    assert lines[0].split() == ["package", "version", "files", "lines", "crashes", "x-check", "y-check", "seconds"]
    assert lines[-1].split() == ["TOTAL", "3", "15", "1", "3", "1", "3.0"]


def test_main_end_to_end_on_a_cached_wheel(tmp_path, capsys):
    cache = tmp_path / "cache"
    (cache / "wheels").mkdir(parents=True)
    make_wheel(cache / "wheels" / f"d2l-{corpus.PACKAGES['d2l']}-py3-none-any.whl",
               {"d2l/torch.py": "a\nb\n", "d2l/bad.py": "RAISE\n"})
    out = tmp_path / "findings.json"
    code = corpus.main(["--packages", "d2l", "--jobs", "1", "--json", str(out), "--show", "error"],
                       lint=stub_lint, cache=cache)
    text = capsys.readouterr().out
    assert code == 1  # a crash makes the run fail
    assert "--- crash:" in text and "stub blew up" in text
    assert "torch.py:2: CL001 [channel-mismatch] msg for torch.py" in text
    assert [f["name"] for f in json.loads(out.read_text())] == ["channel-mismatch"]
    assert text.splitlines()[-1].split()[:5] == ["TOTAL", "2", "3", "1", "1"]


# ---------------------------------------------------------------- Conv2d sites

SOURCE = b'''\
import torch
from torch import nn
from torch.nn import Conv2d


class Net(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.a = nn.Conv2d(3, 8, 3)
        self.b = Conv2d(c, 8, 3)
        self.c = torch.nn.Conv2d(
            in_channels=8, out_channels=8, kernel_size=1)
        self.d = Conv2dNormActivation(8, 8)  # not a Conv2d call
        self.e = nn.Sequential(nn.Conv2d(8, 8, 1), nn.Conv2d(8, 8, 1))
        self.f = nn.Linear(8, 4)
        layer = nn.Conv2d  # uncalled: not a site
        s = "nn.Conv2d(1, 2, 3)"  # nn.Conv2d(in a comment)
'''


def test_conv2d_sites_are_call_start_lines():
    assert corpus_coverage.conv2d_sites(SOURCE) == [9, 10, 11, 14]


def test_channel_sites_are_every_channel_consuming_call():
    assert corpus_coverage.channel_sites(SOURCE) == [
        (9, "Conv2d"), (10, "Conv2d"), (11, "Conv2d"), (14, "Conv2d"), (15, "Linear")]


def test_followed_models_need_a_fully_known_output():
    source = b"""import torch.nn as nn
# convlint: input=3x8x8
known = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.Linear(144, 2))
unknown = nn.Sequential(nn.Conv2d(3, 4, 3), Mystery(), nn.Flatten())
"""
    assert corpus_coverage.followed_models(source, "<string>") == (2, 1)


def step(kind, line, in_shape):
    return SimpleNamespace(kind=kind, line=line, in_shape=in_shape)


def test_resolved_lines_need_an_int_channel_count():
    analysis = SimpleNamespace(models=[SimpleNamespace(steps=[
        step("Conv2d", 9, (3, 32, 32)),
        step("Conv2d", 10, ("c", 32, 32)),
        step("Conv2d", 11, None),
        step("Linear", 15, (8,)),
        step("Conv2d", 14, (True, 4, 4)),
    ])])
    assert corpus_coverage.resolved_lines(analysis, "Conv2d") == {9}
    assert corpus_coverage.resolved_lines(analysis, "Conv2d", need_channels=False) == {9, 10, 14}


# ------------------------------------------------------------------- mutation


def run_of(in_shape, seeded=False, layer=None, unranked=None):
    """A propagate.Step of a layer whose input has `in_shape` (or, of unknown rank, `unranked`)."""
    return Step(SimpleNamespace(layer=layer), [TensorInfo(in_shape, unranked=unranked)], TensorInfo(None),
                seeded=seeded)


def test_pinned_lines_know_what_the_layer_receives_from_elsewhere():
    def pinned(kind, line, in_shape, seeded=False, unranked=None):
        return SimpleNamespace(kind=kind, line=line, in_shape=in_shape, step=run_of(in_shape, seeded, unranked=unranked))

    analysis = SimpleNamespace(models=[SimpleNamespace(steps=[
        pinned("Conv2d", 9, (3, 32, 32), seeded=True),  # a first layer: its own literal set its input
        pinned("Conv2d", 10, (8, 32, 32)),
        pinned("Conv2d", 11, (None, 32, 32)),
        pinned("Linear", 15, (8, 7)),  # a Linear receives the last axis
        pinned("Linear", 16, (8, None)),
        pinned("BatchNorm2d", 17, None),
        pinned("GroupNorm", 18, None, unranked=Unranked(channels=16)),  # of unknown rank, its channels known
        pinned("Linear", 19, None, unranked=Unranked(channels=16)),  # ... but not its last axis
    ])])
    assert corpus_coverage.pinned_lines(analysis, "Conv2d") == {10}
    assert corpus_coverage.pinned_lines(analysis, "Linear") == {15}
    assert corpus_coverage.pinned_lines(analysis, "BatchNorm2d") == set()
    assert corpus_coverage.pinned_lines(analysis, "GroupNorm") == {18}


def test_a_layer_another_file_built_is_credited_to_that_file_and_line():
    def built(kind, line, in_shape, file=None, built_at=None):
        layer = SimpleNamespace(file=file, node=SimpleNamespace(lineno=built_at))
        return SimpleNamespace(kind=kind, line=line, in_shape=in_shape, step=run_of(in_shape, layer=layer))

    analysis = SimpleNamespace(models=[SimpleNamespace(steps=[
        built("Conv2d", 12, (8, 32, 32)),  # this file's own layer
        built("BatchNorm2d", 12, (16, 32, 32), file="/pkg/ops/misc.py", built_at=40),  # made by misc.py's code
        built("Linear", 13, (None,), file="/pkg/ops/misc.py", built_at=41),  # receives no known count
    ])])
    assert corpus_coverage.pinned_sites(analysis, "/pkg/models/net.py") == {
        ("/pkg/models/net.py", 12, "Conv2d"), (os.path.realpath("/pkg/ops/misc.py"), 40, "BatchNorm2d")}
    assert corpus_coverage.pinned_lines(analysis, "Conv2d") == {12}
    assert corpus_coverage.pinned_lines(analysis, "BatchNorm2d") == set()


def test_the_layer_that_sets_an_undeclared_input_is_marked_seeded():
    from convlint.engine import analyze_source

    source = "import torch.nn as nn\nm = nn.Sequential(nn.Conv2d(3, 8, 3), nn.Conv2d(8, 4, 1))\n"
    assert [s.step.seeded for s in analyze_source(source).models[0].steps] == [True, False]
    declared = "import torch.nn as nn\n# convlint: input=3x8x8\nm = nn.Sequential(nn.Conv2d(3, 8, 3))\n"
    assert [s.step.seeded for s in analyze_source(declared).models[0].steps] == [False]


def test_literal_sites_find_only_integer_size_arguments():
    sites = mutate.literal_sites(SOURCE, "net.py")
    assert [(s.call_line, s.line, s.kind, s.literal) for s in sites] == [
        (9, 9, "Conv2d", "3"),
        (11, 12, "Conv2d", "8"),  # keyword in_channels= on the call's second line
        (14, 14, "Conv2d", "8"),
        (14, 14, "Conv2d", "8"),
        (15, 15, "Linear", "8"),
    ]


@pytest.mark.parametrize("index", range(5))
def test_mutant_changes_exactly_one_literal(index):
    site = mutate.literal_sites(SOURCE, "net.py")[index]
    mutant = mutate.mutate_literal(SOURCE, site.line, site.column)
    before, after = SOURCE.splitlines(keepends=True), mutant.splitlines(keepends=True)
    assert len(before) == len(after)
    changed = [i for i, (x, y) in enumerate(zip(before, after)) if x != y]
    assert changed == [site.line - 1]
    col = site.column
    old, new = before[site.line - 1], after[site.line - 1]
    assert new == old[:col] + str(int(site.literal) + 1).encode() + old[col + len(site.literal):]


def test_mutant_keeps_crlf_and_odd_spacing_byte_identical():
    source = b"m = nn.BatchNorm2d( 0x10 ,eps=1e-5)  # keep\r\nn = nn.Linear(in_features = 7, out_features=2)\r\n"
    first, second = mutate.literal_sites(source, "x.py")
    assert (first.kind, first.literal, second.literal) == ("BatchNorm2d", "0x10", "7")
    assert mutate.mutate_literal(source, first.line, first.column) == source.replace(b"0x10", b"17")
    assert mutate.mutate_literal(source, second.line, second.column) == source.replace(b"= 7", b"= 8")
