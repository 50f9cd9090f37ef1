"""Python's own library as the interpreter knows it: the builtins, a few functions of the standard
library (and numpy's linspace), and the methods of lists and dicts. Each is one entry of a table
keyed by its name; a handler that cannot be sure answers unknown."""

from __future__ import annotations

import ast
import copy
import math
import re
from typing import Any

from ..graph import Layer, batch_of, is_batch, is_read_size
from ..sizes import UNKNOWN
from .kinds import TORCH_NAMESPACES, isinstance_of, module_has, subclass_of, torch_has
from .nn import surely_absent
from .state import MAX_UNROLL
from .values import (
    BUILTINS, MUTATORS, ArrayVal, ClassInfo, Container, DictVal, EnumMember, Env, Instance, ListVal,
    MethodRef, NamesOf, Partial, Qual, Raise, SetVal, SizesOf, Super, int_value, is_tensor, known, next_serial,
    numeric,
)

# ---------------------------------------------------------------------------------------- builtins


def _super(interp, args, kwargs, node):
    if interp.self_instance is not None and interp.current_class is not None:
        return Super(interp.self_instance, interp.current_class)
    return UNKNOWN


def _len(interp, args, kwargs, node):
    if args and is_tensor(args[0]):
        return batch_of(args[0].value)
    if args and isinstance(args[0], SizesOf):
        return UNKNOWN
    if args and isinstance(args[0], frozenset):
        return len(args[0])
    if args and isinstance(args[0], SetVal):
        return UNKNOWN if args[0].lost else len(args[0].items)
    items = interp.iterate(args[0]) if args else None
    return UNKNOWN if items is None else len(items)


def _frozenset(interp, args, kwargs, node):
    """frozenset(items) of known numbers and strings, as a frozenset: its size and sorted() are
    sure, not the order it iterates in (a string's hash changes from run to run)."""
    items = interp.iterate(args[0]) if len(args) == 1 and not kwargs else [] if not args and not kwargs else None
    if items is None or not all(known(i) for i in items):
        return UNKNOWN
    return frozenset(items)


def _set(interp, args, kwargs, node):
    """set(items): as frozenset(items), but a SetVal of them, each once, that set_method changes."""
    items = _frozenset(interp, args, kwargs, node)
    return SetVal(sorted(items, key=repr)) if isinstance(items, frozenset) else items


def _range(interp, args, kwargs, node):
    if not all(isinstance(a, int) and not isinstance(a, bool) for a in args) or not 1 <= len(args) <= 3:
        return UNKNOWN
    if len(args) == 3 and args[2] == 0:
        return UNKNOWN
    span = range(*args)
    return list(span) if len(span) <= MAX_UNROLL else UNKNOWN


def _sequence(name):
    def make(interp, args, kwargs, node):
        if not args:
            return ListVal([]) if name == "list" else ()
        if name == "sorted" and isinstance(args[0], SetVal) and not args[0].lost:
            items = list(args[0].items)  # its order is no matter once sorted
        elif name == "sorted" and isinstance(args[0], frozenset):
            items = list(args[0])
        else:
            items = interp.iterate(args[0])
        if items is None:
            return UNKNOWN
        if name == "reversed":
            items = items[::-1]
        if name == "sorted":
            if not all(known(i) for i in items):
                return UNKNOWN
            try:
                items = sorted(items)
            except TypeError:
                return UNKNOWN
        return tuple(items) if name == "tuple" else ListVal(items)
    return make


def _enumerate(interp, args, kwargs, node):
    items = interp.iterate(args[0]) if args else None
    start = args[1] if len(args) > 1 else kwargs.get("start", 0)
    if items is None or not isinstance(start, int):
        return UNKNOWN
    return [(i + start, item) for i, item in enumerate(items)]


def _zip(interp, args, kwargs, node):
    lists = [interp.iterate(a) for a in args]
    if any(items is None for items in lists):
        return UNKNOWN
    return list(zip(*lists))


