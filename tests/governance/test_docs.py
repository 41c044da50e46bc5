"""docs/governance.md is the 34-requirement table, and every claim in it names a test that can fail.

The table's structure is checked (34 rows R1..R34, one verdict each:
enforced, partial with what is missing, or not applicable with why); every
test it names exists and does not skip without the evaluation data (it is
not marked slow or skipped, and no fixture it uses, however indirectly,
skips when the data, PostgreSQL or Milvus is absent); every enforced row
shows that its tests fail when the rule is broken: a ``mutation:`` note
naming mutations of tests/governance/mutations.py that break one of the
row's tests, or a named test that switches its rule off itself.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from tests.governance.mutations import MUTATIONS

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "governance.md"
REQUIREMENTS = 34
VERDICTS = ("enforced", "partial: ", "not applicable: ")
FIXTURE_FILES = (
    "tests/conftest.py",
    "tests/service_fixtures.py",
    "tests/finger_fixtures.py",
    "tests/milvus_fixtures.py",
)
"""Where shared fixtures live (pytest plugins and the root conftest); a test module's own fixtures are read too."""
SKIPS = ("pytest.skip(", "_require(")
"""A fixture whose body holds one of these skips when something outside the repository is missing."""


@dataclass(frozen=True)
class Row:
    number: int
    requirement: str
    verdict: str
    tests: tuple[str, ...]
    """``path::name`` of each named test (a bare ``::name`` continues the previous path)."""


def rows(text: str | None = None) -> list[Row]:
    """The table's rows (of ``text``; default: docs/governance.md)."""
    found = []
    for line in (DOC.read_text() if text is None else text).splitlines():
        match = re.match(r"\| R(\d+) \|", line)
        if not match:
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        assert len(cells) == 6, f"R{match[1]}: expected 6 cells (#, requirement, source, where, verdict, tests)"
        tests, current = [], None
        for reference in re.findall(r"`([^`]+)`", cells[5]):
            path, _, name = reference.rpartition("::")
            current = path or current
            tests.append(f"{current}::{name}")
        found.append(Row(int(match[1]), cells[1], cells[4], tuple(tests)))
    return found


@cache
def module(path: str) -> ast.Module:
    return ast.parse((ROOT / path).read_text())


@cache
def functions(path: str) -> dict[str, ast.FunctionDef]:
    return {node.name: node for node in ast.walk(module(path)) if isinstance(node, ast.FunctionDef)}


def is_fixture(node: ast.FunctionDef) -> bool:
    return any("fixture" in ast.unparse(decorator) for decorator in node.decorator_list)


@cache
def fixtures(test_path: str) -> dict[str, ast.FunctionDef]:
    """Every fixture a test of ``test_path`` can use, by name: the module's own over the shared ones."""
    found: dict[str, ast.FunctionDef] = {}
    for path in (*FIXTURE_FILES, test_path):
        found.update({name: node for name, node in functions(path).items() if is_fixture(node)})
    return found


def skips_without_data(test_path: str, name: str) -> str | None:
    """Why the test ``name`` of ``test_path`` would skip without the evaluation data, or None."""
    node = functions(test_path)[name]
    for decorator in node.decorator_list:
        text = ast.unparse(decorator)
        if "slow" in text or "skip" in text:
            return f"marked {text}"
    for statement in module(test_path).body:
        if isinstance(statement, ast.Assign) and any(getattr(t, "id", "") == "pytestmark" for t in statement.targets):
            return f"module marked {ast.unparse(statement.value)}"
    available = fixtures(test_path)
    seen: set[str] = set()
    pending = [node]
    while pending:
        function = pending.pop()
        source = ast.unparse(function)
        if function is not node and any(skip in source for skip in SKIPS):
            return f"fixture {function.name} skips without data"
        if function is node and any(skip in source for skip in SKIPS):
            return "the test skips without data"
        for argument in function.args.args:
            if argument.arg in seen or argument.arg not in available:
                continue
            seen.add(argument.arg)
            pending.append(available[argument.arg])
    return None


def check_structure(table: list[Row]) -> None:
    assert [row.number for row in table] == list(range(1, REQUIREMENTS + 1)), "rows R1 to R34, in order"
    for row in table:
        assert row.requirement, f"R{row.number} states no requirement"
        assert row.verdict.startswith(VERDICTS), f"R{row.number}: verdict {row.verdict!r} is not one of {VERDICTS}"
        if row.verdict.startswith(("partial: ", "not applicable: ")):
            assert len(row.verdict.split(":", 1)[1].strip()) >= 20, f"R{row.number}: say what is missing, or why"
        if row.verdict.startswith("enforced"):
            assert row.tests, f"R{row.number} is enforced but names no test"


