"""The single-file paths stay fast (issues 1, 2 and 5; timed by tools/bench.py, not here): what
`convlint check FILE` imports, and siblings run only as far as their names need."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import ast

from convlint import extract, slices
from convlint.engine import analyze_source

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
sys.path.insert(0, str(ROOT / "tools"))

import lsp_bench  # noqa: E402 - tools/lsp_bench.py: its 500-line model file


def _run(code: str, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})}, cwd=ROOT)


def test_check_of_one_file_imports_nothing_it_does_not_need():
    code = (
        "import sys\n"
        "from convlint.cli import main\n"
        "main(['check', '--no-cache', sys.argv[1]])\n"
        "heavy = ('torch', 'numpy', 'pygls', 'lsprotocol', 'multiprocessing', 'concurrent.futures', 'asyncio',\n"
        "         'convlint.fix', 'convlint.summary', 'convlint.verify', 'convlint.lsp', 'fractions', 'difflib',\n"
        "         'libcst')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    run = _run(code, str(FIXTURES / "resnet_like.py"))
    assert run.stdout.strip().splitlines()[-1] == "[]", run.stderr


def test_version_imports_neither_the_configuration_nor_libcst():
    code = (
        "import sys\n"
        "from convlint.cli import main\n"
        "try:\n    main(['--version'])\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in ('libcst', 'convlint.config', 'tomllib', 'dataclasses') if m in sys.modules))\n"
    )
    run = _run(code)
    assert run.stdout.strip().splitlines()[-1] == "[]", run.stderr


def test_language_server_analysis_of_an_edit_matches_check(tmp_path):
    from convlint import lsp

    path = tmp_path / "vision_models.py"
    source = lsp_bench.MODEL_FILE
    path.write_text(source, encoding="utf-8")
    lsp.analyze(source, str(path))
    edited = source.replace("nn.Linear(256, num_classes),", "nn.Linear(255, num_classes),")
    found = lsp.analyze(edited, str(path))
    expected = analyze_source(edited, str(path) + "x").findings
    assert [(f.code, f.span, f.message) for f in found] == [(f.code, f.span, f.message) for f in expected]
    assert any(f.name == "channel-mismatch" and "receives 256" in f.message for f in found)


def _package(tmp_path: Path, helpers: str) -> Path:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "helpers.py").write_text(helpers)
    model = package / "model.py"
    model.write_text(textwrap.dedent("""\
        import torch.nn as nn
        from .helpers import WIDTHS, stem, log_usage

        # convlint: input=3x32x32
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                log_usage(self)
                self.stem = stem(WIDTHS[0])
                self.body = nn.Conv2d(WIDTHS[0], WIDTHS[1], 3, padding=1)
                self.head = nn.Conv2d(WIDTHS[2], 10, 1)

            def forward(self, x):
                return self.head(self.body(self.stem(x)))
        """))
    return model


HELPERS = textwrap.dedent('''\
    """Helpers: what the model needs, and a lot that it does not."""
    import torch
    import torch.nn as nn

    WIDTHS = [16]
    WIDTHS.append(32)  # a plain statement that changes a needed name
    WIDTHS += [48]


    def stem(width):
        return nn.Sequential(nn.Conv2d(3, width, 3, padding=1), nn.ReLU())


    def log_usage(obj):
        return None
    ''') + "".join(textwrap.dedent(f'''

    def unused_{i}(x):
        """Never called by the model."""
        table = {{"a": {i}, "b": [1, 2, 3], "c": "some text to make the file larger"}}
        return torch.zeros(x) + table["a"]
    ''') for i in range(40))


def test_a_sibling_is_parsed_only_as_far_as_the_model_needs(tmp_path):
    model = _package(tmp_path, HELPERS)
    assert len(HELPERS) > slices.MIN_BYTES
    extract.LOADED.clear()
    extract.PARTIAL.clear()
    found = analyze_source(model.read_bytes(), str(model)).findings
    # WIDTHS is [16, 32, 48]: the head expects 48 channels and receives 32
    assert [(f.name, f.line) for f in found] == [("channel-mismatch", 11)]
    plan, _ = extract.PARTIAL[str(model.parent / "helpers.py")]
    assert plan.taken == set(range(1, 8))  # two imports, three WIDTHS statements, stem, log_usage: no docstring, no unused_*
    extract.LOADED.clear()
    extract.PARTIAL.clear()
    original = slices.plan
    try:
        slices.plan = lambda tree, source: None  # the whole sibling, as before slicing
        whole = analyze_source(model.read_bytes(), str(model) + "").findings
    finally:
        slices.plan = original
        extract.LOADED.clear()
        extract.PARTIAL.clear()
    assert [(f.code, f.span, f.message) for f in whole] == [(f.code, f.span, f.message) for f in found]


def _text(stmts: list[ast.stmt]) -> str:
    return "\n".join(ast.unparse(stmt) for stmt in stmts)


def test_slices_take_more_as_more_names_are_asked_for():
    plan = slices.plan(ast.parse(HELPERS), HELPERS.encode())
    first = _text(plan.take("stem")[0])
    assert first.startswith("import torch\nimport torch.nn as nn\ndef stem(width):")
    assert "WIDTHS" not in first and "unused_" not in first
    second = _text(plan.take("WIDTHS")[0])
    assert second == "WIDTHS = [16]\nWIDTHS.append(32)\nWIDTHS += [48]"  # and not stem again: already taken
    assert plan.take("stem") == ([], {})
    rest = _text(plan.take(None)[0])
    assert rest.startswith("'Helpers: what the model needs, and a lot that it does not.'\ndef log_usage(obj):")
    assert "def unused_0" in rest and "def unused_39" in rest


def test_a_large_literal_is_evaluated_not_parsed(tmp_path):
    names = [f"class_{i}" for i in range(200)]
    helpers = HELPERS + f"\n\nCATEGORIES = {names!r}\nCONFIG = {{'widths': (8, 16), 'names': {names!r}, 'scale': -1.5}}\n"
    plan = slices.plan(ast.parse(helpers), helpers.encode())
    stmts, literals = plan.take("CATEGORIES")
    assert stmts == [] and literals == {"CATEGORIES": names}
    model = _package(tmp_path, helpers)
    model.write_text(model.read_text().replace("from .helpers import WIDTHS, stem, log_usage",
                                                "from .helpers import WIDTHS, stem, log_usage, CATEGORIES, CONFIG")
                     .replace("nn.Conv2d(WIDTHS[2], 10, 1)", "nn.Conv2d(CONFIG['widths'][1], len(CATEGORIES), 1)"))
    results = []
    for sliced in (True, False):
        extract.LOADED.clear()
        extract.PARTIAL.clear()
        original = slices.plan
        if not sliced:
            slices.plan = lambda tree, source: None
        try:
            analysis = analyze_source(model.read_bytes(), str(model))
        finally:
            slices.plan = original
        results.append(([(f.code, f.span, f.message) for f in analysis.findings],
                        [[(s.kind, s.out_shape) for s in m.steps] for m in analysis.models]))
    extract.LOADED.clear()
    extract.PARTIAL.clear()
    assert results[0] == results[1]
    assert results[0][1][0][-1] == ("Conv2d", (200, 32, 32))  # len(CATEGORIES) output channels
