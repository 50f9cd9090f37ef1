"""Differential tests: convlint's static shape engine against PyTorch itself.

Hypothesis generates random CNNs *as Python source* (``tests/modelgen.py``):
``import torch.nn as nn``, a ``# convlint: input=...`` directive and one
``nn.Sequential`` with one layer per line -- Conv1d/2d/3d, ConvTranspose,
Max/Avg pooling (ceil_mode, padding, dilation), adaptive pooling, BatchNorm,
ReLU, Flatten, Linear (right and wrong ``in_features``), Upsample,
PixelShuffle -- about 80% chained correctly, 20% with one injected fault.

The oracle executes that source in PyTorch (batch 2, CPU, no_grad) with
hooks on every layer, recording each layer's input/output shape, or which
layer raised (at construction or in forward).  Two torch behaviours are also
counted as "torch rejects this layer": a layer that only accepts its input
by reading the batch dimension as channels (unbatched inputs), and a layer
that silently produces an empty tensor.

Properties:

* every layer torch ran has a static step on its line with the same kind and
  the same (fully known, integer) input and output shapes, and no
  error-level finding on its line; when the whole model runs, convlint
  reports no error at all;
* when torch rejects a layer, convlint reports an error on that layer's line;
* (2-d) ``dropped-pixels`` is reported on a Conv2d/MaxPool2d/AvgPool2d exactly
  when torch shows trailing rows/columns of real input that no window reads
  (ignoring axes whose window is smaller than the stride), and its message
  states those counts.

Profiles (tests/conftest.py): ``ci`` (default, 1,000 examples per property)
and ``long`` (``--hypothesis-profile=long``, 20,000).

Fixed examples: ``REGRESSIONS`` (known edge cases, must agree) and
``KNOWN_DISAGREEMENTS`` (minimal sources of disagreements this suite found;
strict xfail until convlint is fixed -- then drop them into ``REGRESSIONS``).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from hypothesis import event, given, note, settings

torch = pytest.importorskip("torch")
torch.set_num_threads(1)

sys.path.insert(0, str(Path(__file__).resolve().parent))
import modelgen as mg  # noqa: E402

try:  # the static side; until it imports, the properties only exercise generator + oracle
    from convlint.engine import analyze_source
except Exception as _exc:  # noqa: BLE001
    analyze_source = None
    ENGINE_IMPORT_ERROR = _exc
else:
    ENGINE_IMPORT_ERROR = None

PATH = "generated_model.py"
DROPPED = "dropped-pixels"


# --------------------------------------------------------------------------- #
# Comparison helpers
# --------------------------------------------------------------------------- #


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _concrete(shape):
    """The shape as a tuple of ints, or None if it is unknown / not fully integer."""
    if shape is None:
        return None
    shape = tuple(shape)
    return shape if all(_is_int(v) for v in shape) else None


def _fmt_findings(findings) -> str:
    if not findings:
        return "no findings"
    return "; ".join(f"line {f.span.line} {f.severity} {f.name}: {f.message}" for f in findings)


def _model_steps(analysis, problems):
    models = [m for m in analysis.models if m.name == "model"]
    if len(models) != 1:
        problems.append(("no model", f"expected exactly one model named 'model', got {[m.name for m in analysis.models]}"))
        return {}
    by_line = {}
    for step in models[0].steps:
        by_line.setdefault(step.line, []).append(step)
    return by_line


def _error_gist(error: str | None) -> str:
    """The stable part of a torch error message (numbers dropped), to group disagreements."""
    return re.sub(r"[\d\[\]()x,.: ]+", " ", (error or "").split(":", 1)[-1])[:60].strip()


def _deliberate(finding) -> bool:
    """An error convlint reports on purpose where torch runs silently: a Linear applied to the
    last axis of a conv feature map (nearly always a missing Flatten)."""
    return finding.name == "misplaced-flatten" and "with no Flatten in between" in finding.message


def static_vs_torch(spec: mg.ModelSpec, outcome: mg.TorchOutcome, analysis) -> list[tuple[str, str]]:
    """Every way convlint's answer differs from torch's, as (kind, text); empty: they agree."""
    problems = []
    errors = [f for f in analysis.findings if f.severity == "error"]
    error_lines = {f.span.line for f in errors}
    steps = _model_steps(analysis, problems)
    for i, layer in enumerate(spec.layers):
        want_out = outcome.out_shapes[i]
        if want_out is None:  # torch did not get past this layer
            continue
        line = spec.line_of(i)
        here = steps.get(line, [])
        if len(here) != 1:
            problems.append((f"steps {layer.kind}", f"line {line} {layer.kind}: torch ran it; convlint has {len(here)} steps on this line"))
        else:
            step = here[0]
            if step.kind != layer.kind:
                problems.append((f"kind {layer.kind}", f"line {line}: step kind {step.kind!r}, the layer is {layer.kind}"))
            want_in = outcome.in_shapes[i]
            got_in, got_out = _concrete(step.in_shape), _concrete(step.out_shape)
            if got_in != want_in:
                problems.append((f"in_shape {layer.kind}", f"line {line} {layer.kind}: input torch {want_in}, convlint {step.in_shape}"))
            if want_out == mg.NON_TENSOR:
                pass  # torch's output is a tuple (return_indices=True): the next layer must reject it
            elif got_out != want_out:
                problems.append((
                    f"out_shape {layer.kind}",
                    f"line {line} {layer.kind}: output torch {want_out}, convlint {step.out_shape} "
                    f"(input torch {want_in}, convlint {step.in_shape})",
                ))
        here_errors = [f for f in errors if f.span.line == line and not _deliberate(f)]
        if here_errors:
            problems.append((
                f"false error {here_errors[0].name} on {layer.kind}",
                f"line {line} {layer.kind}: torch runs it fine, convlint reports an error: " + _fmt_findings(here_errors),
            ))
    if outcome.ran:
        stray = [f for f in errors if f.span.line not in {spec.line_of(i) for i in range(len(spec.layers))}]
        if stray:
            problems.append((f"false error {stray[0].name}", "torch runs the model, convlint reports errors: " + _fmt_findings(stray)))
    else:
        line = spec.line_of(outcome.raised_at)
        if line not in error_lines:
            layer = spec.layers[outcome.raised_at]
            problems.append((
                f"missed error {layer.kind} {outcome.phase}: {_error_gist(outcome.error)}",
                f"line {line} {layer.kind}: torch rejects it ({outcome.phase}: {outcome.error}); "
                f"input torch {outcome.in_shapes[outcome.raised_at]}; convlint reports no error there "
                f"({_fmt_findings(analysis.findings)})",
            ))
    return problems


_WINDOWED = re.compile(r"(Conv|MaxPool|AvgPool)[123]d$")
_STATED = re.compile(r"the last (.+?) of (?:the|its)\b")
_COUNT = re.compile(r"(\d+) (row|column)s?\b")


def stated_drops(message: str) -> dict[str, int]:
    """{'row': n, 'column': m} as a dropped-pixels message states them."""
    m = _STATED.search(message)
    if not m:
        return {}
    return {word: int(n) for n, word in _COUNT.findall(m.group(1))}


def dropped_vs_torch(spec: mg.ModelSpec, outcome: mg.TorchOutcome, analysis) -> list[tuple[str, str]]:
    problems = []
    if spec.ndim != 2:
        return problems
    reports = {}
    for f in analysis.findings:
        if f.name == DROPPED:
            reports.setdefault(f.span.line, []).append(f)
    for i, module in enumerate(outcome.modules):
        line = spec.line_of(i)
        kind = type(module).__name__
        found = reports.get(line, [])
        if outcome.out_shapes[i] is None:
            continue
        if kind not in mg.DROP_KINDS or outcome.in_shapes[i] == mg.NON_TENSOR or len(outcome.in_shapes[i]) != 3:
            if found and not _WINDOWED.match(kind):  # (1-d / 3-d windows are not measured here)
                problems.append((f"dropped on {kind}", f"line {line} {kind}: reads every pixel, convlint says {_fmt_findings(found)}"))
            continue
        rows, cols = mg.expected_dropped(module, outcome.in_shapes[i])
        want = {k: v for k, v in (("row", rows), ("column", cols)) if v}
        if want and not found:
            problems.append((
                f"dropped missed {kind}",
                f"line {line} {kind} on input {outcome.in_shapes[i]}: torch never reads the last "
                f"{rows} rows / {cols} columns, convlint reports no {DROPPED}",
            ))
        elif found and not want:
            raw = mg.unread_trailing(module, outcome.in_shapes[i])
            problems.append((
                f"dropped false {kind}",
                f"line {line} {kind} on input {outcome.in_shapes[i]}: torch reads every trailing pixel "
                f"(unread rows/cols {raw}, window/stride {mg.window_and_stride(module)}), "
                f"convlint says {_fmt_findings(found)}",
            ))
        elif found:
            stated = stated_drops(found[0].message)
            if stated != want:
                problems.append((
                    f"dropped count {kind}",
                    f"line {line} {kind} on input {outcome.in_shapes[i]}: torch never reads the last "
                    f"{rows} rows / {cols} columns, convlint states {stated}: {found[0].message}",
                ))
    return problems


def _check(spec: mg.ModelSpec, *, dropped: bool) -> None:
    note(spec.source)
    outcome = mg.run_torch(spec)
    event(outcome.category)
    if outcome.phase is not None:
        event(f"torch rejects: {outcome.phase}")
    if analyze_source is None:
        return  # engine not importable yet: generator and oracle still run
    analysis = analyze_source(spec.source, PATH)
    problems = static_vs_torch(spec, outcome, analysis)
    if dropped:
        problems += dropped_vs_torch(spec, outcome, analysis)
    assert not problems, "convlint disagrees with torch on\n" + spec.source + "\n" + "\n".join(t for _, t in problems)


# --------------------------------------------------------------------------- #
# The properties
# --------------------------------------------------------------------------- #


@given(spec=mg.model_specs())
def test_static_shapes_and_errors_match_torch(spec):
    _check(spec, dropped=False)


@given(spec=mg.model_specs(ndims=(2,), weights=mg.POOLING_WEIGHTS, fault_percent=0))
def test_dropped_pixels_match_torch(spec):
    _check(spec, dropped=True)


def test_engine_is_importable():
    assert ENGINE_IMPORT_ERROR is None, f"convlint.engine does not import: {ENGINE_IMPORT_ERROR!r}"


# --------------------------------------------------------------------------- #
# The generator and the oracle themselves
# --------------------------------------------------------------------------- #


def test_generator_is_mostly_valid_and_faults_are_real():
    """~80% of generated models run in torch; the generator's intent matches torch."""
    seen = []

    @settings(max_examples=200, derandomize=True, database=None)
    @given(spec=mg.model_specs())
    def collect(spec):
        seen.append((spec, mg.run_torch(spec)))

    collect()
    runs = sum(o.ran for _, o in seen) / len(seen)
    valid = [(s, o) for s, o in seen if s.fault is None]
    valid_ran = sum(o.ran for _, o in valid) / len(valid)
    faulty = [(s, o) for s, o in seen if s.fault is not None]
    faulty_raised = sum(not o.ran for _, o in faulty) / max(1, len(faulty))
    assert 0.65 <= runs <= 0.92, runs
    assert valid_ran >= 0.97, [s.source for s, o in valid if not o.ran][:3]
    assert faulty_raised >= 0.9, [s.source for s, o in faulty if o.ran][:3]


