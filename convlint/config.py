"""Configuration: `[tool.convlint]` in pyproject.toml, or a convlint.toml (top-level keys).

Discovery is per linted file, as in ruff: the nearest folder above the file that holds a
`convlint.toml`, or a `pyproject.toml` with a `[tool.convlint]` table (a pyproject.toml
without one is skipped), wins; `convlint.toml` wins over `pyproject.toml` in the same folder.
`--config PATH` uses one file for every linted file, `--isolated` uses none.
Relative paths and globs in a file are relative to the folder that holds it.

Command-line flags override the file, as in ruff: `--select` replaces `select` and
`extend-select`; `--ignore` and `--extend-select` add to the file's; the file's `ignore`
still applies under `--select` unless the check is named there explicitly (not via ALL).
"""

from __future__ import annotations

import fnmatch
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ConfigError  # defined apart (cli catches it without importing this module)
from .findings import SEVERITIES

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

CONFIG_NAMES = ("convlint.toml", "pyproject.toml")
DEFAULT_FAIL_ON = "warning"
KEYS = (
    "select",
    "ignore",
    "extend-select",
    "per-file-ignores",
    "exclude",
    "severity",
    "fail-on",
    "inputs",
    "factories",
    "extra-paths",
)


@dataclass
class Config:
    """One configuration file, parsed and validated. Check sets hold rule names."""

    path: Path | None = None
    select: frozenset[str] | None = None
    explicit_select: frozenset[str] = frozenset()  # named one by one in `select`, not via ALL
    ignore: frozenset[str] = frozenset()
    extend_select: frozenset[str] = frozenset()
    per_file_ignores: tuple[tuple[str, frozenset[str]], ...] = ()
    exclude: tuple[str, ...] = ()
    severity: dict[str, str] = field(default_factory=dict)
    fail_on: str | None = None
    inputs: dict[tuple[str, str], tuple[int, ...]] = field(default_factory=dict)
    factories: dict[tuple[str, str], str] = field(default_factory=dict)  # for --verify: "resnet18(num_classes=10)"
    extra_paths: tuple[Path, ...] = ()  # folders searched for imported packages' source (imports.find_module)

    @property
    def root(self) -> Path:
        return self.path.parent if self.path is not None else Path.cwd()

    def relative(self, path: str | os.PathLike) -> str | None:
        """`path` relative to the config file's folder, with `/`; None when it lies outside."""
        root = self.root
        for candidate, base in ((Path(os.path.abspath(path)), root), (Path(os.path.realpath(path)), root.resolve())):
            try:
                return candidate.relative_to(base).as_posix()
            except ValueError:
                continue
        return None

    def excluded(self, path: str | os.PathLike) -> bool:
        if not self.exclude:
            return False  # the common case: no realpath for every file linted
        relative = self.relative(path)
        return relative is not None and any(glob_matches(relative, g) for g in self.exclude)

    def ignored_for(self, path: str | os.PathLike) -> frozenset[str]:
        if not self.per_file_ignores:
            return frozenset()
        relative = self.relative(path)
        if relative is None:
            return frozenset()
        names: set[str] = set()
        for glob, ignored in self.per_file_ignores:
            if glob_matches(relative, glob):
                names |= ignored
        return frozenset(names)

    def inputs_for(self, path: str | os.PathLike) -> dict[str, tuple[int, ...]]:
        """Model name -> input size, for every model of the file `path` the `inputs` table names."""
        if not self.inputs:
            return {}  # the common case: no realpath for every file linted
        file = _canonical(path)
        return {model: size for (where, model), size in self.inputs.items() if where == file}

    def factories_for(self, path: str | os.PathLike) -> dict[str, str]:
        """Model name -> the call that builds it, for every model of the file `path` the `factories` table names."""
        if not self.factories:
            return {}
        file = _canonical(path)
        return {model: call for (where, model), call in self.factories.items() if where == file}

    def factory_for(self, path: str | os.PathLike, model_name: str) -> str | None:
        """The call the `factories` table gives to build the model `model_name` of the file `path`."""
        return self.factories.get((_canonical(path), model_name))


