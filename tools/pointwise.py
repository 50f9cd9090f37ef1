"""Write convlint/extract/pointwise.py: torch's own list of its elementwise functions.

    python tools/pointwise.py          # rewrite the table from the installed torch
    python tools/pointwise.py --check  # exit 1 if the table differs from what torch says

An ATen operator is elementwise when torch tags it `torch.Tag.pointwise`. A name enters the table
when `torch.<name>` or `Tensor.<name>` exists, and only for the numbers of arguments (the tensor
first included) that its pointwise overloads accept and no other overload taking a tensor first
does with an argument that is neither a tensor nor a number (`torch.where(c, x, y)` is
elementwise, `torch.where(c)` is not; `x.max(y)` and `x.max(1)` cannot be told apart by count, so
`max` is left out). Each entry says whether some argument after
the first may itself be a tensor (then the result is the broadcast of all of them).
"""

from __future__ import annotations

import sys
from pathlib import Path

TARGET = Path(__file__).resolve().parent.parent / "convlint" / "extract" / "pointwise.py"


def _counts(schema) -> set[int]:
    positional = [a for a in schema.arguments if not a.kwarg_only]
    required = [a for a in positional if not a.has_default_value()]
    return set(range(len(required), len(positional) + 1))


def _tensor(arg) -> bool:
    return str(arg.type) in ("Tensor", "Optional[Tensor]")


def _elementwise_kinds(args) -> bool:
    """Tensors and numbers only: the same elementwise function with a number for a tensor."""
    return all(_tensor(a) or str(a.type) in ("number", "Optional[number]") for a in args)


def table() -> dict[str, tuple[tuple[int, ...], bool]]:
    import torch

    rows = {}
    for name in dir(torch.ops.aten):
        if name.startswith("_") or not (hasattr(torch, name) or hasattr(torch.Tensor, name)):
            continue
        packet = getattr(torch.ops.aten, name)
        if not hasattr(packet, "overloads"):
            continue
        pointwise, other, operands = set(), set(), False
        for overload in packet.overloads():
            schema = getattr(packet, overload)._schema
            args = [a for a in schema.arguments if a.name != "out"]
            if any(a.name == "out" for a in schema.arguments) or not args or not _tensor(args[0]):
                continue  # out= variants, and overloads not called on a tensor
            if len(schema.returns) != 1:
                other |= _counts(schema)  # frexp: a (mantissa, exponent) pair
                continue
            if torch.Tag.pointwise in getattr(packet, overload).tags:
                pointwise |= _counts(schema)
                operands |= any(_tensor(a) for a in args[1:])
            elif not _elementwise_kinds(args):
                other |= _counts(schema)
        counts = tuple(sorted(pointwise - other))
        if counts:
            rows[name] = (counts, operands)
    return rows


def render(rows) -> str:
    import torch

    lines = [
        f'"""torch {torch.__version__.split("+")[0]}\'s elementwise functions (ATen operators tagged pointwise), as',
        "tools/pointwise.py writes them from the installed torch: name -> (the numbers of arguments, the",
        "tensor included, at which it is elementwise; whether an argument after the tensor may be a tensor",
        'too, the result then being their broadcast). Do not edit by hand."""',
        "",
        "POINTWISE = {",
    ]
    for name, (counts, operands) in sorted(rows.items()):
        lines.append(f"    {name!r}: ({counts!r}, {operands!r}),")
    lines.append("}")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    text = render(table())
    if "--check" in argv:
        return 0 if TARGET.read_text() == text else 1
    TARGET.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
