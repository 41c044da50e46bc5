"""Capture: turning uploaded bytes into images the pipelines can trust."""