def test_oracle_locates_construction_and_forward_errors():
    spec = mg.spec_from_source_layers(
        (3, 8, 8), ["nn.Conv2d(3, 4, 3)", "nn.ReLU()", "nn.Conv2d(4, 6, 3, groups=4)", "nn.ReLU()"]
    )
    out = mg.run_torch(spec)
    assert (out.raised_at, out.phase) == (2, "construct")
    assert out.out_shapes[:2] == [(4, 6, 6), (4, 6, 6)]  # the prefix still ran
    spec = mg.spec_from_source_layers((3, 8, 8), ["nn.Conv2d(3, 4, 3)", "nn.Conv2d(5, 6, 3)", "nn.ReLU()"])
    out = mg.run_torch(spec)
    assert (out.raised_at, out.phase) == (1, "forward")
    spec = mg.spec_from_source_layers((3, 8), ["nn.Flatten()", "nn.MaxPool1d(2)"])
    out = mg.run_torch(spec)  # torch would pool over the batch-as-channels: counted as a rejection
    assert (out.raised_at, out.phase) == (1, "misread")
    spec = mg.spec_from_source_layers((3, 1, 5), ["nn.ConvTranspose2d(3, 4, 2, padding=1)"])
    out = mg.run_torch(spec)
    assert (out.raised_at, out.phase) == (0, "empty")
    spec = mg.spec_from_source_layers((3, 4, 4), ["nn.MaxPool2d(2, return_indices=True)", "nn.ReLU()"])
    out = mg.run_torch(spec)  # a tuple output: the layer after it is the one torch rejects
    assert (out.raised_at, out.phase, out.out_shapes[0]) == (1, "forward", mg.NON_TENSOR)