def _conversion(function):
    def convert(interp, args, kwargs, node):
        if function is int and len(args) == 1 and not kwargs and (is_read_size(args[0]) or is_batch(args[0])):
            return args[0]  # int(x.size(1)): already an int
        if len(args) != 1 or not known(args[0]):
            return interp.unknown_result(args, kwargs, node)
        try:
            return function(args[0])
        except (TypeError, ValueError, OverflowError):
            return UNKNOWN
    return convert


def _aggregate(function):
    def aggregate(interp, args, kwargs, node):
        items = args if len(args) > 1 else interp.iterate(args[0]) if args else None
        if items is None or not items and function in (min, max) or not all(known(i) for i in items):
            return UNKNOWN
        try:
            return function(items)
        except TypeError:
            return UNKNOWN
    return aggregate


def _setattr(interp, args, kwargs, node):
    if len(args) == 3 and isinstance(args[0], Instance) and isinstance(args[1], str):
        interp.set_attr(args[0], args[1], args[2])
        return None
    if args and isinstance(args[0], Instance):
        args[0].loose = True  # an attribute whose name we do not know
    return interp.unknown_result(args, kwargs, node)


def _getattr(interp, args, kwargs, node):
    if len(args) < 2 or not isinstance(args[1], str):
        return interp.unknown_result(args, kwargs, node)
    value = interp.attribute(args[0], args[1], node)
    if (isinstance(value, MethodRef) or isinstance(args[0], Layer)) and len(args) == 3 \
            and surely_absent(args[0], args[1]):
        return args[2]
    return UNKNOWN if isinstance(value, MethodRef) else value


def _hasattr(interp, args, kwargs, node):
    if len(args) != 2 or kwargs or not isinstance(args[1], str):
        return interp.unknown_result(args, kwargs, node)
    value, name = args
    if isinstance(value, Qual):
        return torch_has(value.name, name)
    if isinstance(value, (ListVal, DictVal)) and not value.lost:  # Python's own answer for a value of its type
        return hasattr(set() if isinstance(value, SetVal) else [] if isinstance(value, ListVal) else {}, name)
    if known(value):
        return hasattr(value, name)
    return module_has(value, name)


def _dir(interp, args, kwargs, node):
    if len(args) == 1 and not kwargs and isinstance(args[0], Qual) and args[0].name in TORCH_NAMESPACES:
        return NamesOf(args[0].name)
    return interp.unknown_result(args, kwargs, node)


_PYTHON_TYPES = {bool: "bool", int: "int", float: "float", str: "str", tuple: "tuple", type(None): None}


def _type(interp, args, kwargs, node):
    if len(args) != 1 or kwargs:
        return interp.unknown_result(args, kwargs, node)
    value = args[0]
    if isinstance(value, (Instance, EnumMember)):
        return value.cls
    if type(value) in _PYTHON_TYPES and _PYTHON_TYPES[type(value)] is not None and known(value):
        return BUILTINS[_PYTHON_TYPES[type(value)]]
    if isinstance(value, (ListVal, DictVal)):
        return BUILTINS["list" if isinstance(value, ListVal) else "dict"]
    return UNKNOWN


def _isinstance(interp, args, kwargs, node):
    if len(args) != 2:
        return interp.unknown_result(args, kwargs, node)
    return isinstance_of(args[0], args[1])


def _issubclass(interp, args, kwargs, node):
    if len(args) != 2 or kwargs:
        return interp.unknown_result(args, kwargs, node)
    return subclass_of(args[0], args[1])


def _dict(interp, args, kwargs, node):
    """dict(**kw), and dict(mapping, **kw) of a dict we know (timm's `dict(model_args, **kwargs)`)."""
    if not args:
        return DictVal(list(kwargs), list(kwargs.values()))
    base = args[0]
    if len(args) > 1 or not isinstance(base, DictVal) or base.lost or base.maybe:
        return UNKNOWN
    merged = DictVal(list(base.keys), list(base.values))
    for key, value in kwargs.items():
        merged.put(key, value)
    return merged


