"""Independent pieces of evidence, one decision: the product of the false-match rates each one states.

A face and several contactless fingers of one person have no joint fusion
model (contactless fingers have too few genuine comparisons to fit the
likelihood ratios of :mod:`tessera.match.fusion`). Each piece still states
the false-match rate its own score stands for: the face its calibration's
FMR at its score, the fingers the multi-finger rule's bound at their score
(:func:`tessera.match.multifinger.rule_p_value`). Those rates are p-values::

    p_i = FMR stated at piece i's score -> P = p_1 x ... x p_k -> FMR(P) = P x sum_{j<k} (-ln P)^j / j!

For an impostor, each ``p_i`` is uniform on (0, 1] when it is exact, and
larger when it is an upper bound; the pieces are independent (two traits of
two different people). The product of ``k`` independent uniforms is at most
``t`` with probability ``t x sum_{j<k} (-ln t)^j / j!`` (R. A. Fisher's
combination of independent tests [1]_, the distribution of ``-2 ln P``
being chi-squared with ``2k`` degrees of freedom), so ``FMR(P)`` is the rate
at which impostors produce a product this small: the stated FMR, and a
match when it is at most the target. For two pieces ``FMR(P) = P (1 - ln P)``:
a face at FMR 1e-2 and fingers at 1e-2 state 1.02e-3 together; a face at
1e-3 with fingers that say nothing (``p = 1``) states 7.9e-3, so adding a
failed slap to a borderline face costs the match, as any fusion does.

What it rests on: the independence of the pieces (assumed, as the fusion
models assume it), and each ``p_i`` being no smaller than the true rate at
its score (exact for a calibration's measured rows, a bound for the fingers).

References
----------
.. [1] R. A. Fisher, *Statistical Methods for Research Workers*, Oliver and
   Boyd, 1925, section 21.1 (combining the probabilities of independent tests).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

ASSUMPTION = (
    "the pieces' impostor scores are independent (different traits of two different people) and each piece's rate is "
    "no smaller than its true false-match rate; the rate is that of the product of their rates (Fisher, 1925)"
)


def product_fmr(product: float, pieces: int) -> float:
    """How often impostors give a product of ``pieces`` independent rates at most ``product``.

    ``product x sum_{j < pieces} (-ln product)^j / j!``, the distribution function of a product of uniforms.
    """
    if pieces < 1:
        raise ValueError(f"need at least one piece of evidence; got {pieces}")
    if not 0.0 <= product <= 1.0:
        raise ValueError(f"a product of rates lies in [0, 1]; got {product!r}")
    if product == 0.0:
        return 0.0
    log_product = -math.log(product)
    return min(1.0, product * sum(log_product**j / math.factorial(j) for j in range(pieces)))


@dataclass(frozen=True)
class ProductDecision:
    """The decision on several independent pieces' rates, and what it rests on."""

    match: bool
    fmr: float
    product: float
    p_values: dict[str, float]
    target_fmr: float
    assumption: str = ASSUMPTION

    def as_dict(self) -> dict[str, object]:
        return {
            "rule": "product_of_rates",
            "match": self.match,
            "fmr": self.fmr,
            "product": self.product,
            "p_values": dict(self.p_values),
            "target_fmr": self.target_fmr,
            "assumption": self.assumption,
        }


def decide_by_product(p_values: Mapping[str, float], target_fmr: float) -> ProductDecision:
    """Decide on independent pieces' stated rates (``p_values`` by piece name) at ``target_fmr``.

    Raises
    ------
    ValueError
        Fewer than two pieces, or a rate outside (0, 1].
    """
    if len(p_values) < 2:
        raise ValueError(f"a product decision needs at least two pieces of evidence; got {len(p_values)}")
    for name, value in p_values.items():
        if not 0.0 < value <= 1.0:
            raise ValueError(f"the rate of {name} must lie in (0, 1]; got {value!r}")
    product = math.prod(p_values.values())
    fmr = product_fmr(product, len(p_values))
    return ProductDecision(
        match=fmr <= target_fmr, fmr=fmr, product=product, p_values=dict(p_values), target_fmr=target_fmr
    )