def check_named_tests(table: list[Row]) -> int:
    named = 0
    for row in table:
        for test in row.tests:
            path, _, name = test.rpartition("::")
            assert (ROOT / path).exists(), f"R{row.number}: {path} does not exist"
            assert name in functions(path), f"R{row.number}: {test} does not exist"
            why = skips_without_data(path, name)
            assert why is None, f"R{row.number}: {test} does not run everywhere: {why}"
            named += 1
    return named


def check_mutations(table: list[Row]) -> None:
    known = {mutation.name: mutation for mutation in MUTATIONS}
    for row in table:
        cited = re.findall(r"\bM\d+\b", row.verdict.split("mutation:", 1)[1]) if "mutation:" in row.verdict else []
        for name in cited:
            assert name in known, f"R{row.number} cites mutation {name}, which tests/governance/mutations.py lacks"
            assert set(known[name].tests) & set(row.tests), f"R{row.number}: {name} breaks none of the row's tests"
        if row.verdict.startswith("enforced"):
            switched_off = [test for test in row.tests if switches_its_rule_off(test)]
            assert cited or switched_off, f"R{row.number}: show a mutation, or name a test that switches the rule off"


def switches_its_rule_off(test: str) -> bool:
    """Whether the test breaks its rule itself (``setattr`` under a ``Mutation`` comment) and checks the result."""
    path, _, name = test.rpartition("::")
    node = functions(path)[name]
    source = ast.get_source_segment((ROOT / path).read_text(), node) or ""
    return "Mutation" in source and ".setattr(" in source


def test_the_table_has_34_requirements_each_with_a_verdict():
    check_structure(rows())


def test_every_named_test_exists_and_runs_without_the_evaluation_data():
    assert check_named_tests(rows()) >= 50


def test_every_enforced_row_shows_its_tests_fail_when_the_rule_is_broken():
    check_mutations(rows())


def test_every_mutation_names_tests_that_exist():
    for mutation in MUTATIONS:
        assert (ROOT / mutation.path).exists(), mutation.name
        assert mutation.find in (ROOT / mutation.path).read_text(), f"{mutation.name}: its text is gone; update it"
        for test in mutation.tests:
            path, _, name = test.rpartition("::")
            assert name in functions(path), f"{mutation.name}: {test} does not exist"


BROKEN_TABLES = {
    "a row missing": (check_structure, lambda doc: re.sub(r"\| R34 \|.*\n", "", doc)),
    "a verdict missing": (check_structure, lambda doc: doc.replace("| enforced; mutation: M13, M28 |", "| yes |")),
    "a partial row that says nothing": (
        check_structure,
        lambda doc: re.sub(r"(\| R30 \|(?:[^|\n]*\|){3}) partial: [^|\n]*\|", r"\1 partial: |", doc),
    ),
    "a test that skips without data": (
        check_named_tests,
        lambda doc: doc.replace(
            "`tests/governance/test_rules.py::test_the_kill_switch_stops_every_search_at_once`",
            "`tests/governance/test_purpose_binding.py::test_kill_switch_stops_every_search_at_once`",
        ),
    ),
    "a test that does not exist": (
        check_named_tests,
        lambda doc: doc.replace("::test_retention_policy_is_public`", "::test_retention_policy_is_published`"),
    ),
    "an enforced row without a mutation": (
        check_mutations,
        lambda doc: doc.replace("| enforced; mutation: M13, M28 |", "| enforced |"),
    ),
    "a mutation that breaks none of the row's tests": (
        check_mutations,
        lambda doc: doc.replace("| enforced; mutation: M13, M28 |", "| enforced; mutation: M1 |"),
    ),
}


def test_each_check_catches_a_table_broken_its_way():
    """Mutation: each way of breaking the table (a row or verdict missing, a test that skips without data or does
    not exist, an enforced row without a mutation) fails its check."""
    doc = DOC.read_text()
    for what, (check, breaking) in BROKEN_TABLES.items():
        broken = breaking(doc)
        assert broken != doc, f"{what}: the breaking edit no longer applies"
        check(rows(doc))  # intact: passes
        try:
            check(rows(broken))
        except AssertionError:
            continue
        raise AssertionError(f"{check.__name__} did not catch {what}")
