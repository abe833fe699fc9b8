"""Only the compiled part of the build; everything else is in pyproject.toml."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        # The slow-log digest's hot paths (bot/slowlog/_speedups.c). optional: a machine without a
        # C compiler still installs, and bot.slowlog.accel then runs the Python versions.
        Extension("bot.slowlog._speedups", ["bot/slowlog/_speedups.c"], extra_compile_args=["-O2"],
                  optional=True),
    ],
)
