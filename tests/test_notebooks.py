"""Notebooks: code cells read as one module, IPython syntax neutralised line for line, positions
per cell in every format, invalid notebooks as findings, fixes that touch only a cell's source."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from convlint.cli import main
from convlint.notebooks import python_lines, read_notebook
from convlint.report import sarif_log
from convlint.runner import lint_paths

ROOT = Path(__file__).resolve().parent.parent
FASTAI = ROOT / "fixtures" / "notebooks" / "fastai_cnn.ipynb"
DEFAULT = {"channel-mismatch", "dropped-pixels", "misplaced-flatten", "spatial-collapse", "invalid-layer-config",
           "shape-mismatch", "syntax-error", "unreadable-file", "internal-error"}
# Checked once against torch 2.13 running the notebook's code cells (magics left out):
# "Given groups=1, weight of size [32, 32, 3, 3], expected input[64, 16, 7, 7] to have 32 channels,
# but got 16 channels instead".
FASTAI_FINDING = ("fixtures/notebooks/fastai_cnn.ipynb:cell 7:6:9: CL001 [channel-mismatch] Conv2d expects 32 input "
                  "channels but receives 16 (out_channels of the Conv2d on line 5 of cell 7)")


def test_the_fixture_is_a_valid_notebook_in_the_fastai_style():
    notebook = nbformat.read(FASTAI, as_version=4)
    nbformat.validate(notebook)
    code = [cell.source for cell in notebook.cells if cell.cell_type == "code"]
    assert code[0].startswith("%load_ext autoreload") and code[1] == "!pip install -q fastprogress"
    assert "Lambda(mnist_resize)" in code[6] and "nn.Linear(32,data.c)" in code[6]
    assert "return nn.Sequential(\n        nn.Conv2d(ni, nf, ks, padding=ks//2, stride=stride), nn.ReLU())" in code[5]
    assert "loss.backward()" in code[9]


def test_check_reports_the_fixture_per_cell(capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    assert main(["check", "fixtures/notebooks/fastai_cnn.ipynb"]) == 1
    assert capsys.readouterr().out.splitlines() == [FASTAI_FINDING, "Found 1 finding (1 error; 1 file checked)."]


def test_a_folder_with_a_notebook_is_checked(tmp_path, capsys):
    (tmp_path / "nb").mkdir()
    (tmp_path / "nb" / "fastai_cnn.ipynb").write_bytes(FASTAI.read_bytes())
    (tmp_path / "nb" / "notes.txt").write_text("not Python")
    assert main(["check", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert f"{tmp_path}/nb/fastai_cnn.ipynb:cell 7:6:9: CL001 [channel-mismatch]" in out
    assert out.endswith("Found 1 finding (1 error; 1 file checked).\n")


def test_json_gives_the_cell_and_the_position_in_it(capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    main(["check", "--format", "json", "fixtures/notebooks/fastai_cnn.ipynb"])
    [item] = json.loads(capsys.readouterr().out)
    assert {k: item[k] for k in ("path", "cell", "line", "column", "end_line", "end_column", "code")} == {
        "path": "fixtures/notebooks/fastai_cnn.ipynb", "cell": 7, "line": 6, "column": 9, "end_line": 6,
        "end_column": 22, "code": "CL001",
    }


def test_sarif_and_github_point_into_the_notebooks_json(capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    text = FASTAI.read_text()
    offset = text.index("conv2d(32,32),    # 4")  # the string of cell 7's sixth line, as the file stores it
    line = text.count("\n", 0, offset) + 1
    column = offset - text.rfind("\n", 0, offset)
    assert text.splitlines()[line - 1] == '    "        conv2d(32,32),    # 4\\n",'
    findings = lint_paths(["fixtures/notebooks/fastai_cnn.ipynb"], DEFAULT).findings
    [result] = sarif_log(findings, ROOT)["runs"][0]["results"]
    location = result["locations"][0]["physicalLocation"]
    assert location["region"] == {"startLine": line, "startColumn": column, "endLine": line, "endColumn": column + 13}
    assert result["properties"] == {"cell": 7, "cellLine": 6, "cellColumn": 9}
    main(["check", "--format", "github", "fixtures/notebooks/fastai_cnn.ipynb"])
    assert capsys.readouterr().out.startswith(
        f"::error file=fixtures/notebooks/fastai_cnn.ipynb,line={line},col={column},endLine={line},"
        f"endColumn={column + 13},title=CL001 channel-mismatch (cell 7%2C line 6)::Conv2d expects 32"
    )


def test_summary_of_a_notebook_names_cells(capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    assert main(["summary", "fixtures/notebooks/fastai_cnn.ipynb", "--model", "get_cnn_model"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == ("fixtures/notebooks/fastai_cnn.ipynb::get_cnn_model (line 1 of cell 7) — input 784, from a "
                      "tensor of shape 64×784 passed to it on line 2 of cell 9")
    assert out[3].split() == ["1", "9", "of", "cell", "5", "0", "x.view(-1,", "1,", "28,", "28)", "1×28×28", "?", "0", "784"]
    assert ("error: line 6 of cell 7: CL001 [channel-mismatch] Conv2d expects 32 input channels but receives 16 "
            "(out_channels of the Conv2d on line 5 of cell 7)") in out


# --------------------------------------------------------------------------- IPython syntax


def test_magics_shell_and_help_lines_become_pass_and_keep_the_line_count():
    cell = [
        "%matplotlib inline\n",
        "!pip install torch \\\n",
        "    torchvision\n",
        "files = !ls data\n",
        "model?\n",
        "??nn.Conv2d\n",
        "for i in range(3):\n",
        "    %time step(i)\n",
        "x = (a\n",
        "     % b)\n",  # inside brackets: Python's modulo, kept
        's = """\n',
        "!not a shell line inside a string\n",
        '"""\n',
        "y = 1  # why?",
    ]
    assert python_lines(cell) == [
        "pass\n", "pass\n", "\n", "pass\n", "pass\n", "pass\n", "for i in range(3):\n", "    pass\n",
        "x = (a\n", "     % b)\n", 's = """\n', "!not a shell line inside a string\n", '"""\n', "y = 1  # why?",
    ]


