"""Building the user's models in the child of `--verify`: a model object, class or function of the
file, or a factory of `[tool.convlint.factories]`; on meta or on the CPU without initialisation;
with sockets that refuse to connect (a weight download is skipped, never waited for)."""

from __future__ import annotations

import contextlib
import copy
import inspect

FACTORY_HINT = "name a factory in [tool.convlint.factories]"


def _required(func) -> list[str]:
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError):
        return []
    return [
        p.name for p in signature.parameters.values()
        if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    ]


class _Undefined(Exception):
    pass


def _value(module, argument):
    """A factory argument: a literal as it is, a name looked up in the user's file."""
    from .config import FactoryName

    if not isinstance(argument, FactoryName):
        return argument
    value = module
    for part in argument.split("."):
        if not hasattr(value, part):
            raise _Undefined(f"`{argument}` is not defined in the file")
        value = getattr(value, part)
    return value


def _var_args(func) -> bool:
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError):
        return False
    return any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in signature.parameters.values())


def own_init(cls) -> bool:
    """Whether the class's __init__ is the user's, not torch's (`nn.Module.__init__(*args, **kwargs)`)."""
    module = getattr(getattr(cls, "__init__", None), "__module__", "") or ""
    return not (module == "torch" or module.startswith("torch."))


def _build(module, name: str, factory: str | None, nn):
    """(model, None) or (None, reason it is skipped) or raises (a runtime error while building)."""
    if factory is not None:
        from .config import parse_factory

        func, args, kwargs = parse_factory(factory)
        try:
            func, args = _value(module, func), [_value(module, a) for a in args]
            kwargs = {key: _value(module, a) for key, a in kwargs.items()}
        except _Undefined as error:
            return None, f"factory `{factory}`: {error}"
        built = func(*args, **kwargs)
        if not isinstance(built, nn.Module):
            return None, f"factory `{factory}` returned {type(built).__name__}, not an nn.Module"
        return built, None
    if not hasattr(module, name):
        return None, "not found at module level after import"
    obj = getattr(module, name)
    if isinstance(obj, nn.Module):
        return obj, None
    if isinstance(obj, type) and issubclass(obj, nn.Module):
        needed = _required(obj.__init__)[1:]
        if needed:
            return None, f"constructor needs arguments ({', '.join(needed)}): {FACTORY_HINT}"
        if own_init(obj) and _var_args(obj.__init__):
            return None, f"constructor takes *args/**kwargs, so calling it with none proves nothing: {FACTORY_HINT}"
        return obj(), None
    if callable(obj):
        needed = _required(obj)
        if needed:
            return None, f"function needs arguments ({', '.join(needed)}): {FACTORY_HINT}"
        built = obj()
        if not isinstance(built, nn.Module):
            return None, f"returned {type(built).__name__}, not an nn.Module"
        return built, None
    return None, f"is a {type(obj).__name__}, not an nn.Module"


class _NetworkBlocked(OSError):
    pass


class Network:
    """Sockets refuse to connect in the child: a model that downloads its weights is skipped, never
    a download or a hang. `used` says whether something tried."""

    used = False

    @classmethod
    def block(cls) -> None:
        import socket

        def refuse(*_args, **_kwargs):
            cls.used = True
            raise _NetworkBlocked("convlint verify blocks network access")

        socket.socket.connect = refuse
        socket.socket.connect_ex = refuse
        socket.create_connection = refuse
        socket.getaddrinfo = refuse


NETWORK_SKIP = "needs network access (a weight download?): verify runs offline"


@contextlib.contextmanager
def _no_init(torch):
    """Weight initialisation skipped while a model is built: its values do not matter."""
    init = torch.nn.init
    names = [n for n in dir(init) if n.endswith("_") and not n.startswith("_") and callable(getattr(init, n))]
    saved = {n: getattr(init, n) for n in names}
    for n in names:
        setattr(init, n, lambda tensor, *_a, **_k: tensor)
    try:
        yield
    finally:
        for n, f in saved.items():
            setattr(init, n, f)


def build_on(device: str, module, name: str, factory: str | None, torch):
    """As _build, with parameters on `device`, without initialisation (an initialiser that raised
    on meta would be skipped by the CPU build anyway): on meta no memory (a constructor that needs
    real data, `.item()`, is built again on the CPU), on the CPU fresh."""
    if device == "meta":
        try:
            with torch.device("meta"), _no_init(torch):
                model, reason = _build(module, name, factory, torch.nn)
        except Exception:  # noqa: BLE001 - the CPU build below says what is wrong, if anything
            pass
        else:
            if model is not None and _existing(module, model):
                model = copy.deepcopy(model)  # built by the import: the CPU run gets it as it is
            return model, reason
    with _no_init(torch):
        return _build(module, name, factory, torch.nn)


def _existing(module, model) -> bool:
    """Whether the model is an object of the file (a module-level `model = nn.Sequential(...)`)."""
    return any(value is model for value in vars(module).values())
