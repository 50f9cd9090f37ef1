"""Rendering summaries: the text table torchinfo users know, markdown, and JSON."""

from __future__ import annotations

from ..sizes import Sym
from .measures import GLOBAL
from .tables import ModelSummary, shape_text


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
        return "", "", f"shared (l.{_line_text(params['shared'])})"
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


HEADERS = ("#", "line", "module", "layer", "output", "weights", "biases", "params", "RF size / jump / start", "MACs", "activations")
RIGHT = {0, 1, 5, 6, 7, 9, 10}


def _table_rows(summary: ModelSummary) -> list[tuple[str, ...]]:
    out = []
    for i, row in enumerate(summary.rows, start=1):
        w, b, t = _params_text(row.params)
        if row.params_unknown:  # a folded module with an unknown part: its known part is a lower bound
            w, b, t = "", "", f"≥ {t}" if t and t != "0" else "?"
        if not row.called:  # registered, never called: as torchinfo shows it
            out.append((str(i), _line_text(row.line), row.path, row.layer, "--", w, b, t, "--", "--", "--"))
            continue
        out.append((str(i), _line_text(row.line), row.path, row.layer, shape_text(row.output_shape), w, b, t,
                    _field_text(row.receptive_field), _count(row.macs), _count(row.activations)))
    return out


def _line_text(line) -> str:
    return "?" if line is None else str(line)


def _partial(known, unknown: int, what: str) -> str:
    """A total with unknown parts: a lower bound and how many parts are unknown, or "unknown"."""
    if not known:
        return "unknown"
    return f"≥ {_count(known)} (+ {unknown} {what}{'s' if unknown != 1 else ''} unknown)"


def _places(entries: list[dict], limit: int = 3) -> str:
    shown = [f"{e['path'] or e['layer']}" + (f" (line {e['line']})" if e["line"] is not None else "")
             for e in entries[:limit]]
    return ", ".join(shown) + (", …" if len(entries) > limit else "")


def _footer(summary: ModelSummary) -> list[str]:
    lines = []
    if summary.params_known:
        lines.append(f"total parameters: {summary.params:,} ({summary.weights:,} weights, {summary.biases:,} biases)")
    else:
        unknown = summary.unknown_layers
        text = _partial(summary.params_at_least, len(unknown), "layer") if unknown else \
            ("unknown" if not summary.params_at_least else f"≥ {summary.params_at_least:,}")
        parts = [f"unknown: {_places(unknown)}"] if unknown else []
        if not summary.modules_followed:
            parts.append("and modules convlint could not follow")
        lines.append(f"total parameters: {text}" + (f" — {' '.join(parts)}" if parts else ""))
    if summary.macs_known:
        lines.append(f"multiply-accumulates: {_count(summary.macs)} per sample")
    else:
        unknown = summary.macs_unknown
        lines.append(f"multiply-accumulates: {_partial(summary.macs_at_least, len(unknown), 'step')} per sample"
                     f" — unknown: {_places(unknown)}")
    lines.append(f"output: {shape_text(summary.output_shape)}")
    if summary.memory:
        m = summary.memory
        lines.append(f"memory at fp32, batch 1: inference ≈ {_bytes(m['inference_bytes'])} "
                     f"({m['inference_formula']}); training ≈ {_bytes(m['training_bytes'])} ({m['training_formula']})")
    else:
        lines.append("memory at fp32, batch 1: unknown (" + (
            "no input size" if summary.input is None else "a parameter count or an activation size is unknown") + ")")
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
        source = f"input {shape_text(summary.input)}, from {summary.input_source}"
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
            cells[2:4] = [f"`{c}`" if c else c for c in cells[2:4]]
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
            "output_shape": _jsonable(s.output_shape) if s.output_shape is not None else None,
            "min_input": list(s.min_input) if s.min_input else None,
            "params": s.params,  # None when some part is unknown: never a guess
            "params_known": s.params_known,
            "params_at_least": s.params_at_least,
            "params_unknown_layers": s.unknown_layers,
            "modules_followed": s.modules_followed,
            "weights": s.weights,
            "biases": s.biases,
            "macs": _jsonable(s.macs),
            "macs_known": s.macs_known,
            "macs_at_least": _jsonable(s.macs_at_least),
            "macs_unknown_layers": s.macs_unknown,
            "memory": s.memory,
            "memory_known": s.memory is not None,
            "depth": s.depth,
            "layers": [
                {
                    **_cell_of(r.line),
                    "line": r.line,
                    "path": r.path,
                    "depth": r.depth,
                    "layer": r.layer,
                    "kind": r.kind,
                    "output_shape": _jsonable(r.output_shape) if r.output_shape is not None else None,
                    "params": r.params,
                    "params_known": not r.params_unknown,
                    "receptive_field": r.receptive_field,
                    "macs": _jsonable(r.macs),
                    "activations": _jsonable(r.activations),
                    "called": r.called,  # False: registered, not in the forward pass as followed (counted in params)
                }
                for r in s.rows
            ],
            "no_dropped_pixels": s.no_drop,
            "notes": s.notes,
            "findings": [f.to_dict() for f in s.findings],
        })
    return out
