"""Exact symbolic sizes: integers, or integer expressions over named input sizes.

A ``Sym`` is a polynomial with integer coefficients whose atoms are variables
("H", "W", ...) and floor divisions ``⌊P/d⌋`` of such polynomials.  Every
operation is exact; simplification only ever applies identities that hold for
all integers, e.g. ``⌊(⌊y⌋ + n)/d⌋ = ⌊(y + n)/d⌋``, so a chain of convolutions
and poolings on one variable keeps a single floor term ``q·⌊(a·H + b)/c⌋ + e``.

Expressions in one variable of the form ``p·v + q·⌊(a·v + b)/c⌋ + e`` are kept
in a canonical form (q > 0, 0 < a < c, gcd(a, c) = 1, 0 <= b < c), so two such
expressions are ``==`` exactly when they agree for every value of ``v``.
Anything beyond that (products, several floor terms) stays exact but may have
more than one spelling.  Variables are assumed to be >= 1.
"""

from __future__ import annotations

import itertools
import math
from typing import Union

__all__ = [
    "Size",
    "Sym",
    "UNKNOWN",
    "var",
    "is_concrete",
    "evaluate",
    "add",
    "sub",
    "mul",
    "floordiv",
    "ceildiv",
    "residues",
    "never_negative",
    "first_true",
]


class _Unknown:
    """A layer argument the linter could not resolve statically."""

    _instance = None

    def __new__(cls):
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNKNOWN"

    def __reduce__(self):
        return (_Unknown, ())


UNKNOWN = _Unknown()


# --------------------------------------------------------------------------- atoms


class _Var:
    __slots__ = ("name", "key")

    def __init__(self, name: str):
        self.name = name
        self.key = (0, name)

    def __eq__(self, other):
        return isinstance(other, _Var) and other.name == self.name

    def __hash__(self):
        return hash(self.key)

    def value(self, env):
        try:
            return env[self.name]
        except KeyError:
            raise KeyError(f"no value given for size variable {self.name!r}") from None

    def variables(self):
        return frozenset((self.name,))

    def dens(self):
        return 1

    def __str__(self):
        return self.name


class _Floor:
    """⌊num/den⌋ with num a non-constant Sym and den >= 2."""

    __slots__ = ("num", "den", "key")

    def __init__(self, num: "Sym", den: int):
        self.num = num
        self.den = den
        self.key = (1, num._key, den)

    def __eq__(self, other):
        return isinstance(other, _Floor) and other.key == self.key

    def __hash__(self):
        return hash(self.key)

    def value(self, env):
        return self.num.evaluate(env) // self.den

    def variables(self):
        return self.num.variables

    def dens(self):
        # This denominator times a common period of the numerator's atoms (the lcm of
        # theirs): the atom's value mod m is periodic in each variable with period m·dens().
        return self.den * self.num._dens()

    def __str__(self):
        return f"⌊{_grouped(self.num)}/{self.den}⌋"


class _Group:
    """A sum used as a factor of a product, e.g. the (⌊H/2⌋ − 1) in C·(⌊H/2⌋ − 1)."""

    __slots__ = ("sym", "key")

    def __init__(self, sym: "Sym"):
        self.sym = sym
        self.key = (2, sym._key)

    def __eq__(self, other):
        return isinstance(other, _Group) and other.key == self.key

    def __hash__(self):
        return hash(self.key)

    def value(self, env):
        return self.sym.evaluate(env)

    def variables(self):
        return self.sym.variables

    def dens(self):
        return self.sym._dens()

    def __str__(self):
        return f"({self.sym})"


def _grouped(x: "Sym") -> str:
    text = str(x)
    single = len(x._terms) == 1 and x._const == 0 and x._terms[0][1] == 1
    return text if single else f"({text})"


# --------------------------------------------------------------------------- polynomials
# Internally a polynomial is (dict monomial -> coefficient, constant), where a
# monomial is a sorted tuple of atoms.


def _mono_key(mono):
    return tuple(atom.key for atom in mono)


def _first(item: tuple):
    return item[0]


def _add_into(terms: dict, mono, coef: int) -> None:
    total = terms.get(mono, 0) + coef
    if total:
        terms[mono] = total
    else:
        terms.pop(mono, None)


