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
  forward, is not registered and not counted (the latter gets a note); an nn.Parameter attribute
  of a size convlint does not follow is a row of unknown count;
- an unknown is never a number (issue 16): a total with unknown parts is a lower bound with the
  parts listed ("≥ 898 (+ 1 layer unknown)"), or "unknown" when nothing of it is known; the
  parameter total is partial also when some module's contents were not followed (Model.
  registered_complete); memory is unknown unless the parameters and every activation are known;
  the drop-free sizes are claimed only when every step is known;
- MACs: what forward hooks on Conv*/Linear count (output.numel() × in_channels/groups ×
  prod(kernel); output.numel() × in_features), weights × input positions for ConvTranspose*
  (its real count); every other layer and followed operation 0 (additions, cat, pools, norms,
  activations), an operation convlint does not follow unknown; MACs and activations are per sample
  of the model input: times the rows each sample has in a step's batch (swin's windows, RAFT's two
  images stacked in one batch);
- a layer run on a tensor that is not the model's (swin v2's position MLP on its table of
  coordinates) shows that tensor's whole shape (its leading axis is no batch) and counts once;
  a forward's further inputs (RAFT's image2) get no row, as torchinfo shows none;
- module paths: a row of a registered layer carries its name in torch's named_modules(); a row of
  an operation (an add, a functional call) carries the path of the module whose forward ran it,
  one level deeper; --depth N folds consecutive rows below N into one row per module;
- the receptive field is the textbook recurrence per spatial axis: size r += (k_eff − 1)·j,
  jump j *= s, start += ((k_eff − 1)/2 − pad)·j (centre of the first output's field, in input
  pixels, 0 = centre of the first pixel); after a flatten or a global pool it is "all";
- memory (fp32, batch 1): inference = 4 B · (params + max over consecutive activations a_i + a_{i+1},
  the input counted as a_0); training = 4 B · (3 · params + 2 · Σ activations of every step).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .. import layers as L
from .. import sizing
from ..graph import MODEL_INPUT, Layer, Model
from ..propagate import OPS, SPATIAL_NAMES, Step
from ..sizes import Sym
from ..sizing import propagate  # memoised: the size searches ask for the same runs
from .measures import activations, field_view, identity_field, macs, memory_estimate, numel, receptive_field

MAX_LAYER_TEXT = 44


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
    path: str = ""  # its module's name in torch's named_modules() (`layer1.0.conv1`); an op of a forward: that module's
    depth: int = 1  # components of its own path; an op of a module's forward: one below that module
    params_unknown: bool = False  # a layer whose parameter count convlint does not know
    maybe: bool = False  # a step in an arm of a branch convlint could not decide: it may never run


def unknown_entry(row: Row) -> dict:
    """How a layer of unknown count is listed: where it is and what it is."""
    return {"path": row.path, "line": row.line, "layer": row.layer, "kind": row.kind}


@dataclass
class ModelSummary:
    path: str
    name: str
    line: int
    input: tuple | None
    input_source: str | None
    min_input: tuple | None
    rows: list[Row]
    weights: int  # of the layers whose count is known
    biases: int
    unknown_layers: list[dict]  # unknown_entry of each registered layer whose count is unknown
    memory: dict | None  # None: unknown (the input, a parameter count or an activation is)
    no_drop: dict | None  # None: no claim (unknown, or some layer of the path is not known)
    notes: list[str] = field(default_factory=list)
    findings: list = field(default_factory=list)
    modules_followed: bool = True  # False: a module convlint lost track of may hold parameters of its own
    output_shape: tuple | None = None  # of the model's return value (None: unknown, or not one tensor)
    macs_at_least: object = 0  # int, or a Sym without an input size
    macs_unknown: list[dict] = field(default_factory=list)  # unknown_entry of each forward step whose MACs are unknown
    depth: int | None = None  # --depth: rows below it are folded into their module
    kinds: dict = field(default_factory=dict)  # module path -> its class name (Model.kinds)
    module_lines: dict = field(default_factory=dict)  # module path -> the line of the call that built it, in this file

    @property
    def params_at_least(self) -> int:
        return self.weights + self.biases

    @property
    def params_known(self) -> bool:
        return not self.unknown_layers and self.modules_followed

    @property
    def params(self) -> int | None:
        """The total as torch's sum(p.numel()) has it; None when some part is unknown."""
        return self.params_at_least if self.params_known else None

    @property
    def unknown_params(self) -> int:
        return len(self.unknown_layers)

    @property
    def macs_known(self) -> bool:
        return not self.macs_unknown

    @property
    def macs(self):
        return self.macs_at_least if self.macs_known else None


