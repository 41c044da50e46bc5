"""Presentation-attack detection: the active challenge (pose, parallax, burst checks) and the passive score.

See docs/liveness.md for the API and what each check can and cannot show.
"""
