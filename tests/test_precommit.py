"""The pre-commit hook, driven by the real pre-commit: it builds a virtualenv, pip-installs this
repository into it from a git commit, and runs `convlint check` on the staged files.

pre-commit only installs what is committed (try-repo adds the uncommitted changes of tracked
files, not new files), so the test commits a copy of this working tree into a temporary git
repository and points pre-commit at that. It needs git, pre-commit (the `dev` extra) and the
package index (to install libcst into the hook's virtualenv).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SKIP_DIRS = {".git", ".venv", "venv", "__pycache__", ".pytest_cache", ".hypothesis", "build", "dist", ".convlint_cache"}

GOOD_MODEL = """\
import torch.nn as nn

# convlint: input=3x32x32
net = nn.Sequential(
    nn.Conv2d(3, 16, 3, padding=1),
    nn.ReLU(),
    nn.Conv2d(16, 32, 3, padding=1),
)
"""


def _pre_commit() -> list[str]:
    try:
        import pre_commit  # noqa: F401
    except ImportError:
        pytest.skip("pre-commit is not installed (pip install -e '.[dev]')")
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    return [sys.executable, "-m", "pre_commit"]


def _env(home: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "PRE_COMMIT", "VIRTUAL_ENV"))}
    env.update(
        PRE_COMMIT_HOME=str(home),
        GIT_AUTHOR_NAME="convlint tests",
        GIT_AUTHOR_EMAIL="tests@convlint.invalid",
        GIT_COMMITTER_NAME="convlint tests",
        GIT_COMMITTER_EMAIL="tests@convlint.invalid",
        GIT_CONFIG_GLOBAL=os.devnull,
        GIT_CONFIG_NOSYSTEM="1",
        PYTHONIOENCODING="utf-8",
    )
    return env


def _git(env: dict, cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout


def _project_files() -> list[str]:
    """This working tree as git sees it (tracked and untracked, not ignored), or every file."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
            cwd=ROOT,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        return [name for name in listed.split("\0") if name and (ROOT / name).is_file()]
    except (OSError, subprocess.CalledProcessError):
        names = []
        for folder, dirs, files in os.walk(ROOT):
            dirs[:] = [d for d in dirs if d not in SKIP_DIRS and not d.endswith(".egg-info")]
            names += [os.path.relpath(os.path.join(folder, f), ROOT) for f in files]
        return names


def _hook_repo(tmp: Path, env: dict) -> Path:
    repo = tmp / "convlint-hook-repo"
    for name in _project_files():
        if name.split("/", 1)[0] in {"corpus", ".corpus"}:
            continue
        target = repo / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target)
    assert (repo / ".pre-commit-hooks.yaml").is_file()
    _git(env, repo, "init", "-q")
    _git(env, repo, "add", "-A")
    _git(env, repo, "commit", "-q", "-m", "convlint under test")
    return repo


def _wheelhouse(cache_dir: Path) -> Path:
    """The wheels the hook's virtualenv needs (this project's dependencies and its build backend),
    fetched from the package index with pip once per run into pytest's cache, so that pre-commit's
    two virtualenvs install from disk: the network round trips would double the test's time."""
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    wanted = [*project["build-system"]["requires"], *project["project"]["dependencies"]]
    done = subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--dest", str(cache_dir), *wanted],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot fetch the hook's dependencies from the package index: {done.stderr.strip()[-300:]}")
    return cache_dir


