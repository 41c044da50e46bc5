"""Independent pieces of evidence decided on the product of their stated rates (Fisher's combination)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tessera.match.pvalues import decide_by_product, product_fmr


def test_the_rate_of_a_product_is_how_often_independent_uniform_rates_give_one_as_small():
    rng = np.random.default_rng(7)
    draws = 400_000
    for pieces in (2, 3):
        products = rng.uniform(size=(draws, pieces)).prod(axis=1)
        for t in (1e-1, 1e-2, 1e-3):
            stated = product_fmr(t, pieces)
            seen = int(np.count_nonzero(products <= t))
            # within five binomial standard deviations of the stated rate
            assert abs(seen - stated * draws) <= 5 * math.sqrt(stated * draws) + 1, (pieces, t, seen, stated)


def test_two_pieces_state_p_times_one_minus_log_p():
    assert product_fmr(1e-4, 2) == pytest.approx(1e-4 * (1 + math.log(1e4)))
    assert product_fmr(0.3, 1) == pytest.approx(0.3)  # one piece: its own rate
    assert product_fmr(1.0, 2) == 1.0 and product_fmr(0.0, 2) == 0.0
    with pytest.raises(ValueError, match="at least one piece"):
        product_fmr(0.1, 0)


def test_a_piece_that_says_nothing_costs_a_borderline_match():
    alone = decide_by_product({"face": 1e-3, "fingers": 1.0}, 1e-3)
    assert not alone.match and alone.fmr == pytest.approx(1e-3 * (1 + math.log(1e3)))
    together = decide_by_product({"face": 4e-3, "fingers": 2e-2}, 1e-3)  # neither alone would reach 1e-3
    assert together.match and together.fmr <= 1e-3 and together.product == pytest.approx(8e-5)
    assert together.as_dict()["rule"] == "product_of_rates"


def test_a_product_needs_two_pieces_with_rates():
    with pytest.raises(ValueError, match="at least two pieces"):
        decide_by_product({"face": 1e-3}, 1e-3)
    with pytest.raises(ValueError, match="must lie in"):
        decide_by_product({"face": 0.0, "fingers": 0.5}, 1e-3)