def glob_matches(relative: str, glob: str) -> bool:
    """ruff-like path globs: `*` crosses folders, a pattern without `/` also matches a file or
    folder name anywhere, and a pattern that matches a folder matches everything under it."""
    glob = glob.strip()
    if glob.startswith("./"):
        glob = glob[2:]
    glob = glob.rstrip("/")
    if not glob:
        return False
    parts = relative.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for prefix in prefixes:
        if fnmatch.fnmatchcase(prefix, glob):
            return True
        if glob.startswith("**/") and fnmatch.fnmatchcase(prefix, glob[3:]):
            return True
    if "/" not in glob:
        return any(fnmatch.fnmatchcase(part, glob) for part in parts)
    return False


def display(path: Path) -> str:
    """A config file's path as messages show it: relative to the working folder when inside it."""
    try:
        return Path(os.path.abspath(path)).relative_to(Path.cwd()).as_posix()
    except ValueError:
        return str(path)


def _canonical(path: str | os.PathLike) -> str:
    return os.path.normcase(os.path.realpath(path))


# --------------------------------------------------------------------------- reading


def read_toml(path: Path) -> dict:
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{display(path)}: invalid TOML: {error}") from None
    except OSError as error:
        raise ConfigError(f"{display(path)}: cannot read the file: {error.strerror or error}") from None


def table_of(path: Path) -> dict | None:
    """The convlint table of a config file: None when a pyproject.toml has none."""
    data = read_toml(path)
    if path.name == "pyproject.toml":
        tool = data.get("tool")
        table = tool.get("convlint") if isinstance(tool, dict) else None
        if table is None:
            return None
        if not isinstance(table, dict):
            raise ConfigError(f"{display(path)}: [tool.convlint] must be a table")
        return table
    return data


def load(path: str | os.PathLike, *, required: bool = True) -> Config | None:
    """Parse and validate one config file. A pyproject.toml without [tool.convlint] gives an
    empty Config when `required` (an explicit --config), else None."""
    path = Path(os.path.abspath(path))
    try:
        stat = path.stat()
        stamp = (stat.st_mtime_ns, stat.st_size)
    except OSError:
        stamp = None
    known = _LOADED.get((path, required))
    if stamp is not None and known is not None and known[0] == stamp:
        return known[1]
    table = table_of(path)
    config = (Config(path) if required else None) if table is None else parse(table, path)
    if stamp is not None:
        _LOADED[(path, required)] = (stamp, config)
    return config


# every linted file looks up its config (and models their inputs): a file is read again only
# when it changed, also in a language server that runs for hours
_LOADED: dict[tuple[Path, bool], tuple[tuple[int, int], Config | None]] = {}


def parse(table: dict, path: Path) -> Config:
    where = f"{display(path)}: [tool.convlint]" if path.name == "pyproject.toml" else display(path)
    for key in table:
        if key not in KEYS:
            raise ConfigError(f"{where}: unknown key {key!r}{_did_you_mean(key, KEYS)}")
    config = Config(path)
    if "select" in table:
        codes = _codes(table["select"], "select", where)
        config.select = _expand(codes, "select", where)
        config.explicit_select = _expand([c for c in codes if c.upper() != "ALL"], "select", where)
    if "extend-select" in table:
        config.extend_select = _expand(_codes(table["extend-select"], "extend-select", where), "extend-select", where)
    if "ignore" in table:
        config.ignore = _expand(_codes(table["ignore"], "ignore", where), "ignore", where)
    if "exclude" in table:
        config.exclude = tuple(_strings(table["exclude"], "exclude", where))
    if "per-file-ignores" in table:
        value = table["per-file-ignores"]
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: 'per-file-ignores' must be a table of glob = [codes]")
        config.per_file_ignores = tuple(
            (glob, _expand(_codes(codes, f'per-file-ignores."{glob}"', where), f'per-file-ignores."{glob}"', where))
            for glob, codes in value.items()
        )
    if "severity" in table:
        value = table["severity"]
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: 'severity' must be a table of check = \"error\"|\"warning\"|\"info\"")
        for key, level in value.items():
            rule = _rule(key, "severity", where)
            config.severity[rule] = _severity(level, f"severity.{key}", where)
    if "fail-on" in table:
        config.fail_on = _severity(table["fail-on"], "fail-on", where)
    if "inputs" in table:
        config.inputs = _inputs(table["inputs"], path.parent, where)
    if "factories" in table:
        config.factories = _factories(table["factories"], path.parent, where)
    if "extra-paths" in table:
        config.extra_paths = tuple((path.parent / folder).resolve() for folder in _strings(table["extra-paths"], "extra-paths", where))
    return config


