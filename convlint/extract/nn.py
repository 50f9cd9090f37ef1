"""torch.nn as the interpreter knows it: constructing layers and containers, calling modules on
tensors (a leaf layer becomes an op, a container or an instance of a class we read is followed),
the methods of modules, and torch's class hierarchy for isinstance."""

from __future__ import annotations

import ast
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

from .. import layers as L
from ..graph import Layer
from ..sizes import UNKNOWN
from . import einops, fixed, sized
from .probe import probe
from .state import MAX_SPECULATION, catches
from .values import (
    BUFFER, ArrayVal, Builtin, ClassInfo, ConstTensor, Container, DictVal, FeatureList, Function, Instance, Lazy,
    ListVal, MethodRef, OneOf, Qual, Raise, SizedTensor, Tensor, as_param, binds, forward_of, int_value, is_parameter,
    is_tensor, known, owner_items,
)

# every private attribute name torch.nn.Module and the torch.nn layers define (collected from torch
# 2.13's torch/nn/modules): `getattr(module, "_is_stage_end", False)` on a module whose class we read
# whole is the default for any other private name
TORCH_PRIVATE = frozenset("""
    _ASMoutput _EXTRA_STATE_KEY_SUFFIX _SUPPORTED_ACC_DTYPES _addindent _adjust _all_weights _apply
    _apply_instance_norm _apply_permutation _arg_requires_grad _backward_hooks _backward_pre_hooks _buffers
    _call_impl _ceil_div _check_arg_device _check_input_dim _check_non_zero_input_channels
    _compiled_call_impl _compute_batch_chunk_size _conv_forward _detect_is_causal_mask _ff_block
    _fill_padding_idx_with_zero _flat_weight_refs _flat_weights _flat_weights_names _forward_hooks
    _forward_hooks_always_called _forward_hooks_with_kwargs _forward_pre_hooks
    _forward_pre_hooks_with_kwargs _forward_unimplemented _freeze _generate_square_subsequent_mask
    _get_abs_string_index _get_activation_fn _get_backward_hooks _get_backward_pre_hooks _get_clones
    _get_full_log_prob _get_in_channels _get_item_by_idx _get_name _get_no_batch_dim _get_num_spatial_dims
    _get_seq_len _global_is_full_backward_hook _grad_t _handle_no_batch_input _has_any_global_hook
    _infer_parameters _init_flat_weights _initialize_hook _is_full_backward_hook _is_make_fx_tracing
    _key_to_attr _keys _lazy_load_hook _linear_cross_entropy_batch_chunked
    _linear_cross_entropy_batch_chunked_accumulator _linear_cross_entropy_batch_chunked_backward
    _linear_cross_entropy_batch_chunked_no_reduction
    _linear_cross_entropy_batch_chunked_no_reduction_backward
    _linear_cross_entropy_batch_chunked_no_reduction_setup_context
    _linear_cross_entropy_batch_chunked_setup_context _list_with_default _load_from_state_dict _load_hook
    _load_state_dict_post_hooks _load_state_dict_pre_hooks _make_empty _make_zeros _mask
    _maybe_warn_non_full_backward_hook _mha_block _modules _named_members _non_persistent_buffers_set
    _ntuple _output_padding _parameters _qkv_same_embed_dim _random_samples
    _register_load_state_dict_pre_hook _register_state_dict_hook _replicate_for_data_parallel
    _require_tuple_int _reset_parameters _resolve_auto_acc_dtype _reverse_repeat_tuple
    _reversed_padding_repeated_twice _rnn_impls _sa_block _save_to_state_dict _shape_t _single _size
    _slow_forward _state_dict_hooks _state_dict_pre_hooks _supported_device_type _update_flat_weights
    _version _vmap _vmap_no_reduction _weight _weights_have_changed _wrapped_call_impl
""".split())
# nn.Module methods that neither change what a module contains nor what its forward does
MODULE_QUERIES = {
    "parameters", "named_parameters", "buffers", "named_buffers", "modules", "named_modules", "state_dict",
    "extra_repr", "zero_grad", "register_forward_hook", "register_forward_pre_hook", "register_full_backward_hook",
    "requires_grad_", "load_state_dict", "to", "cuda", "cpu", "float", "half", "double", "share_memory", "train", "eval",
}
# the public names of nn.Sequential, nn.ModuleList and nn.ModuleDict and their instances (torch 2.13):
# Python finds these before torch's __getattr__ looks for a child of that name
CONTAINER_METHODS = frozenset("""
    T_destination add_module append apply bfloat16 buffers call_super_init children clear compile cpu cuda double
    dump_patches eval extend extra_repr float forward get_buffer get_extra_state get_parameter get_submodule half
    insert ipu items keys load_state_dict modules mtia named_buffers named_children named_modules named_parameters
    parameters pop register_backward_hook register_buffer register_forward_hook register_forward_pre_hook
    register_full_backward_hook register_full_backward_pre_hook register_load_state_dict_post_hook
    register_load_state_dict_pre_hook register_module register_parameter register_state_dict_post_hook
    register_state_dict_pre_hook requires_grad_ set_extra_state set_submodule share_memory state_dict to to_empty
    train training type update values xpu zero_grad
""".split())
TORCH_BASES = {"torch.nn.Module", "torch.nn.Sequential", "torch.nn.ModuleList", "torch.nn.ModuleDict"}
CONTAINER_KINDS = {"Sequential", "ModuleList", "ModuleDict"}
NOT_MODULES = {"Parameter", "Buffer", "UninitializedParameter", "UninitializedBuffer"}

