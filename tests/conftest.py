"""Shared pytest setup. Fixtures live in tests/fixtures/<component>.py, one module per real component."""

pytest_plugins = [
    "tests.fixtures.prometheus",
    "tests.fixtures.milvus",
    "tests.fixtures.postgres",
    "tests.fixtures.slack",
    "tests.fixtures.loki",
]
