"""With no declared input size: the input sizes for which a strided window drops real pixels.

`dropped-pixels` (CL002) needs a concrete input. When a model declares none (no `--input`, no
`# convlint: input=` annotation, no config entry, no tensor in the file), this check says, per
layer, which input sizes make it skip the last rows and columns, as a congruence on the
model's input (`H ≡ 3 (mod 4)` avoids the loss). Advice (info), since the model may well be
fed a size that loses nothing: `convlint check --select CL104`; `convlint summary` shows it.

Bad:
    model = nn.Sequential(nn.Conv2d(1, 96, 11, stride=4))  # drops pixels unless H ≡ 3 (mod 4)

Good:
    # convlint: input=1x227x227
    model = nn.Sequential(nn.Conv2d(1, 96, 11, stride=4))
"""

from __future__ import annotations

from .. import sizing

CODE = "CL104"
NAME = "dropped-pixels-any-input"
SEVERITY = "info"

AXIS_NAMES = {1: ("L",), 2: ("H", "W"), 3: ("D", "H", "W")}
EDGE_WORDS = {1: "positions", 2: "rows or columns", 3: "slices, rows or columns"}


def check(ctx):
    for run in ctx.runs:
        if run.input_shape is not None:
            continue
        found = sizing.channels_and_rank(run.model)
        if found is None or found[1] not in AXIS_NAMES:
            continue
        channels, rank = found
        table = sizing.drop_table(run.model, channels, rank)
        if table is None:
            continue
        start, period, rows = table
        lossy = sorted({index for row in rows for index in row})
        for index in lossy:
            conditions, examples = [], None
            for axis in range(1, rank + 1):
                good = {(start + offset) % period for offset, row in enumerate(rows) if axis not in row.get(index, ())}
                m, residues = sizing.reduce_congruence(good, period)
                if m > 1:
                    conditions.append(sizing.congruence_text(AXIS_NAMES[rank][axis - 1], m, residues))
                    if examples is None and residues:
                        examples = [s for s in range(start, start + 3 * m) if s % m in residues][:3]
            if not conditions:
                continue
            step = run.steps[index]
            layer = step.op.layer
            where = f"for an input of {channels}×{'×'.join(AXIS_NAMES[rank])}"
            sample = f" (the smallest such sizes: {', '.join(map(str, examples))})" if examples else ""
            yield layer, (
                f"{where}, this {layer.kind} never reads the last {EDGE_WORDS[rank]} unless "
                f"{' and '.join(conditions)}{sample}; declare the input (# convlint: input=...) to check it exactly"
            )