def test_cell_magics_blank_foreign_cells_and_keep_python_ones():
    assert python_lines(["%%bash\n", "ls -l\n", "if [ -f x ]; then echo; fi"]) == ["\n", "\n", ""]
    assert python_lines(["%%time\n", "model = make()\n"]) == ["\n", "model = make()\n"]


# --------------------------------------------------------------------------- invalid notebooks


@pytest.mark.parametrize(
    "content, message",
    [
        ('{"cells": [', "not a notebook: invalid JSON at line 1 column 12 (Expecting value)"),
        ('{"metadata": {}, "nbformat": 4}', 'not a notebook: no "cells" list (only nbformat 4 notebooks are read)'),
        ('[1, 2]', 'not a notebook: no "cells" list (only nbformat 4 notebooks are read)'),
        ('{"cells": [{"cell_type": "code", "metadata": {}}]}', 'not a notebook: code cell 1 has no "source" text'),
        ('{"cells": ["import torch"]}', "not a notebook: cell 1 is not an object"),
        ('{"cells": ' + "[" * 100_000 + "]" * 100_000 + "}", "not a notebook: the JSON nests too deeply"),
    ],
)
def test_an_invalid_notebook_is_an_unreadable_file_finding(tmp_path, capsys, content, message):
    path = tmp_path / "broken.ipynb"
    path.write_text(content)
    assert main(["check", str(path)]) == 1
    assert capsys.readouterr().out.splitlines() == [
        f"{path}:1:1: CL901 [unreadable-file] {message}", "Found 1 finding (1 error; 1 file checked).",
    ]


def test_a_notebook_that_is_not_utf8_is_unreadable(tmp_path, capsys):
    path = tmp_path / "latin.ipynb"
    path.write_bytes(b'{"cells": [], "x": "\xe9"}')
    assert main(["check", str(path)]) == 1
    assert "CL901 [unreadable-file] cannot decode the notebook as UTF-8" in capsys.readouterr().out


def test_a_notebook_of_another_language_has_nothing_to_check(tmp_path, capsys):
    notebook = new_notebook(cells=[new_code_cell("conv <- nn$Conv2d(3, 16, 3)\nnn.Conv2d(32, 64, 3)")],
                            metadata={"kernelspec": {"name": "ir", "language": "R", "display_name": "R"}})
    nbformat.write(notebook, tmp_path / "r.ipynb")
    assert main(["check", str(tmp_path / "r.ipynb")]) == 0
    assert capsys.readouterr().out == "No findings (1 file checked).\n"


