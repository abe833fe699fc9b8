"""Helpers shared by the test modules (not fixtures: those live in tests/fixtures/)."""
