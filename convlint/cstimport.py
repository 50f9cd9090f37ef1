"""Import libcst for a fraction of its usual cost on the second and later runs.

Importing libcst takes some 0.18 s, more than half of what `convlint check FILE` may take as
a pre-commit hook: libcst's nodes are about 230 frozen dataclasses, and for each the standard
`dataclasses` module writes the source of `__init__`, `__eq__`, `__setattr__`... and compiles
it with `exec` (600 compilations, 45% of the import). The compiled code depends on nothing
but that source text and the Python version, so it is cached the way Python caches modules'
bytecode: `exec(source, ...)` becomes `exec(compiled, ...)` with the code object compiled
once, exactly as `exec` would (same flags, same "<string>" file name), and kept with
`marshal` in `~/.cache/convlint/` (or `$XDG_CACHE_HOME/convlint/`), one file per Python
bytecode version. Only while libcst is being imported; nothing else in the process changes.

Anything unexpected (no cache folder, an unreadable or corrupt file, a `dataclasses` that
builds its functions another way) simply means the ordinary import. The file is written
atomically, and only when it lacked something. `CONVLINT_NO_IMPORT_CACHE=1` turns this off.
"""

from __future__ import annotations

import os
import sys


def load():
    """The libcst module."""
    module = sys.modules.get("libcst")
    if module is not None:
        return module
    if os.environ.get("CONVLINT_NO_IMPORT_CACHE"):
        import libcst

        return libcst
    try:
        import dataclasses
        import importlib.util
        import marshal

        path = os.path.join(_cache_root(), "convlint", f"dataclass-code-{importlib.util.MAGIC_NUMBER.hex()}.marshal")
    except Exception:  # noqa: BLE001 - no cache, the ordinary import
        import libcst

        return libcst
    if "exec" in vars(dataclasses):  # somebody else's patch: leave it alone
        import libcst

        return libcst
    codes = _read(path, marshal)
    used: dict[str, object] = {}
    fresh = [0]
    builtin_exec = exec
    future = _future_flags()

    def cached_exec(source, globals=None, locals=None, /):
        if type(source) is not str:
            return builtin_exec(source, globals, locals)
        flags = sys._getframe(1).f_code.co_flags & future  # exec(str) compiles with its caller's __future__ flags
        code = codes.get(source) if not flags else None
        if code is None:
            code = compile(source, "<string>", "exec", flags, dont_inherit=True)
            if not flags:
                fresh[0] += 1
        if not flags:
            used[source] = code
        return builtin_exec(code, globals, locals)

    dataclasses.exec = cached_exec  # dataclasses' own calls to exec find it before the builtin
    try:
        import libcst
    finally:
        vars(dataclasses).pop("exec", None)
    if fresh[0] and used:
        _write(path, used, marshal)
    return libcst


def _future_flags() -> int:
    import __future__

    flags = 0
    for name in __future__.all_feature_names:
        flags |= getattr(__future__, name).compiler_flag
    return flags


def _cache_root() -> str:
    root = os.environ.get("XDG_CACHE_HOME")
    if root:
        return root
    return os.path.join(os.path.expanduser("~"), ".cache")


def _read(path: str, marshal) -> dict:
    try:
        with open(path, "rb") as handle:
            codes = marshal.load(handle)
    except (OSError, EOFError, ValueError, TypeError):
        return {}
    if not isinstance(codes, dict):
        return {}
    code_type = type(_read.__code__)
    return {k: v for k, v in codes.items() if type(k) is str and type(v) is code_type}


def _write(path: str, codes: dict, marshal) -> None:
    import tempfile

    try:
        folder = os.path.dirname(path)
        os.makedirs(folder, exist_ok=True)
        fd, temporary = tempfile.mkstemp(prefix=".tmp-", dir=folder)
        try:
            with os.fdopen(fd, "wb") as handle:
                marshal.dump(codes, handle)
            os.replace(temporary, path)
        except BaseException:
            os.unlink(temporary)
            raise
    except (OSError, ValueError):
        pass  # a cache we cannot write is only a slower next run