def _build(terms: dict, const: int) -> "Size":
    """Normalise and wrap a polynomial; a constant comes back as a plain int."""
    terms = {m: c for m, c in terms.items() if c}
    # Canonical sign: -c·⌊N/d⌋ is rewritten to c·⌊(d − 1 − N)/d⌋ (exact), which
    # after reduction is "some deeper atoms + a positive floor term".  Deeper
    # atoms are strictly smaller, and partners only gain, so this terminates;
    # the guard is a belt-and-braces bound, stopping early is still exact.
    for _ in range(64):
        negative = [m for m, c in terms.items() if c < 0 and len(m) == 1 and isinstance(m[0], _Floor)]
        if not negative:
            break
        mono = min(negative, key=_mono_key)
        coef = -terms.pop(mono)
        atom = mono[0]
        flipped = _floor_poly(_poly_scale(_poly(atom.num), -1, atom.den - 1), atom.den)
        for m, c in flipped[0].items():
            _add_into(terms, m, c * coef)
        const += flipped[1] * coef
    if not terms:
        return const
    sym = object.__new__(Sym)
    keyed = sorted(((_mono_key(m), m, c) for m, c in terms.items()), key=_first)  # each key made once
    sym._terms = tuple((m, c) for _, m, c in keyed)
    sym._const = const
    sym._key = (tuple((k, c) for k, _, c in keyed), const)
    sym._hash = hash(sym._key)
    if _several_or_nested_floors(sym):
        return _as_single_floor(sym)
    return sym


def _several_or_nested_floors(sym: "Sym") -> bool:
    """Whether sym is quasi-linear (no products anywhere) with more than one
    floor term or a floor inside a floor: a candidate for _as_single_floor."""
    floors, nested = 0, False
    for mono, _ in sym._terms:
        if len(mono) != 1 or isinstance(mono[0], _Group):
            return False
        if isinstance(mono[0], _Floor):
            floors += 1
            inner = mono[0].num
            if not _quasi_linear(inner):
                return False
            nested = nested or any(isinstance(m[0], _Floor) for m, _ in inner._terms)
    return floors > 1 or nested


def _quasi_linear(sym: "Sym") -> bool:
    for mono, _ in sym._terms:
        if len(mono) != 1 or isinstance(mono[0], _Group):
            return False
        if isinstance(mono[0], _Floor) and not _quasi_linear(mono[0].num):
            return False
    return True


_CANONICAL_PERIOD_LIMIT = 128


