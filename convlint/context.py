"""What a check reads: the file's propagated models, its layers, and source lines on demand."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import ast

from . import layers as L
from .graph import MODEL_INPUT, Layer, Model, Op
from .propagate import Step, op_name, propagate
from .sizes import first_true, is_concrete

MAX_SEARCHED_SIZE = 1 << 20


@dataclass
class ModelRun:
    model: Model
    input_shape: tuple[int, ...] | None  # the concrete input it was propagated with, if any
    steps: list[Step]
    input_source: str | None = None  # the file's evidence that gave input_shape ("a tensor ... passed to it on line 9")


class Context:
    def __init__(self, runs: list[ModelRun], layers: list[Layer], positions, reporting: str | None = None) -> None:
        self.runs = runs
        self.layers = layers
        self.positions = positions  # engine.Positions of the file
        self.line_of: Callable[[ast.AST], int] = positions.line
        self.reporting = reporting  # the other file whose findings are being written (None: this file's)
        self._steps: list[tuple] | None = None
        self._layer_steps: list[tuple] | None = None

    def seen_from(self, path: str) -> Context:
        """This context, writing the findings of the other file `path`: lines are named from there."""
        return Context(self.runs, self.layers, self.positions, path)

    def steps(self) -> list[tuple]:
        """(run, index, step) for every step that surely runs: not in an arm of an undecided branch."""
        if self._steps is None:  # every check walks them: listed once
            self._steps = [(run, index, step) for run in self.runs for index, step in enumerate(run.steps)
                           if not step.op.speculative]
        return self._steps

    def layer_steps(self) -> list[tuple]:
        """(run, index, step) for every application of a torch layer that surely runs."""
        if self._layer_steps is None:
            self._layer_steps = [entry for entry in self.steps() if entry[2].op.kind == "layer"]
        return self._layer_steps

    def describe(self, op: Op | None) -> str:
        """'the Conv2d on line 7' ('on line 7 of blocks.py' for a layer another file's code built)."""
        if op is None:
            return "the model input"
        if op.layer is not None:
            return f"the {op.layer.kind} {self.where(op.layer)}"
        if op.origin is not None:
            return f"the {op_name(op)} {self.at(op.origin[1], op.origin[0])}"
        return f"the {op_name(op)} {self.at(self.line_of(op.node), None)}"

    def where(self, layer: Layer) -> str:
        """'on line 7', or 'on line 7 of blocks.py' for a layer another file's code built."""
        if layer.file is None:
            return self.at(self.line_of(layer.site), None)
        return self.at(layer.node.lineno, layer.file)

    def at(self, line: int, file: str | None) -> str:
        """'on line 7' of the file being written, else 'on line 7 of blocks.py' (None: this file)."""
        if file == self.reporting:
            return f"on line {line}"
        return f"on line {line} of {self.file_name(file if file is not None else self.positions.path or '?')}"

    def subject(self, layer: Layer) -> str:
        """How a finding names the layer it is about: 'Conv2d', or 'the Conv2d on line 8 of
        blocks.py' when the finding is reported at this file's call into the code that built it."""
        return layer.kind if layer.file == self.reporting else f"the {layer.kind} {self.where(layer)}"

    def file_name(self, path: str) -> str:
        """Another file as this file's reader finds it: relative to this file's folder, or for a
        file outside it, from its top-level package (`torchvision/models/resnet.py`)."""
        import os
        from pathlib import Path

        from .imports import package_root

        here = os.path.dirname(self.reporting or self.positions.path or "")
        try:
            relative = os.path.relpath(path, here or ".")
        except ValueError:  # another drive
            relative = path
        root = package_root(Path(path)) if relative.startswith("..") else None
        return Path(path).relative_to(root.parent).as_posix() if root is not None else relative

    def smallest_input(self, run: ModelRun, index: int, works: Callable[[Step], bool]) -> tuple[int, ...] | None:
        """The smallest model input (same channels) for which `works(step index)` holds, searched per
        spatial axis (each layer's rule is separable per axis and non-decreasing in the input size)."""
        if run.input_shape is None or len(run.input_shape) < 2:
            return None
        if run.steps[index].raw_shape is None or len(run.steps[index].raw_shape) != len(run.input_shape):
            return None  # the rank changed on the way (a flatten): the axes no longer correspond
        best = list(run.input_shape)
        for axis in range(1, len(best)):

            def ok(size: int) -> bool:
                trial = tuple(size if i == axis else max(d, 1) for i, d in enumerate(run.input_shape))
                steps = propagate(run.model, trial)
                return index < len(steps) and works(steps[index], axis) and all(
                    s.raw_shape is None or all(not is_concrete(d) or d > 0 for d in s.raw_shape)
                    for s in steps[:index]
                )

            high = max(run.input_shape[axis], 1)
            while not ok(high):
                if high >= MAX_SEARCHED_SIZE:
                    return None
                high *= 2
            best[axis] = first_true(ok, 1, high)
        return tuple(best)


def is_model_input(op: Op) -> bool:
    return op.inputs == (MODEL_INPUT,)


def spec(step: Step) -> L.LayerSpec | None:
    return L.LAYERS.get(step.op.layer.kind) if step.op.layer is not None else None


def fmt_shape(shape: tuple, sep: str = "×") -> str:
    return sep.join("?" if d is None else str(d) for d in shape)  # (a size not known: as format_shape shows it)