def test_dropped_pixel_measurement():
    conv = torch.nn.Conv2d(3, 8, 3, stride=2)
    assert mg.unread_trailing(conv, (3, 8, 8)) == (1, 1)  # windows cover rows 0..6
    assert mg.unread_trailing(torch.nn.MaxPool2d(2), (3, 7, 6)) == (1, 0)
    assert mg.unread_trailing(torch.nn.MaxPool2d(2, ceil_mode=True), (3, 7, 7)) == (0, 0)
    assert mg.unread_trailing(torch.nn.AvgPool2d(3, 2, padding=1), (3, 8, 9)) == (0, 0)
    assert mg.unread_trailing(torch.nn.AvgPool2d((2, 4), (2, 3)), (1, 5, 9)) == (1, 2)
    assert mg.unread_trailing(torch.nn.MaxPool2d(2, 3, dilation=2), (1, 7, 8)) == (1, 2)
    # a 1x1 stride-2 window skips pixels by design: measured, but not expected to be reported
    assert mg.unread_trailing(torch.nn.Conv2d(1, 1, 1, stride=2), (1, 6, 6)) == (1, 1)
    assert mg.expected_dropped(torch.nn.Conv2d(1, 1, 1, stride=2), (1, 6, 6)) == (0, 0)
    # so does a 3x3 window of dilation 2 and stride 2 (selective-kernel's dilated path): it reads even rows only
    dilated = torch.nn.Conv2d(1, 1, 3, stride=2, padding=2, dilation=2)
    assert mg.unread_trailing(dilated, (1, 56, 56)) == (1, 1)
    assert mg.expected_dropped(dilated, (1, 56, 56)) == (0, 0)
    # each axis is measured on its own: here no row is read at all, yet every column is
    dilated = torch.nn.Conv2d(1, 1, (2, 1), padding="same", dilation=(2, 1))
    assert mg.unread_trailing(dilated, (1, 1, 1)) == (1, 0)
    # reflect padding reads real pixels through the padding
    assert mg.unread_trailing(torch.nn.Conv2d(1, 1, 2, stride=2, padding=1, padding_mode="reflect"), (1, 5, 5)) == (0, 0)
    assert stated_drops("floored to 1: the last 1 column of its 2×3 input are never read") == {"column": 1}
    assert stated_drops("(8 + 2·0 − 3)/2 + 1 = 3.5, floored to 3: the last 1 row and 2 columns of the 8×9 input") == {
        "row": 1,
        "column": 2,
    }


