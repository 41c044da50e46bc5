"""Readers for the public data sets Tessera is evaluated and calibrated on.

Each reader turns a data set's own files into typed values and never
downloads anything: the data must already be on disk (see
``tests/conftest.py`` for where the test suite looks for it).
"""
