"""`convlint summary`: per model, one row per layer step with its output shape, parameters,
receptive field, multiply-accumulates and activations; under it the totals, memory estimates,
the minimum input size and the input sizes that drop no real pixels. Static: no torch.

Choices where the issue is silent:
- parameters are those of torch's `model.parameters()`: every registered layer once (a layer
  applied twice shares its weights; the second application shows "shared"), called in forward
  or not. Registered layers that are not in the forward pass as convlint follows it (never
  called, or used where convlint cannot see, e.g. only their weights) are listed after the
  steps with "--" for their shapes, receptive field, MACs and activations, as torchinfo lists
  unused modules, and a note says how many; a layer held in a plain list, or built afresh inside
  forward, is not registered and not counted (the latter gets a note); nn.Parameter attributes
  of a size convlint does not follow are not counted either (a note says how many);
- MACs count Conv*, ConvTranspose* and Linear (pools, norms and activations: 0);
- the receptive field is the textbook recurrence per spatial axis: size r += (k_eff − 1)·j,
  jump j *= s, start += ((k_eff − 1)/2 − pad)·j (centre of the first output's field, in input
  pixels, 0 = centre of the first pixel); after a flatten or a global pool it is "all";
- memory (fp32, batch 1): inference = 4 B · (params + max over consecutive activations a_i + a_{i+1},
  the input counted as a_0); training = 4 B · (3 · params + 2 · Σ activations of every step).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import layers as L
from . import sizing
from .graph import MODEL_INPUT, Model
from .propagate import SPATIAL_NAMES, Step
from .sizes import Sym
from .sizing import propagate  # memoised: the size searches ask for the same runs

MAX_LAYER_TEXT = 44
GLOBAL = "all"


@dataclass
class Row:
    line: int
    layer: str
    kind: str
    output_shape: tuple | None
    params: dict | None  # {"weights", "biases", "total"} or {"shared": line}
    receptive_field: dict | None  # {"size": [...], "jump": [...], "start": [...]} or {"size": "all"}
    macs: object  # int, Sym or None
    activations: object
    called: bool = True  # False: registered, not in the forward pass as followed (shapes "--", as torchinfo shows it)


@dataclass
class ModelSummary:
    path: str
    name: str
    line: int
    input: tuple | None
    input_source: str | None
    min_input: tuple | None
    rows: list[Row]
    weights: int
    biases: int
    unknown_params: int  # layers whose count is unknown
    memory: dict | None
    no_drop: dict | None
    notes: list[str] = field(default_factory=list)
    findings: list = field(default_factory=list)

    @property
    def params(self) -> int:
        return self.weights + self.biases


# --------------------------------------------------------------------------- analysis


def summarize_source(source: bytes | str, path: str = "<string>", input_shape: tuple | None = None,
                     model_name: str | None = None, advice: bool = True) -> list[ModelSummary]:
    from .engine import forced, read
    from .findings import Finding

    if isinstance(source, str):
        source = source.encode("utf-8")
    reading = read(source, path, input_shape)
    if isinstance(reading, Finding):
        raise ValueError(f"{path}:{reading.line}: {reading.message}")
    models = [m for m in reading.models if not m.training]  # a table per model: its run in evaluation mode
    if model_name is not None:
        models = [m for m in models if m.name == model_name]
    out, runs = [], []
    for model in models:
        summary, run = _summarize(reading.positions, path, model, forced(model, input_shape), reading.evidence.get(model.name))
        out.append(summary)
        runs.append(run)
    if advice and out:
        _attach_findings(out, runs, reading.layers, reading.positions, path)
    return out


def _summarize(positions, path, model: Model, forced, found):
    if forced:
        shape, source = tuple(forced), "--input"
    elif model.declared_input:
        shape, source = model.declared_input, "the # convlint: input= annotation"
    elif found is not None:
        shape, source = found.shape, found.source
    else:
        shape, source = None, None
    notes = []
    basis = sizing.channels_and_rank(model, shape)
    fits = sizing.linear_fits(model, *basis) if basis else None
    check_shape = shape
    if fits is not None:
        channels, rank = basis
        linear_line = positions.line(fits["linear"].layer.site)
        if shape is None and fits["sizes"]:
            shape = sizing.cube(channels, rank, fits["sizes"][0])
            also = f" ({sizing.fitting_text(channels, rank, fits['sizes'])})" if len(fits["sizes"]) > 1 else ""
            source = (f"inference: the Linear on line {linear_line} takes {fits['in_features']} features after "
                      f"the flatten, and the smallest input that gives them is {_shape_text(shape)}{also}")
        elif shape is not None and not (len(set(shape[1:])) == 1 and shape[1] in fits["sizes"]):
            notes.append(f"the Linear on line {linear_line} takes {fits['in_features']} features after the flatten: "
                         f"{sizing.fitting_text(channels, rank, fits['sizes'])}, not {_shape_text(shape)}")
    steps = propagate(model, shape) if shape is not None else propagate(model, _symbolic(model))
    rows, weights, biases, unknown, row_notes = _rows(positions, steps, model)
    notes += row_notes
    unused = sum(not r.called for r in rows)
    if unused:
        # not always unused: forward may use a layer's weights directly, or call it where convlint cannot follow
        notes.append(f"{unused} registered layer{'s' if unused > 1 else ''} not in the forward pass as convlint follows it "
                     f"(\"--\" in the table: never called, or used where convlint cannot see): "
                     f"{'their' if unused > 1 else 'its'} parameters are counted, as torch's model.parameters() counts them")
    min_input = no_drop = None
    if basis is not None:
        channels, rank = basis
        smallest = sizing.minimum_input(model, channels, rank)
        min_input = smallest
        no_drop = _no_drop(model, channels, rank, shape, smallest)
    memory = _memory(shape, rows, weights + biases) if not unknown else None
    summary = ModelSummary(path, model.name, positions.line(model.node), shape, source, min_input, rows,
                           weights, biases, unknown, memory, no_drop, notes)
    from .context import ModelRun

    return summary, ModelRun(model, check_shape, propagate(model, check_shape))


def _symbolic(model: Model):
    return sizing.symbolic_shape(model)


def _attach_findings(summaries, runs, layers, positions, path) -> None:
    from . import rules
    from .context import Context
    from .findings import Finding

    for summary, run in zip(summaries, runs):
        one = Context([run], layers, positions)
        seen = set()
        for rule in rules.RULES:
            if rule.module is None or rule.name in ("invalid-layer-config", "unused-suppression"):
                continue
            for found in rule.module.check(one):
                node, message = found[0], found[1]
                finding = Finding(path, positions.span(node), rule.code, rule.name, rule.severity, message)
                key = (finding.code, finding.span, finding.message)
                if key not in seen:
                    seen.add(key)
                    summary.findings.append(finding)
        summary.findings.sort(key=Finding.sort_key)


def _layer_text(positions, node, layer=None) -> str:
    """The layer's constructor call as written; for a layer another file's code built, its class and
    the local call that led there (`Conv2d in conv_block(3, 16)`)."""
    if layer is not None and not positions.local(node):
        node, prefix = layer.site, f"{layer.kind} in "
    else:
        prefix = ""
    text = prefix + " ".join(positions.text(node).split())
    text = text.replace("( ", "(").replace(" )", ")").replace(", )", ")")
    return text if len(text) <= MAX_LAYER_TEXT else text[: MAX_LAYER_TEXT - 1] + "…"


def _line(positions, node, layer=None) -> int:
    return positions.line(node if layer is None or positions.local(node) else layer.site)


def _rows(positions, steps: list[Step], model: Model | None = None):
    """The table's rows, then the parameter totals as torch's `model.parameters()` has them:
    every registered layer once, called in forward or not (those get rows of their own, after
    the steps, with "--" as torchinfo shows them); a layer that forward builds afresh is not
    registered and not counted (when the model's modules are all known)."""
    rows = []
    counted: dict[int, int] = {}
    weights = biases = unknown = 0
    fields: dict[int, object] = {}
    registered = {id(layer) for layer in model.registered} if model is not None else set()
    complete = model is not None and model.registered_complete
    notes = []
    applied: set[int] = set()

    def tally(layer) -> dict | None:
        """Add a layer's parameters to the totals, once per layer: its row's figures."""
        nonlocal weights, biases, unknown
        known = layer.kind in L.LAYERS and layer.params is not None
        count = L.parameter_count(layer.kind, layer.params) if known else None
        if count is None:
            unknown += 1
            return None
        weights, biases = weights + count[0], biases + count[1]
        return {"weights": count[0], "biases": count[1], "total": count[0] + count[1]}
    for index, step in enumerate(steps):
        op = step.op
        node = op.layer.node if op.layer is not None else op.node
        line = _line(positions, node, op.layer)
        params = None
        if op.layer is not None:
            applied.add(id(op.layer))
        if op.layer is not None and op.layer.kind in L.LAYERS and op.layer.params is not None:
            if id(op.layer) in counted:
                params = {"shared": counted[id(op.layer)]}
            elif complete and id(op.layer) not in registered:
                if _constructed_here(op.layer) and (L.parameter_count(op.layer.kind, op.layer.params) or (0, 0)) != (0, 0):
                    notes.append(f"the {op.layer.kind} on line {line} is built in forward, not registered: torch's "
                                 f"model.parameters() does not hold it (and it starts afresh on every call)")
            else:
                counted[id(op.layer)] = line
                params = tally(op.layer)
        elif op.kind == "layer":
            unknown += 1
        if index == 0 or MODEL_INPUT in op.inputs:
            fields.setdefault(MODEL_INPUT, _identity_field(step.in_shape))
        fields[op.output] = _field(step, [fields.get(v) for v in op.inputs])
        rows.append(Row(line, _layer_text(positions, node, op.layer), op.layer.kind if op.layer is not None else op.kind,
                        step.out_shape, params, _field_view(fields[op.output]), _macs(step), _numel(step.out_shape)))
    parameters = 0
    for layer in model.registered if model is not None else ():
        if id(layer) in counted or id(layer) in applied:
            continue
        if layer.kind == "Parameter":  # nn.Parameter(torch.zeros(...)): a tensor, not a layer, of a size not followed
            parameters += 1
            continue
        line = _line(positions, layer.node, layer)
        counted[id(layer)] = line
        rows.append(Row(line, _layer_text(positions, layer.node, layer), layer.kind, None, tally(layer), None, None, None, called=False))
    if parameters:
        notes.append(f"plus {parameters} nn.Parameter attribute{'s' if parameters > 1 else ''} whose size convlint does not "
                     f"follow: not in the total (torch's model.parameters() counts {'them' if parameters > 1 else 'it'})")
    return rows, weights, biases, unknown, notes


def _constructed_here(layer) -> bool:
    """An `nn.Conv2d(...)` call, not a functional op that maps to a layer's rule."""
    func = getattr(layer.node, "func", None)
    return getattr(func, "attr", getattr(func, "id", None)) == layer.kind


# ---- receptive field: per spatial axis (size, jump, start), GLOBAL, or None (unknown)


def _identity_field(shape):
    if shape is None or len(shape) < 2:
        return None
    return tuple((1, 1, 0.0) for _ in shape[1:])


def _field(step: Step, incoming: list):
    op, shape, out = step.op, step.in_shape, step.out_shape
    if not incoming or any(f is None for f in incoming):
        return None
    if any(f == GLOBAL for f in incoming):
        return GLOBAL
    if len(incoming) > 1:
        return incoming[0] if all(f == incoming[0] for f in incoming) else _merge(incoming)
    rf = incoming[0]
    if op.kind in ("flatten", "reduce") or (op.kind == "view" and (out is None or len(out) < len(shape or ()))):
        return GLOBAL
    if op.kind != "layer" or op.layer is None or op.layer.kind not in L.LAYERS or not op.layer.params:
        return None
    kind = op.layer.kind
    if kind in ("Flatten", "Linear"):
        return GLOBAL if shape is not None else None
    windows = L.windows(kind, op.layer.params, shape)
    if windows:
        result = list(rf)
        for w in windows:
            i = w.axis - 1
            if not 0 <= i < len(result):
                return None
            size, jump, start = result[i]
            span = w.dilation * (w.kernel - 1)
            result[i] = (size + span * jump, jump * w.stride, start + (span / 2 - w.pad_before) * jump)
        return tuple(result)
    if kind.startswith("Adaptive") and out is not None and shape is not None:
        if all(d == 1 for d in out[1:]):
            return GLOBAL
        return rf if tuple(out[1:]) == tuple(shape[1:]) else None
    if shape is not None and out is not None and len(shape) == len(out) and tuple(shape[1:]) == tuple(out[1:]):
        return rf  # elementwise, norms, 1-to-1 layers
    return None


def _merge(fields):
    if not all(isinstance(f, tuple) and len(f) == len(fields[0]) for f in fields):
        return None
    merged = []
    for axis in zip(*fields):
        if len({a[1] for a in axis}) != 1:
            return None
        merged.append(max(axis, key=lambda a: a[0]))
    return tuple(merged)


def _field_view(rf):
    if rf is None:
        return None
    if rf == GLOBAL:
        return {"size": GLOBAL}
    return {"size": [a[0] for a in rf], "jump": [a[1] for a in rf], "start": [_num(a[2]) for a in rf]}


def _num(value: float):
    return int(value) if float(value).is_integer() else value


# ---- counts


def _numel(shape):
    if shape is None or any(d is None for d in shape):
        return None
    total = 1
    for d in shape:
        total = total * d
    return total


def _macs(step: Step):
    layer = step.op.layer
    spec = L.LAYERS.get(layer.kind) if step.op.kind == "layer" and layer is not None else None
    if spec is None or spec.macs is None or not layer.params:
        return 0 if step.op.kind == "layer" or step.op.kind in ("flatten", "view", "reduce") else None
    count = L.parameter_count(layer.kind, layer.params)
    if count is None:
        return None
    weights = count[0]
    if spec.macs == "features":
        leading = step.in_shape[:-1] if step.in_shape is not None else None
        positions = _numel(leading) if leading is not None else None
    elif spec.macs == "input":
        positions = _numel(step.in_shape[1:]) if step.in_shape is not None else None
    else:
        positions = _numel(step.out_shape[1:]) if step.out_shape is not None else None
    return None if positions is None else weights * positions


def _memory(shape, rows: list[Row], params: int) -> dict | None:
    if shape is None:
        return None
    acts = [_numel(shape)] + [r.activations for r in rows if r.called]
    if any(not isinstance(a, int) for a in acts):
        return None
    peak = max((a + b for a, b in zip(acts, acts[1:])), default=acts[0])
    return {
        "bytes_per_number": 4,
        "inference_bytes": 4 * (params + peak),
        "training_bytes": 4 * (3 * params + 2 * sum(acts[1:])),
        "inference_formula": "4 B × (parameters + the largest two consecutive activations)",
        "training_formula": "4 B × (3 × parameters [weights, gradients, optimizer state] + 2 × the sum of activations)",
    }


def _no_drop(model, channels, rank, shape, smallest) -> dict | None:
    found = sizing.good_sizes(model, channels, rank)
    if found is None:
        return None
    names = SPATIAL_NAMES.get(rank, tuple(f"S{i}" for i in range(rank)))
    low = smallest[0] if smallest else 1
    axes = []
    for axis, (m, residues) in enumerate(found):
        entry = {"axis": names[axis], "modulus": m, "residues": residues,
                 "congruence": sizing.congruence_text(names[axis], m, residues)}
        if shape is not None and isinstance(shape[axis + 1], int):
            entry["nearest"] = sizing.nearest(m, residues, shape[axis + 1], low)
        axes.append(entry)
    return {"axes": axes}


# --------------------------------------------------------------------------- rendering


def _shape_text(shape) -> str:
    if shape is None:
        return "?"
    return "×".join("?" if d is None else f"({d})" if isinstance(d, Sym) and " " in str(d) else str(d) for d in shape)


def _count(value) -> str:
    if value is None:
        return "?"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _params_text(params) -> tuple[str, str, str]:
    if params is None:
        return "", "", ""
    if "shared" in params:
        return "", "", f"shared (l.{params['shared']})"
    return _count(params["weights"]), _count(params["biases"]), _count(params["total"])


def _field_text(rf) -> str:
    if rf is None:
        return "?"
    if rf["size"] == GLOBAL:
        return "all"

    def axis(values):
        values = [str(v) for v in values]
        return values[0] if len(set(values)) == 1 else "×".join(values)

    return f"{axis(rf['size'])} / {axis(rf['jump'])} / {axis(rf['start'])}"


def _bytes(n: int) -> str:
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} B"