def test_pre_commit_hook_refuses_a_broken_model_and_passes_a_correct_one(tmp_path, request):
    pre_commit = _pre_commit()
    env = _env(tmp_path / "pre-commit-home")
    cache = getattr(request.config, "cache", None)  # absent under -p no:cacheprovider
    wheels = cache.mkdir("precommit-wheelhouse") if cache is not None else tmp_path / "wheels"
    env.update(PIP_NO_INDEX="1", PIP_FIND_LINKS=str(_wheelhouse(wheels)))
    hook_repo = _hook_repo(tmp_path, env)
    rev = _git(env, hook_repo, "rev-parse", "HEAD").strip()

    work = tmp_path / "user-project"
    work.mkdir()
    _git(env, work, "init", "-q")
    shutil.copy(ROOT / "fixtures" / "channel_mismatch.py", work / "model.py")
    _git(env, work, "add", "model.py")

    # The hook from .pre-commit-config.yaml gets its own virtualenv (try-repo always builds a
    # throwaway one): build it meanwhile, to halve the wall time.
    (work / ".pre-commit-config.yaml").write_text(
        f"repos:\n  - repo: {hook_repo.as_posix()}\n    rev: {rev}\n    hooks:\n      - id: convlint\n",
        encoding="utf-8",
    )
    subprocess.run([*pre_commit, "install"], cwd=work, env=env, check=True, capture_output=True, timeout=120)
    installing = subprocess.Popen(
        [*pre_commit, "install-hooks"], cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )

    # 1. try-repo, as a user trying the hook out: it fails and prints the finding
    tried = subprocess.run(
        [*pre_commit, "try-repo", str(hook_repo), "convlint", "--files", "model.py"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = tried.stdout + tried.stderr
    assert tried.returncode == 1, output
    assert "- hook id: convlint" in output and "Failed" in output, output
    assert "model.py:15:5: CL001 [channel-mismatch] Conv2d expects 32 input channels but receives 16" in output, output

    # 2. the hook installed as a git hook: the commit is refused
    log, _ = installing.communicate(timeout=600)
    assert installing.returncode == 0, log
    _git(env, work, "add", ".pre-commit-config.yaml")
    refused = subprocess.run(
        ["git", "commit", "-m", "a broken model"], cwd=work, env=env, capture_output=True, text=True, timeout=600
    )
    output = refused.stdout + refused.stderr
    assert refused.returncode != 0, output
    assert "model.py:15:5: CL001 [channel-mismatch]" in output, output
    assert subprocess.run(["git", "rev-parse", "--verify", "HEAD"], cwd=work, env=env, capture_output=True).returncode != 0

    # 3. a correct model passes, and the commit goes through
    (work / "model.py").write_text(GOOD_MODEL, encoding="utf-8")
    _git(env, work, "add", "model.py")
    committed = subprocess.run(
        ["git", "commit", "-m", "a correct model"], cwd=work, env=env, capture_output=True, text=True, timeout=600
    )
    output = committed.stdout + committed.stderr
    assert committed.returncode == 0, output
    assert "convlint" in output and "Passed" in output, output
    assert _git(env, work, "log", "--format=%s").splitlines() == ["a correct model"]


def test_the_readmes_local_hook_works_as_written(tmp_path, request):
    """The README's `repo: local` form, its checkout path replaced by this tree's copy: it lints
    Python files and notebooks."""
    pre_commit = _pre_commit()
    env = _env(tmp_path / "pre-commit-home")
    cache = getattr(request.config, "cache", None)
    wheels = cache.mkdir("precommit-wheelhouse") if cache is not None else tmp_path / "wheels"
    env.update(PIP_NO_INDEX="1", PIP_FIND_LINKS=str(_wheelhouse(wheels)))
    hook_repo = _hook_repo(tmp_path, env)
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    snippet = readme.split("with convlint from a local checkout:\n\n```yaml\n", 1)[1].split("```", 1)[0]
    assert '"/path/to/convlint"' in snippet
    work = tmp_path / "user-project"
    work.mkdir()
    _git(env, work, "init", "-q")
    (work / ".pre-commit-config.yaml").write_text(snippet.replace("/path/to/convlint", hook_repo.as_posix()))
    shutil.copy(ROOT / "fixtures" / "channel_mismatch.py", work / "model.py")
    shutil.copy(ROOT / "fixtures" / "notebooks" / "fastai_cnn.ipynb", work / "lesson.ipynb")
    (work / "notes.txt").write_text("nn.Conv2d(32, 64, 3) is not code here\n")
    _git(env, work, "add", "-A")
    done = subprocess.run([*pre_commit, "run", "--all-files"], cwd=work, env=env, capture_output=True, text=True,
                          timeout=900)
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert "model.py:15:5: CL001 [channel-mismatch]" in output, output
    assert "lesson.ipynb:cell 7:6:9: CL001 [channel-mismatch]" in output, output
    assert "Found 4 findings (4 errors; 2 files checked)." in output, output
