"""Fixtures the governance workflows share: trained reviewers.

A module that needs other reviewers defines its own fixture of the same name. (Settings stay each module's own:
``tests/service_fixtures.py`` gives the real algorithms' to every module that does not define its own.)
"""

from __future__ import annotations

import pytest

from tests.governance.people import trained_reviewer

REVIEWERS = ("first", "second", "third", "fourth", "fifth")


@pytest.fixture
def reviewers(instance):
    """Five trained reviewers, by name (a confirmed case and the re-reviews of its contests need that many)."""
    return {name: trained_reviewer(instance, name) for name in REVIEWERS}
