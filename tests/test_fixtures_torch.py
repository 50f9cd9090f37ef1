"""The fixtures' models run under torch: where convlint knows a model's output shape, torch
computes the same one; where convlint reports an error, torch raises."""

from __future__ import annotations

import ast
import importlib.util
import sys
import warnings
from pathlib import Path

import pytest

from convlint.engine import analyze_source, lint_source
from convlint.sizing import accepts

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"

# fixture -> model -> the output shape torch computes (batch excluded), or "raises"
RUNS = {
    "modern_builders.py": {
        "StagedNet": (10,),
        "ForgetfulStagedNet": "raises",
        "namespace_net": (5,),
        "namespace_net_wrong": "raises",
        "partial_norm_wrong": "raises",
    },
    "nested_builders.py": {
        "UnetGenerator": (3, 64, 64),
        "UnetWithoutSkipWidth": "raises",
        "classifier_small": (1000,),
        "classifier_small_fixed_head": "raises",
        "FiveWayClassifier": (5,),
    },
    "layer_subclasses.py": {"SubclassNet": (10,), "WrongNormWidth": "raises"},
    "undecided_modules.py": {"stochastic_net": (10,), "stochastic_net_wrong_head": "raises"},
}


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"fixture_{Path(name).stem}", FIXTURES / name)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("fixture, model", [(f, m) for f, models in RUNS.items() for m in models])
def test_static_result_is_what_torch_does(fixture, model):
    torch = pytest.importorskip("torch")
    expected = RUNS[fixture][model]
    analysis = analyze_source((FIXTURES / fixture).read_bytes(), str(FIXTURES / fixture), details=True)
    view = next(m for m in analysis.models if m.name == model and not m.training)
    value = getattr(_load(fixture), model)
    module = value if isinstance(value, torch.nn.Module) else value()
    try:
        with torch.no_grad():
            result = tuple(module.eval()(torch.zeros(2, *view.input_shape)).shape[1:])
    except Exception:  # noqa: BLE001 - any rejection
        result = "raises"
    assert result == expected
    lines = {s.line for s in view.steps}
    if expected == "raises":
        assert any(f.severity == "error" and f.span.line in lines for f in analysis.findings), model
    else:  # its own run: nothing rejected, channels chain, every shape known (lines may be shared)
        assert accepts([s.step for s in view.steps]) and view.steps[-1].out_shape == expected


# fixture -> model -> what torch does when it builds it: "builds", "raises", or "warns" (a zero-size layer)
BUILDS = {
    "instance_configs.py": {"GoodNet": "builds", "BadGroups": "raises", "BadReduction": "warns", "BadStageCfg": "raises",
                            "BadStageList": "raises"},
}


@pytest.mark.parametrize("fixture, model", [(f, m) for f, models in BUILDS.items() for m in models])
def test_construction_findings_are_what_torch_does(fixture, model):
    pytest.importorskip("torch")
    expected = BUILDS[fixture][model]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            getattr(_load(fixture), model)()
            result = "warns" if any("zero-element" in str(w.message) for w in caught) else "builds"
        except Exception:  # noqa: BLE001 - any rejection
            result = "raises"
    assert result == expected
    # the model's findings: on a line of its class, or naming one (the instance that supplied the values)
    node = next(n for n in ast.parse((FIXTURES / fixture).read_text()).body if getattr(n, "name", None) == model)
    own = range(node.lineno, node.end_lineno + 1)
    reported = [f for f in lint_source((FIXTURES / fixture).read_bytes(), str(FIXTURES / fixture))
                if f.name == "invalid-layer-config" and (f.span.line in own or any(f"line {n}" in f.message for n in own))]
    assert bool(reported) == (expected != "builds"), model


def test_modules_an_undecided_branch_chose_are_followed_both_ways():
    """`StochasticDepth(rate) if rate > 0. else nn.Identity()` with the rate read off a tensor
    schedule: both keep the shape, so what follows is known (torch 2.13: output (N, 10), 2,314
    parameters; 115,440 MACs: 24·8·8·48 + 3·24·8·8·9 + 240). A choice between a widening conv and
    an Identity leaves the width unknown (the head's 10 outputs are what it gives if it runs): torch
    raises there (mat1 and mat2 shapes cannot be multiplied (2x8 and 16x10): the rate is 0.0),
    convlint says nothing, and the conv that may not exist is in neither total (torch: 170 parameters)."""
    from convlint.summary import summarize_source, to_json

    source = (FIXTURES / "undecided_modules.py").read_bytes()
    table = to_json(summarize_source(source, "undecided_modules.py", None, "stochastic_net"))[0]
    assert (table["output_shape"], table["params"], table["params_at_least"], table["macs"]) == ([10], None, 2314, 115440)
    assert [(r["path"], r["kind"]) for r in table["layers"]][3:7] == \
        [("blocks.0.scale", "Identity"), ("blocks.0.drop", "Identity"), ("blocks.0", "join"), ("blocks.0", "elementwise")]
    widen = to_json(summarize_source(source, "undecided_modules.py", None, "widen"))[0]
    assert (widen["output_shape"], widen["params_at_least"], widen["macs"]) == ([10], 170, None)
    assert [r["path"] for r in widen["macs_unknown_layers"]] == ["body"]
    assert [f for f in lint_source(source, "undecided_modules.py") if f.line >= 70] == []