def _did_you_mean(word: str, choices) -> str:
    import difflib

    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _strings(value, key: str, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where}: {key!r} must be a list of strings")
    return value


def _codes(value, key: str, where: str) -> list[str]:
    if isinstance(value, str):  # `select = "ALL"` is forgiven
        value = [value]
    return _strings(value, key, where)


def _rule(code: str, key: str, where: str) -> str:
    from . import rules

    rule = rules.lookup(code.strip())
    if rule is None:
        names = [r.code for r in rules.RULES] + [r.name for r in rules.RULES]
        raise ConfigError(f"{where}: unknown check {code!r} in '{key}'{_did_you_mean(code, names)}")
    return rule.name


def _expand(codes: list[str], key: str, where: str) -> frozenset[str]:
    from . import rules

    names: set[str] = set()
    for code in codes:
        if code.strip().upper() == "ALL":
            names.update(r.name for r in rules.RULES)
        else:
            names.add(_rule(code, key, where))
    return frozenset(names)


def _severity(value, key: str, where: str) -> str:
    if not isinstance(value, str) or value.lower() not in SEVERITIES:
        raise ConfigError(f"{where}: {key!r} must be one of \"error\", \"warning\", \"info\", not {value!r}")
    return value.lower()


def _inputs(value, folder: Path, where: str) -> dict[tuple[str, str], tuple[int, ...]]:
    from .syntax import parse_input_size

    if not isinstance(value, dict):
        raise ConfigError(f"{where}: 'inputs' must be a table of \"path/to/file.py::Model\" = \"3x224x224\"")
    inputs = {}
    for key, size in value.items():
        model = _model_key("inputs", key, folder, where)
        shape = parse_input_size(size) if isinstance(size, str) else None
        if shape is None:
            raise ConfigError(f"{where}: inputs.{key!r} = {size!r} is not a size like \"3x224x224\"")
        inputs[model] = shape
    return inputs


def _model_key(table: str, key: str, folder: Path, where: str) -> tuple[str, str]:
    """A `"path/to/file.py::Model"` key, its path relative to the config's folder: (file, model)."""
    file, sep, model = key.rpartition("::")
    if not sep or not file or not model.isidentifier():
        raise ConfigError(f"{where}: {table} key {key!r} is not \"path/to/file.py::ModelName\"")
    return _canonical(folder / file), model


class FactoryName(str):
    """A name in a factory call (`BasicBlock`, `nn.ReLU`): looked up in the model's file by --verify."""


def parse_factory(text: str) -> tuple[FactoryName, list, dict] | None:
    """`"ResNet(BasicBlock, [2, 2, 2, 2], num_classes=10)"` -> the callable's name, the arguments and
    the keyword arguments, each a Python literal or a FactoryName. None: not such a call. Nothing is
    evaluated here (literals by ast.literal_eval), so reading a config file never runs code."""
    import ast

    def argument(node):
        names = []
        while isinstance(node, ast.Attribute):
            names.append(node.attr)
            node = node.value
        if isinstance(node, ast.Name):
            return FactoryName(".".join([node.id, *reversed(names)]))
        if names:
            raise ValueError("not a dotted name")
        return ast.literal_eval(node)

    try:
        call = ast.parse(text.strip(), mode="eval").body
        if not isinstance(call, ast.Call) or any(isinstance(a, ast.Starred) for a in call.args):
            return None
        func = argument(call.func)
        keywords = [k.arg for k in call.keywords]
        if not isinstance(func, FactoryName) or None in keywords or len(set(keywords)) < len(keywords):
            return None
        return func, [argument(a) for a in call.args], {k.arg: argument(k.value) for k in call.keywords}
    except (SyntaxError, ValueError, TypeError, MemoryError, RecursionError):
        return None


def _factories(value, folder: Path, where: str) -> dict[tuple[str, str], str]:
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: 'factories' must be a table of \"path/to/file.py::Model\" = \"make_model(10)\"")
    factories = {}
    for key, call in value.items():
        model = _model_key("factories", key, folder, where)
        if not isinstance(call, str) or parse_factory(call) is None:
            raise ConfigError(
                f"{where}: factories.{key!r} = {call!r} is not a call like \"make_model(10, norm=nn.BatchNorm2d)\" "
                "(arguments: Python literals or names of the file)"
            )
        factories[model] = call.strip()
    return factories


