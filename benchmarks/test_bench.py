"""pytest-benchmark comparisons of fastsoft with its peers, driven by one registry.

Every case of ``fastsoft._comparisons`` (function x shape x dtype) is timed for
every implementation of ``COMPARISONS``: fastsoft (default backend, and each CPU
backend by name), ``fastsoft.reference``, ``scipy.special`` (the NumPy
expression for backward passes), PyTorch CPU, and the floor ``copy``.  Groups
are ``function|shape|dtype`` (``|out`` with ``out=``); implementations missing
here are skipped.

Run::

    pytest benchmarks --benchmark-only                  # time everything, print the groups
    pytest benchmarks --benchmark-only -k "softmax-1000x1000 and float32"
    pytest benchmarks --benchmark-only --benchmark-json=bench.json
    pytest benchmarks --benchmark-only --bench-out      # also time with a preallocated out=
    pytest benchmarks                                   # smoke test: each call once, checked

With benchmarks disabled (``--benchmark-disable``, the default from
pyproject.toml) every case runs once on small arrays and its result is
checked against ``fastsoft.reference``, so a registry entry that calls the
wrong function or axis fails here rather than timing the wrong thing.
"""

import numpy as np
import pytest

from fastsoft import reference
from fastsoft._bench import FIRST_WARMUP_TIME, warm_up
from fastsoft._comparisons import (
    COMPARISONS,
    ELEMENTWISE,
    FLOOR,
    FLOOR_SCALE,
    FUNCTIONS,
    IMPLEMENTATIONS,
    Unavailable,
    make_cases,
    make_inputs,
)

# (shape, axis): many tiny rows, a square batch, few long rows (a GPT-2
# vocabulary), and a non-last axis.
SHAPES = (((65536, 10), -1), ((1000, 1000), -1), ((32, 50257), -1), ((1000, 1000), 0))
# The same four kinds, small, for the one-shot smoke run.
SMOKE_SHAPES = (((256, 10), -1), ((64, 64), -1), ((4, 5027), -1), ((64, 64), 0))
DTYPES = ("float32", "float64")


def _benchmarks_disabled(config):
    return config.getoption("benchmark_disable") and not config.getoption("benchmark_enable")


def pytest_generate_tests(metafunc):
    if "case" in metafunc.fixturenames:
        smoke = _benchmarks_disabled(metafunc.config)
        shapes = SMOKE_SHAPES if smoke else SHAPES
        # The smoke run always checks the out= variants; timing them is opt-in.
        outs = (False, True) if smoke or metafunc.config.getoption("bench_out", False) else (False,)
        cases = make_cases(FUNCTIONS, shapes, DTYPES, outs)
        metafunc.parametrize("case", cases, ids=[case.id for case in cases])
    if "implementation" in metafunc.fixturenames:
        metafunc.parametrize("implementation", IMPLEMENTATIONS)


# Inputs of the last case, shared by its implementations (they run one after another).
_last_inputs = {}


def _inputs(case):
    if case not in _last_inputs:
        _last_inputs.clear()
        _last_inputs[case] = make_inputs(case)
    return _last_inputs[case]


def _check_result(result, inputs, implementation):
    """The call computed the case's function (compared to the reference, loosely)."""
    case = inputs.case
    kwargs = {} if case.function in ELEMENTWISE else {"axis": case.axis}
    expected = getattr(reference, case.function)(*inputs.arrays, **kwargs)
    result = np.asarray(result)
    assert result.shape == expected.shape
    if implementation != "reference":  # the reference computes and returns float64
        assert result.dtype == np.dtype(case.dtype)
    # Loose enough for float32 peers on long rows; an axis mix-up is off by far more.
    tol = 200 * np.finfo(case.dtype).eps
    scale = max(1.0, float(np.max(np.abs(expected))))
    np.testing.assert_allclose(result, expected, rtol=tol, atol=tol * scale)


def test_bench(benchmark, case, implementation):
    inputs = _inputs(case)
    try:
        run = COMPARISONS[case.function][implementation](inputs)
    except Unavailable as exc:
        pytest.skip(str(exc))
    result = run()  # compile JIT kernels and touch memory before timing
    if not benchmark.disabled:
        warm_up(run, FIRST_WARMUP_TIME)  # thread pools and caches reach their steady state
    benchmark.group = case.group
    benchmark.extra_info.update(implementation=implementation, nbytes=case.nbytes,
                                floor_scale=FLOOR_SCALE[case.function])
    benchmark(run)
    if implementation != FLOOR:
        _check_result(result, inputs, implementation)
