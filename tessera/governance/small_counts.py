"""Statistical disclosure control of published counts: no small count, and none worked back by subtraction.

The transparency report publishes counts per day, month and year. A count of
1 in a small gallery can point at a person ("the one person enrolled on
Tuesday was erased by court order"), so the report follows the two rules a
national statistics office applies to a published frequency table (A.
Hundepool et al., "Handbook on Statistical Disclosure Control", 2nd edition,
Centre of Excellence on SDC and Eurostat, 2024, on frequency tables: a
threshold rule, then secondary suppression; the Office for National
Statistics' statistical disclosure control policy). Thresholds in use run
from 3 to 10 (10 for the ONS Longitudinal Study's research outputs); 5 is
the default here:

- **Primary suppression (a minimum count).** A count below ``k`` is published as
  ``{"fewer_than": k}``, never as its number. 0 is included: were 0 published
  and 1 to k-1 not, a reader who counts the days marked "fewer than 5" in a
  month of 4 learns that each of those days had exactly 1. A 0 names no one,
  but hiding it keeps every small count hidden.
- **Secondary (complementary) suppression.** A day's counts add up to its
  month's and a month's to its year's, and each granularity can be asked for.
  Where the published figures would let a reader subtract their way back to a
  small count (a month of 40 whose days are all published but one), further
  counts of ``k`` or more are withheld and published as ``{"at_least": k}``,
  until no small count other than 0 can be worked out exactly.

"Worked out" is checked the way a reader would do it: :func:`feasible_ranges`
narrows every count to the values the published figures allow, through every
"parent = sum of children" relation (bound propagation, which is exact on a
tree of sums), and :func:`protect` withholds the nearest, smallest published
count until no small count is pinned to a single value other than 0.
"""

from __future__ import annotations

import math
from collections import defaultdict, deque
from collections.abc import Iterable, Mapping

DEFAULT_MINIMUM_COUNT = 5
"""``k``: the smallest count published as a number (statistics offices use 3 to 10)."""

Shown = int | dict[str, int]
"""A published count: the number itself, ``{"fewer_than": k}`` (0 to k-1) or ``{"at_least": k}`` (withheld)."""


def shown(count: int, k: int) -> Shown:
    """``count`` as published under the minimum count ``k``: the number, or ``{"fewer_than": k}`` below it."""
    return count if count >= k else {"fewer_than": k}


def bounds(cell: Shown) -> tuple[int, float]:
    """The lowest and highest value a reader can give ``cell`` from the cell alone (inf: no upper bound)."""
    if isinstance(cell, int):
        return cell, cell
    if "fewer_than" in cell:
        return 0, cell["fewer_than"] - 1
    return cell["at_least"], math.inf


def feasible_ranges(cells: Mapping[str, Shown], parent: Mapping[str, str]) -> dict[str, tuple[int, float]]:
    """Every value a reader can work out for each cell from all the published cells and their sums.

    Parameters
    ----------
    cells : mapping of str to Shown
        Every cell of the tree, as published.
    parent : mapping of str to str
        The cell each cell adds up into (a root has none); a parent's children must all be in ``cells``.

    Returns
    -------
    dict of str to (int, float)
        The lowest and highest value each cell can take such that every parent is the sum of its children.
        Bound propagation reaches the exact range on a tree of sums (each relation shares at most one cell
        with another), and every whole number in between is reachable.
    """
    low: dict[str, float] = {name: bounds(cell)[0] for name, cell in cells.items()}
    high: dict[str, float] = {name: bounds(cell)[1] for name, cell in cells.items()}
    children = _children(parent)
    changed = True
    while changed:
        changed = False
        for total, parts in children.items():
            low_sum = sum(low[part] for part in parts)
            high_sum = sum(high[part] for part in parts)
            if low_sum > low[total] or high_sum < high[total]:
                low[total], high[total] = max(low[total], low_sum), min(high[total], high_sum)
                changed = True
            for part in parts:
                others_low = low_sum - low[part]
                others_high = _without(high_sum, high[part], parts, high)
                new_low = max(low[part], low[total] - others_high)
                new_high = min(high[part], high[total] - others_low)
                if new_low > low[part] or new_high < high[part]:
                    low[part], high[part] = new_low, new_high
                    changed = True
                    low_sum = sum(low[p] for p in parts)
                    high_sum = sum(high[p] for p in parts)
    return {name: (int(low[name]), high[name]) for name in cells}


