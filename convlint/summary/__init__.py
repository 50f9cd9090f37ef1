"""`convlint summary`: a torch-free torchinfo. `tables` builds each model's rows and totals (through
the same engine as `check`), `render` prints them as text, markdown or JSON."""

from .render import render_markdown, render_text, to_json
from .tables import ModelSummary, NoModel, Row, fold, model_call, summarize_source, unknown_entry

__all__ = ["ModelSummary", "NoModel", "Row", "fold", "model_call", "render_markdown", "render_text",
           "summarize_source", "to_json", "unknown_entry"]