def test_summary_of_an_invalid_notebook_says_why(tmp_path, capsys):
    path = tmp_path / "broken.ipynb"
    path.write_text('{"cells": 3, "torch": 1}')
    assert main(["summary", str(path)]) == 2  # nothing to summarise: a usage error, as for any file without models
    captured = capsys.readouterr()
    assert captured.err == (f'convlint: {path}: not a notebook: no "cells" list (only nbformat 4 notebooks are read)\n'
                            f"convlint: error: no models found in {path}\n")


# --------------------------------------------------------------------------- --fix and --diff

MODEL_CELL = (
    "# convlint: input=3x32x32\n"
    "model = nn.Sequential(\n"
    "    nn.Conv2d(3, 16, 3, padding=1),  # stem\n"
    "    nn.ReLU(),\n"
    "    nn.Conv2d(32, 64, 3),\n"
    ")"
)


def fixable_notebook(path: Path) -> None:
    notebook = new_notebook(
        cells=[
            new_markdown_cell("# A small model — with non-ASCII text"),
            new_code_cell("%matplotlib inline\nimport torch\nimport torch.nn as nn", execution_count=1),
            new_code_cell(MODEL_CELL, execution_count=2,
                          outputs=[new_output("execute_result", {"text/plain": "Sequential(...)"}, execution_count=2)]),
            new_code_cell("out = model(torch.randn(2, 3, 32, 32))\nout.shape", execution_count=3),
        ],
        metadata={"kernelspec": {"name": "python3", "language": "python", "display_name": "Python 3"}},
    )
    nbformat.validate(notebook)
    nbformat.write(notebook, path)


def test_fix_edits_only_the_cells_source(tmp_path, capsys):
    path = tmp_path / "model.ipynb"
    fixable_notebook(path)
    before_text = path.read_text(encoding="utf-8")
    before = json.loads(before_text)
    assert main(["check", "--fix", str(path)]) == 0
    assert capsys.readouterr().err == "Fixed 1 finding in 1 file.\n"
    after_text = path.read_text(encoding="utf-8")
    after = json.loads(after_text)
    assert "".join(after["cells"][2]["source"]) == MODEL_CELL.replace("nn.Conv2d(32, 64, 3)", "nn.Conv2d(16, 64, 3)")
    after["cells"][2]["source"] = before["cells"][2]["source"]
    assert after == before  # outputs, metadata and the other cells as they were
    nbformat.validate(nbformat.reads(after_text, as_version=4))
    # byte for byte: only the one JSON string of the changed line differs
    old_line = json.dumps("    nn.Conv2d(32, 64, 3),\n")
    new_line = json.dumps("    nn.Conv2d(16, 64, 3),\n")
    assert before_text.count(old_line) == 1 and after_text == before_text.replace(old_line, new_line)
    assert main(["check", "--diff", str(path)]) == 0  # nothing left to fix


def test_diff_of_a_notebook_is_per_cell_and_writes_nothing(tmp_path, capsys):
    path = tmp_path / "model.ipynb"
    fixable_notebook(path)
    before = path.read_bytes()
    assert main(["check", "--diff", str(path)]) == 1
    assert capsys.readouterr().out == (
        f"--- a/{path}:cell 2\n+++ b/{path}:cell 2\n@@ -2,5 +2,5 @@\n"
        " model = nn.Sequential(\n"
        "     nn.Conv2d(3, 16, 3, padding=1),  # stem\n"
        "     nn.ReLU(),\n"
        "-    nn.Conv2d(32, 64, 3),\n"
        "+    nn.Conv2d(16, 64, 3),\n"
        " )\n"
    )
    assert path.read_bytes() == before


def test_fix_of_a_cell_stored_as_one_string_keeps_the_rest(tmp_path):
    raw = ('{"cells":[{"cell_type":"code","metadata":{},"outputs":[],"execution_count":null,'
           '"source":"import torch\\nimport torch.nn as nn"},\n {"cell_type":"code","metadata":{"tags":["x"]},'
           '"outputs":[],"execution_count":null,"source":' + json.dumps(MODEL_CELL) + '}],'
           '"metadata":{},"nbformat":4,"nbformat_minor":5}')
    path = tmp_path / "compact.ipynb"
    path.write_text(raw)
    assert main(["check", "--fix", str(path)]) == 0
    fixed_source = MODEL_CELL.replace("nn.Conv2d(32, 64, 3)", "nn.Conv2d(16, 64, 3)")
    assert path.read_text() == raw.replace(json.dumps(MODEL_CELL), json.dumps(fixed_source))


