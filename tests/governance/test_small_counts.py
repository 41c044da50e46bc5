"""Published counts hide every small count, and no subtraction brings one back (tessera.governance.small_counts).

The reader here is :func:`possible_values`: it tries every whole number each
withheld day could hold and keeps those that agree with every published day,
month and year. It shares no code with the propagation the library checks
itself with, so a flaw there does not hide here.
"""

from __future__ import annotations

import random
from collections import defaultdict

import pytest

from tessera.governance import small_counts
from tessera.governance.small_counts import Shown, feasible_ranges, protect, shown
from tessera.workflows.transparency import catch_trials

K = 5


def possible_values(cells: dict[str, Shown], largest: int = 40) -> dict[str, set[int]]:
    """Every value each day (``YYYY-MM-DD``), month (``YYYY-MM``) and year (``YYYY``) can hold, given all of them.

    Tries every value of every cell against every sum it is part of (sets of reachable sums, not bounds). A withheld
    ``{"at_least": k}`` is tried up to ``largest``; the true counts must not exceed it.
    """

    def domain(cell: Shown) -> set[int]:
        if isinstance(cell, int):
            return {cell}
        if "fewer_than" in cell:
            return set(range(cell["fewer_than"]))
        return set(range(cell["at_least"], largest + 1))

    def sums(parts: list[set[int]]) -> set[int]:
        reachable = {0}
        for part in parts:
            reachable = {total + value for total in reachable for value in part}
        return reachable

    def narrowed(total: set[int], parts: list[set[int]]) -> tuple[set[int], list[set[int]]]:
        """The totals some values of the parts reach, and each part's values that some total allows."""
        total = total & sums(parts)
        kept = []
        for index, part in enumerate(parts):
            others = sums(parts[:index] + parts[index + 1 :])
            kept.append({value for value in part if any(value + other in total for other in others)})
        return total, kept

    children = defaultdict(list)
    for key in sorted(cells):
        if len(key) > len("YYYY"):
            children[key[: len(key) - 3]].append(key)
    values = {key: domain(cell) for key, cell in cells.items()}
    for month in (key for key in children if len(key) == len("YYYY-MM")):  # up: what the days allow
        values[month] = narrowed(values[month], [values[day] for day in children[month]])[0]
    for total in sorted(children, key=len):  # down: years, then months
        values[total], kept = narrowed(values[total], [values[part] for part in children[total]])
        values.update(zip(children[total], kept, strict=True))
    return values


def calendar(days: dict[str, int]) -> tuple[dict[str, int], dict[str, str]]:
    """Days with their months' and years' sums, and each cell's parent."""
    counts: dict[str, int] = defaultdict(int)
    parent = {}
    for day, count in days.items():
        parent[day], parent[day[:7]] = day[:7], day[:4]
        for key in (day, day[:7], day[:4]):
            counts[key] += count
    return dict(counts), parent


def worked_out(cells: dict[str, Shown], counts: dict[str, int]) -> dict[str, int]:
    """The small counts other than 0 a reader pins to their value by subtraction (empty when none).

    ``cells`` are the published days, months and years of one counter; ``counts`` their true values (0 if absent).
    """
    values = possible_values(cells)
    assert all(counts.get(key, 0) in values[key] for key in cells)  # the reader never rules the truth out
    return {key: counts[key] for key in cells if 0 < counts.get(key, 0) < K and len(values[key]) == 1}


def test_a_small_count_reads_fewer_than_k_and_a_large_one_its_number():
    assert [shown(n, K) for n in (0, 1, 4, 5, 120)] == [{"fewer_than": 5}] * 3 + [5, 120]
    counts, parent = calendar({"2026-03-02": 12, "2026-03-03": 9, "2026-04-01": 30})
    assert protect(counts, parent, K) == counts  # nothing small: every count exact, none withheld


