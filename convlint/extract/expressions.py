"""Expressions: names, literals, containers, comprehensions (unrolled), subscripts, iteration and
truth, each node type one entry of EXPRESSIONS (but names, constants and attributes, the
commonest, which `ev` takes itself)."""

from __future__ import annotations

import ast
from typing import Any

from .. import slices
from ..graph import DimOf, Layer, batch_of
from ..sizes import UNKNOWN
from .calls import Calls
from .operators import Operators, operator_name
from . import fixed, sized, zoo
from .state import MAX_UNROLL, STEP_BUDGET
from .values import (
    ArrayVal, Builtin, ClassInfo, ConstTensor, Container, DictVal, Env, Function, Instance, Lazy, ListVal, OneOf,
    OutOfBudget, Partial, Pieces, Qual, SetVal, ShapeOf, SizedTensor, SizesOf, ValuedTensor, int_value, is_lost,
    is_tensor, known,
)


class Expressions:
    """Evaluating expressions (a mixin of the Extractor)."""

    def ev(self, node: ast.AST, env: Env) -> Any:
        self.steps += 1  # self.tick(), inlined: the interpreter's hottest line
        if self.steps > STEP_BUDGET:
            raise OutOfBudget
        kind = type(node)
        if kind is ast.Name:  # half of all evaluations: ev_name and Env.get inlined, two calls fewer each
            name = node.id
            scope = env
            while scope is not None:
                if name in scope.vars:
                    value = scope.vars[name]
                    return self.resolve(value) if type(value) is Lazy else value
                scope = scope.parent
            value = env.unbound(name)
            return self.resolve(value) if type(value) is Lazy else value
        if kind is ast.Constant:
            value = node.value
            return value if type(value) in slices.LITERAL_TYPES else UNKNOWN  # not bytes, complex or `...`
        if kind is ast.Attribute:
            return self.attribute(self.ev(node.value, env), node.attr, node)
        handler = EXPRESSIONS.get(kind)
        return UNKNOWN if handler is None else handler(self, node, env)

    def ev_fstring(self, node: ast.JoinedStr, env: Env) -> Any:
        """f"stage{i}": known when every expression is a known str or int, formatted plainly."""
        text = []
        for part in node.values:
            if type(part) is ast.Constant:
                text.append(part.value)
                continue
            value = self.ev(part.value, env)
            if part.format_spec is not None or part.conversion != -1:
                return UNKNOWN
            if not isinstance(value, (str, int)) or isinstance(value, bool):
                return UNKNOWN
            text.append(str(value))
        return "".join(text)

    def ev_tuple(self, node: ast.Tuple, env: Env) -> Any:
        return self.sequence(node.elts, env, tuple)

    def ev_list(self, node: ast.List, env: Env) -> Any:
        return self.sequence(node.elts, env, lambda items: ListVal(list(items)))

    def ev_dict(self, node: ast.Dict, env: Env) -> Any:
        merged = DictVal([], [])
        for key_node, value_node in zip(node.keys, node.values):
            if key_node is None:  # {**defaults, **kwargs}
                other = self.ev(value_node, env)
                if not isinstance(other, DictVal) or other.lost or other.maybe or not all(known(k) for k in other.keys):
                    return UNKNOWN
                pairs = list(zip(other.keys, other.values))
            else:
                pairs = [(self.ev(key_node, env), self.ev(value_node, env))]
            for key, value in pairs:
                merged.put(key, value)
        return merged

    def ev_binary(self, node: ast.BinOp, env: Env) -> Any:
        left = self.ev(node.left, env)
        right = self.ev(node.right, env)
        return self.binary(operator_name(node.op), left, right, node)

    def ev_unary(self, node: ast.UnaryOp, env: Env) -> Any:
        return self.unary(node, self.ev(node.operand, env))

    def ev_lambda(self, node: ast.Lambda, env: Env) -> Function:
        """`lambda a: expr` as the function `def <lambda>(a): return expr` (made once per node)."""
        definition = getattr(node, "as_def", None)
        if definition is None:
            definition = node.as_def = ast.copy_location(
                ast.FunctionDef("<lambda>", node.args, [ast.copy_location(ast.Return(node.body), node)], [], None), node)
        return Function(definition, env, self.code_file)

    def ev_ifexp(self, node: ast.IfExp, env: Env) -> Any:
        test = self.truth(self.ev(node.test, env))
        if test is not None:
            return self.ev(node.body if test else node.orelse, env)
        with self.speculation():
            a, b = self.ev(node.body, env), self.ev(node.orelse, env)
        return self.merge([{"v": a}, {"v": b}], node)["v"]

    def sequence(self, elements, env: Env, make) -> Any:
        items = []
        for element in elements:
            if type(element) is ast.Starred:
                inner = self.iterate(self.ev(element.value, env))
                if inner is None:
                    return UNKNOWN
                items.extend(inner)
            else:
                items.append(self.ev(element, env))
        return make(items)

    def comprehension(self, node, env: Env, unpacked: int | None = None) -> Any:
        """`unpacked`: the count of the targets it is assigned to (`a, b, c = (f(t) for t in pieces)`)."""
        results: list = []
        if not self.comprehend(node, 0, Env(env), results, unpacked):
            return UNKNOWN
        if type(node) is ast.SetComp:
            return SetVal(results)
        if type(node) is ast.DictComp:
            merged = DictVal([], [])
            for key, value in results:
                if not known(key):
                    return UNKNOWN
                merged.put(key, value)
            return merged
        return ListVal(results)

    def comprehend(self, node, index: int, scope: Env, results: list, unpacked: int | None = None) -> bool:
        """Unroll the `for` clause `index` of a comprehension (and the ones after it) into `results`.
        `unpacked`: the count of the targets the comprehension is unpacked into (Python raises unless
        a single clause without conditions yields that many): the pieces of a chunk it iterates."""
        if index == len(node.generators):
            if type(node) is ast.DictComp:
                results.append((self.ev(node.key, scope), self.ev(node.value, scope)))
            else:
                results.append(self.ev(node.elt, scope))
            return True
        fors = node.generators[index]
        iterable = self.ev(fors.iter, scope)
        items = self.iterate(iterable)
        if items is None and isinstance(iterable, Pieces) and unpacked is not None and len(node.generators) == 1 \
                and not fors.ifs:
            items = [self.piece(iterable, i, unpacked) for i in range(unpacked)]
        if items is None or len(items) > MAX_UNROLL:
            return False
        for item in items:
            self.assign(fors.target, item, scope)
            tests = [self.truth(self.ev(cond, scope)) for cond in fors.ifs]
            if any(t is None for t in tests):
                return False
            self.loop_items.append(item)
            try:
                if all(tests) and not self.comprehend(node, index + 1, scope, results):
                    return False
            finally:
                self.loop_items.pop()
        return True

    def iterate(self, value: Any) -> list | None:
        if isinstance(value, (ArrayVal, SizesOf)):
            return list(value.items)
        if isinstance(value, Pieces):
            count = value.count
            return None if count is None else [self.piece(value, i, count) for i in range(count)]
        if isinstance(value, (tuple, list)):
            return list(value)
        if is_lost(value) or isinstance(value, DictVal) and value.maybe or isinstance(value, SetVal):
            return None
        if isinstance(value, ListVal):
            return list(value.items)
        if isinstance(value, DictVal):
            return list(value.keys)
        if isinstance(value, Container):
            return list(value.children)
        if isinstance(value, Instance) and value.children is not None:
            return list(value.children)
        if isinstance(value, str):
            return list(value)
        if isinstance(value, ValuedTensor) and len(value.shape) == 1:  # its 0-dim elements
            return [ValuedTensor((), values=(v,), dtype=value.dtype) for v in value.values]
        return None

    def truth(self, value: Any) -> bool | None:
        if known(value):
            return bool(value)
        if isinstance(value, (ListVal, DictVal)):
            if value.lost:
                return None
            if isinstance(value, DictVal) and value.maybe:
                return True if set(value.keys) - value.maybe else None
            return bool(value.items if isinstance(value, ListVal) else value.keys)
        if isinstance(value, (Layer, Container, Instance, Function, ClassInfo, Qual, Partial, Builtin, OneOf)):
            return True
        return None

    def index_const(self, const: ConstTensor | SizedTensor, node: ast.Subscript, env: Env) -> Any:
        """A tensor of known shape indexed: `c[:, :, None]`, `table[index]` (extract/fixed.py); one
        of sizes read off a tensor, by whole axes and new ones (extract/sized.py)."""
        elements = node.slice.elts if type(node.slice) is ast.Tuple else [node.slice]
        spec = []
        for element in elements:
            if type(element) is ast.Slice:
                if element.lower is not None or element.upper is not None or element.step is not None:
                    return UNKNOWN
                spec.append("all")
                continue
            value = self.ev(element, env)
            spec.append("new" if value is None else value)
        return sized.index(const, spec) if isinstance(const, SizedTensor) else fixed.index(const, spec)

    def subscript_key(self, node: ast.Subscript, env: Env) -> Any:
        return UNKNOWN if type(node.slice) is ast.Slice else self.ev(node.slice, env)

    def subscript(self, node: ast.Subscript, env: Env) -> Any:
        value = self.ev(node.value, env)
        if is_tensor(value):
            return self.index_tensor(value, node, env)
        if isinstance(value, (ConstTensor, SizedTensor)):
            return self.index_const(value, node, env)
        if type(node.slice) is ast.Slice:
            part = node.slice
            bounds = [None if b is None else self.ev(b, env) for b in (part.lower, part.upper, part.step)]
            if isinstance(value, ShapeOf):
                return self.shape_slice(value.tensor, *bounds)
            items = self.iterate(value)
            if items is None or not all(b is None or isinstance(b, int) for b in bounds) or bounds[2] == 0:
                return self.emit("unknown", (value.value,), node) if is_tensor(value) else UNKNOWN
            sliced = items[slice(*bounds)]
            if isinstance(value, Container):
                return Container(value.kind, sliced, node)
            return tuple(sliced) if isinstance(value, tuple) else ListVal(sliced)
        key = self.subscript_key(node, env)
        if is_tensor(value):
            return self.emit("unknown", (value.value,), node)
        if isinstance(value, Pieces) and int_value(key):
            count = value.count
            if key >= 0 and (count is None or key < count):
                return self.piece(value, key, count)
            if count is None:  # `spx[-1]` of a split whose length only propagation knows
                return self.piece(value, key, None)
            return self.piece(value, count + key, count) if -count <= key < 0 else UNKNOWN
        if isinstance(value, ShapeOf):
            if key == 0:
                return batch_of(value.tensor.value)
            return DimOf(value.tensor.value, key) if isinstance(key, int) else UNKNOWN
        if isinstance(value, (DictVal, Container)) and getattr(value, "keys", None) is not None and known(key) \
                and not is_lost(value):
            keys = value.keys
            values = value.values if isinstance(value, DictVal) else value.children
            return values[keys.index(key)] if key in keys else UNKNOWN
        if isinstance(value, Instance) and value.children is None:
            hook = zoo.item_hook(self, value)
            if hook is not None:
                return hook(self, value, key, node)
        items = self.iterate(value)
        if items is not None and isinstance(key, int) and not isinstance(key, bool) and -len(items) <= key < len(items):
            return items[key]
        return UNKNOWN


# the handlers themselves, not lambdas that look them up: a call fewer per evaluation (no mixin overrides them)
EXPRESSIONS = {
    ast.JoinedStr: Expressions.ev_fstring,
    ast.Call: Calls.call,
    ast.Tuple: Expressions.ev_tuple,
    ast.List: Expressions.ev_list,
    ast.Dict: Expressions.ev_dict,
    ast.BinOp: Expressions.ev_binary,
    ast.UnaryOp: Expressions.ev_unary,
    ast.BoolOp: Operators.boolean,
    ast.Compare: Operators.compare,
    ast.IfExp: Expressions.ev_ifexp,
    ast.Subscript: Expressions.subscript,
    ast.ListComp: Expressions.comprehension,
    ast.GeneratorExp: Expressions.comprehension,
    ast.DictComp: Expressions.comprehension,
    ast.SetComp: Expressions.comprehension,
    ast.Set: lambda self, node, env: SetVal([self.ev(element, env) for element in node.elts]),
    ast.Lambda: Expressions.ev_lambda,
}