# --------------------------------------------------------------------------- analysis


class NoModel(ValueError):
    """`--model` names no model of the file (`found`: the names there are)."""

    def __init__(self, message: str, found: list[str]) -> None:
        super().__init__(message)
        self.found = found


def model_call(text: str):
    """`--model 'ResNet(BasicBlock, [2, 2, 2, 2], num_classes=10)'` -> (the callable's name, its call
    as a tree); None for a plain name. The rules are the `factories` table's (config.parse_factory):
    Python literals and names of the file, parsed, never evaluated. ValueError: neither."""
    import ast

    from ..config import parse_factory

    text = text.strip()
    if all(part.isidentifier() for part in text.split(".")):
        return None  # a name, or a part's: "resnet18.layer4"
    parsed = parse_factory(text)
    if parsed is None or "." in parsed[0]:
        raise ValueError(f"--model {text!r} is neither a model name nor a call like 'ResNet(BasicBlock, [2, 2, 2, 2], "
                         "num_classes=10)' of a class or function of the file (arguments: Python literals or names of the file)")
    return str(parsed[0]), ast.parse(text, mode="eval").body


def summarize_source(source: bytes | str, path: str = "<string>", input_shape: tuple | None = None,
                     model_name: str | None = None, advice: bool = True,
                     factories: dict[str, str] | None = None) -> list[ModelSummary]:
    """The summaries of the file's models (evaluation mode). `model_name`: only that model, or a
    call that builds it (model_call); `factories`: model name -> the call that builds it (the
    `[tool.convlint.factories]` table). NoModel when `model_name` matches nothing."""
    import ast

    from ..engine import forced, read
    from ..findings import Finding

    if isinstance(source, str):
        source = source.encode("utf-8")
    calls = {}
    for name, text in (factories or {}).items():
        found = model_call(text)
        if found is not None:
            calls[name] = found[1]
    only, shown = model_name, None
    call = model_call(model_name) if model_name is not None else None
    if call is not None:
        only, calls[call[0]] = call
        shown = ast.unparse(call[1])
    reading = read(source, path, input_shape, only=only, calls=calls or None)
    if isinstance(reading, Finding):
        raise ValueError(f"{path}:{reading.line}: {reading.message}")
    models = [m for m in reading.models if not m.training]  # a table per model: its run in evaluation mode
    if model_name is not None and shown is None:
        models = [m for m in models if m.name == model_name]
    if model_name is not None and not models:
        everything = read(source, path, input_shape, calls=calls or None)
        names = [m.name for m in everything.models if not m.training] if not isinstance(everything, Finding) else []
        raise NoModel(f"no model named {model_name!r} in {path}", names)
    out, runs = [], []
    for model in models:
        evident = reading.evidence.get(model.name)
        if shown is not None:
            model.name = shown
        summary, run = _summarize(reading.positions, path, model, forced(model, input_shape), evident)
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
                      f"the flatten, and the smallest input that gives them is {shape_text(shape)}{also}")
        elif shape is not None and not (len(set(shape[1:])) == 1 and shape[1] in fits["sizes"]):
            notes.append(f"the Linear on line {linear_line} takes {fits['in_features']} features after the flatten: "
                         f"{sizing.fitting_text(channels, rank, fits['sizes'])}, not {shape_text(shape)}")
    steps = propagate(model, shape) if shape is not None else propagate(model, _symbolic(model))
    rows, weights, biases, unknown, row_notes = _rows(positions, steps, model)
    notes += row_notes
    if not model.registered_complete:
        notes.append("some module's contents were not followed (a constructor convlint could not read, or a subclass of a "
                     "torch layer with parameters): the parameter total is a lower bound")
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
        if _every_step_known(steps):  # a claim about every layer needs every layer
            no_drop = _no_drop(model, channels, rank, shape, smallest)
    known = not unknown and model.registered_complete
    memory = memory_estimate(shape, rows, weights + biases) if known else None
    called = [r for r in rows if r.called]
    # a step that may never run adds nothing sure: the total is a lower bound unless it costs none
    macs_unknown = [unknown_entry(r) for r in called if r.macs is None or r.maybe and r.macs != 0]
    macs = sum((r.macs for r in called if r.macs is not None and not r.maybe), 0)
    summary = ModelSummary(path, model.name, positions.line(model.node), shape, source, min_input, rows,
                           weights, biases, unknown, memory, no_drop, notes, modules_followed=model.registered_complete,
                           output_shape=_output_shape(steps, model), macs_at_least=macs, macs_unknown=macs_unknown,
                           kinds=model.kinds, module_lines={path: positions.line(site) for path, site in model.sites.items()
                                                            if positions.local(site)})
    from ..context import ModelRun

    evident = found.source if found is not None and check_shape is found.shape else None  # the input it gave
    return summary, ModelRun(model, check_shape, propagate(model, check_shape), evident)


