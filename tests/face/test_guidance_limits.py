"""The browser's live guidance anticipates the server's limits: its thresholds are read from guidance.js itself."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tessera.face.sface_config import DEFAULT_SFACE_CONFIG, SFACE_RETAKE_LIMITS

GUIDANCE_JS = Path(__file__).resolve().parents[2] / "tessera" / "web" / "static" / "guidance.js"


def js_number(pattern: str) -> float:
    """The one number in guidance.js that ``pattern`` (a regular expression with one group) finds."""
    found = re.findall(pattern, GUIDANCE_JS.read_text(encoding="utf-8"), flags=re.MULTILINE)
    assert len(found) == 1, f"{pattern!r} should match exactly once in {GUIDANCE_JS}; found {found}"
    return float(found[0])


def config_value(name: str) -> float:
    """``GUIDANCE_CONFIG.name`` as written in guidance.js."""
    return js_number(rf"^\s*{name}:\s*(-?[0-9.]+)\s*,")


def test_the_turn_warning_comes_a_little_before_the_servers_retake_advice():
    warned_above = config_value("faceTurnedAbove")
    assert SFACE_RETAKE_LIMITS.max_abs_yaw - 5 <= warned_above < SFACE_RETAKE_LIMITS.max_abs_yaw


def test_the_turn_is_measured_with_the_servers_nose_depth_ratio():
    depth = js_number(r"^export const NOSE_TIP_DEPTH_RATIO = ([0-9.]+);")
    assert depth == pytest.approx(DEFAULT_SFACE_CONFIG.nose_depth_ratio)


def test_the_bright_light_warning_comes_a_little_before_the_servers_retake_advice():
    warned_above = config_value("tooBrightAbove")
    assert SFACE_RETAKE_LIMITS.max_brightness - 10 <= warned_above < SFACE_RETAKE_LIMITS.max_brightness