TORCH_CLASSES = (
    {k for k in L.LAYERS if k[:1].isupper() and k not in L.FOREIGN_LAYERS and k not in L.ANY_DIMS_KINDS}
    | {b for spec in L.LAYERS.values() for b in spec.torch_bases}
    | {"Module"} | CONTAINER_KINDS
)


# the attributes a torch layer's constructor sets from its arguments, by layer: "given" (the argument
# as it is) or "tuple" (an int made a tuple of the layer's rank, as torch's _ntuple does; a padding
# string kept); any other argument is kept as given
_CONV_ATTRIBUTES = {"in_channels": "given", "out_channels": "given", "groups": "given", "padding_mode": "given",
                    **dict.fromkeys(("kernel_size", "stride", "dilation", "padding", "output_padding"), "tuple")}
_NORM_ATTRIBUTES = dict.fromkeys(("num_features", "eps", "momentum", "affine", "track_running_stats"), "given")
LAYER_ATTRIBUTES = {
    **{f"{lazy}{conv}{n}d": _CONV_ATTRIBUTES for lazy in ("", "Lazy") for conv in ("Conv", "ConvTranspose")
       for n in (1, 2, 3)},
    **{f"{norm}{n}d": _NORM_ATTRIBUTES for norm in ("BatchNorm", "InstanceNorm") for n in (1, 2, 3)},
    L.ANY_DIMS["Conv"]: _CONV_ATTRIBUTES, L.ANY_DIMS["ConvTranspose"]: _CONV_ATTRIBUTES,
    L.ANY_DIMS["BatchNorm"]: _NORM_ATTRIBUTES, L.ANY_DIMS["InstanceNorm"]: _NORM_ATTRIBUTES,
    "GroupNorm": dict.fromkeys(("num_groups", "num_channels", "eps", "affine"), "given"),
    "LayerNorm": {"normalized_shape": "tuple", "eps": "given", "elementwise_affine": "given"},
    "RMSNorm": {"normalized_shape": "tuple", "eps": "given", "elementwise_affine": "given"},
    "Linear": dict.fromkeys(("in_features", "out_features"), "given"),
}


def layer_class(kind: str | None) -> bool:
    """A torch.nn layer class of the table (not a container, not nn.Module)."""
    return kind is not None and kind[:1].isupper() and kind in L.LAYERS


def inherits_forward(instance: Instance) -> bool:
    """Whether calling `instance` (a subclass of a torch layer that does not define forward) runs
    its base layer's forward as the base was built: no class of ours overrides a private method
    torch's forward calls (`_conv_forward`), and the weight and bias are the base's own, or the bias
    set to None (timm's `LayerNormNoBias`), run as the base built without one."""
    if instance.base is None or instance.opaque or "weight" in instance.attrs or "bias" in instance.attrs \
            and not (instance.attrs["bias"] is None and "bias" in (instance.base.params or ())):
        return False
    return not any(name in TORCH_PRIVATE for klass in instance.cls.mro() for name in klass.attrs)


def torch_class(name: str) -> str | None:
    """`torch.nn.MaxPool2d` / `torch.nn.modules.batchnorm._BatchNorm` -> the class name, if we know it."""
    parts = name.split(".")
    if parts[:2] != ["torch", "nn"] or not (len(parts) == 3 or len(parts) == 5 and parts[2] == "modules"):
        return None
    return parts[-1] if parts[-1] in TORCH_CLASSES else None