HEADERS = ("#", "line", "layer", "output", "weights", "biases", "params", "RF size / jump / start", "MACs", "activations")
RIGHT = {0, 1, 4, 5, 6, 8, 9}


def _table_rows(summary: ModelSummary) -> list[tuple[str, ...]]:
    out = []
    for i, row in enumerate(summary.rows, start=1):
        w, b, t = _params_text(row.params)
        if not row.called:  # registered, never called: as torchinfo shows it
            out.append((str(i), str(row.line), row.layer, "--", w, b, t, "--", "--", "--"))
            continue
        out.append((str(i), str(row.line), row.layer, _shape_text(row.output_shape), w, b, t,
                    _field_text(row.receptive_field), _count(row.macs) if row.macs is not None else "?",
                    _count(row.activations)))
    return out


def _footer(summary: ModelSummary) -> list[str]:
    lines = []
    total = f"total parameters: {summary.params:,} ({summary.weights:,} weights, {summary.biases:,} biases)"
    if summary.unknown_params:
        total += f"; plus {summary.unknown_params} layer(s) whose count is unknown"
    lines.append(total)
    macs = [r.macs for r in summary.rows if r.called]
    if macs and all(isinstance(m, int) for m in macs):
        lines.append(f"multiply-accumulates: {sum(macs):,} per sample")
    if summary.memory:
        m = summary.memory
        lines.append(f"memory at fp32, batch 1: inference ≈ {_bytes(m['inference_bytes'])} "
                     f"({m['inference_formula']}); training ≈ {_bytes(m['training_bytes'])} ({m['training_formula']})")
    if summary.min_input:
        channels = summary.input[0] if summary.input else None
        shown = "×".join(map(str, summary.min_input))
        lines.append(f"minimum input: {shown}" + (f" (as {channels}×{shown})" if channels else ""))
    else:
        lines.append("minimum input: unknown (some layer's shape is not known)")
    if summary.no_drop:
        parts = []
        for axis in summary.no_drop["axes"]:
            text = axis["congruence"]
            if axis.get("nearest"):
                near = axis["nearest"]
                current = summary.input[summary.no_drop["axes"].index(axis) + 1]
                text += f" ({current} drops none)" if near == [current] else f" (nearest to {current}: {', '.join(map(str, near))})"
            parts.append(text)
        lines.append("sizes that drop no real pixels: " + "; ".join(parts))
    lines.extend(f"note: {note}" for note in summary.notes)
    return lines