def _symbolic(model: Model):
    return sizing.symbolic_shape(model)


def _output_shape(steps: list[Step], model: Model):
    """The shape of what the model returns: the step that wrote its output value (not the last row:
    an auxiliary head may run after it)."""
    if model.output is None:
        return None
    for step in reversed(steps):
        if step.op.output == model.output:
            return step.out_shape
    return None


def _every_step_known(steps: list[Step]) -> bool:
    """Every step's output shape is known and every layer is one whose rule convlint has."""
    for step in steps:
        op = step.op
        if op.kind not in OPS or step.out_shape is None:
            return False
        if op.kind == "layer" and (op.layer is None or op.layer.kind not in L.LAYERS or op.layer.params is None):
            return False
    return bool(steps)


def _attach_findings(summaries, runs, layers, positions, path) -> None:
    from .. import rules
    from ..context import Context
    from ..findings import Finding

    for summary, run in zip(summaries, runs):
        one = Context([run], layers, positions)
        seen = set()
        for rule in rules.RULES:
            if rule.module is None or rule.name in ("invalid-layer-config", "unused-suppression"):
                continue
            for found in rule.module.check(one):
                node, message = found[0], found[1]
                node = node.site if isinstance(node, Layer) else node
                if not positions.local(node):
                    continue  # a layer of another file: never placed on a line of this one
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
        if not positions.local(layer.site):
            return f"{layer.kind} of another file"  # built at that file's import: no call of this one
        node, prefix = layer.site, f"{layer.kind} in "
    else:
        prefix = ""
    text = prefix + " ".join(positions.text(node).split())
    text = text.replace("( ", "(").replace(" )", ")").replace(", )", ")")
    return text if len(text) <= MAX_LAYER_TEXT else text[: MAX_LAYER_TEXT - 1] + "…"


def _line(positions, node, layer=None) -> int | None:
    """The row's line in this file: the layer's own, else the local call that built it; None when
    neither is of this file (a layer another file built at its import)."""
    target = node if layer is None or positions.local(node) else layer.site
    return positions.line(target) if positions.local(target) else None


def _rows(positions, steps: list[Step], model: Model | None = None):
    """The table's rows, then the parameter totals as torch's `model.parameters()` has them:
    every registered layer once, called in forward or not (those get rows of their own, after
    the steps, with "--" as torchinfo shows them); a layer that forward builds afresh is not
    registered and not counted (when the model's modules are all known). The fourth result
    lists the registered layers whose count is unknown (unknown_entry)."""
    rows = []
    counted: dict[int, int] = {}
    weights = biases = 0
    unknown: list[dict] = []
    fields: dict[int, object] = {}
    registered = {id(layer) for layer in model.registered} if model is not None else set()
    complete = model is not None and model.registered_complete
    paths = model.paths if model is not None else {}
    notes = []
    applied: set[int] = set()

    def count_of(layer):
        if layer.kind == "Parameter":  # nn.Parameter of a known shape (registered_layers), else unknown
            shape = (layer.params or {}).get("shape")
            return (numel(shape), 0) if shape is not None and numel(shape) is not None else None
        known = layer.kind in L.LAYERS and layer.params is not None
        return L.parameter_count(layer.kind, layer.params) if known else None

    def tally(layer, row: Row) -> None:
        """Add a layer's parameters to the totals, once per layer, and give its row the figures."""
        nonlocal weights, biases
        if layer.functional:
            return  # the weights F.linear or F.layer_norm is handed are a module's: counted there
        count = count_of(layer)
        if count is None:
            row.params_unknown = True
            unknown.append(unknown_entry(row))
            return
        row.params = {"weights": count[0], "biases": count[1], "total": count[0] + count[1]}
        if layer.speculative:  # built in an arm of a branch not decided: it may not exist
            if count != (0, 0):
                unknown.append(unknown_entry(row))
            return
        weights, biases = weights + count[0], biases + count[1]

    for index, step in enumerate(steps):
        op = step.op
        if op.kind == "fixed" or op.kind == "input" and op.args.get("parameter"):
            continue  # a tensor not the model's, a further parameter of the forward (raft's image2): no operation
        layer = op.layer
        node = layer.node if layer is not None else op.node
        line = _line(positions, node, layer)
        if index == 0 or MODEL_INPUT in op.inputs:
            fields.setdefault(MODEL_INPUT, identity_field(step.in_shape))
        fields[op.output] = receptive_field(step, [fields.get(v) for v in op.inputs])
        shown = step.out_shape if not step.output.lead or step.out_shape is None else (step.output.lead, *step.out_shape)
        row = Row(line, _layer_text(positions, node, layer), layer.kind if layer is not None else op.kind,
                  shown, None, field_view(fields[op.output]), macs(step), activations(step))
        row.path, row.depth = _place(paths, layer, op.scope)
        row.maybe = op.speculative
        rows.append(row)
        if layer is None:
            continue
        applied.add(id(layer))
        if id(layer) in counted:
            row.params = {"shared": counted[id(layer)]}
        elif complete and id(layer) not in registered:
            count = count_of(layer)
            if _constructed_here(layer) and count is not None and count != (0, 0):
                notes.append(f"the {layer.kind} on line {line} is built in forward, not registered: torch's "
                             f"model.parameters() does not hold it (and it starts afresh on every call)")
        else:
            counted[id(layer)] = line
            tally(layer, row)
    for layer in model.registered if model is not None else ():
        if id(layer) in counted or id(layer) in applied:
            continue
        line = _line(positions, layer.node, layer)
        counted[id(layer)] = line
        row = Row(line, _layer_text(positions, layer.node, layer), layer.kind, None, None, None, None, None, called=False)
        row.path, row.depth = _place(paths, layer, None)
        rows.append(row)
        tally(layer, row)  # an nn.Parameter attribute of a size not followed, too: unknown
    return rows, weights, biases, unknown, notes