def torch_mro(kind: str) -> set[str] | None:
    if kind not in TORCH_CLASSES:
        return None
    spec = L.LAYERS.get(kind)
    return {kind, "Module", *(spec.torch_bases if spec is not None else ())}


def torch_isinstance(value: Any, name: str) -> Any:
    """isinstance(value, torch.nn.<name>), when sure."""
    if isinstance(value, Layer):
        mro = None if value.kind in NOT_MODULES else torch_mro(value.kind)
    elif isinstance(value, Container):
        mro = torch_mro(value.kind) if value.kind in CONTAINER_KINDS else None
    elif isinstance(value, Instance):
        mro = set()
        for klass in value.cls.mro():
            for base in klass.bases:
                if isinstance(base, ClassInfo) or isinstance(base, Builtin) and base.name == "object":
                    continue
                found = torch_mro(torch_class(base.name) or "") if isinstance(base, Qual) else None
                if found is None:
                    return UNKNOWN
                mro |= found
    elif isinstance(value, OneOf):
        answers = {torch_isinstance(option, name) for option in value.options}
        return answers.pop() if len(answers) == 1 else UNKNOWN
    elif known(value) or isinstance(value, (Tensor, ListVal, DictVal, ConstTensor, ArrayVal)):
        return False
    else:
        return UNKNOWN
    if mro is None:
        return UNKNOWN
    return name in mro


def module_kind(value: Any) -> bool | None:
    """Whether torch registers `value` as a sub-module when it is assigned to a module's attribute
    (None: cannot tell)."""
    if isinstance(value, Layer):
        return value.kind not in NOT_MODULES
    if isinstance(value, Container):
        return True
    if isinstance(value, Instance):
        if value.cls.torch_base() is not None:
            return True
        return False if resolved_bases(value.cls) else None
    if isinstance(value, OneOf):
        kinds = {module_kind(option) for option in value.options}
        return kinds.pop() if len(kinds) == 1 else None
    if value is UNKNOWN or isinstance(value, (MethodRef, Lazy)):
        return None
    return False


def _conv_rank(layer: Layer) -> int | None:
    spec = L.LAYERS.get(layer.kind)
    return spec.spatial if spec is not None and spec.convolution else None


