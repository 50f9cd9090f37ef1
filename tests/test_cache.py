"""The findings cache and --jobs: never a stale result, never a crash, the same output in any order."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import convlint.cache as cache_module
import convlint.engine as engine
from convlint.cache import Cache, default_dir
from convlint.cli import main

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


@pytest.fixture
def counted(monkeypatch):
    """How many times a file is really analysed."""
    calls = []
    real = engine.analyze_source

    def counting(source, path="<string>", *args, **kwargs):
        calls.append(path)
        return real(source, path, *args, **kwargs)

    monkeypatch.setattr(engine, "analyze_source", counting)
    return calls


@pytest.fixture
def project(tmp_path, monkeypatch):
    for name in ("channel_mismatch.py", "nin_stem.py", "mnist_ok.py"):
        shutil.copy(FIXTURES / name, tmp_path / name)
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CONVLINT_NO_CACHE", raising=False)
    return tmp_path


def check(capsys, *args) -> tuple[int, str]:
    status = main(["check", "--jobs", "1", *args])
    return status, capsys.readouterr().out


def entries(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.json"))


def test_second_run_analyses_nothing_and_says_the_same(project, counted, capsys):
    first = check(capsys, ".")
    assert len(counted) == 3
    second = check(capsys, ".")
    assert second == first
    assert len(counted) == 3  # all three served from the cache
    folder = project / ".convlint_cache"
    assert (folder / ".gitignore").read_text().strip().splitlines()[-1] == "*"
    assert len(entries(folder)) == 3
    assert not list(folder.rglob(".tmp-*"))  # atomic writes leave no temporary file


def test_edited_file_is_recomputed(project, counted, capsys):
    status, out = check(capsys, ".")
    assert "channel_mismatch.py" in out
    (project / "channel_mismatch.py").write_text("import torch\nx = 1\n")
    counted.clear()
    status2, out2 = check(capsys, ".")
    assert counted == ["channel_mismatch.py"]
    assert "channel_mismatch.py:" not in out2


@pytest.mark.parametrize(
    "first, second",
    [
        ([], ["--select", "channel-mismatch"]),
        ([], ["--ignore", "dropped-pixels"]),
        ([], ["--input", "3x64x64"]),
    ],
)
def test_changed_configuration_is_recomputed(project, counted, capsys, first, second):
    check(capsys, *first, ".")
    counted.clear()
    check(capsys, *second, ".")
    assert len(counted) == 3
    counted.clear()
    check(capsys, *second, ".")
    assert counted == []


def test_config_file_change_is_recomputed(project, counted, capsys):
    check(capsys, ".")
    (project / "pyproject.toml").write_text("[project]\nname = 'x'\n\n[tool.convlint]\nignore = ['channel-mismatch']\n")
    counted.clear()
    status, out = check(capsys, ".")
    assert "CL001" not in out
    assert len(counted) == 3


def test_new_version_is_recomputed(project, counted, capsys, monkeypatch):
    check(capsys, ".")
    monkeypatch.setattr(cache_module, "__version__", "99.0.0")
    monkeypatch.setattr(cache_module, "_FINGERPRINT", None)
    counted.clear()
    check(capsys, ".")
    assert len(counted) == 3


def test_edited_convlint_source_is_recomputed(project, counted, capsys, monkeypatch):
    """A checkout whose code changed but whose version did not still misses the cache."""
    check(capsys, ".")
    real = cache_module.code_fingerprint()
    monkeypatch.setattr(cache_module, "_FINGERPRINT", real[::-1])
    counted.clear()
    check(capsys, ".")
    assert len(counted) == 3


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty", "wrong-schema", "other-key", "binary"])
def test_corrupt_entry_is_ignored_and_rewritten(project, counted, capsys, damage):
    expected = check(capsys, ".")
    folder = project / ".convlint_cache"
    for entry in entries(folder):
        text = entry.read_text()
        entry.write_bytes(
            {
                "truncate": text[: len(text) // 2].encode(),
                "garbage": b"{not json",
                "empty": b"",
                "wrong-schema": json.dumps({"key": json.loads(text)["key"], "kept": [{"bogus": 1}], "suppressed": []}).encode(),
                "other-key": json.dumps({"key": "0" * 64, "kept": [], "suppressed": []}).encode(),
                "binary": b"\xff\xfe\x00\x00",
            }[damage]
        )
    counted.clear()
    assert check(capsys, ".") == expected
    assert len(counted) == 3
    for entry in entries(folder):  # rewritten whole
        assert json.loads(entry.read_text())["key"]
    counted.clear()
    assert check(capsys, ".") == expected
    assert counted == []


def test_no_cache_and_cache_dir(project, counted, capsys, tmp_path_factory):
    check(capsys, "--no-cache", ".")
    assert not (project / ".convlint_cache").exists()
    elsewhere = tmp_path_factory.mktemp("elsewhere") / "c"
    check(capsys, "--cache-dir", str(elsewhere), ".")
    assert len(entries(elsewhere)) == 3
    assert not (project / ".convlint_cache").exists()


def test_unwritable_cache_dir_is_no_error(project, capsys):
    blocker = project / "blocker"
    blocker.write_text("a file, not a folder")
    status, out = check(capsys, "--cache-dir", str(blocker / "cache"), ".")
    assert status == 1 and "CL001" in out


def test_default_dir_is_beside_the_nearest_pyproject(tmp_path, monkeypatch):
    (tmp_path / "pyproject.toml").write_text("")
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    monkeypatch.chdir(deep)
    assert default_dir() == tmp_path / ".convlint_cache"
    (tmp_path / "pyproject.toml").unlink()
    assert default_dir() == deep / ".convlint_cache"


def test_an_entry_round_trips_every_field(tmp_path):
    from convlint.findings import Finding, Span

    store = Cache(tmp_path / "c")
    finding = Finding("p.py", Span(1, 2, 3, 4), "CL001", "channel-mismatch", "error", "m", fix={"a": [1, 2]})
    store.put("ab" + "0" * 62, [finding], [])
    (kept, suppressed) = store.get("ab" + "0" * 62, "q.py")
    assert kept[0].path == "q.py" and kept[0].span == Span(1, 2, 3, 4) and kept[0].fix == {"a": [1, 2]}


def test_jobs_give_the_same_output_in_the_same_order(tmp_path, monkeypatch, capsys):
    for path in sorted(FIXTURES.glob("*.py")):
        shutil.copy(path, tmp_path / path.name)
        shutil.copy(path, tmp_path / f"z_{path.name}")
    monkeypatch.chdir(tmp_path)
    one = check(capsys, "--no-cache", ".")
    status = main(["check", "--no-cache", "--jobs", "2", "."])
    two = (status, capsys.readouterr().out)
    assert one == two
    assert one[1].count("\n") > 10


def test_jobs_must_be_positive(capsys):
    assert main(["check", "--jobs", "0", str(FIXTURES / "mnist_ok.py")]) == 2
    assert "--jobs" in capsys.readouterr().err


def test_version_and_prefiltered_runs_do_not_import_the_analysis(tmp_path):
    (tmp_path / "plain.py").write_text("x = 1\n")
    code = (
        "import sys\n"
        "from convlint.cli import main\n"
        "try:\n    main(['--version'])\nexcept SystemExit:\n    pass\n"
        "assert not {'libcst', 'convlint.extract'} & set(sys.modules), 'version'\n"
        f"main(['check', '--no-cache', {str(tmp_path / 'plain.py')!r}])\n"
        "assert not {'libcst', 'convlint.extract', 'convlint.evidence'} & set(sys.modules), 'check'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_prefilter_asks_for_torch_nn_beyond_its_functions():
    from convlint.engine import might_define_models

    assert might_define_models(b"import torch\nfrom torch import nn\n")
    assert might_define_models(b"import torch\nimport torch.nn as nn\n")
    assert might_define_models(b"import torch\nfrom torch.nn import Conv2d\n")
    assert might_define_models(b"import torch\nclass Net(torch.nn.Module):\n    pass\n")
    assert might_define_models(b"import torch\nfrom .core import Module\n")
    assert not might_define_models(b"import torch\nimport torch.nn.functional as F\n")  # tensor utilities only
    assert not might_define_models(b"from flax import nn\n")
    assert not might_define_models(b"import torch\nx = torch.zeros(3)\n")


def test_an_entry_is_stale_once_a_file_it_read_has_changed(tmp_path):
    """A result depends on the siblings (and zoo modules) the analysis read, not only on the file."""
    package = tmp_path / "pkg"
    package.mkdir()
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    (package / "__init__.py").write_text("")
    (package / "blocks.py").write_text("import torch.nn as nn\n\n\ndef stem():\n    return nn.Conv2d(3, 16, 3)\n")
    (package / "net.py").write_text(
        "import torch.nn as nn\n\nfrom .blocks import stem\n\n# convlint: input=3x32x32\n"
        "model = nn.Sequential(stem(), nn.Conv2d(16, 8, 3))\n"
    )

    def run() -> subprocess.CompletedProcess:
        environment = {k: v for k, v in os.environ.items() if k != "CONVLINT_NO_CACHE"}
        return subprocess.run([sys.executable, "-m", "convlint", "check", "pkg/net.py"], cwd=tmp_path,
                              capture_output=True, text=True, env=environment)

    assert run().stdout.strip() == "No findings (1 file checked)."
    assert len(entries(tmp_path / ".convlint_cache")) == 1
    (package / "blocks.py").write_text("import torch.nn as nn\n\n\ndef stem():\n    return nn.Conv2d(3, 32, 3)\n")
    assert run().stdout.splitlines()[0] == (
        "pkg/net.py:6:31: CL001 [channel-mismatch] Conv2d expects 16 input channels but receives 32 "
        "(out_channels of the Conv2d on line 5 of blocks.py)"
    )
