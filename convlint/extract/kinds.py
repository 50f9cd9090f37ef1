"""What the interpreter answers to isinstance, `x in dir(module)` and hasattr of torch's namespaces,
and class identity: the questions model code asks of the values it is handed (a layer given as a
class, a partial or a name; an option given as a str, a tuple or an Enum member) before it decides
which branch builds what. An answer that cannot be sure is unknown."""

from __future__ import annotations

from typing import Any

from .. import layers as L
from ..graph import Layer
from ..sizes import UNKNOWN
from ..imports import NEVER_READ
from .nn import CONTAINER_KINDS, NOT_MODULES, TORCH_CLASSES, resolved_bases, torch_class, torch_isinstance, torch_mro
from .values import (
    ArrayVal, Builtin, ClassInfo, ConstTensor, Container, DictVal, EnumMember, Function, Instance, ListVal, Partial, Qual, SetVal,
    Tensor, is_enum, is_tensor, known,
)


TORCH_NAMESPACES = ("torch.nn", "torch.nn.functional")  # whose names torch_has knows
# dir(nn.Module()) in torch 2.13, without the dunder names: what any module has
MODULE_NAMES = frozenset("""
T_destination _apply _backward_hooks _backward_pre_hooks _buffers _call_impl _compiled_call_impl
_forward_hooks _forward_hooks_always_called _forward_hooks_with_kwargs _forward_pre_hooks
_forward_pre_hooks_with_kwargs _get_backward_hooks _get_backward_pre_hooks _get_name _is_full_backward_hook
_load_from_state_dict _load_state_dict_post_hooks _load_state_dict_pre_hooks
_maybe_warn_non_full_backward_hook _modules _named_members _non_persistent_buffers_set _parameters
_register_load_state_dict_pre_hook _register_state_dict_hook _replicate_for_data_parallel _save_to_state_dict
_slow_forward _state_dict_hooks _state_dict_pre_hooks _version _wrapped_call_impl add_module apply bfloat16
buffers call_super_init children compile cpu cuda double dump_patches eval extra_repr float forward get_buffer
get_extra_state get_parameter get_submodule half ipu load_state_dict modules mtia named_buffers named_children
named_modules named_parameters parameters register_backward_hook register_buffer register_forward_hook
register_forward_pre_hook register_full_backward_hook register_full_backward_pre_hook
register_load_state_dict_post_hook register_load_state_dict_pre_hook register_module register_parameter
register_state_dict_post_hook register_state_dict_pre_hook requires_grad_ set_extra_state set_submodule
share_memory state_dict to to_empty train training type xpu zero_grad""".split())
# what torch 2.13's containers add to it (dunder names aside)
CONTAINER_NAMES = {
    "Sequential": frozenset("_get_item_by_idx append extend insert pop".split()),
    "ModuleList": frozenset("_get_abs_string_index append extend insert pop".split()),
    "ModuleDict": frozenset("clear items keys pop update values".split()),
}


def torch_has(module: str, name: Any) -> Any:
    """Whether torch's namespace `module` has `name` (timm's `'silu' in dir(F)` feature tests):
    True for what convlint's tables read from it, else unknown."""
    if not isinstance(name, str):
        return UNKNOWN
    if module == "torch.nn.functional":
        return True if name in L.FUNCTIONAL else UNKNOWN
    if module == "torch.nn":
        return True if name in TORCH_CLASSES else UNKNOWN
    return UNKNOWN


def isinstance_of(value: Any, kinds: Any) -> Any:
    """isinstance where the answer is sure: tensors, Python containers and numbers, torch layers."""
    options = kinds if isinstance(kinds, tuple) else (kinds,)
    answers = set()
    for kind in options:
        if isinstance(kind, Qual) and kind.name == "torch.Tensor" or isinstance(kind, Builtin):
            answers.add(instance_answer(value, kind))
        elif isinstance(kind, Qual) and torch_class(kind.name) is not None:
            # a class or a partial handed around (timm's se_layer) is no module instance
            answers.add(False if is_class_or_function(value) else torch_isinstance(value, torch_class(kind.name)))
        elif isinstance(kind, ClassInfo) and isinstance(value, (Instance, EnumMember)) and kind in value.cls.mro():
            answers.add(True)
        elif isinstance(kind, ClassInfo) and (torch_module(value) or isinstance(value, Instance) and not value.opaque
                                              and resolved_bases(value.cls, torch_ok=True)
                                              and not any(same_class(k, kind) for k in value.cls.mro())):
            # a torch layer or container (torch's classes derive from torch's alone), or an instance of
            # a class whose every base we read, none of them that class: monai's decoders tell their
            # blocks apart so (`isinstance(block, SPADEResBlock)`)
            answers.add(False)
        elif isinstance(kind, ClassInfo) and _scalar_or_data(value) and not is_tensor(value) \
                and resolved_bases(kind, torch_ok=True):
            # a list, dict or number is no instance of a class whose every base we read (timm's
            # `isinstance(feature_info, FeatureInfo)`): none of them derives from list or dict
            answers.add(False)
        elif isinstance(kind, Qual) and kind.name in ABSTRACT_KINDS:
            answers.add(ABSTRACT_KINDS[kind.name](value))
        elif isinstance(kind, Qual) and outside_torch(kind.name) and torch_module(value):
            # a class of a package we cannot read (smp's optional `from inplace_abn import
            # InPlaceABN`) is no base of a torch layer: torch's classes derive from torch's alone
            answers.add(False)
        else:
            return UNKNOWN
    if True in answers:
        return True
    return False if answers == {False} else UNKNOWN