# builtin name -> handler(interp, args, kwargs, node); any other builtin's result is unknown
BUILTIN_CALLS = {
    "super": _super, "len": _len, "set": _set, "frozenset": _frozenset, "range": _range, "enumerate": _enumerate, "zip": _zip,
    **{name: _sequence(name) for name in ("list", "tuple", "reversed", "sorted")},
    **{name: _conversion(function) for name, function in
       {"int": int, "float": float, "abs": abs, "round": round, "bool": bool, "str": str}.items()},
    **{function.__name__: _aggregate(function) for function in (min, max, sum, any, all)},
    "setattr": _setattr, "getattr": _getattr, "type": _type, "isinstance": _isinstance, "issubclass": _issubclass, "dict": _dict,
    "hasattr": _hasattr, "dir": _dir,
}


# ------------------------------------------------------------------------ the standard library


def _cast(interp, args, kwargs, node):
    if len(args) == 2 and not kwargs:
        return args[1]
    return interp.unknown_result(args, kwargs, node)


def _ordered_dict(interp, args, kwargs, node):
    if not args:
        return DictVal([], [])
    pairs = interp.iterate(args[0]) if not isinstance(args[0], DictVal) else None
    if isinstance(args[0], DictVal) and not args[0].lost and not args[0].maybe:
        return DictVal(list(args[0].keys), list(args[0].values))
    if pairs is None:
        return UNKNOWN
    keys, values = [], []
    for pair in pairs:
        items = interp.iterate(pair)
        if items is None or len(items) != 2:
            return UNKNOWN
        keys.append(items[0])
        values.append(items[1])
    return DictVal(keys, values)


def _namespace(name):
    cls = ClassInfo(ast.ClassDef(name=name, bases=[], keywords=[], body=[], decorator_list=[]), [], {}, Env())

    def make(interp, args, kwargs, node):  # SimpleNamespace(channels=8): an object with those attributes
        if args:
            return interp.unknown_result(args, kwargs, node)
        instance = Instance(cls)
        for key, value in kwargs.items():
            interp.set_attr(instance, key, value)
        return instance
    return make


def _copy(deep: bool):
    def copy_value(interp, args, kwargs, node):  # copy.copy(cfg), copy.deepcopy(layer)
        if len(args) != 1 or kwargs:
            return interp.unknown_result(args, kwargs, node)
        return clone(args[0], deep, {})
    return copy_value


def clone(value: Any, deep: bool, memo: dict) -> Any:
    """A copy of a value as copy.copy (or copy.deepcopy) makes it: the same kind of object with its
    own attributes and contents; functions, classes, tensors and constants are shared."""
    if id(value) in memo:
        return memo[id(value)]
    inner = (lambda v: clone(v, deep, memo)) if deep else (lambda v: v)
    if isinstance(value, (Instance, Layer, Container, ListVal, DictVal)):
        new = memo[id(value)] = copy.copy(value)
        if hasattr(new, "born"):
            new.born = next_serial()
        if isinstance(value, (Instance, Layer)):
            new.attrs = {k: inner(v) for k, v in value.attrs.items()}
        if isinstance(value, Instance):
            new.children = None if value.children is None else [inner(c) for c in value.children]
            new.child_names, new.order = list(value.child_names), list(value.order)
            new.base = None if value.base is None else inner(value.base)  # deepcopy: parameters of its own
        if isinstance(value, Layer) and value.params is not None:
            new.params = dict(value.params)
        if isinstance(value, Container):
            new.children = [inner(c) for c in value.children]
            new.keys = None if value.keys is None else list(value.keys)
        if isinstance(value, ListVal):
            new.items = [inner(v) for v in value.items]
        if isinstance(value, DictVal):
            new.keys, new.values, new.maybe = list(value.keys), [inner(v) for v in value.values], set(value.maybe)
        return new
    if type(value) is tuple and deep:
        return tuple(inner(v) for v in value)
    return value


def _partial(interp, args, kwargs, node):
    if not args:
        return interp.unknown_result(args, kwargs, node)
    return Partial(args[0], list(args[1:]), dict(kwargs))


def _linspace(interp, args, kwargs, node):
    if not 2 <= len(args) <= 3 or not all(numeric(a) for a in args) or kwargs:
        return interp.unknown_result(args, kwargs, node)
    return linspace(*args)


