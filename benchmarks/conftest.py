"""pytest configuration for the benchmarks: see ``test_bench.py`` for how to run them.

pyproject.toml's ``addopts`` holds ``--benchmark-disable`` (the tests' default
run makes every benchmark a one-shot smoke test), and pytest-benchmark refuses
``--benchmark-only`` together with it.  Asking for ``--benchmark-only`` means
asking for timings, so it turns benchmarking back on here.
"""

import pytest


def pytest_addoption(parser):
    parser.addoption("--bench-out", action="store_true", default=False,
                     help="fastsoft benchmarks: also time every case with a preallocated out=")


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    # Runs before pytest-benchmark's own pytest_configure reads the options.
    if getattr(config.option, "benchmark_only", False):
        config.option.benchmark_enable = True