# --------------------------------------------------------------------------- #
# Fixed regression examples (known edge cases, and disagreements found)
# --------------------------------------------------------------------------- #

# name -> (input shape, layers, what torch says: list of output shapes, or ("raises", index))
REGRESSIONS = {
    # ceil_mode: the last window must start inside the input or the left padding
    "ceil_mode_last_window_dropped": ((3, 5, 5), ["nn.MaxPool2d(2, 2, padding=1, ceil_mode=True)"], [(3, 3, 3)]),
    "ceil_mode_last_window_kept": ((3, 6, 6), ["nn.MaxPool2d(3, 2, padding=1, ceil_mode=True)"], [(3, 4, 4)]),
    "ceil_mode_avgpool_partial_window": ((3, 7, 7), ["nn.AvgPool2d(2, ceil_mode=True)"], [(3, 4, 4)]),
    "ceil_mode_1d": ((2, 10), ["nn.MaxPool1d(4, 3, padding=2, ceil_mode=True)"], [(2, 4)]),
    "ceil_mode_stride_gt_kernel": ((3, 4, 4), ["nn.MaxPool2d(2, 3, padding=1, ceil_mode=True)"], [(3, 2, 2)]),
    "ceil_mode_kernel_larger_than_input": ((3, 5, 5), ["nn.MaxPool2d(6, ceil_mode=True)"], [(3, 1, 1)]),
    "ceil_mode_kernel_larger_stride_1": ((3, 5, 5), ["nn.MaxPool2d(6, stride=1, ceil_mode=True)"], ("raises", 0)),
    # 'same' with an even kernel pads asymmetrically (extra on the right/bottom)
    "same_even_kernel": ((3, 7, 6), ["nn.Conv2d(3, 4, 4, padding='same')"], [(4, 7, 6)]),
    "same_even_kernel_dilated": ((3, 5, 5), ["nn.Conv2d(3, 4, (2, 4), padding='same', dilation=2)"], [(4, 5, 5)]),
    "same_strided_rejected": ((3, 8, 8), ["nn.Conv2d(3, 4, 3, stride=2, padding='same')"], ("raises", 0)),
    # ConvTranspose output_padding: must be < stride or < dilation
    "convT_output_padding": (
        (3, 5, 5),
        ["nn.ConvTranspose2d(3, 4, 3, stride=2, padding=1, output_padding=1)"],
        [(4, 10, 10)],
    ),
    "convT_output_padding_via_dilation": (
        (3, 3, 10),
        ["nn.ConvTranspose2d(3, 4, 3, stride=1, output_padding=1, dilation=2)"],
        [(4, 8, 15)],
    ),
    "convT_output_padding_too_big": (
        (3, 5, 5),
        ["nn.ConvTranspose2d(3, 4, 3, stride=2, output_padding=2)"],
        ("raises", 0),
    ),
    "convT_positional_dilation": (  # dilation comes after groups and bias positionally
        (2, 4, 4),
        ["nn.ConvTranspose2d(2, 2, 3, 1, 0, 0, 1, True, 2)"],
        [(2, 8, 8)],
    ),
    # PixelShuffle
    "pixel_shuffle": ((8, 3, 5), ["nn.PixelShuffle(2)"], [(2, 6, 10)]),
    "pixel_shuffle_after_conv": ((3, 4, 4), ["nn.Conv2d(3, 18, 1)", "nn.PixelShuffle(3)"], [(18, 4, 4), (2, 12, 12)]),
    "pixel_shuffle_bad_channels": ((6, 3, 3), ["nn.PixelShuffle(2)"], ("raises", 0)),
    # dropped pixels
    "dropped_conv_stride": ((3, 8, 8), ["nn.Conv2d(3, 8, 3, stride=2)"], [(8, 3, 3)]),
    "dropped_maxpool_odd": ((3, 7, 6), ["nn.MaxPool2d(2)"], [(3, 3, 3)]),
    "dropped_1x1_stride2_by_design": ((3, 7, 7), ["nn.Conv2d(3, 3, 1, stride=2)"], [(3, 4, 4)]),
    # found by this suite and fixed:
    # torch applies Linear to the last axis of a 4-d tensor; convlint reports an *error* (misplaced-flatten)
    "linear_on_feature_map_runs_in_torch": (
        (3, 4, 4),
        ["nn.Conv2d(3, 8, 3)", "nn.Linear(2, 5)"],
        [(8, 2, 2), (8, 2, 5)],
    ),
    # 1-d adaptive pools do not accept None in output_size (2-d/3-d do); convlint keeps the size
    "adaptive_avg_pool1d_none_tuple": ((1, 16), ["nn.AdaptiveAvgPool1d((None,))"], ("raises", 0)),
    "adaptive_max_pool1d_none_tuple": ((1, 16), ["nn.AdaptiveMaxPool1d((None,))"], ("raises", 0)),
    # avg_pool3d (only it) requires the *unpadded* input to be >= kernel_size
    "avg_pool3d_unpadded_input_smaller_than_kernel": (
        (1, 2, 2, 2),
        ["nn.AvgPool3d(3, stride=1, padding=1)"],
        ("raises", 0),
    ),
    # internal-error (IndexError in spatial_collapse -> Context.smallest_input) once Flatten(2) changed the rank
    "crash_collapse_after_flatten_start_dim_2": ((1, 1, 2), ["nn.Flatten(2)", "nn.Conv1d(1, 1, 3)"], ("raises", 1)),
    # dilated windows: the last window's last tap lands in the padding, the real last row/column sits
    # between two taps and is never read (torch: 1 row, 1 column); convlint reports nothing
    "dropped_pixels_dilation_hole_at_edge": (
        (1, 8, 8),
        ["nn.Conv2d(1, 1, 3, stride=3, padding=2, dilation=2)"],
        [(1, 3, 3)],
    ),
    "dropped_pixels_dilated_maxpool": ((1, 3, 3), ["nn.MaxPool2d(2, 2, 1, 2)"], [(1, 2, 2)]),
    # taps of dilation 2 at stride 2 read even rows only (selective-kernel's dilated 3x3 path, timm's
    # sknet at 224): the last row unread with all the odd ones is no edge loss; convlint reports nothing
    "dropped_pixels_dilation_sharing_the_stride": (
        (1, 56, 56),
        ["nn.Conv2d(1, 1, 3, stride=2, padding=2, dilation=2)"],
        [(1, 28, 28)],
    ),
    # return_indices=True makes the pool return a tuple: the next layer in the Sequential raises
    "maxpool_return_indices_in_sequential": (
        (3, 5, 5),
        ["nn.MaxPool2d(2, return_indices=True)", "nn.ReLU()"],
        ("raises", 1),
    ),
}