def test_magics_survive_a_fix_in_their_cell(tmp_path):
    cell = "%matplotlib inline\nimport torch\nimport torch.nn as nn\n!ls\n" + MODEL_CELL
    path = tmp_path / "one.ipynb"
    nbformat.write(new_notebook(cells=[new_code_cell(cell)]), path)
    assert main(["check", "--fix", str(path)]) == 0
    [fixed] = json.loads(path.read_text())["cells"]
    assert "".join(fixed["source"]) == cell.replace("nn.Conv2d(32, 64, 3)", "nn.Conv2d(16, 64, 3)")


def test_notebook_on_stdin(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "convlint", "check", "-", "--stdin-filename", "course/fastai_cnn.ipynb"],
        input=FASTAI.read_bytes(), capture_output=True, cwd=tmp_path,
    )
    assert done.returncode == 1, done.stderr
    assert done.stdout.decode().splitlines()[0] == FASTAI_FINDING.replace("fixtures/notebooks/", "course/")


def test_module_lines_map_to_cells():
    notebook = read_notebook(FASTAI.read_bytes(), "nb.ipynb")
    assert notebook.python.decode().splitlines()[:5] == ["pass", "pass", "", "pass", "pass"]
    cell = notebook.cell_at(34)
    assert (cell.number, 34 - cell.first_line) == (7, 6)
    assert notebook.message("the Conv2d on line 33 and the one on line 999") == (
        "the Conv2d on line 5 of cell 7 and the one on line 999"
    )


def test_verify_skips_notebooks_and_says_so(capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    assert main(["verify", "fixtures/notebooks"]) == 0
    assert capsys.readouterr().out == (
        "fixtures/notebooks/fastai_cnn.ipynb: skipped: notebooks are not run (the static check reads them)\n"
    )


def test_summary_json_of_a_notebook_gives_cells(capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    assert main(["summary", "--format", "json", "fixtures/notebooks/fastai_cnn.ipynb", "--model", "get_cnn_model"]) == 0
    [model] = json.loads(capsys.readouterr().out)
    assert (model["cell"], model["line"]) == (7, 1)
    assert [(row["cell"], row["line"], row["kind"]) for row in model["layers"][:3]] == [
        (5, 9, "view"), (6, 3, "Conv2d"), (6, 3, "ReLU"),
    ]
    assert {k: model["findings"][0][k] for k in ("cell", "line", "column", "code")} == {
        "cell": 7, "line": 6, "column": 9, "code": "CL001"}


@pytest.mark.parametrize("ensure_ascii", [False, True], ids=["utf8", "escaped"])
def test_positions_in_the_file_count_json_escapes(tmp_path, ensure_ascii):
    line = 's = "é\\t"; m = nn.Sequential(nn.Conv2d(3, 16, 3), nn.Conv2d(32, 8, 3))\n'
    notebook = new_notebook(cells=[new_code_cell(["import torch.nn as nn\n", "# convlint: input=3x16x16\n", line])])
    path = tmp_path / "escapes.ipynb"
    path.write_text(json.dumps(notebook, indent=1, ensure_ascii=ensure_ascii))
    text = path.read_text()
    [finding] = lint_paths([str(path)], DEFAULT).findings
    assert (finding.cell, finding.span.line, finding.span.column) == (1, 3, line.index("nn.Conv2d(32") + 1)
    offset = text.index("nn.Conv2d(32")
    row = text.count("\n", 0, offset) + 1
    column = offset - text.rfind("\n", 0, offset)
    assert (finding.file_span.line, finding.file_span.column) == (row, column)
    assert finding.file_span.end_column - finding.file_span.column == len("nn.Conv2d(32, 8, 3)")


def test_summary_of_a_folder_includes_its_notebooks(tmp_path, capsys):
    (tmp_path / "lesson.ipynb").write_bytes(FASTAI.read_bytes())
    (tmp_path / "stem.py").write_text((ROOT / "fixtures" / "nin_stem.py").read_text())
    assert main(["summary", str(tmp_path), "--no-advice"]) == 0
    titles = [line.split(" — ")[0] for line in capsys.readouterr().out.splitlines() if "::" in line]
    assert f"{tmp_path}/lesson.ipynb::get_cnn_model (line 1 of cell 7)" in titles
    assert f"{tmp_path}/stem.py::stem (line 6)" in titles
