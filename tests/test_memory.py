"""Memory: with out= nothing larger than O(rows) is allocated; without it, only the result.

tracemalloc sees NumPy's array buffers (NumPy reports them to it), so a hidden
temporary copy of the input or of the result shows up in the traced peak.
Each case is called once untraced first (JIT compilation, thread pools).
"""

import math
import tracemalloc

import pytest

import fastsoft
from fastsoft._comparisons import FUNCTIONS, Case, make_inputs

# (shape, axis), each about a million elements: big enough that an O(size)
# temporary (4 or 8 MB) stands far above the O(rows) allowance.
CASES = [((4096, 256), -1), ((256, 4096), 0), ((2, 500_000), -1), ((64, 128, 128), 1)]
# Bytes allowed per reduced group ("row") plus a constant, for scratch such as
# per-row maxima and sums, and Python objects.
PER_ROW = 64
SLACK = 256 * 1024


def _rows(shape, axis, function):
    if function in ("sigmoid", "log_sigmoid", "sigmoid_backward"):
        return 1
    return math.prod(shape) // shape[axis]


def _traced_peak(fn):
    fn()  # warm up untraced
    tracemalloc.start()
    try:
        result = fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak, result


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0]}-axis{c[1]}")
@pytest.mark.parametrize("function", FUNCTIONS)
def test_out_allocates_only_per_row_scratch(function, case, dtype, backend):
    shape, axis = case
    inputs = make_inputs(Case(function, shape, dtype, axis, out=True))
    kwargs = {} if function in ("sigmoid", "log_sigmoid", "sigmoid_backward") else {"axis": axis}
    call = getattr(fastsoft, function)
    peak, result = _traced_peak(
        lambda: call(*inputs.arrays, out=inputs.out, backend=backend, **kwargs))
    assert result is inputs.out
    allowed = PER_ROW * _rows(shape, axis, function) + SLACK
    assert peak <= allowed, (
        f"{function} with out= allocated {peak} bytes at its peak; allowed {allowed} "
        f"(the input is {inputs.arrays[0].nbytes} bytes)")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0]}-axis{c[1]}")
@pytest.mark.parametrize("function", FUNCTIONS)
def test_without_out_allocates_only_the_result(function, case, dtype, backend):
    shape, axis = case
    inputs = make_inputs(Case(function, shape, dtype, axis))
    kwargs = {} if function in ("sigmoid", "log_sigmoid", "sigmoid_backward") else {"axis": axis}
    call = getattr(fastsoft, function)
    peak, result = _traced_peak(lambda: call(*inputs.arrays, backend=backend, **kwargs))
    allowed = result.nbytes + PER_ROW * _rows(shape, axis, function) + SLACK
    assert peak <= allowed, (
        f"{function} allocated {peak} bytes at its peak; allowed {allowed} "
        f"(the result is {result.nbytes} bytes)")