def subclass_of(cls: Any, kinds: Any) -> Any:
    """issubclass where the answer is sure: a class of the code read whose every base is read (or
    torch's), and torch's own classes (which derive from no class of the code read)."""
    answers = set()
    for kind in kinds if isinstance(kinds, tuple) else (kinds,):
        if isinstance(cls, ClassInfo) and isinstance(kind, ClassInfo):
            if any(same_class(klass, kind) for klass in cls.mro()):
                answers.add(True)
            else:
                answers.add(False if resolved_bases(cls, torch_ok=True) else UNKNOWN)
        elif isinstance(cls, Qual) and torch_class(cls.name) is not None and isinstance(kind, ClassInfo):
            answers.add(False)
        elif isinstance(cls, Qual) and isinstance(kind, Qual) and None not in (torch_class(cls.name), torch_class(kind.name)):
            mro = torch_mro(torch_class(cls.name))
            answers.add(UNKNOWN if mro is None else torch_class(kind.name) in mro)
        else:
            return UNKNOWN
    if True in answers:
        return True
    return False if answers == {False} else UNKNOWN


def module_has(value: Any, name: str) -> Any:
    """hasattr of a module, where sure: a container has torch's names and its children's; an
    instance of a class read (its every base read, or torch's Module or a container) has what its
    class defines, what was set on it, and torch's names (timm's `hasattr(m, 'init_weights')`
    when it walks a model's modules). A torch layer, or a dunder name: unknown."""
    if name.startswith("__"):
        return UNKNOWN
    if isinstance(value, Container) and value.kind in CONTAINER_NAMES:
        keys = value.keys if value.keys is not None else [str(i) for i in range(len(value.children))]
        return name in MODULE_NAMES or name in CONTAINER_NAMES[value.kind] or name in keys or name in value.attrs
    if isinstance(value, Instance) and not value.opaque:
        if name in value.attrs or value.cls.lookup(name) is not None or name in MODULE_NAMES:
            return True
        base = value.cls.torch_base()
        if value.loose or value.children is not None or base not in ("Module", *CONTAINER_NAMES) \
                or not resolved_bases(value.cls, torch_ok=True):
            return UNKNOWN
        return name in CONTAINER_NAMES.get(base, ())
    return UNKNOWN


def outside_torch(name: str) -> bool:
    """A qualified name of neither torch nor Python's standard library, that names no torch class
    either (a re-export keeps its name: `from compat import Conv2d` may be torch's own)."""
    top = name.partition(".")[0]
    return top not in NEVER_READ and name.rpartition(".")[2] not in TORCH_CLASSES


def torch_module(value: Any) -> bool:
    """An instance of a torch.nn class itself: a layer (not a Parameter) or a torch container."""
    if isinstance(value, Layer):
        return value.kind not in NOT_MODULES and (value.kind in TORCH_CLASSES or value.kind in L.ANY_DIMS_KINDS)
    return isinstance(value, Container) and value.kind in CONTAINER_KINDS


def _scalar_or_data(value: Any) -> bool:
    return known(value) or isinstance(value, (ListVal, DictVal, Tensor)) or isinstance(value, tuple)


def _is_partial(value: Any) -> Any:
    if isinstance(value, Partial):
        return True
    return False if is_class_or_function(value) or _scalar_or_data(value) or isinstance(value, (Layer, Container)) \
        else UNKNOWN


def _is_function(value: Any) -> Any:  # types.FunctionType: a def or a lambda, not a class or a partial
    if isinstance(value, Function):
        return True
    return False if is_class_or_function(value) or _scalar_or_data(value) or isinstance(value, (Layer, Container)) \
        else UNKNOWN


def _is_iterable(value: Any) -> Any:
    if isinstance(value, (str, tuple, ListVal, DictVal)):
        return True
    if isinstance(value, ClassInfo):
        return UNKNOWN if is_enum(value) else False  # an Enum class iterates over its members
    return False if known(value) or isinstance(value, (Function, Partial)) or is_class_or_function(value) else UNKNOWN


def _is_callable(value: Any) -> Any:
    if is_class_or_function(value) or isinstance(value, (Layer, Container)):
        return True
    return False if _scalar_or_data(value) else UNKNOWN