def linspace(start, stop, num=50) -> Any:
    """numpy.linspace(start, stop, num), as numpy computes it (step · i + start, the end exact)."""
    if not int_value(num) or not 0 <= num <= MAX_UNROLL:
        return UNKNOWN
    if num == 1:
        return ArrayVal([float(start)])
    step = (stop - start) / (num - 1)
    items = [i * step + start for i in range(num)]
    if items:
        items[-1] = float(stop)
    return ArrayVal([float(v) for v in items])


def _math(function):
    def compute(interp, args, kwargs, node):
        if not all(numeric(a) for a in args):
            return interp.unknown_result(args, kwargs, node)
        if function is math.prod:
            return UNKNOWN
        try:
            return function(*args)
        except (ValueError, OverflowError, TypeError):
            return UNKNOWN
    return compute


def _prod(interp, args, kwargs, node):
    """math.prod / numpy.prod of numbers, or of sizes read from a tensor (`math.prod(x.shape[1:])`)."""
    items = interp.iterate(args[0]) if len(args) == 1 and not kwargs else None
    if items is None:
        return interp.unknown_result(args, kwargs, node)
    result = 1
    for item in items:
        result = interp.binary("Multiply", result, item, node)
        if result is UNKNOWN:
            return UNKNOWN
    return result


# qualified name -> hook(interp, args, kwargs, node)
def _repeat(interp, args, kwargs, node):
    """itertools.repeat(x, n): n copies (what tuple() or list() of it holds); without n, endless: unknown."""
    times = args[1] if len(args) == 2 else kwargs.get("times")
    if len(args) + len(kwargs) != 2 or not int_value(times) or not 0 <= times <= MAX_UNROLL:
        return UNKNOWN
    return (args[0],) * times


def _regex(function):
    """re.split / re.fullmatch-free helpers on known strings: Python's own answer (a list as a ListVal)."""
    def call(interp, args, kwargs, node):
        if len(args) != 2 or kwargs or not all(isinstance(a, str) for a in args) or len(args[1]) > 10_000:
            return UNKNOWN
        try:
            result = function(*args)
        except re.error:
            return UNKNOWN
        return ListVal([p for p in result]) if all(isinstance(p, str) for p in result) else UNKNOWN
    return call


QUAL_CALLS = {
    "itertools.repeat": _repeat, "re.split": _regex(re.split), "re.findall": _regex(re.findall),
    "typing.cast": _cast, "collections.OrderedDict": _ordered_dict, "typing.OrderedDict": _ordered_dict,
    "functools.partial": _partial, "copy.copy": _copy(False), "copy.deepcopy": _copy(True),
    "types.SimpleNamespace": _namespace("SimpleNamespace"), "argparse.Namespace": _namespace("Namespace"),
}
QUAL_FALLBACKS = {
    "numpy.linspace": _linspace,
    **{f"math.{function.__name__}": _math(function)
       for function in (math.ceil, math.floor, math.sqrt, math.log, math.log2, math.log10, math.exp)},
    "math.prod": _prod, "numpy.prod": _prod,
}

# ------------------------------------------------------------------------ methods of containers


def list_method(interp, owner: ListVal, name: str, args: list, kwargs: dict, node) -> Any:
    if name == "append" and len(args) == 1:
        owner.items.append(args[0])
        return None
    if name == "extend" and len(args) == 1:
        items = interp.iterate(args[0])
        if items is None:
            raise Raise  # the list's contents are no longer known: drop this path
        owner.items.extend(items)
        return None
    if name == "insert" and len(args) == 2 and isinstance(args[0], int):
        owner.items.insert(args[0], args[1])
        return None
    if name == "pop" and not args and owner.items:
        return owner.items.pop()
    if name == "reverse" and not args and not kwargs:
        owner.items.reverse()  # monai's SegResNet reverses its skip list before decoding
        return None
    if name in ("append", "extend", "insert", "pop", "remove", "clear"):
        raise Raise
    if name in MUTATORS:
        owner.lost = True  # a change we do not make (sort): what it holds is no longer known
    return UNKNOWN