def _weight(layer: Layer):
    """The shape of a Linear's or a convolution's weight, from its arguments (None: not known)."""
    p, n = layer.params, _conv_rank(layer)
    if layer.kind == "Linear":
        shape = (p.get("out_features"), p.get("in_features"))
    elif n is not None and layer.kind.startswith("Conv"):
        kernel, groups = layer_attribute(layer, "kernel_size"), p.get("groups", 1)
        if not (isinstance(kernel, tuple) and int_value(groups) and groups > 0):
            return None
        first, second = ("in_channels", "out_channels") if "Transpose" in layer.kind else ("out_channels", "in_channels")
        rows, per = p.get(first), p.get(second)
        shape = (rows, per // groups if int_value(per) and per % groups == 0 else None, *kernel)
    else:
        return None
    return shape if all(int_value(d) and d > 0 for d in shape) else None


def _tensor_attribute(layer: Layer, name: str) -> Any:
    weight = _weight(layer)
    if weight is None:
        return UNKNOWN
    if name == "weight":
        return ConstTensor(weight, owner=layer)
    bias = layer.params.get("bias", True)
    rows = weight[1] * layer.params.get("groups", 1) if "Transpose" in layer.kind else weight[0]
    return ConstTensor((rows,), owner=layer) if bias is True else None if bias is False else UNKNOWN


# attributes torch computes from a layer's arguments: its parameters (for Linear and convolutions)
LAYER_TENSORS = {"weight": _tensor_attribute, "bias": _tensor_attribute}


ABSENT = object()  # layer_attribute: not an attribute we know the layer to have


def layer_attribute(layer: Layer, name: str) -> Any:
    """`self.conv.stride`, `self.fc.weight`, or `self.<name>` read in a subclass of the torch layer:
    what torch's layer holds, as its arguments give it (a convolution's kernel_size one per spatial
    dim, a LayerNorm's normalized_shape a tuple, weight and bias tensors of known shape, None
    without a bias); ABSENT when it is not one of them."""
    if layer.params is None:
        return ABSENT
    if name in LAYER_TENSORS:
        return LAYER_TENSORS[name](layer, name)
    if name not in layer.params:
        return ABSENT
    value = layer.params[name]
    if LAYER_ATTRIBUTES.get(layer.kind, {}).get(name) != "tuple" or isinstance(value, str):
        return value
    if int_value(value):  # LayerNorm: normalized_shape=96 is (96,); a conv of unknown dimensions: of unknown length
        return UNKNOWN if layer.kind in L.ANY_DIMS_KINDS else (value,) * (L.LAYERS[layer.kind].spatial or 1)
    if isinstance(value, (tuple, list)) and all(int_value(v) for v in value):
        return tuple(value)
    return UNKNOWN


def surely_absent(owner: Any, name: str) -> bool:
    """A private attribute (`_is_cn`) that no code we could not read can have set on `owner`."""
    if not name.startswith("_") or name.startswith("__") or name in TORCH_PRIVATE:
        return False
    if isinstance(owner, Layer):  # a torch layer: only what its constructor sets, and what we saw set
        return owner.params is not None and name not in owner.params and name not in owner.attrs
    if not isinstance(owner, Instance) or owner.opaque or owner.loose or name in owner.attrs \
            or owner.cls.lookup(name) is not None:
        return False
    return resolved_bases(owner.cls, torch_ok=True)


def resolved_bases(cls: ClassInfo, torch_ok: bool = False) -> bool:
    """Every base class along the MRO is one we read (or `object`)."""
    for klass in cls.mro():
        for base in klass.bases:
            if isinstance(base, ClassInfo) or isinstance(base, Builtin) and base.name == "object":
                continue
            if torch_ok and isinstance(base, Qual) and base.name in TORCH_BASES:
                continue
            return False
    return True


class Modules:
    """torch.nn modules (a mixin of the Extractor)."""

    def construct(self, kind: str, args: list, kwargs: dict, node: ast.AST) -> Any:
        if kind == "Sequential":
            if len(args) == 1 and isinstance(args[0], DictVal) and not kwargs:
                if args[0].lost or args[0].maybe:
                    return UNKNOWN
                return Container(kind, list(args[0].values), node, list(args[0].keys))
            return Container(kind, list(args), node)
        if kind in ("ModuleList", "ModuleDict", "ParameterList"):
            if not args:
                return Container(kind, [], node, [] if kind == "ModuleDict" else None)
            if isinstance(args[0], DictVal):
                return UNKNOWN if args[0].lost or args[0].maybe else Container(kind, list(args[0].values), node, list(args[0].keys))
            items = self.iterate(args[0])
            if items is None:
                return UNKNOWN
            if kind == "ModuleDict":
                pairs = [self.iterate(p) for p in items]
                if any(p is None or len(p) != 2 for p in pairs):
                    return UNKNOWN
                return Container(kind, [p[1] for p in pairs], node, [p[0] for p in pairs])
            return Container(kind, items, node)
        if kind == "Module":
            return UNKNOWN
        if kind == "Parameter" and args and isinstance(args[0], ConstTensor):
            return ConstTensor(args[0].shape, node)  # nn.Parameter(torch.ones(c, 1, 1)): a tensor of that shape
        if kind == "Parameter" and args and isinstance(args[0], SizedTensor) \
                and (partial := sized.parameter(args[0], node)) is not None:
            return partial
        params = None
        if kind in L.LAYERS:
            params = L.bind(kind, [as_param(a) for a in args], {k: as_param(v) for k, v in kwargs.items()})
            if params is None and any(catches(names, "TypeError") for names in self.catching):
                raise Raise("TypeError")  # timm's `try: act_layer(inplace=True) except TypeError: act_layer()`
        layer = Layer(kind, params, node, self.foreign_site or self.helper_site or node, speculative=self.speculative > 0,
                      file=self.code_file, via=self.call_stack[-1] if self.call_stack else None, guessed=self.guessing,
                      entry=self.config_entry())
        if not layer.speculative:  # each construction is checked with the values it was built with
            self.layers[id(layer)] = layer
            self.layer_log.append(id(layer))
        if self.helper_site is not None:
            self.note_helper_layer(layer)
        return layer

    def config_entry(self) -> ast.AST | None:
        """The call that made the config object (a dataclass, a namespace: not a module) the innermost
        loop is at, `StageCfg(240, 32)` of `for s in STAGES:`, when it is a call of this file."""
        for item in reversed(self.loop_items):
            if isinstance(item, Instance) and item.site is not None and item.cls.torch_base() is None:
                return item.site if item.cls.foreign is None else None
        return None

    def note_helper_layer(self, layer: Layer) -> None:
        """A helper's one-off layer is reported where the helper is called; a layer the helper
        builds again and again (a config loop) is reported at its own definition."""
        siblings = self.helper_layers.setdefault(id(layer.node), [])
        siblings.append(layer)
        if len(siblings) > 1:
            for sibling in siblings:
                sibling.site = sibling.node

    def apply(self, module: Any, args: list, kwargs: dict, node: ast.AST) -> Any:
        """Call a module on tensors: leaf layers become ops, containers and instances are followed."""
        if self.mode is None and self.depth and len(args) == 1 and not kwargs and isinstance(args[0], ConstTensor) \
                and args[0].parameter is None and isinstance(module, (Container, Instance)):
            # while a model is built (torchvision's retrieve_out_channels; not a script's own top-level run)
            return probe(self, module, args[0], node)
        if self.ops is None:
            return UNKNOWN
        if isinstance(module, Layer):
            if module.kind in LAYER_CALLS:
                return LAYER_CALLS[module.kind](self, module, args, kwargs, node)
            if len(args) == 1 and is_tensor(args[0]) and not kwargs:
                return self.emit("layer", (args[0].value,), node, module)
            if len(args) == 1 and isinstance(args[0], ConstTensor) and not kwargs:
                return self.on_constant(module, args[0], node, node)
            return self.unknown_result(args, kwargs, node)
        if isinstance(module, Container):
            if module.kind != "Sequential" or len(args) != 1 or kwargs:
                return self.unknown_result(args, kwargs, node)
            if is_tensor(args[0]):
                self.applied[id(module)] = module
            with self.inside(module):
                return self.fold(module.children, args[0], node)
        if isinstance(module, OneOf):
            return self.apply_either(module, args, kwargs, node)
        if isinstance(module, Instance) and not module.opaque:
            forward = forward_of(module)
            hook = self.forward_hook(module) if isinstance(forward, Function) else None
            if hook is not None:
                self.applied[id(module)] = module
                with self.inside(module):
                    return hook(self, module, args, kwargs, node)
            if isinstance(forward, Function):
                if binds(forward.node.args, 1 + len(args), kwargs) and any(is_tensor(a) or isinstance(a, FeatureList) for a in args):
                    self.applied[id(module)] = module
                with self.inside(module):
                    return self.call_function(forward, [module, *args], kwargs, node)
            if module.children is not None and len(args) == 1:
                if is_tensor(args[0]):
                    self.applied[id(module)] = module
                with self.inside(module):
                    return self.fold(module.children, args[0], node)
            if forward is None and inherits_forward(module):
                base = module.base if "bias" not in module.attrs else \
                    replace(module.base, params={**module.base.params, "bias": False})
                with self.inside(module):
                    return self.apply(base, args, kwargs, node)
        return self.unknown_result(args, kwargs, node)

    def on_constant(self, layer: Layer, const: ConstTensor, node: ast.AST, source: ast.AST) -> Any:
        """A layer applied to a tensor of known shape that is not the model's (swin v2's table of
        coordinates through its MLP, `source` the call): the shape its rule gives, and a step of
        the model that reads that tensor (a "fixed" op: the checks see what the layer receives)."""
        if fixed.reads_last_axis(layer, const):
            self.emit("layer", (self.emit("fixed", (), source, shape=const.shape).value,), node, layer)
        return fixed.through_layer(layer, const)

    def apply_either(self, module: OneOf, args: list, kwargs: dict, node: ast.AST) -> Any:
        """Each option called as an arm of a branch (what one builds or emits may never happen);
        an option that raises is not the one built, as exec_arms drops an arm that raises. An
        option's forward reading `self.training` (DropPath's) does not make the model run again in
        training mode: what the options do is joined, so that run would seldom know more, and it
        would double the cost of every timm model (the file's budget then builds fewer variants)."""
        if self.speculative >= MAX_SPECULATION:
            return self.unknown_result(args, kwargs, node)
        results = []
        mode_read = self.mode_read
        with self.speculation():
            for option in module.options:
                try:
                    results.append({"v": self.apply(option, args, kwargs, node)})
                except Raise:
                    pass
        self.mode_read = mode_read
        if not results:
            raise Raise
        return self.merge(results, node)["v"]

    @contextmanager
    def inside(self, module: Any):
        """While `module`'s forward (or a Sequential's children) runs: the scope of the ops emitted."""
        self.scope.append(module)
        try:
            yield
        finally:
            self.scope.pop()

    def module_paths(self, root: Any) -> tuple[dict[int, str], dict[str, str], dict[str, Any]]:
        """({id of each module under root: its name in torch's named_modules()}, {name: class name},
        {name: the call that built it}): parents first, in registration order, a module held twice
        under its first name."""
        paths: dict[int, str] = {id(root): ""}
        if isinstance(root, Instance) and root.base is not None:
            paths[id(root.base)] = ""
        kinds: dict[str, str] = {"": module_class(root)}
        sites: dict[str, Any] = {}
        stack = [("", root)]
        while stack:
            path, owner = stack.pop()
            below = []
            for name, child in _named(owner):
                if isinstance(child, OneOf):  # each option is the module of that name, if it is the one built
                    name = f"{path}.{name}" if path else str(name)
                    kinds[name] = module_class(child)
                    for option in child.options:
                        paths.setdefault(id(option), name)
                    continue
                if id(child) in paths or not isinstance(child, (Layer, Container, Instance, ConstTensor, SizedTensor)):
                    continue
                name = f"{path}.{name}" if path else str(name)
                paths[id(child)], kinds[name] = name, module_class(child)
                if isinstance(child, Instance) and child.base is not None:
                    paths.setdefault(id(child.base), name)  # a torch layer's subclass: its parameters are its own
                site = getattr(child, "site", None) or getattr(child, "node", None)
                if site is not None:
                    sites[name] = site
                below.append((name, child))
            stack.extend(reversed(below))
        return paths, kinds, sites

    def fold(self, children: list, value: Any, node: ast.AST) -> Any:
        for child in children:
            if isinstance(value, ConstTensor):
                # not the model's tensor (swin v2's table of coordinates): shapes through layers only
                value = self.on_constant(child, value, child.node, node) if isinstance(child, Layer) else \
                    self.apply(child, [value], {}, node) if isinstance(child, Container) else UNKNOWN
                continue
            if not is_tensor(value):
                return value
            if isinstance(child, (Layer, Container, Instance, OneOf)):
                value = self.apply(child, [value], {}, child.node if isinstance(child, (Layer, Container)) else node)
            else:
                value = self.emit("unknown", (value.value,), node)
        return value

    def named_children(self, owner: Any) -> list | None:
        """(name, module) for each direct sub-module, in torch's registration order, when known."""
        if isinstance(owner, Container):
            if owner.kind not in CONTAINER_KINDS:
                return None
            keys = owner.keys if owner.keys is not None else [str(i) for i in range(len(owner.children))]
            return list(zip(keys, owner.children)) if len(keys) == len(owner.children) else None
        if owner.opaque:
            return None
        if owner.children is not None:
            names = owner.child_names
            return list(zip(names, owner.children)) if len(names) == len(owner.children) and None not in names else None
        if any(value is UNKNOWN for value in owner.attrs.values()):
            return None  # it may have been a module, registered where we lost track
        pairs = []
        for name in owner.order:
            value = owner.attrs.get(name)
            if value is None:
                continue
            if not module_kind(value):
                return None
            pairs.append((name, value))
        return pairs


_ATTENTION_FORWARD = ("query", "key", "value", "key_padding_mask", "need_weights", "attn_mask",
                      "average_attn_weights", "is_causal")


def _attention_call(interp, layer: Layer, args: list, kwargs: dict, node) -> Any:
    """`out, weights = attn(q, k, v, need_weights=False)`: one op on the three tensors; the weights
    are not followed (None when not asked for, as torch returns)."""
    given = {**dict(zip(_ATTENTION_FORWARD, args)), **kwargs}
    if len(args) > len(_ATTENTION_FORWARD) or set(given) - set(_ATTENTION_FORWARD) \
            or not all(is_tensor(given.get(name)) for name in _ATTENTION_FORWARD[:3]):
        return interp.unknown_result(args, kwargs, node)
    out = interp.emit("layer", tuple(given[name].value for name in _ATTENTION_FORWARD[:3]), node, layer)
    return out, None if given.get("need_weights", True) is False else UNKNOWN


# torch layers called on more than one tensor, or returning more than one: how a call is followed
LAYER_CALLS = {"MultiheadAttention": _attention_call, "Rearrange": einops.rearrange_call}


def _named(owner: Any) -> list:
    """(name, value) for the sub-modules of `owner` we know the names of, in registration order (unlike
    named_children, also when something else it holds is unknown: the names known are still right)."""
    if isinstance(owner, Container):
        keys = owner.keys if owner.keys is not None else [str(i) for i in range(len(owner.children))]
        return list(zip(keys, owner.children))
    if not isinstance(owner, Instance):
        return []
    if owner.children is not None:
        return [(n, c) for n, c in zip(owner.child_names, owner.children) if n is not None]
    named = [(name, owner.attrs[name]) for name in owner.order if module_kind(owner.attrs.get(name))]
    # and its nn.Parameter attributes, by the name named_parameters() gives them
    return named + [(name, v) for name, v in owner.attrs.items()
                    if (isinstance(v, Layer) and v.kind in NOT_MODULES) or is_parameter(v)]


def module_class(value: Any) -> str:
    if isinstance(value, Layer):
        return value.kind
    if isinstance(value, Container):
        return value.kind
    if isinstance(value, (ConstTensor, SizedTensor)):
        return "Parameter"
    if isinstance(value, OneOf):
        return " or ".join(dict.fromkeys(module_class(option) for option in value.options))
    return value.cls.name if isinstance(value, Instance) else type(value).__name__


# ---- methods of modules, each handler(interp, owner, name, args, kwargs, node)

# the nn.Module methods that leave a container as it is
_CONTAINER_QUERIES = ("parameters", "named_parameters", "modules", "named_modules", "state_dict", "to", "cuda",
                      "train", "eval")


MAX_APPLIED = 256  # container.apply(fn) over more modules than this is not followed


def apply_to_modules(interp, module: Any, fn: Any, node) -> bool:
    """`container.apply(fn)`: fn called on every sub-module, children first, then on the container
    itself, as torch does (kornia's `self.features.apply(self.weights_init)`); False, having called
    nothing, when the sub-modules are not all known. (An instance's own `self.apply(...)`, in the
    __init__ of every block of a model, is not run: applied at each level of a deep model it would
    cost the steps of the model many times over.)"""
    order: list = []

    def walk(value: Any) -> bool:
        if isinstance(value, (Container, Instance)):
            pairs = interp.named_children(value)
            if pairs is None or not all(walk(child) for _, child in pairs):
                return False
        elif not isinstance(value, Layer) or value.kind in NOT_MODULES:
            return False
        order.append(value)
        return len(order) <= MAX_APPLIED

    if not walk(module):
        return False
    for value in order:
        interp.invoke(fn, [value], {}, node)
    return True


def container_method(interp, owner: Container, name: str, args: list, kwargs: dict, node) -> Any:
    if name == "apply" and len(args) == 1 and not kwargs and apply_to_modules(interp, owner, args[0], node):
        return owner
    if name in ("named_children", "children") and not args and not kwargs and owner.kind in CONTAINER_KINDS:
        pairs = interp.named_children(owner)
        return pairs if name == "named_children" else [child for _, child in pairs]
    if name == "insert" and len(args) == 2 and int_value(args[0]) and owner.kind == "ModuleList":
        owner.children.insert(args[0], args[1])
        return None
    if name in ("append", "add_module") and args:
        owner.children.append(args[-1])
        if owner.keys is not None:
            owner.keys.append(args[0] if len(args) == 2 else str(len(owner.keys)))
        return owner
    if name == "extend" and args:
        items = interp.iterate(args[0])
        if items is None:
            raise Raise
        owner.children.extend(items)
        return owner
    if name in ("children", "modules") and owner.kind != "ModuleDict":
        return list(owner.children)
    if name == "values":
        return list(owner.children)
    if name == "items" and owner.keys is not None:
        return list(zip(owner.keys, owner.children))
    if name not in _CONTAINER_QUERIES:
        owner.kind = "Unknown"  # an unknown method may have changed what it contains
    return UNKNOWN


def _registered_buffer(args: list, kwargs: dict) -> Any:
    """What `register_buffer(name, tensor)` keeps: a plain tensor of known shape (kornia's
    `torch.tensor([eps])`), else a buffer of unknown shape."""
    tensor = args[0] if args else kwargs.get("tensor")
    return tensor if isinstance(tensor, ConstTensor) and tensor.parameter is None else BUFFER


def _modules_of(module: Any, depth: int = 0) -> list | None:
    """torch's `modules()` of a module whose contents are all known (a Sequential or a subclass of
    it, of layers and such modules): itself, then each descendant in order; None otherwise."""
    if isinstance(module, Layer):
        return [module]
    children = module.children if isinstance(module, (Instance, Container)) else None
    if children is None or depth > 8 or isinstance(module, Container) and module.kind == "Unknown" \
            or isinstance(module, Instance) and (module.opaque or module.loose or owner_items(module.attrs)):
        return None
    found = [module]
    for child in children:
        below = _modules_of(child, depth + 1)
        if below is None:
            return None
        found.extend(m for m in below if all(m is not seen for seen in found))  # each module once, as torch
    return found


def _registered_parameter(args: list, kwargs: dict, node) -> Any:
    """What `register_parameter(name, param)` registers: an nn.Parameter we know (of a known
    shape or not), None, or else a parameter of unknown size, which torch's parameters() counts."""
    param = args[0] if args else kwargs.get("param")
    if param is None or is_parameter(param) \
            or isinstance(param, Layer) and param.kind == "Parameter":
        return param
    return Layer("Parameter", None, node, node)


def _named_pairs(interp, mapping: Any) -> list | None:
    """ModuleDict.update's argument as (name, module) pairs: a dict of str keys, or pairs of them."""
    if isinstance(mapping, DictVal):
        if mapping.lost or mapping.maybe:
            return None
        pairs = list(zip(mapping.keys, mapping.values))
    else:
        items = interp.iterate(mapping)
        pairs = [tuple(p) if isinstance(p, tuple) else interp.iterate(p) for p in items] if items is not None else None
        if pairs is None or any(p is None or len(p) != 2 for p in pairs):
            return None
    return pairs if all(isinstance(k, str) and module_kind(v) for k, v in pairs) else None


def replaced(interp, owner: Instance, kwargs: dict, node) -> Any:
    """A typing.NamedTuple's `_replace(**changes)`: a new tuple of the same fields, those changed (monai's
    EfficientNet widens each `BlockArgs` so); unknown when a field is not one it has."""
    fields = owner.cls.fields
    if not fields or not set(kwargs) <= {f.name for f in fields} or any(f.name not in owner.attrs for f in fields):
        return UNKNOWN
    return interp.instantiate(owner.cls, [], {**{f.name: owner.attrs[f.name] for f in fields}, **kwargs}, node)


def instance_method(interp, owner: Instance, name: str, args: list, kwargs: dict, node) -> Any:
    """A method of an instance that its class does not define: torch.nn.Module's, a NamedTuple's _replace."""
    if name == "_replace" and not args and owner.cls.derives_from("typing.NamedTuple"):
        return replaced(interp, owner, kwargs, node)
    if name in ("add_module", "register_module") and len(args) == 2:
        interp.touch(owner)
        if isinstance(args[0], str):
            interp.set_attr(owner, args[0], args[1])
        elif owner.children is not None:
            owner.children.append(args[1])
            owner.child_names.append(None)
        if module_kind(args[1]) is None and owner.children is not None:
            owner.children = None  # a module we could not follow is among them: the sequence is unknown
        return None
    if name in ("items", "values", "keys") and owner.children is not None and not isinstance(owner.cls.lookup(name), Function):
        pairs = list(zip(owner.child_names, owner.children))
        return {"items": pairs, "values": [c for _, c in pairs], "keys": [n for n, _ in pairs]}[name]
    if name == "update" and owner.children is not None and len(args) == 1 and not kwargs \
            and owner.cls.torch_base() == "ModuleDict" and not isinstance(owner.cls.lookup(name), Function):
        pairs = _named_pairs(interp, args[0])
        if pairs is not None:  # timm's FeatureDictNet: `self.update(layers)`, an OrderedDict of its model's children
            interp.touch(owner)
            for key, module in pairs:
                interp.set_attr(owner, key, module)
            return None
    if name == "append" and owner.children is not None and len(args) == 1:
        interp.touch(owner)
        owner.children.append(args[0])
        return None
    if name in ("named_children", "children") and not args and not kwargs and not isinstance(owner.cls.lookup(name), Function):
        pairs = interp.named_children(owner)
        if pairs is not None:
            return pairs if name == "named_children" else [child for _, child in pairs]
        return UNKNOWN
    if name == "modules" and not args and not kwargs and not isinstance(owner.cls.lookup(name), Function):
        found = _modules_of(owner)
        if found is not None:
            return found  # an init loop over a Sequential subclass (torchvision's MLP): it, then its layers
    if name in MODULE_QUERIES and not isinstance(owner.cls.lookup(name), Function):
        return interp.unknown_result(args, kwargs, node)
    if name in ("register_buffer", "register_parameter") and args and isinstance(args[0], str):
        interp.touch(owner, args[0])
        owner.attrs[args[0]] = _registered_buffer(args[1:], kwargs) if name == "register_buffer" \
            else _registered_parameter(args[1:], kwargs, node)
        return None
    owner.loose = True  # an unknown method may have set attributes
    if owner.children is not None and not isinstance(owner.cls.lookup(name), Function):
        owner.children = None  # an unknown method may have changed what it contains
        owner.opaque = True
    return interp.unknown_result(args, kwargs, node)