def _is_hashable(value: Any) -> Any:
    if isinstance(value, (ListVal, DictVal)):  # a SetVal too
        return False
    if known(value) or isinstance(value, (EnumMember, Function, Partial)) or is_class_or_function(value):
        return True
    return UNKNOWN


def _is_enum_class(value: Any) -> Any:  # enum.EnumMeta: the class of an Enum class
    if isinstance(value, ClassInfo):
        return is_enum(value)
    return False if _scalar_or_data(value) or isinstance(value, (EnumMember, Function, Partial)) else UNKNOWN


def _is_enum_member(value: Any) -> Any:
    if isinstance(value, EnumMember):
        return True
    return False if _scalar_or_data(value) or is_class_or_function(value) else UNKNOWN


def _collection(mapping: bool, ordered: bool):
    """collections.abc.Mapping (a dict), Sequence (a list, tuple or str), Collection (any of those, or a set)."""
    def answer(value: Any) -> Any:
        if isinstance(value, DictVal):
            return not ordered
        if isinstance(value, SetVal):
            return not mapping and not ordered
        if isinstance(value, (str, tuple, ListVal)):
            return not mapping
        return False if known(value) or is_class_or_function(value) or isinstance(value, EnumMember) else UNKNOWN
    return answer


def _is_ndarray(value: Any) -> Any:
    if isinstance(value, ArrayVal):
        return True
    return False if _scalar_or_data(value) or is_class_or_function(value) else UNKNOWN


def _abstract(*names: str) -> tuple[str, ...]:
    return tuple(f"{module}.{name}" for name in names for module in ("collections.abc", "typing"))


# the abstract kinds isinstance is asked about when a layer is given as a class, a partial or a
# name, and by option look-ups (monai's look_up_option)
ABSTRACT_KINDS = {
    "functools.partial": _is_partial, "types.FunctionType": _is_function,
    **dict.fromkeys(_abstract("Iterable"), _is_iterable), **dict.fromkeys(_abstract("Callable"), _is_callable),
    **dict.fromkeys(_abstract("Hashable"), _is_hashable),
    **dict.fromkeys(_abstract("Mapping"), _collection(mapping=True, ordered=False)),
    **dict.fromkeys(_abstract("Sequence"), _collection(mapping=False, ordered=True)),
    **dict.fromkeys(_abstract("Collection"), _collection(mapping=False, ordered=False)),
    **dict.fromkeys(("enum.EnumMeta", "enum.EnumType"), _is_enum_class), "enum.Enum": _is_enum_member,
    **dict.fromkeys(("numpy.ndarray", "np.ndarray"), _is_ndarray),
}


def instance_answer(value: Any, kind: Any) -> Any:
    if value is UNKNOWN:
        return UNKNOWN
    if kind.name == "type":
        if isinstance(value, ClassInfo) or isinstance(value, Qual) and torch_class(value.name) is not None:
            return True
        return False if isinstance(value, (Function, Partial)) or _scalar_or_data(value) else UNKNOWN
    if isinstance(kind, Qual):
        if kind.name == "torch.Tensor":
            return is_tensor(value) or isinstance(value, ConstTensor)
        return True if isinstance(value, (Layer, Container)) else (False if known(value) or is_tensor(value) else UNKNOWN)
    python = {"int": int, "float": float, "str": str, "bool": bool, "list": (ListVal,), "tuple": tuple, "dict": DictVal,
              "set": SetVal, "bytes": bytes}
    expected = python.get(kind.name)
    if expected is None:
        return UNKNOWN
    if isinstance(value, SetVal):  # a ListVal by its make, no list
        return kind.name == "set"
    if is_class_or_function(value):
        return False  # a layer class handed around by name (timm's `act_layer=nn.ReLU`) is no str or int
    if not (known(value) or isinstance(value, (ListVal, DictVal, Tensor, Layer, Container, tuple))):
        return UNKNOWN  # (a tuple is one, whatever it holds)
    if kind.name == "int" and isinstance(value, bool):
        return True
    return isinstance(value, expected)


def is_class_or_function(value: Any) -> bool:
    """A class or function of the code read, a partial of one, or a torch.nn class."""
    if isinstance(value, Partial):
        return True
    return isinstance(value, (ClassInfo, Function)) or isinstance(value, Qual) and torch_class(value.name) is not None


def same_class(a: Any, b: Any) -> bool:
    """`a == b` for classes and functions (a torch class by its name, however imported); a
    partial equals only itself."""
    if isinstance(a, Qual) and isinstance(b, Qual):
        return (torch_class(a.name) or a.name) == (torch_class(b.name) or b.name)
    if type(a) is type(b) and isinstance(a, (ClassInfo, Function)):  # read again after being forgotten: equal
        return a is b or (a.node.name, a.node.lineno, a.foreign) == (b.node.name, b.node.lineno, b.foreign)
    return a is b