def set_method(interp, owner: SetVal, name: str, args: list, kwargs: dict, node) -> Any:
    """add, discard and remove of a known item (remove of one it lacks raises KeyError); any other
    method loses what it holds."""
    item = args[0] if len(args) == 1 and not kwargs else UNKNOWN
    if owner.lost or name not in ("add", "discard", "remove") or not known(item) \
            or not all(known(i) for i in owner.items):
        owner.lost = True
        return UNKNOWN
    interp.touch(owner)
    if name == "add" and item not in owner.items:
        owner.items.append(item)
    elif name != "add" and item in owner.items:
        owner.items.remove(item)
    elif name == "remove":
        raise Raise
    return None


def array_method(interp, owner: ArrayVal, name: str, args: list, kwargs: dict, node) -> Any:
    if name == "tolist" and not args and not kwargs:
        return ListVal(list(owner.items))
    if name == "astype" and len(args) == 1 and not kwargs and args[0] in (BUILTINS["int"], BUILTINS["float"]):
        return ArrayVal([int(i) if args[0] is BUILTINS["int"] else float(i) for i in owner.items])
    return UNKNOWN


def dict_method(interp, owner: DictVal, name: str, args: list, kwargs: dict, node) -> Any:
    if name == "items":
        return list(zip(owner.keys, owner.values))
    if name == "values":
        return list(owner.values)
    if name == "keys":
        return list(owner.keys)
    if name == "get" and args and known(args[0]):
        if args[0] in owner.maybe:
            return UNKNOWN
        return owner.values[owner.keys.index(args[0])] if args[0] in owner.keys else (args[1] if len(args) > 1 else None)
    if owner.maybe:
        return UNKNOWN
    if name == "copy" and not args:
        return DictVal(list(owner.keys), list(owner.values))
    if name in ("pop", "setdefault") and 1 <= len(args) <= 2 and not kwargs and known(args[0]):
        if args[0] in owner.keys:
            index = owner.keys.index(args[0])
            if name == "setdefault":
                return owner.values[index]
            value = owner.values[index]
            del owner.keys[index], owner.values[index]
            return value
        if len(args) == 1 and name == "pop":
            raise Raise  # KeyError
        default = args[1] if len(args) > 1 else None
        if name == "setdefault":
            owner.keys.append(args[0])
            owner.values.append(default)
        return default
    if name == "update" and len(args) <= 1:
        other = args[0] if args else DictVal([], [])
        if not isinstance(other, DictVal) or not all(known(k) for k in other.keys):
            raise Raise  # its contents are no longer known: drop this path
        for key, value in [*zip(other.keys, other.values), *kwargs.items()]:
            owner.put(key, value)
        return None
    if name in ("pop", "popitem", "setdefault", "update", "clear", "__setitem__", "__delitem__"):
        raise Raise  # its contents are no longer known: drop this path
    return UNKNOWN


# methods of str that only compute: "efficientnet_b0".startswith("efficientnet_b")
STR_METHODS = {
    "startswith", "endswith", "lower", "upper", "strip", "lstrip", "rstrip", "replace", "split", "rsplit", "join",
    "format", "isdigit", "isalpha", "count", "find", "removeprefix", "removesuffix", "partition", "rpartition",
}


def str_method(interp, owner: str, name: str, args: list, kwargs: dict, node) -> Any:
    if name == "join":  # of a list too (timm's `'.'.join([name, child_name])`), not only of a tuple
        items = interp.iterate(args[0]) if len(args) == 1 and not kwargs else None
        return owner.join(items) if items is not None and all(isinstance(i, str) for i in items) else UNKNOWN
    if name not in STR_METHODS or not all(known(a) for a in [*args, *kwargs.values()]):
        return UNKNOWN
    try:
        result = getattr(owner, name)(*args, **kwargs)
    except (TypeError, ValueError, IndexError, KeyError):
        return UNKNOWN
    return ListVal(result) if isinstance(result, list) else result
