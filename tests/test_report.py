"""Output formats: text, json, SARIF 2.1.0 (validated against the official schema), GitHub
workflow commands; --output-file; the exit status."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from convlint import __version__, report, rules
from convlint.cli import main
from convlint.findings import Finding, Span

SCHEMA = Path(__file__).resolve().parent.parent / "fixtures" / "sarif" / "sarif-schema-2.1.0.json"

MODEL = """\
import torch.nn as nn

# convlint: input=3x224x224
net = nn.Sequential(
    nn.Conv2d(3, 16, 11, stride=4),
    nn.Conv2d(32, 64, 3),  # noqa: CL001
)
"""
CL001_MESSAGE = "Conv2d expects 32 input channels but receives 16 (out_channels of the Conv2d on line 5)"
CL002_MESSAGE = (
    "(224 + 2·0 − 11)/4 + 1 = 54.25, floored to 54: the last 1 row and 1 column of the 224×224 input are never "
    "read (PyTorch drops them at the bottom and right edges, not at random); padding=2 or an input of 227×227 "
    "reads every pixel"
)


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "my net.py").write_text(MODEL, encoding="utf-8")
    return tmp_path


def run(capsys, *argv: str) -> tuple[int, str]:
    status = main(["check", "--isolated", *argv])
    captured = capsys.readouterr()
    assert captured.err == ""
    return status, captured.out


def validate_sarif(log: dict) -> None:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    validator = jsonschema.validators.validator_for(schema)
    validator.check_schema(schema)
    validator(schema, format_checker=validator.FORMAT_CHECKER).validate(log)


def test_sarif_is_valid_and_complete(project, capsys):
    status, out = run(capsys, "--format", "sarif", "--select", "CL001,CL002", "models")
    assert status == 1
    log = json.loads(out)
    validate_sarif(log)
    assert log["$schema"] == report.SARIF_SCHEMA and log["version"] == "2.1.0"
    (sarif_run,) = log["runs"]
    driver = sarif_run["tool"]["driver"]
    assert (driver["name"], driver["version"], driver["informationUri"]) == ("convlint", __version__, report.INFORMATION_URI)
    assert [r["id"] for r in driver["rules"]] == [r.code for r in rules.RULES]
    first = driver["rules"][0]
    assert first["name"] == "channel-mismatch"
    assert first["shortDescription"]["text"] == rules.BY_CODE["CL001"].summary
    assert first["fullDescription"]["text"].startswith(rules.BY_CODE["CL001"].summary)
    assert "Bad:" not in first["fullDescription"]["text"]
    assert first["help"]["text"] == rules.BY_CODE["CL001"].doc.strip()
    assert "```python\nnn.Sequential(" in first["help"]["markdown"]
    assert first["defaultConfiguration"] == {"level": "error"}
    levels = {r["id"]: r["defaultConfiguration"]["level"] for r in driver["rules"]}
    assert (levels["CL002"], levels["CL903"]) == ("warning", "note")
    assert sarif_run["originalUriBaseIds"] == {"%SRCROOT%": {"uri": project.resolve().as_uri() + "/"}}
    # the noqa'd CL001 is not there; the CL002 is
    assert sarif_run["results"] == [
        {
            "ruleId": "CL002",
            "ruleIndex": [r.code for r in rules.RULES].index("CL002"),
            "level": "warning",
            "message": {"text": CL002_MESSAGE},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": {"uri": "models/my%20net.py", "uriBaseId": "%SRCROOT%"},
                        "region": {"startLine": 5, "startColumn": 5, "endLine": 5, "endColumn": 35},
                    }
                }
            ],
        }
    ]


def test_sarif_marks_suppressed_results_and_maps_info_to_note(project, capsys):
    status, out = run(capsys, "--format", "sarif", "--select", "CL001,CL002", "--show-suppressed", "models/my net.py")
    log = json.loads(out)
    validate_sarif(log)
    results = log["runs"][0]["results"]
    assert [(r["ruleId"], r.get("suppressions")) for r in results] == [("CL002", None), ("CL001", [{"kind": "inSource"}])]
    findings = [Finding("a.py", Span(1, 1, 1, 2), "CL903", "unused-suppression", "info", "m")]
    assert report.sarif_log(findings, project)["runs"][0]["results"][0]["level"] == "note"


def test_sarif_for_a_file_outside_the_working_folder_uses_a_file_uri(tmp_path):
    outside = tmp_path / "elsewhere" / "net.py"
    here = tmp_path / "here"
    findings = [Finding(str(outside), Span(2, 3, 4, 5), "CL001", "channel-mismatch", "error", "x")]
    log = report.sarif_log(findings, here)
    validate_sarif(log)
    location = log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]
    assert location["artifactLocation"] == {"uri": outside.as_uri()}
    assert location["region"] == {"startLine": 2, "startColumn": 3, "endLine": 4, "endColumn": 5}


def test_sarif_with_no_findings_is_valid(project, capsys):
    (project / "ok.py").write_text("import torch\n", encoding="utf-8")
    status, out = run(capsys, "--format", "sarif", "ok.py")
    assert status == 0
    log = json.loads(out)
    validate_sarif(log)
    assert log["runs"][0]["results"] == []


def test_github_format(project, capsys):
    status, out = run(capsys, "--format", "github", "--select", "CL001,CL002", "--show-suppressed", "models")
    assert status == 1
    assert out.splitlines() == [  # suppressed findings are never annotated
        "::warning file=models/my net.py,line=5,col=5,endLine=5,endColumn=35,title=CL002 dropped-pixels::" + CL002_MESSAGE
    ]


def test_github_severities_and_escaping(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    findings = [
        Finding("a,b:c.py", Span(1, 2, 3, 4), "CL001", "channel-mismatch", "error", "50% of it\r\nis: wrong, here"),
        Finding(str(tmp_path / "d" / "e.py"), Span(5, 6, 5, 7), "CL002", "dropped-pixels", "warning", "w"),
        Finding("f.py", Span(8, 9, 8, 10), "CL903", "unused-suppression", "info", "i"),
    ]
    out = io.StringIO()
    report.github(findings, 3, out)
    assert out.getvalue().splitlines() == [
        "::error file=a%2Cb%3Ac.py,line=1,col=2,endLine=3,endColumn=4,title=CL001 channel-mismatch::50%25 of it%0D%0Ais: wrong, here",
        "::warning file=d/e.py,line=5,col=6,endLine=5,endColumn=7,title=CL002 dropped-pixels::w",
        "::notice file=f.py,line=8,col=9,endLine=8,endColumn=10,title=CL903 unused-suppression::i",
    ]


def test_text_and_json_formats(project, capsys):
    status, out = run(capsys, "--select", "CL001,CL002", "models")
    assert (status, out.splitlines()) == (
        1,
        [f"models/my net.py:5:5: CL002 [dropped-pixels] {CL002_MESSAGE}", "Found 1 finding (1 warning; 1 file checked)."],
    )
    status, out = run(capsys, "--format", "json", "--select", "CL001,CL002", "models")
    assert json.loads(out) == [
        {
            "path": "models/my net.py",
            "line": 5,
            "column": 5,
            "end_line": 5,
            "end_column": 35,
            "code": "CL002",
            "name": "dropped-pixels",
            "severity": "warning",
            "message": CL002_MESSAGE,
        }
    ]


@pytest.mark.parametrize("fmt", ["text", "json", "sarif", "github"])
def test_output_file(project, capsys, fmt):
    target = project / "reports" / f"convlint.{fmt}"
    status, out = run(capsys, "--format", fmt, "--output-file", str(target), "--select", "CL002", "models")
    assert (status, out) == (1, "")
    written = target.read_text(encoding="utf-8")
    assert "CL002" in written
    if fmt == "sarif":
        validate_sarif(json.loads(written))


def test_output_file_that_cannot_be_written(project, capsys):
    (project / "taken").write_text("", encoding="utf-8")
    status = main(["check", "--isolated", "--output-file", "taken/out.txt", "models"])
    err = capsys.readouterr().err
    assert status == 2
    assert err.startswith("convlint: error: cannot write --output-file taken/out.txt: ") and err.count("\n") == 1


def test_exit_status_with_fail_on(project, capsys):
    assert run(capsys, "--select", "CL002", "models")[0] == 1
    assert run(capsys, "--select", "CL002", "--fail-on", "error", "models")[0] == 0
    assert run(capsys, "--select", "CL002", "--fail-on", "info", "models")[0] == 1
    assert run(capsys, "--select", "CL001", "models")[0] == 0  # only a suppressed finding
    assert run(capsys, "--select", "CL001", "--show-suppressed", "models")[0] == 0


def test_internal_error_exits_2(project, capsys, monkeypatch):
    from convlint import engine

    def crash(*args, **kwargs):
        raise ValueError("boom")

    monkeypatch.setattr(engine, "_analyze", crash)
    status, out = run(capsys, "--fail-on", "error", "--format", "sarif", "models")
    assert status == 2
    log = json.loads(out)
    validate_sarif(log)
    assert log["runs"][0]["invocations"] == [{"executionSuccessful": False}]
    assert [r["ruleId"] for r in log["runs"][0]["results"]] == ["CL902"]


def test_sarif_in_a_subprocess(project):
    env = dict(os.environ, PYTHONIOENCODING="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "convlint", "check", "--isolated", "--format", "sarif", "--select", "CL002", "models"],
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=env,
    )
    assert (done.returncode, done.stderr) == (1, "")
    log = json.loads(done.stdout)
    validate_sarif(log)
    assert [r["ruleId"] for r in log["runs"][0]["results"]] == ["CL002"]