# Disagreements this suite found (minimal sources). Each is a strict xfail: once convlint is fixed
# the test XPASSes, fails, and the marker should be dropped (the example then stays a regression test).
KNOWN_DISAGREEMENTS: dict = {}  # none open: every disagreement found so far is fixed and in REGRESSIONS


def _regression_params(xfail_known: bool):
    params = [pytest.param(name, REGRESSIONS[name], id=name) for name in sorted(REGRESSIONS)]
    for name in sorted(KNOWN_DISAGREEMENTS):
        marks = [pytest.mark.xfail(strict=True, reason="known convlint/torch disagreement")] if xfail_known else []
        params.append(pytest.param(name, KNOWN_DISAGREEMENTS[name], id=name, marks=marks))
    return params


@pytest.mark.parametrize(("name", "example"), _regression_params(xfail_known=False))
def test_regression_example_torch_facts(name, example):
    """The oracle says what each fixed example documents."""
    input_shape, exprs, torch_says = example
    outcome = mg.run_torch(mg.spec_from_source_layers(input_shape, exprs))
    if isinstance(torch_says, tuple):
        assert outcome.raised_at == torch_says[1], outcome
    else:
        assert outcome.ran and outcome.out_shapes == torch_says, outcome


@pytest.mark.parametrize(("name", "example"), _regression_params(xfail_known=True))
def test_regression_example(name, example):
    input_shape, exprs, _ = example
    if analyze_source is None:
        pytest.skip(f"convlint.engine does not import: {ENGINE_IMPORT_ERROR!r}")
    spec = mg.spec_from_source_layers(input_shape, exprs)
    outcome = mg.run_torch(spec)
    analysis = analyze_source(spec.source, PATH)
    problems = static_vs_torch(spec, outcome, analysis) + dropped_vs_torch(spec, outcome, analysis)
    assert not problems, spec.source + "\n" + "\n".join(t for _, t in problems)
