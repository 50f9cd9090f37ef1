"""Symbolic sizes: normal forms, exact evaluation, printing."""

import pickle
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from convlint.sizes import (
    UNKNOWN, Sym, add, ceildiv, evaluate, floordiv, is_concrete, mul, residues, sub, var,
)

H, W, C = var("H"), var("W"), var("C")


def conv(x, k, s=1, p=0, d=1):
    return (x + 2 * p - d * (k - 1) - 1) // s + 1


def floor_terms(x):
    return [m for m, _ in x._terms if any(type(a).__name__ == "_Floor" for a in m)]


# ---- normal forms


def test_four_stride_two_convs_stay_one_floor_term():
    x = H
    for k, p in ((5, 2), (3, 1), (3, 1), (3, 1)):
        x = conv(x, k, s=2, p=p)
    assert str(x) == "⌊(H + 15)/16⌋"
    assert len(x._terms) == 1 and x._const == 0
    atom = x._terms[0][0][0]
    assert atom.den == 16 and str(atom.num) == "H + 15"  # one level, no nesting


def test_mixed_conv_pool_chain_is_single_floor_term():
    x = conv(H, 11, s=4)                 # AlexNet-ish stem
    x = conv(x, 3, s=2)                  # max pool 3/2
    x = conv(x, 5, p=2)                  # 'same' 5x5
    x = conv(x, 3, s=2)
    assert len(floor_terms(x)) == 1
    assert str(x) == "⌊(H − 35)/16⌋ + 1"
    for h in range(1, 400):
        assert x.evaluate({"H": h}) == conv(conv(conv(conv(h, 11, 4), 3, 2), 5, 1, 2), 3, 2)


