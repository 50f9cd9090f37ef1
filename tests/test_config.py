"""Configuration files: discovery, every key, CLI precedence, errors, exit status with fail-on."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from convlint import config
from convlint.cli import main

# One warning (CL002 on line 5) and one error (CL001 on line 6).
MODEL = """\
import torch.nn as nn

# convlint: input=3x224x224
net = nn.Sequential(
    nn.Conv2d(3, 16, 11, stride=4),
    nn.Conv2d(32, 64, 3),
)
"""
CL002 = (
    "m.py:5:5: CL002 [dropped-pixels] (224 + 2·0 − 11)/4 + 1 = 54.25, floored to 54: the last 1 row and 1 column "
    "of the 224×224 input are never read (PyTorch drops them at the bottom and right edges, not at random); "
    "padding=2 or an input of 227×227 reads every pixel"
)
CL001 = "m.py:6:5: CL001 [channel-mismatch] Conv2d expects 32 input channels but receives 16 (out_channels of the Conv2d on line 5)"


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A project folder as the working folder, with the model in m.py."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "m.py").write_text(MODEL, encoding="utf-8")
    return tmp_path


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def run(capsys, *argv: str) -> tuple[int, list[str], str]:
    status = main(["check", *argv])
    captured = capsys.readouterr()
    return status, captured.out.splitlines(), captured.err


def test_no_config_reports_the_default_selection(project, capsys):
    assert run(capsys, "m.py") == (1, [CL002, CL001, "Found 2 findings (1 error, 1 warning; 1 file checked)."], "")


def test_select_in_pyproject(project, capsys):
    write(project / "pyproject.toml", '[project]\nname = "x"\n\n[tool.convlint]\nselect = ["channel-mismatch"]\n')
    assert run(capsys, "m.py") == (1, [CL001, "Found 1 finding (1 error; 1 file checked)."], "")


def test_ignore_by_code_and_extend_select(project, capsys):
    write(project / "pyproject.toml", '[tool.convlint]\nselect = ["CL001"]\nextend-select = ["CL002"]\nignore = ["CL001"]\n')
    assert run(capsys, "m.py")[1] == [CL002, "Found 1 finding (1 warning; 1 file checked)."]


def test_pyproject_without_a_convlint_table_is_skipped(project, capsys):
    write(project / "pyproject.toml", '[tool.convlint]\nignore = ["dropped-pixels"]\n')
    write(project / "sub" / "pyproject.toml", '[project]\nname = "inner"\n')
    (project / "sub" / "m.py").write_text(MODEL, encoding="utf-8")
    status, out, _ = run(capsys, "sub/m.py")
    assert status == 1
    assert out == ["sub/" + CL001, "Found 1 finding (1 error; 1 file checked)."]
    assert config.find_config(project / "sub" / "m.py") == project / "pyproject.toml"


def test_nearest_config_wins_and_convlint_toml_beats_pyproject(project, capsys):
    write(project / "pyproject.toml", '[tool.convlint]\nignore = ["dropped-pixels"]\n')
    write(project / "sub" / "pyproject.toml", '[tool.convlint]\nignore = ["channel-mismatch"]\n')
    write(project / "sub" / "convlint.toml", 'ignore = ["CL001", "CL002"]\n')
    (project / "sub" / "m.py").write_text(MODEL, encoding="utf-8")
    status, out, _ = run(capsys, "m.py", "sub/m.py")
    assert status == 1
    assert out == [CL001, "Found 1 finding (1 error; 2 files checked)."]
    assert config.find_config(project / "sub" / "m.py") == project / "sub" / "convlint.toml"


def test_per_file_ignores(project, capsys):
    write(project / "pyproject.toml", '[tool.convlint.per-file-ignores]\n"legacy/*.py" = ["CL001"]\n"m.py" = ["dropped-pixels"]\n')
    (project / "legacy").mkdir()
    (project / "legacy" / "old.py").write_text(MODEL, encoding="utf-8")
    status, out, _ = run(capsys, ".")
    assert status == 1
    assert out == [
        "legacy/old.py:5:5: CL002" + CL002.split("CL002", 1)[1],
        CL001,
        "Found 2 findings (1 error, 1 warning; 2 files checked).",
    ]


def test_exclude_also_applies_to_files_named_on_the_command_line(project, capsys):
    write(project / "pyproject.toml", '[tool.convlint]\nexclude = ["generated", "m.py"]\n')
    (project / "generated").mkdir()
    (project / "generated" / "net.py").write_text(MODEL, encoding="utf-8")
    assert run(capsys, ".", "m.py", "generated/net.py") == (0, ["No findings (0 files checked)."], "")


def test_severity_override_and_fail_on(project, capsys):
    write(project / "pyproject.toml", '[tool.convlint]\nselect = ["CL001"]\nseverity = { channel-mismatch = "info" }\n')
    status, out, _ = run(capsys, "m.py")
    assert (status, out[-1]) == (0, "Found 1 finding (1 info; 1 file checked).")
    assert run(capsys, "m.py", "--fail-on", "info")[0] == 1


@pytest.mark.parametrize(
    ("fail_on", "select", "expected"),
    [
        ("error", "CL002", 0),
        ("error", "CL001", 1),
        ("warning", "CL002", 1),
        ("info", "CL002", 1),
    ],
)
def test_fail_on_from_the_config(project, capsys, fail_on, select, expected):
    write(project / "convlint.toml", f'fail-on = "{fail_on}"\nselect = ["{select}"]\n')
    assert run(capsys, "m.py")[0] == expected


def test_cli_fail_on_overrides_the_config(project, capsys):
    write(project / "convlint.toml", 'fail-on = "info"\nselect = ["CL002"]\n')
    assert run(capsys, "m.py", "--fail-on", "error")[0] == 0


def test_cli_select_replaces_the_config_selection_but_keeps_its_ignores(project, capsys):
    write(project / "pyproject.toml", '[tool.convlint]\nselect = ["CL002"]\nignore = ["CL001"]\n')
    assert run(capsys, "m.py", "--select", "ALL")[1] == [CL002, "Found 1 finding (1 warning; 1 file checked)."]
    # named explicitly on the command line: more specific than the config's ignore
    assert run(capsys, "m.py", "--select", "CL001")[1] == [CL001, "Found 1 finding (1 error; 1 file checked)."]
    assert run(capsys, "m.py", "--ignore", "CL002")[1] == ["No findings (1 file checked)."]


def test_explicit_config_and_isolated(project, capsys):
    write(project / "pyproject.toml", '[tool.convlint]\nselect = ["CL001"]\n')
    write(project / "conf" / "strict.toml", 'select = ["CL002"]\n')
    assert run(capsys, "m.py", "--config", "conf/strict.toml")[1][0] == CL002
    assert len(run(capsys, "m.py", "--isolated")[1]) == 3
    assert run(capsys, "m.py", "--config", "conf/strict.toml", "--isolated") == (
        2,
        [],
        "convlint: error: --config cannot be used with --isolated\n",
    )
    assert run(capsys, "m.py", "--config", "nope.toml") == (2, [], "convlint: error: --config nope.toml: no such file\n")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '[tool.convlint]\nselct = ["CL001"]\n',
            "pyproject.toml: [tool.convlint]: unknown key 'selct' (did you mean 'select'?)",
        ),
        (
            '[tool.convlint]\nselect = ["CL001", "CL999"]\n',
            "pyproject.toml: [tool.convlint]: unknown check 'CL999' in 'select'…",
        ),
        (
            '[tool.convlint]\nignore = ["channel-mismatches"]\n',
            "pyproject.toml: [tool.convlint]: unknown check 'channel-mismatches' in 'ignore' (did you mean 'channel-mismatch'?)",
        ),
        (
            '[tool.convlint.per-file-ignores]\n"tests/*" = ["nope"]\n',
            "pyproject.toml: [tool.convlint]: unknown check 'nope' in 'per-file-ignores.\"tests/*\"'",
        ),
        (
            '[tool.convlint.severity]\nCL001 = "fatal"\n',
            "pyproject.toml: [tool.convlint]: 'severity.CL001' must be one of \"error\", \"warning\", \"info\", not 'fatal'",
        ),
        (
            '[tool.convlint]\nfail-on = "never"\n',
            "pyproject.toml: [tool.convlint]: 'fail-on' must be one of \"error\", \"warning\", \"info\", not 'never'",
        ),
        ('[tool.convlint]\nexclude = "build"\n', "pyproject.toml: [tool.convlint]: 'exclude' must be a list of strings"),
        ('[tool.convlint]\nextra-paths = "vendor"\n', "pyproject.toml: [tool.convlint]: 'extra-paths' must be a list of strings"),
        (
            '[tool.convlint.inputs]\n"m.py" = "3x224x224"\n',
            "pyproject.toml: [tool.convlint]: inputs key 'm.py' is not \"path/to/file.py::ModelName\"",
        ),
        (
            '[tool.convlint.inputs]\n"m.py::Net" = "224x224x"\n',
            "pyproject.toml: [tool.convlint]: inputs.'m.py::Net' = '224x224x' is not a size like \"3x224x224\"",
        ),
    ],
)
def test_config_errors_name_the_key_and_the_file(project, capsys, text, message):
    write(project / "pyproject.toml", text)
    status, out, err = run(capsys, "m.py")
    assert (status, out) == (2, [])
    if message.endswith("…"):  # the suggestion depends on the codes there are
        assert err.startswith("convlint: error: " + message[:-1]) and err.count("\n") == 1
    else:
        assert err == f"convlint: error: {message}\n"


def test_invalid_toml(project, capsys):
    write(project / "convlint.toml", "select = [\n")
    status, out, err = run(capsys, "m.py")
    assert (status, out) == (2, [])
    assert err.startswith("convlint: error: convlint.toml: invalid TOML: ")
    assert err.count("\n") == 1


def input_for(path, model_name, resolver=None):
    """The input size the `inputs` table of the config that applies to `path` gives the model."""
    return (resolver or config.Resolver()).config_for(path).inputs_for(path).get(model_name)


def test_inputs_table_and_input_for(project):
    write(
        project / "pyproject.toml",
        '[tool.convlint.inputs]\n"models/net.py::ResNet" = "3x224x224"\n"m.py::net" = "1 x 28 x 28"\n',
    )
    write(project / "models" / "net.py", "")
    assert input_for(project / "models" / "net.py", "ResNet") == (3, 224, 224)
    assert input_for("models/net.py", "ResNet") == (3, 224, 224)  # relative to the working folder
    assert input_for(project / "m.py", "net") == (1, 28, 28)
    assert input_for(project / "m.py", "ResNet") is None
    assert input_for(project / "models" / "other.py", "ResNet") is None
    # relative to the config file's folder, wherever the linted file sits
    resolver = config.Resolver()
    assert input_for(project / "models" / "net.py", "ResNet", resolver) == (3, 224, 224)
    assert input_for(project / "models" / "net.py", "ResNet", config.Resolver(isolated=True)) is None


def test_load_returns_the_parsed_config(project):
    path = write(
        project / "convlint.toml",
        """
        select = ["ALL"]
        ignore = ["CL002"]
        exclude = ["build/"]
        fail-on = "error"
        [severity]
        dropped-pixels = "error"
        """,
    )
    loaded = config.load(path)
    assert loaded.fail_on == "error"
    assert "channel-mismatch" in loaded.select and loaded.explicit_select == frozenset()
    assert loaded.ignore == {"dropped-pixels"}
    assert loaded.severity == {"dropped-pixels": "error"}
    assert loaded.excluded(project / "build" / "x.py") and not loaded.excluded(project / "m.py")


@pytest.mark.parametrize(
    ("relative", "glob", "expected"),
    [
        ("tests/test_a.py", "tests/*", True),
        ("tests/unit/test_a.py", "tests/*", True),
        ("tests/unit/test_a.py", "tests", True),
        ("a/tests/x.py", "tests", True),
        ("a/tests/x.py", "tests/", True),
        ("src/__init__.py", "__init__.py", True),
        ("src/model.py", "**/model.py", True),
        ("model.py", "**/model.py", True),
        ("src/model.py", "./src/*.py", True),
        ("src/model.py", "lib/*.py", False),
        ("src/models.py", "model.py", False),
    ],
)
def test_glob_matches(relative, glob, expected):
    assert config.glob_matches(relative, glob) is expected


def test_config_error_in_a_subprocess(project):
    write(project / "pyproject.toml", '[tool.convlint]\nfail_on = "error"\n')
    env = dict(os.environ, PYTHONIOENCODING="utf-8")
    done = subprocess.run([sys.executable, "-m", "convlint", "check", "m.py"], capture_output=True, text=True, env=env)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr == "convlint: error: pyproject.toml: [tool.convlint]: unknown key 'fail_on' (did you mean 'fail-on'?)\n"


def test_a_config_file_is_read_again_only_when_it_changes(tmp_path, monkeypatch):
    path = tmp_path / "pyproject.toml"
    path.write_text('[tool.convlint]\ninputs = { "m.py::Net" = "3x32x32" }\n')
    reads = []
    real_read = config.read_toml
    monkeypatch.setattr(config, "read_toml", lambda p: reads.append(p) or real_read(p))
    first = config.load(path)
    assert config.load(path) is first and len(reads) == 1
    path.write_text('[tool.convlint]\ninputs = { "m.py::Net" = "1x28x28" }\n')
    os.utime(path, ns=(1, 1))  # a different modification time even on a coarse clock
    assert config.load(path).inputs_for(tmp_path / "m.py") == {"Net": (1, 28, 28)}
    assert len(reads) == 2


def test_the_inputs_table_follows_config_and_isolated(project, capsys):
    """The input size the `inputs` table gives comes from the configuration the run uses:
    the discovered one, the one `--config` names, none with `--isolated`."""
    write(project / "u.py", MODEL.replace("# convlint: input=3x224x224\n", ""))
    write(project / "pyproject.toml", '[tool.convlint.inputs]\n"u.py::net" = "3x224x224"\n')
    write(project / "conf" / "wide.toml", '[inputs]\n"../u.py::net" = "3x230x230"\n')
    shifted = CL001.replace("m.py:6:", "u.py:5:").replace("line 5", "line 4")
    status, out, err = run(capsys, "u.py")
    assert out[:2] == [CL002.replace("m.py:5:", "u.py:4:"), shifted]
    status, out, err = run(capsys, "u.py", "--isolated")
    assert out == [shifted, "Found 1 finding (1 error; 1 file checked)."]
    status, out, err = run(capsys, "u.py", "--config", "conf/wide.toml")
    assert out[0] == ("u.py:4:5: CL002 [dropped-pixels] (230 + 2·0 − 11)/4 + 1 = 55.75, floored to 55: the last 3 rows "
                      "and 3 columns of the 230×230 input are never read (PyTorch drops them at the bottom and right "
                      "edges, not at random); padding=1 or an input of 231×231 reads every pixel")