def _place(paths: dict, layer, scope) -> tuple[str, int]:
    """(path, depth) of a row: a registered layer's own name, else the module whose forward ran it."""
    own = paths.get(id(layer.attrs.get("tensor", layer))) if layer is not None else None  # (an nn.Parameter's tensor)
    if own:
        return own, own.count(".") + 1
    where = paths.get(id(scope), "") if scope is not None else ""
    return where, (where.count(".") + 2 if where else 1)


def _constructed_here(layer) -> bool:
    """An `nn.Conv2d(...)` call, not a functional op that maps to a layer's rule."""
    func = getattr(layer.node, "func", None)
    return getattr(func, "attr", getattr(func, "id", None)) == layer.kind


def fold(summary: ModelSummary, depth: int) -> ModelSummary:
    """The summary with the rows below module depth `depth` folded into their module (torchinfo's
    --depth): one row per run of consecutive rows of the same module, with its class, the output of
    its last row, and the sum of its parameters and MACs (unknown if any part is)."""
    from dataclasses import replace

    rows: list[Row] = []
    group: list[Row] = []
    key = None

    def flush():
        if not group:
            return
        last = group[-1]
        owner = ".".join(group[0].path.split(".")[:depth])
        counts = [r.params for r in group if r.params is not None and "shared" not in r.params]
        params = {k: sum(c[k] for c in counts) for k in ("weights", "biases", "total")} if counts else None
        macs = [r.macs for r in group]
        row = Row(summary.module_lines.get(owner, group[0].line), summary.kinds.get(owner, "?"), summary.kinds.get(owner, "?"), last.output_shape, params,
                  last.receptive_field, None if any(m is None for m in macs) else sum(macs, 0), last.activations,
                  called=last.called, path=owner, depth=depth, params_unknown=any(r.params_unknown for r in group))
        rows.append(row)
        group.clear()

    for row in summary.rows:
        if row.depth <= depth:
            flush()
            key = None
            rows.append(row)
            continue
        here = (".".join(row.path.split(".")[:depth]), row.called)
        if here != key:
            flush()
            key = here
        group.append(row)
    flush()
    # a registered layer forward does not call (an nn.Parameter, an unused head) counts in its module's row
    called = {r.path: r for r in rows if r.called and r.depth == depth and r.path}
    kept = []
    for row in rows:
        into = called.get(row.path) if not row.called and row.depth == depth else None
        if into is None:
            kept.append(row)
            continue
        if row.params is not None and "shared" not in row.params:
            mine = into.params if into.params is not None and "shared" not in into.params else {"weights": 0, "biases": 0, "total": 0}
            into.params = {k: mine[k] + row.params[k] for k in ("weights", "biases", "total")}
        into.params_unknown = into.params_unknown or row.params_unknown
    return replace(summary, rows=kept, depth=depth)


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


def shape_text(shape) -> str:
    if shape is None:
        return "?"
    return "×".join("?" if d is None else f"({d})" if isinstance(d, Sym) and " " in str(d) else str(d) for d in shape)