def test_equivalent_forms_are_equal_and_hash_equal():
    pairs = [
        (conv(H, 3, s=2, p=1), (H + 1) // 2),
        (H - H // 2, (H + 1) // 2),
        (-((-H) // 2), ceildiv(H, 2)),
        ((H // 2) // 3, H // 6),
        ((H + 7) // 4 - 1, (H + 3) // 4),
        ((2 * H + 1) // 4, H // 2),            # ⌊(2H + 1)/4⌋ = ⌊H/2⌋
        ((3 * H) // 2, H + H // 2),
        (H + 1 - 1, H),
        (2 * H, H + H),
        (H * 3 // 3, H),
    ]
    for left, right in pairs:
        assert left == right, (str(left), str(right))
        assert hash(left) == hash(right)


def test_different_functions_are_not_equal():
    assert (H + 1) // 2 != H // 2
    assert H != W
    assert H // 2 != H // 3
    assert (H != 3) and not (H == 3)  # a Sym never equals an int


def test_constants_collapse_to_int():
    assert H - H == 0 and isinstance(H - H, int)
    assert (H // 2) - (H // 2) == 0
    assert H // 2 + (H + 1) // 2 - H == 0  # ⌊H/2⌋ + ⌈H/2⌉ = H


def test_sums_of_floors_that_are_one_floor_become_one():
    assert H // 2 + (H + 1) // 2 == H                      # Hermite's identity
    assert (H // 2 + (H + 1) // 2) // 2 == H // 2
    assert H // 3 + (H + 1) // 3 + (H + 2) // 3 == H
    x = (H + 1) // 2 + (H + 2) // 4 - (H + 3) // 4       # not reducible: stays exact
    assert all(evaluate(x, {"H": h}) == (h + 1) // 2 + (h + 2) // 4 - (h + 3) // 4 for h in range(1, 100))


def test_nested_fallback_stays_exact():
    x = (3 * (H // 2)) // 2
    assert str(x) == "⌊H/2⌋ + ⌊H/4⌋"
    for h in range(1, 200):
        assert x.evaluate({"H": h}) == (3 * (h // 2)) // 2


def test_products_for_flatten():
    flat = 32 * conv(H, 4, s=2) * conv(W, 4, s=2)
    assert str(flat) == "32·(⌊(H − 4)/2⌋ + 1)·(⌊(W − 4)/2⌋ + 1)"
    assert flat.evaluate({"H": 10, "W": 9}) == 32 * 4 * 3
    assert flat.variables == {"H", "W"}
    assert C * H == H * C
    assert (C * H * W) // 2 == (W * C * H) // 2


def test_negative_divisor_and_errors():
    assert H // -2 == (-H) // 2
    with pytest.raises(ZeroDivisionError):
        H // 0
    with pytest.raises(TypeError):
        H // W
    with pytest.raises(TypeError):
        Sym()


# ---- exact evaluation against integer arithmetic

ops = st.sampled_from(["add", "sub", "rsub", "mul", "div", "neg"])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(ops, st.integers(-9, 9), st.integers(1, 7)), min_size=1, max_size=8),
       st.integers(1, 300))
def test_evaluation_agrees_with_integer_arithmetic(steps, h):
    sym, num = H, h
    for op, k, d in steps:
        if op == "add":
            sym, num = sym + k, num + k
        elif op == "sub":
            sym, num = sym - k, num - k
        elif op == "rsub":
            sym, num = k - sym, k - num
        elif op == "mul":
            sym, num = sym * k, num * k
        elif op == "div":
            sym, num = sym // d, num // d
        else:
            sym, num = -sym, -num
    assert evaluate(sym, {"H": h}) == num
    assert sym - sym == 0 and sym + 0 == sym and sym * 1 == sym


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 11), st.integers(1, 4), st.integers(0, 3), st.integers(1, 3)),
                min_size=1, max_size=6))
def test_conv_chains_keep_one_floor_term(layers):
    sym = H
    for k, s, p, d in layers:
        sym = conv(sym, k, s, p, d)
    if isinstance(sym, Sym):
        assert len(floor_terms(sym)) <= 1
    for h in range(1, 120):
        num = h
        for k, s, p, d in layers:
            num = conv(num, k, s, p, d)
        assert evaluate(sym, {"H": h}) == num


@settings(max_examples=150, deadline=None)
@given(st.integers(-5, 5), st.integers(-10, 10), st.integers(1, 12), st.integers(-10, 10),
       st.integers(-5, 5), st.integers(-10, 10), st.integers(1, 12), st.integers(-10, 10))
def test_equality_is_functional_equality_in_one_variable(a1, b1, c1, d1, a2, b2, c2, d2):
    left = (a1 * H + b1) // c1 + d1
    right = (a2 * H + b2) // c2 + d2
    # both sides are linear plus a sawtooth of period <= 12: 400 values decide equality
    same = all(evaluate(left, {"H": h}) == evaluate(right, {"H": h}) for h in range(1, 400))
    assert (left == right) == same


def test_products_and_sums_of_two_variables_evaluate_exactly():
    x = (C * conv(H, 3, 2) + W) // 3 - 2 * (H * W) // 5
    for c in range(1, 6):
        for h in range(1, 12):
            for w in range(1, 12):
                expected = (c * conv(h, 3, 2) + w) // 3 - 2 * (h * w) // 5
                assert x.evaluate({"C": c, "H": h, "W": w}) == expected


# ---- printing


@pytest.mark.parametrize("expr, text", [
    (H, "H"),
    (2 * H, "2·H"),
    (H + 1, "H + 1"),
    (5 - H, "−H + 5"),
    (conv(H, 11, s=4), "⌊(H − 11)/4⌋ + 1"),
    (conv(H, 3, s=2, p=1), "⌊(H + 1)/2⌋"),
    (H // 2, "⌊H/2⌋"),
    (2 * (H // 2), "2·⌊H/2⌋"),
    ((H // 2) + 3, "⌊H/2⌋ + 3"),
    (C * ((H - 4) // 2), "C·(⌊(H − 6)/2⌋ + 1)"),
    (H * W, "H·W"),
])
def test_printing(expr, text):
    assert str(expr) == text


def test_repr_names_the_expression():
    assert repr(H // 2) == "Sym('⌊H/2⌋')"


# ---- helpers


def test_helpers_propagate_unknown():
    assert add(None, 1) is None and sub(H, None) is None and mul(None, H) is None
    assert floordiv(None, 2) is None and ceildiv(None, 2) is None
    assert evaluate(None, {"H": 1}) is None
    assert evaluate(7, {}) == 7


def test_ceildiv_on_ints_and_syms():
    assert [ceildiv(n, 3) for n in (-4, -3, 0, 1, 3, 4)] == [-1, -1, 0, 1, 1, 2]
    x = ceildiv(H, 3)
    assert all(x.evaluate({"H": h}) == -(-h // 3) for h in range(1, 50))
    with pytest.raises(ValueError):
        ceildiv(H, 0)


def test_variables_and_concreteness():
    assert (H + W // 2).variables == {"H", "W"}
    assert is_concrete(3) and not is_concrete(H) and not is_concrete(None)


def test_evaluate_missing_variable_names_it():
    with pytest.raises(KeyError, match="W"):
        (H + W).evaluate({"H": 1})


def test_residues():
    assert residues(2 * H, 2) == {0}
    assert residues(2 * H + 1, 4) == {1, 3}
    assert residues((H + 1) // 2, 2) == {0, 1}
    assert residues(4 * (H // 3), 8) == {0, 4}
    assert residues(7, 3) == {1}
    assert residues(None, 3) is None


def test_unknown_sentinel():
    assert repr(UNKNOWN) == "UNKNOWN"
    assert pickle.loads(pickle.dumps(UNKNOWN)) is UNKNOWN


def test_sym_pickles_and_stays_equal():
    x = conv(H, 3, s=2) * W
    assert pickle.loads(pickle.dumps(x)) == x


def test_sizes_and_layers_import_without_torch_or_libcst():
    import subprocess
    code = ("import sys, convlint.sizes, convlint.layers; "
            "bad = [m for m in ('torch', 'libcst', 'numpy') if m in sys.modules]; "
            "print(bad); sys.exit(1 if bad else 0)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