# --------------------------------------------------------------------------- discovery


def inputs_for_file(path: str | os.PathLike) -> dict[str, tuple[int, ...]]:
    """The `inputs` table's sizes for the models of `path`, from the configuration that applies to
    it. A broken configuration gives none here: it costs the evidence, not the run."""
    try:
        return Resolver().config_for(path).inputs_for(path)
    except Exception:  # noqa: BLE001
        return {}


def extra_paths_for_file(path: str | os.PathLike) -> tuple[Path, ...]:
    """The `extra-paths` of the configuration that applies to `path` (none from a broken one)."""
    try:
        return Resolver().config_for(path).extra_paths
    except Exception:  # noqa: BLE001
        return ()


class Resolver:
    """Which Config applies to a linted file (cached per folder)."""

    def __init__(self, config_path: str | os.PathLike | None = None, isolated: bool = False) -> None:
        self.isolated = isolated
        self.fixed: Config | None = None
        if isolated:
            self.fixed = Config()
        elif config_path is not None:
            if not Path(config_path).is_file():
                raise ConfigError(f"--config {config_path}: no such file")
            self.fixed = load(config_path, required=True)
        self._by_folder: dict[Path, Config] = {}

    def config_for(self, path: str | os.PathLike) -> Config:
        if self.fixed is not None:
            return self.fixed
        folder = Path(os.path.abspath(path)).parent
        return self._for_folder(folder)

    def _for_folder(self, folder: Path) -> Config:
        found = self._by_folder.get(folder)
        if found is not None:
            return found
        config = None
        for name in CONFIG_NAMES:
            candidate = folder / name
            if candidate.is_file():
                config = load(candidate, required=False)
                if config is not None:
                    break
        if config is None:
            config = self._for_folder(folder.parent) if folder.parent != folder else Config()
        self._by_folder[folder] = config
        return config


def find_config(path: str | os.PathLike) -> Path | None:
    """The config file that applies to `path` (None: none does)."""
    return Resolver().config_for(path).path


# --------------------------------------------------------------------------- the effective settings


@dataclass(frozen=True)
class Options:
    """What the command line says; None: not given."""

    select: frozenset[str] | None = None
    explicit_select: frozenset[str] = frozenset()
    extend_select: frozenset[str] = frozenset()
    ignore: frozenset[str] = frozenset()
    fail_on: str | None = None


@dataclass(frozen=True)
class FileSettings:
    select: frozenset[str]
    severity: dict
    fail_on: str
    excluded: bool
    config: Config


def default_select() -> frozenset[str]:
    from . import rules

    return frozenset(r.name for r in rules.RULES if r.severity != "info")


def always_on() -> frozenset[str]:
    """A file that cannot be read is always worth saying."""
    from . import rules

    return frozenset(r.name for r in rules.FILE_RULES if r.severity != "info")


class Settings:
    """Command-line options combined with the config of each file."""

    def __init__(self, options: Options | None = None, resolver: Resolver | None = None) -> None:
        self.options = options or Options()
        self.resolver = resolver or Resolver(isolated=True)
        self._cache: dict[int, tuple] = {}

    def for_file(self, path: str | os.PathLike) -> FileSettings:
        config = self.resolver.config_for(path)
        select, severity, fail_on = self._combined(config)
        ignored = config.ignored_for(path)
        return FileSettings(select - ignored, severity, fail_on, config.excluded(path), config)

    def _combined(self, config: Config) -> tuple:
        cached = self._cache.get(id(config))
        if cached is not None and cached[0] is config:
            return cached[1]
        cli = self.options
        if cli.select is not None:
            chosen = set(cli.select)
            chosen |= config.extend_select | cli.extend_select
            named = cli.explicit_select | cli.extend_select
            chosen -= config.ignore - named
        else:
            chosen = set(config.select if config.select is not None else default_select())
            chosen |= config.extend_select
            chosen -= config.ignore
            chosen |= cli.extend_select
        chosen |= always_on()
        chosen -= cli.ignore
        combined = (frozenset(chosen), dict(config.severity), cli.fail_on or config.fail_on or DEFAULT_FAIL_ON)
        self._cache[id(config)] = (config, combined)
        return combined


def severity_rank(severity: str) -> int:
    return SEVERITIES.index(severity)
