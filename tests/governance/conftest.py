"""Fixtures the governance workflows share: an instance's settings with fake face algorithms, and trained reviewers.

A module that needs other settings or reviewers defines its own fixture of the same name.
"""

from __future__ import annotations

import pytest

from tests.governance.people import fake_settings, trained_reviewer

REVIEWERS = ("first", "second", "third", "fourth", "fifth")


@pytest.fixture
def settings(tmp_path):
    return fake_settings(tmp_path)


@pytest.fixture
def reviewers(instance):
    """Five trained reviewers, by name (a confirmed case and the re-reviews of its contests need that many)."""
    return {name: trained_reviewer(instance, name) for name in REVIEWERS}
