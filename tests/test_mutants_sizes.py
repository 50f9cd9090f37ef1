"""Symbolic sizes: the behaviours the mutation run of tools/mutants.py found unpinned.

Every value here is plain integer arithmetic (Python's // is torch's floor for the
non-negative sizes of a network), checked by evaluating the expression over a grid.
"""

import itertools

from convlint.sizes import evaluate, first_true, residues, var

H, W = var("H"), var("W")


def agrees(expr, formula, names=("H",), top=40):
    """expr equals formula(...) for every value of its variables in 1..top, as an exact int."""
    for values in itertools.product(range(1, top + 1), repeat=len(names)):
        got = evaluate(expr, dict(zip(names, values)))
        assert type(got) is int, (str(expr), values, got)
        assert got == formula(*values), (str(expr), values)


def test_floor_of_a_sum_of_floors_in_two_variables():
    x = (H // 2 + W // 3) // 2
    assert str(x) == "⌊(H + 2·⌊W/3⌋)/4⌋"
    assert x != H // 4
    agrees(x, lambda h, w: (h // 2 + w // 3) // 2, ("H", "W"), 30)


def test_two_floors_of_one_variable_merge_into_one():
    x = H // 4 + (H + 2) // 4
    assert x == H // 2 and str(x) == "⌊H/2⌋"
    agrees(x, lambda h: h // 4 + (h + 2) // 4)
    y = H // 3 + (H + 1) // 3
    assert str(y) == "⌊(2·H)/3⌋"
    agrees(y, lambda h: h // 3 + (h + 1) // 3)


def test_no_float_in_a_canonical_floor():
    x = (2 * H + 1) // 3
    assert str(x) == "⌊(2·H + 1)/3⌋"
    agrees(x, lambda h: (2 * h + 1) // 3)
    y = 3 * H + (2 * H + 1) // 3 - H // 3
    agrees(y, lambda h: 3 * h + (2 * h + 1) // 3 - h // 3)
    assert "." not in str(y)


def test_a_numerator_that_simplifies_is_normalised_again():
    # with W present nothing merges 2·⌊H/2⌋ + 2·⌊(H + 1)/2⌋ = 2·H; dividing by 3 leaves exactly
    # those terms in the numerator, which then simplifies to 3·H and leaves the floor
    p = 3 * W + 2 * (H // 2) + 2 * ((H + 1) // 2) - 2 * H
    assert str(p) == "−2·H + 3·W + 2·⌊H/2⌋ + 2·⌊(H + 1)/2⌋"
    assert p // 3 == W and str(p // 3) == "W"
    q = 5 * W + 2 * (H // 2) + 2 * ((H + 1) // 2)  # numerator 2·H: ⌊2·H/5⌋ stays
    assert str(q // 5) == "W + ⌊(2·H)/5⌋"
    agrees(q // 5, lambda h, w: (5 * w + 2 * (h // 2) + 2 * ((h + 1) // 2)) // 5, ("H", "W"), 20)


def test_negative_floor_coefficients_are_rewritten_exactly():
    x = W - 3 * (H // 4)
    agrees(x, lambda h, w: w - 3 * (h // 4), ("H", "W"), 20)
    assert str(x) == "−3·H + W + 3·⌊(3·H + 3)/4⌋"
    y = 10 - (H + 1) // 3
    assert str(y) == "−H + ⌊(2·H + 1)/3⌋ + 10"
    agrees(y, lambda h: 10 - (h + 1) // 3)


def test_canonical_forms_of_one_variable():
    cases = [
        (H // 2 + H // 3, lambda h: h // 2 + h // 3),
        ((H + 5) // 6 - H // 6, lambda h: (h + 5) // 6 - h // 6),
        (2 * (H // 3) + (H + 1) // 3 - H, lambda h: 2 * (h // 3) + (h + 1) // 3 - h),
        ((H // 2) // 2 + (H // 4), lambda h: (h // 2) // 2 + h // 4),
        (((3 * H + 1) // 4 + H) // 5, lambda h: ((3 * h + 1) // 4 + h) // 5),
        ((H // 5 + H // 7) // 3, lambda h: (h // 5 + h // 7) // 3),
    ]
    for expr, formula in cases:
        agrees(expr, formula, top=300)


def test_equal_expressions_print_and_hash_alike():
    a = H // 2 + (H + 1) // 4
    b = (H + 1) // 4 + H // 2
    assert a == b and hash(a) == hash(b) and str(a) == str(b)
    assert (3 * H + 2) // 6 == H // 2
    assert H // 6 == (H // 2) // 3 and (H + 1) // 2 - 1 == (H - 1) // 2


def test_period_limit_keeps_large_periods_exact():
    x = H // 11 + H // 13  # period 143: beyond the canonical search, kept as two floors
    assert str(x) == "⌊H/11⌋ + ⌊H/13⌋"
    agrees(x, lambda h: h // 11 + h // 13, top=300)
    y = H // 8 + H // 16  # not one floor: two stay
    assert str(y) == "⌊H/8⌋ + ⌊H/16⌋"
    agrees(y, lambda h: h // 8 + h // 16, top=300)


def test_printing_of_negative_offsets_and_groups():
    assert str((H + 1) // 4 - 2) == "⌊(H − 11)/4⌋ + 1"
    assert str(H // 4 - 1) == "⌊(H − 8)/4⌋ + 1"
    assert str(-(H // 2)) == "−H + ⌊(H + 1)/2⌋"
    assert str(-H - 1) == "−H − 1"
    assert str(2 * H - 3) == "2·H − 3"
    assert str(W * (H // 2 - 1)) == "W·(⌊(H − 4)/2⌋ + 1)"
    assert str(32 * W * (H // 2 - 1)) == "32·W·(⌊(H − 4)/2⌋ + 1)"


def test_residues_and_first_true():
    assert residues(H // 2 + W, 2) == {0, 1}
    assert residues(4 * H + 2 * W, 4) == {0, 2}
    assert residues(6 * (H // 2), 4) == {0, 2}
    assert residues(H * W, 5) == {0, 1, 2, 3, 4}
    assert residues(3 * H, 3) == {0}
    assert [first_true(lambda n, t=t: n >= t, 1, 100) for t in (1, 2, 50, 99, 100)] == [1, 2, 50, 99, 100]
    assert first_true(lambda n: False, 1, 100) == 100
    assert first_true(lambda n: n * n >= 50, 0, 10) == 8


def test_residues_of_products_with_a_grouped_sum():
    x = W * (H // 2 - 1)
    assert residues(x, 2) == {0, 1}
    assert residues(2 * x, 4) == {0, 2}
    assert residues(4 * (H // 2 - 1) * (W // 3 + 1), 8) == {0, 4}
    agrees(x, lambda h, w: w * (h // 2 - 1), ("H", "W"), 12)


def test_the_canonical_search_reaches_a_period_of_exactly_128():
    # ⌊H/16⌋ + ⌊(H + 8)/16⌋ = ⌊H/8⌋ (Hermite), so ⌊H/8⌋ − ⌊(H + 8)/16⌋ = ⌊H/16⌋
    x = H // 8 - (H + 8) // 16
    assert x == H // 16 and str(x) == "⌊H/16⌋"
    agrees(x, lambda h: h // 8 - (h + 8) // 16, top=300)
    y = H // 16 + (H + 8) // 16  # the period is the lcm of the denominators (16), not their product
    assert y == H // 8 and str(y) == "⌊H/8⌋"
    z = H // 128 + (H + 64) // 128  # a period of exactly 128: searched
    assert z == H // 64 and str(z) == "⌊H/64⌋"
    agrees(z, lambda h: h // 64, top=600)
    w = H // 256 + (H + 128) // 256  # 256: beyond the search, kept as two floors
    assert str(w) == "⌊H/256⌋ + ⌊(H + 128)/256⌋"
    agrees(w, lambda h: h // 128, top=600)


def test_a_padded_size_has_one_floor():
    # swin pads ⌊H/4⌋ to a multiple of 7: (7 − w % 7) % 7 added to w (periods 4 and 28, lcm 28)
    w = H // 4
    pad = (7 - (w - 7 * (w // 7)))
    pad = pad - 7 * (pad // 7)
    assert str(w + pad) == "7·⌊(H + 24)/28⌋"
    agrees(w + pad, lambda h: h // 4 + (7 - h // 4 % 7) % 7, top=300)


def test_never_negative_decides_one_variable_without_products():
    from convlint.sizes import never_negative

    assert never_negative(7 * ((H + 24) // 28) - H // 4) is True  # the padded size is never below the size
    assert never_negative(H // 4 - 7 * ((H + 24) // 28)) is False  # below it for H = 4
    assert never_negative(H - 3) is False and never_negative(H - 1) is True
    assert never_negative(5 - H // 2) is False  # a falling slope
    assert never_negative(H * W) is None and never_negative(H - W) is None
    assert never_negative(-2) is False and never_negative(0) is True


def test_the_none_propagating_helpers_compute():
    from convlint.sizes import add, ceildiv, floordiv, mul, sub

    assert (add(3, 4), sub(3, 4), mul(3, 4), floordiv(7, 2), ceildiv(7, 2)) == (7, -1, 12, 3, 4)
    assert mul(H, 3) == 3 * H and str(mul(H, W)) == "H·W"
    assert add(H, W) == H + W and sub(H, 1) == H - 1 and floordiv(H, 2) == H // 2


def test_a_product_prints_floors_before_grouped_sums_whatever_their_variables():
    assert str((H - 1) * (W // 3)) == "⌊W/3⌋·(H − 1)"
    assert str((W // 3) * (H - 1)) == "⌊W/3⌋·(H − 1)"
    assert str((H // 2) * (W - 1)) == "⌊H/2⌋·(W − 1)"
    agrees((H - 1) * (W // 3), lambda h, w: (h - 1) * (w // 3), ("H", "W"), 12)


def test_factors_of_a_product():
    assert (H // 7 * (W // 7)).factors() == (H // 7, W // 7)
    assert (3 * H * W).factors() == (3, H, W)
    assert (H + 1).factors() is None and (2 * H + 2 * W).factors() is None
    assert [str(f) for f in (H * (W // 2 - 1)).factors()] == ["H", "⌊(W − 4)/2⌋ + 1"]