def test_a_one_in_a_month_of_forty_is_not_worked_back_by_subtraction():
    counts, parent = calendar({"2026-03-02": 20, "2026-03-03": 1, "2026-03-04": 19})
    cells = protect(counts, parent, K)
    assert cells["2026-03-03"] == {"fewer_than": 5}
    assert cells["2026-03"] == cells["2026"] == 40  # the month and the year are still published
    assert cells["2026-03-04"] == {"at_least": 5}  # the smaller of the two others is withheld beside the one
    assert worked_out(cells, counts) == {}
    assert feasible_ranges(cells, parent)["2026-03-03"] == (0, 4)


@pytest.mark.parametrize(
    "days",
    [
        {"2026-03-01": 1, "2026-03-02": 1, "2026-03-03": 1, "2026-03-04": 1, "2026-03-05": 0},  # four ones: 4
        {"2026-03-01": 4, "2026-03-02": 4},  # two fours: 8
        {"2026-01-31": 1, "2026-02-01": 6, "2026-02-02": 7},  # a one alone in its month
        {"2025-12-31": 3, "2026-01-01": 9, "2026-01-02": 1},  # across a year
    ],
)
def test_sums_of_small_counts_give_none_of_them_away(days):
    counts, parent = calendar(days)
    cells = protect(counts, parent, K)
    assert all(cells[key] == {"fewer_than": 5} for key, count in counts.items() if count < K)
    assert worked_out(cells, counts) == {}


def test_random_calendars_give_no_small_count_away():
    generator = random.Random(33)
    days = ("2025-12-30", "2025-12-31", "2026-01-01", "2026-01-02", "2026-02-01", "2026-02-02")
    exact = 0
    for _ in range(40):
        counts, parent = calendar({day: generator.choice((0, 1, 2, 4, 5, 6, 9)) for day in days})
        cells = protect(counts, parent, K)
        assert worked_out(cells, counts) == {}
        exact += sum(isinstance(cells[key], int) for key in counts)
    assert exact > 40  # not everything is withheld: counts of 5 or more are published where they are safe


def test_the_rule_broken_is_caught(monkeypatch):
    """Mutation: no complementary suppression (only the small counts hidden) → the month minus its other days is 1;
    no minimum count at all → the 1 is published."""
    counts, parent = calendar({"2026-03-02": 20, "2026-03-03": 1, "2026-03-04": 19})
    monkeypatch.setattr(small_counts, "_exposed", lambda *args: None)
    assert worked_out(protect(counts, parent, K), counts) == {"2026-03-03": 1}
    monkeypatch.setattr(small_counts, "shown", lambda count, k: count)
    assert protect(counts, parent, K)["2026-03-03"] == 1


def test_k_below_3_is_refused():
    with pytest.raises(ValueError, match="k must be at least 3.*got 2"):
        protect({"2026": 1}, {}, 2)


def test_a_false_confirm_rate_is_given_over_enough_decisions_and_reviewers():
    def reviewers(*figures: tuple[int, int]) -> dict[str, dict]:
        return {f"key:{n}": {"catch_trials": d, "false_confirms": f} for n, (d, f) in enumerate(figures)}

    one = catch_trials(reviewers((40, 1)), K)  # one reviewer: the total is theirs
    assert one["decisions"] == 40 and one["false_confirms"] == {"fewer_than": 5} and one["false_confirm_rate"] is None
    two = catch_trials(reviewers((40, 6), (30, 0)), K)  # two: each could subtract their own
    assert two["false_confirms"] == {"at_least": 5} and two["false_confirm_rate"] is None
    few = catch_trials(reviewers((1, 1), (1, 0), (2, 0)), K)
    assert few["decisions"] == few["false_confirms"] == {"fewer_than": 5} and few["false_confirm_rate"] is None
    bound = catch_trials(reviewers((60, 1), (20, 1), (20, 0)), K)
    assert bound["decisions"] == 100 and bound["false_confirm_rate"] == {"below": 0.05}
    exact = catch_trials(reviewers((60, 5), (20, 1), (20, 0)), K)
    assert exact["false_confirms"] == 6 and exact["false_confirm_rate"] == 0.06 and exact["note"] is None
