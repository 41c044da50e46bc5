"""docs/glossary.md defines every term it promises and points at code that exists: a rename breaks this."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GLOSSARY = ROOT / "docs" / "glossary.md"
TERMS = (
    "Template",
    "Reference",
    "Probe",
    "Features",
    "Score",
    "LLR",
    "Calibration",
    "FMR and FNMR",
    "FPIR and FNIR",
    "Threshold",
    "Matcher",
    "Algorithm",
    "Gallery",
    "Subject",
    "Candidate",
    "Catch trial",
)


def _references() -> list[str]:
    return re.findall(r"`((?:tessera|tests)[./][^`\s]+)`", GLOSSARY.read_text())


def test_every_promised_term_is_defined():
    defined = list(_entries())
    missing = [term for term in TERMS if not any(entry.startswith(term) for entry in defined)]
    assert not missing, f"docs/glossary.md does not define {missing}"
    for kind in ("cosine", "MCC", "LLR"):
        assert f"**{kind}**" in GLOSSARY.read_text(), f"the score kind {kind} is not described"


@pytest.mark.parametrize("reference", _references())
def test_every_code_reference_exists(reference):
    if "/" in reference:
        assert (ROOT / reference).exists(), f"{reference} named in docs/glossary.md does not exist"
        return
    module_name, attributes = reference, []
    while True:
        try:
            target = importlib.import_module(module_name)
            break
        except ModuleNotFoundError:
            module_name, _, attribute = module_name.rpartition(".")
            assert module_name, f"{reference} named in docs/glossary.md is not importable"
            attributes.insert(0, attribute)
    for attribute in attributes:
        assert hasattr(target, attribute), f"{reference} named in docs/glossary.md does not exist"
        target = getattr(target, attribute)


def _entries() -> dict[str, str]:
    """Each defined term and its definition (the lines up to the next term or heading)."""
    entries: dict[str, str] = {}
    term = None
    for line in GLOSSARY.read_text().splitlines():
        heading = re.fullmatch(r"\*\*(.+)\*\*", line)
        if heading or line.startswith("#"):
            term = heading.group(1) if heading else None
            if term:
                entries[term] = ""
        elif term:
            entries[term] += line + "\n"
    return entries


def test_every_entry_says_where_it_lives_in_the_code():
    entries = _entries()
    assert len(entries) >= len(TERMS)
    for term, definition in entries.items():
        assert re.search(r"`(tessera[./]|POST /v1/)", definition), f"{term}: no code reference"