def _as_single_floor(sym: "Sym") -> "Size":
    """Rewrite a one-variable expression that is really linear, or really a
    single floor term (e.g. ⌊H/2⌋ + ⌊(H + 1)/2⌋ − H = 0), into that canonical
    form.  Such an expression is linear plus a periodic part whose period
    divides the product of its denominators, so one period of values decides."""
    names = sym.variables
    period = sym._dens()
    if len(names) != 1 or period > _CANONICAL_PERIOD_LIMIT:
        return sym
    (name,) = names
    values = [sym.evaluate({name: v}) for v in range(1, period + 2)]
    steps = [b - a for a, b in zip(values, values[1:])]
    c = next(n for n in range(1, period + 1) if period % n == 0
             and all(steps[i] == steps[i % n] for i in range(period)))
    v = _Var(name)
    if c == 1:  # linear: f(v) = p·v + f(1) − p
        return _build({(v,): steps[0]}, values[0] - steps[0])
    low, high = min(steps[:c]), max(steps[:c])
    if len(set(steps[:c])) != 2:
        return sym
    rises = [step == high for step in steps[:c]]  # rises[i]: the floor steps up from v = i + 1
    a = sum(rises)
    if math.gcd(a, c) != 1:
        return sym
    for b in range(c):
        # ⌊(a·v + b)/c⌋ steps up after v exactly when (a·v + b) mod c >= c − a
        if all(((a * (i + 1) + b) % c >= c - a) == rises[i] for i in range(c)):
            atom = _Floor(_build({(v,): a}, b), c)
            const = values[0] - low - (high - low) * ((a + b) // c)
            return _build({(v,): low, (atom,): high - low}, const)
    return sym


def _poly(x: "Size"):
    if isinstance(x, Sym):
        return dict(x._terms), x._const
    return {}, int(x)


def _poly_scale(p, factor: int, offset: int = 0):
    terms, const = p
    return {m: c * factor for m, c in terms.items()}, const * factor + offset


def _floor_poly(p, d: int):
    """⌊p/d⌋ as a polynomial (terms, const), for an integer d >= 1."""
    terms, const = p
    if d == 1:
        return dict(terms), const
    pulled: dict = {}
    rest: dict = {}
    for mono, coef in terms.items():
        whole, part = divmod(coef, d)  # integer-valued terms leave the floor
        if whole:
            pulled[mono] = whole
        if part:
            rest[mono] = part
    whole, b = divmod(const, d)
    if not rest:
        return pulled, whole  # 0 <= b < d contributes nothing
    g = math.gcd(d, *rest.values())
    if g > 1:  # ⌊(g·X + b)/(g·d')⌋ = ⌊(X + ⌊b/g⌋)/d'⌋ for integer X
        rest = {m: c // g for m, c in rest.items()}
        b //= g
        d //= g
    for mono in sorted(rest, key=_mono_key):
        if rest[mono] == 1 and len(mono) == 1 and isinstance(mono[0], _Floor):
            # ⌊(⌊N/c⌋ + R)/d⌋ = ⌊(N + c·R)/(c·d)⌋ for integer-valued R
            inner = mono[0]
            others = {m: c * inner.den for m, c in rest.items() if m != mono}
            for m, c in inner.num._terms:
                _add_into(others, m, c)
            nested = _floor_poly((others, inner.num._const + b * inner.den), inner.den * d)
            for m, c in nested[0].items():
                _add_into(pulled, m, c)
            return pulled, whole + nested[1]
    num = _build(rest, b)
    if not isinstance(num, Sym) or num._terms != tuple(sorted(rest.items(), key=lambda mc: _mono_key(mc[0]))) \
            or num._const != b:
        # the numerator simplified (several floors were one): normalise again
        nested = _floor_poly(_poly(num), d)
        for m, c in nested[0].items():
            _add_into(pulled, m, c)
        return pulled, whole + nested[1]
    _add_into(pulled, (_Floor(num, d),), 1)
    return pulled, whole


def _factor(x: "Sym"):
    """x as (coefficient, atoms) for a product: a monomial stays itself, a sum
    becomes one parenthesised group (products are not distributed, so C·(⌊H/2⌋ − 1)
    prints the way it was built)."""
    if len(x._terms) == 1 and x._const == 0:
        mono, coef = x._terms[0]
        return coef, mono
    content = math.gcd(x._const, *(c for _, c in x._terms))  # 32·(⌊H/2⌋ − 1), not (32·⌊H/2⌋ − 32)
    return content, (_Group(_build({m: c // content for m, c in x._terms}, x._const // content)),)


def _mul(x: "Sym", y: "Sym") -> "Size":
    (cx, ax), (cy, ay) = _factor(x), _factor(y)
    return _build({tuple(sorted(ax + ay, key=lambda a: a.key)): cx * cy}, 0)


# --------------------------------------------------------------------------- Sym

_RESULTS: dict = {}  # (operation, x, y) -> its result: a model's blocks ask the same sums again and again
MAX_RESULTS = 1 << 17


def _remembered(operation):
    """`operation(x, y)` worked out once per process for a Sym `x` and an int or Sym `y` (both
    immutable, compared by value; a bool, float or other type is not kept: it may be refused)."""

    def remembered(x, y):
        kind = type(y)
        if kind is not int and kind is not Sym:
            return operation(x, y)
        key = (operation, x, y)
        found = _RESULTS.get(key)
        if found is None:
            if len(_RESULTS) >= MAX_RESULTS:
                _RESULTS.clear()
            found = _RESULTS[key] = operation(x, y)
        return found

    remembered.__doc__ = operation.__doc__
    return remembered



class Sym:
    """An exact integer expression over size variables; immutable and hashable."""

    __slots__ = ("_terms", "_const", "_key", "_hash")

    def __init__(self, *_args, **_kwargs):
        raise TypeError("create symbolic sizes with var(name) and arithmetic")

    # ---- arithmetic
    @_remembered
    def __add__(self, other):
        if not isinstance(other, (int, Sym)):
            return NotImplemented
        terms, const = _poly(self)
        other_terms, other_const = _poly(other)
        for m, c in other_terms.items():
            _add_into(terms, m, c)
        return _build(terms, const + other_const)

    __radd__ = __add__

    def __neg__(self):
        return _build(*_poly_scale(_poly(self), -1))

    def __pos__(self):
        return self

    @_remembered
    def __sub__(self, other):
        if not isinstance(other, (int, Sym)):
            return NotImplemented
        # merge first, normalise once: x − x must cancel before any sign rewrite
        terms, const = _poly(self)
        other_terms, other_const = _poly(other)
        for m, c in other_terms.items():
            _add_into(terms, m, -c)
        return _build(terms, const - other_const)

    @_remembered
    def __rsub__(self, other):
        if not isinstance(other, int):
            return NotImplemented
        return _build(*_poly_scale(_poly(self), -1, other))

    @_remembered
    def __mul__(self, other):
        if not isinstance(other, (int, Sym)):
            return NotImplemented
        if isinstance(other, int):
            return _build(*_poly_scale(_poly(self), other))
        return _mul(self, other)

    __rmul__ = __mul__

    @_remembered
    def __floordiv__(self, other):
        if isinstance(other, bool) or not isinstance(other, int):
            return NotImplemented
        if other == 0:
            raise ZeroDivisionError("symbolic size divided by zero")
        if other < 0:  # x // -d == (-x) // d
            return (-self) // -other
        return _build(*_floor_poly(_poly(self), other))

    # ---- identity
    def __eq__(self, other):
        if isinstance(other, Sym):
            return self._key == other._key
        return NotImplemented

    def __hash__(self):
        return self._hash

    # ---- queries
    def evaluate(self, env: dict) -> int:
        """The value for concrete variable values, e.g. ``{"H": 224}``."""
        total = self._const
        for mono, coef in self._terms:
            value = coef
            for atom in mono:
                value *= atom.value(env)
            total += value
        return total

    @property
    def variables(self) -> frozenset:
        found = frozenset()
        for mono, _ in self._terms:
            for atom in mono:
                found |= atom.variables()
        return found

    def _dens(self) -> int:
        # a common period of the atoms' periodic parts: their lcm (a product would do, only longer)
        period = 1
        for mono, _ in self._terms:
            for atom in mono:
                period = math.lcm(period, atom.dens())
        return period

    def factors(self) -> tuple | None:
        """A product c·a·b·... of atoms (one term, no constant) as its factors (c only if not 1);
        None for a sum."""
        if len(self._terms) != 1 or self._const:
            return None
        mono, coef = self._terms[0]
        atoms = tuple(_build({(atom,): 1}, 0) if not isinstance(atom, _Group) else atom.sym for atom in mono)
        return ((coef,) if coef != 1 else ()) + atoms

    # ---- printing
    def __str__(self) -> str:
        terms, const = self._terms, self._const
        if len(terms) == 1 and terms[0][1] == 1 and const < 0 and isinstance(terms[0][0][0], _Floor) \
                and len(terms[0][0]) == 1:
            # ⌊(H + 1)/4⌋ − 2 reads better in the convolution shape ⌊(H − 11)/4⌋ + 1
            atom = terms[0][0][0]
            shown = atom.num + atom.den * (const - 1)
            if isinstance(shown, Sym):
                return f"⌊{_grouped(shown)}/{atom.den}⌋ + 1"
        parts = []
        for mono, coef in terms:
            body = "·".join(str(atom) for atom in mono)
            magnitude = abs(coef)
            text = body if magnitude == 1 else f"{magnitude}·{body}"
            parts.append((coef < 0, text))
        if const:
            parts.append((const < 0, str(abs(const))))
        first_negative, first = parts[0]
        out = ("−" if first_negative else "") + first
        for negative, text in parts[1:]:
            out += (" − " if negative else " + ") + text
        return out

    def __repr__(self) -> str:
        return f"Sym({str(self)!r})"

    def __reduce__(self):  # rebuild on load: hashes of strings differ per process
        return (_build, (dict(self._terms), self._const))


Size = Union[int, Sym]


# --------------------------------------------------------------------------- helpers


def var(name: str) -> Sym:
    """The size variable ``name`` (assumed to be an integer >= 1)."""
    return _build({(_Var(name),): 1}, 0)


def is_concrete(x) -> bool:
    return isinstance(x, int)


def evaluate(x, env: dict):
    """Value of an int, Sym or None (None, meaning unknown, stays None)."""
    if x is None or isinstance(x, int):
        return x
    return x.evaluate(env)


def add(x, y):
    return None if x is None or y is None else x + y


def sub(x, y):
    return None if x is None or y is None else x - y


def mul(x, y):
    return None if x is None or y is None else x * y


def floordiv(x, d):
    """⌊x/d⌋ for an int d >= 1; None stays None."""
    return None if x is None or d is None else x // d


def ceildiv(x, d):
    """⌈x/d⌉ for an int d >= 1; exact on Syms (⌈x/d⌉ = ⌊(x + d − 1)/d⌋)."""
    if x is None or d is None:
        return None
    if d <= 0:
        raise ValueError(f"ceildiv needs a positive divisor, got {d}")
    return (x + (d - 1)) // d


_RESIDUE_BUDGET = 20_000


def residues(x, m: int):
    """The set of values ``x mod m`` takes over all variable values >= 1.

    Exact: an expression mod m is periodic in each variable with period
    m·(product of its denominators), so one period is enumerated.  None when
    that would take more than a small budget of evaluations, or x is None.
    """
    if x is None:
        return None
    if isinstance(x, int):
        return frozenset((x % m,))
    period = m * x._dens()
    names = sorted(x.variables)
    if period ** len(names) > _RESIDUE_BUDGET:
        return None
    found = set()
    for values in itertools.product(range(1, period + 1), repeat=len(names)):
        found.add(x.evaluate(dict(zip(names, values))) % m)
        if len(found) == m:
            break
    return frozenset(found)


def never_negative(x) -> bool | None:
    """Whether x >= 0 for every value of its variables (each >= 1). Exact for an int and for an
    expression in one variable without products: that is a linear part plus a periodic one whose
    period divides its denominators' lcm, so the slope and one period decide. None otherwise."""
    if isinstance(x, int):
        return x >= 0
    if not isinstance(x, Sym) or len(x.variables) != 1 or not _quasi_linear(x):
        return None
    period = x._dens()
    if period > _RESIDUE_BUDGET:
        return None
    (name,) = x.variables
    first = [x.evaluate({name: v}) for v in range(1, period + 1)]
    if x.evaluate({name: period + 1}) < first[0]:
        return False  # a falling slope: negative for large values
    return min(first) >= 0


def first_true(ok, low: int, high: int) -> int:
    """The smallest n in [low, high] with ok(n), for a predicate that stays true once true
    (layer output sizes never shrink as the input grows); `high` when only it is left."""
    while low < high:
        middle = (low + high) // 2
        if ok(middle):
            high = middle
        else:
            low = middle + 1
    return low


CONFLICT = object()  # two sizes torch cannot broadcast


def broadcast_size(x, y):
    """torch's broadcast of one pair of sizes: the size, CONFLICT when torch raises, None when
    unknown. A symbolic size against a fixed one other than 1 (a position embedding of 197
    tokens) is the fixed one: torch runs only when the symbolic one is 1 or the same."""
    if x == y or y == 1:
        return x
    if x == 1:
        return y
    if isinstance(x, int) and isinstance(y, int):
        return CONFLICT
    if isinstance(x, int) or isinstance(y, int):
        return x if isinstance(x, int) else y
    return None


def format_shape(shape: tuple, batched: bool = True) -> str:
    """A shape as messages show it: `(N, 64, 7, 7)` with the batch first, `?` for an unknown size."""
    sizes = ", ".join("?" if d is None else str(d) for d in shape)
    return f"(N, {sizes})" if batched else f"({sizes})"
