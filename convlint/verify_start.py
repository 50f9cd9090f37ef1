"""What the child of `--verify` does to torch before the first model: torch pays for some of its
machinery on first use, and the meta device uses it at every call. Each shortcut here gives the
answers torch would give; should torch's internals change, the shortcut finds nothing to apply
to and the pass only gets slower again."""

from __future__ import annotations

import contextlib
import sys
import types


def prepare(torch) -> None:
    torch.set_num_threads(1)  # the values computed are never read: a thread pool only waits on the parent's core
    if "torch._dynamo" not in sys.modules:
        _skip_dynamo_import(torch)
    _remember_numpy_absent(torch)
    _warm_up(torch)


def _skip_dynamo_import(torch) -> None:
    """Many of torch's Python meta kernels are wrapped by `torch._compile._disable_dynamo`, whose
    first call imports torch._dynamo (over a second, more than the rest of the pass) only to run
    the kernel with torch.compile switched off. Nothing compiles here, so give each wrapper its own
    function as the switched-off one, which it caches in `fn.__dynamo_disable`."""
    import gc

    try:
        code = torch._compile._disable_dynamo(lambda: None).__code__
        slot = code.co_freevars.index("fn")
    except (AttributeError, TypeError, ValueError):
        return
    for obj in gc.get_objects():
        if type(obj) is types.FunctionType and obj.__code__ is code:
            fn = obj.__closure__[slot].cell_contents
            try:
                setattr(fn, "__dynamo_disable", fn)
            except (AttributeError, TypeError):
                continue


def _remember_numpy_absent(torch) -> None:
    """torch's `sym_max` asks for numpy's number types at each call (thousands per model on meta),
    and without numpy each ask searches every folder of sys.path again. Without numpy in
    sys.modules no numpy number exists to be asked about, so the answer without it is exact."""
    types_of = getattr(torch, "__all_and_float_types", None)
    if types_of is None or "numpy" in sys.modules:
        return
    try:
        without_numpy = types_of()
    except Exception:  # noqa: BLE001 - only ever a shortcut
        return
    setattr(torch, "__all_and_float_types", lambda: types_of() if "numpy" in sys.modules else without_numpy)


def _warm_up(torch) -> None:
    """Run a few layers on meta once: torch imports what its meta kernels need on first use (sympy,
    for the type promotion of every elementwise op: 0.4 s), and that belongs to the start, not to
    the time of the user's first model."""
    nn = torch.nn
    with contextlib.suppress(Exception), torch.device("meta"), torch.no_grad():  # only ever a head start
        layers = nn.Sequential(nn.Conv2d(1, 1, 1), nn.BatchNorm2d(1), nn.Flatten(), nn.Linear(1, 1))
        layers.eval()(torch.zeros(1, 1, 1, 1))