def _title(summary: ModelSummary) -> str:
    if summary.input:
        source = f"input {_shape_text(summary.input)}, from {summary.input_source}"
    else:
        source = "no input size known: shapes are expressions in the input's sizes"
    return f"{summary.path}::{summary.name} (line {summary.line}) — {source}"


def render_text(summaries: list[ModelSummary], colour: bool = False) -> str:
    bold = (lambda s: f"\033[1m{s}\033[0m") if colour else (lambda s: s)
    dim = (lambda s: f"\033[2m{s}\033[0m") if colour else (lambda s: s)
    blocks = []
    for summary in summaries:
        rows = _table_rows(summary)
        widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(HEADERS)]

        def fmt(cells):
            return "  ".join(c.rjust(w) if i in RIGHT else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

        lines = [bold(_title(summary)), bold(fmt(HEADERS)), dim("  ".join("─" * w for w in widths))]
        lines += [fmt(r) for r in rows]
        lines += _footer(summary)
        for f in summary.findings:
            lines.append(f"{f.severity}: line {f.line}: {f.code} [{f.name}] {f.message}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


def render_markdown(summaries: list[ModelSummary]) -> str:
    blocks = []
    for summary in summaries:
        lines = [f"### `{summary.name}` ({summary.path}, line {summary.line})", "", _title(summary).split(" — ", 1)[1], ""]
        lines.append("| " + " | ".join(HEADERS) + " |")
        lines.append("|" + "|".join("---:" if i in RIGHT else "---" for i in range(len(HEADERS))) + "|")
        for row in _table_rows(summary):
            cells = [c.replace("|", "\\|") for c in row]
            cells[2] = f"`{cells[2]}`" if cells[2] else cells[2]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
        lines += [f"- {line}" for line in _footer(summary)]
        lines += [f"- {f.severity} (line {f.line}) {f.code} `{f.name}`: {f.message}" for f in summary.findings]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


def _jsonable(value):
    if isinstance(value, Sym):
        return str(value)
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    return value


def _cell_of(line: int) -> dict:
    """{"cell": N} for a line of a notebook's cell N (a notebooks.CellLine), else nothing."""
    cell = getattr(line, "cell", None)
    return {} if cell is None else {"cell": cell}


def to_json(summaries: list[ModelSummary]) -> list[dict]:
    out = []
    for s in summaries:
        out.append({
            "path": s.path,
            "name": s.name,
            **_cell_of(s.line),
            "line": s.line,
            "input": list(s.input) if s.input else None,
            "input_source": s.input_source,
            "min_input": list(s.min_input) if s.min_input else None,
            "params": s.params,
            "weights": s.weights,
            "biases": s.biases,
            "layers": [
                {
                    **_cell_of(r.line),
                    "line": r.line,
                    "layer": r.layer,
                    "kind": r.kind,
                    "output_shape": _jsonable(r.output_shape) if r.output_shape is not None else None,
                    "params": r.params,
                    "receptive_field": r.receptive_field,
                    "macs": _jsonable(r.macs),
                    "activations": _jsonable(r.activations),
                    "called": r.called,  # False: registered, not in the forward pass as followed (counted in params)
                }
                for r in s.rows
            ],
            "memory": s.memory,
            "no_dropped_pixels": s.no_drop,
            "notes": s.notes,
            "findings": [f.to_dict() for f in s.findings],
        })
    return out