def protect(counts: Mapping[str, int], parent: Mapping[str, str], k: int) -> dict[str, Shown]:
    """Publish a tree of counts: small counts as "fewer than k", and enough others withheld that none comes back.

    Parameters
    ----------
    counts : mapping of str to int
        Every cell's true count (0 included), e.g. days, months and years.
    parent : mapping of str to str
        The cell each cell adds up into (a day's month, a month's year; a root has none).
    k : int
        The minimum count published as a number (at least 3: with k = 2 two withheld cells of a known sum of 2
        would each be 1).

    Returns
    -------
    dict of str to Shown
        Each cell as published. No cell below ``k`` other than a 0 can be narrowed to one value by
        :func:`feasible_ranges`.
    """
    if k < 3:
        raise ValueError(f"k must be at least 3 (2 lets two withheld ones be worked out from their sum); got {k}")
    cells: dict[str, Shown] = {name: shown(count, k) for name, count in counts.items()}
    neighbours = _neighbours(parent)
    while exposed := _exposed(counts, cells, parent, k):
        cells[_complement(exposed, counts, cells, neighbours)] = {"at_least": k}
    return cells


def _exposed(counts: Mapping[str, int], cells: Mapping[str, Shown], parent: Mapping[str, str], k: int) -> str | None:
    """The first small count, other than 0, that a reader can pin to one value; None when there is none."""
    ranges = feasible_ranges(cells, parent)
    pinned = (name for name, count in counts.items() if 0 < count < k and ranges[name][0] == ranges[name][1])
    return min(pinned, default=None)


def _complement(exposed: str, counts: Mapping[str, int], cells: Mapping[str, Shown], neighbours) -> str:
    """The published cell to withhold next: the nearest to ``exposed`` through withheld cells, then the smallest."""
    seen, queue, candidates = {exposed}, deque([(exposed, 0)]), []
    while queue:
        name, distance = queue.popleft()
        for other in neighbours[name]:
            if other in seen:
                continue
            seen.add(other)
            if isinstance(cells[other], int):
                candidates.append((distance, counts[other], other))
            else:
                queue.append((other, distance + 1))
    if not candidates:  # every cell around it withheld and it still shows: impossible for k >= 3
        raise AssertionError(f"no published cell is left to withhold around {exposed!r}")
    return min(candidates)[2]


def _children(parent: Mapping[str, str]) -> dict[str, list[str]]:
    children: dict[str, list[str]] = defaultdict(list)
    for child, total in parent.items():
        children[total].append(child)
    return children


def _neighbours(parent: Mapping[str, str]) -> dict[str, set[str]]:
    """The cells each cell shares a sum with: its parent, its siblings and its children."""
    neighbours: dict[str, set[str]] = defaultdict(set)
    for total, parts in _children(parent).items():
        group = {total, *parts}
        for name in group:
            neighbours[name] |= group - {name}
    return neighbours


def _without(total: float, part: float, parts: Iterable[str], high: Mapping[str, float]) -> float:
    """``total - part`` for sums that may be infinite: inf as long as another part is unbounded."""
    if not math.isinf(total):
        return total - part
    unbounded = sum(math.isinf(high[name]) for name in parts)
    if unbounded > 1 or not math.isinf(part):
        return math.inf
    return sum(high[name] for name in parts if not math.isinf(high[name]))
