"""Thread safety: every function called concurrently from a thread pool.

The kernels release the GIL, so these calls really run at the same time; each
result (and each ``out=`` buffer) is checked against the reference afterwards.
"""

from concurrent.futures import ThreadPoolExecutor

import numpy as np

import fastsoft
from tests.util import (
    ELEMENTWISE,
    FUNCTIONS,
    LAYOUTS,
    MASKED,
    assert_matches,
    expected,
    inputs_for,
)

WORKERS = 8
CALLS = 400


def _tasks(seed=0):
    rng = np.random.default_rng(seed)
    tasks = []
    for i in range(CALLS):
        name = FUNCTIONS[i % len(FUNCTIONS)]
        shape = tuple(int(n) for n in rng.integers(1, 40, size=rng.integers(1, 4)))
        dtype = ("float32", "float64", "float16")[i % 3]
        layout = LAYOUTS[int(rng.integers(len(LAYOUTS)))]
        axis = None if name in ELEMENTWISE else int(rng.integers(-len(shape), len(shape)))
        arrays = inputs_for(name, shape, dtype, layout, axis=axis, seed=i)
        kwargs = {} if name in ELEMENTWISE else {"axis": axis}
        where = None
        if name in MASKED and i % 2:
            where = rng.random(shape) < 0.7
            kwargs["where"] = where
        if i % 3 == 0:
            result_shape = np.zeros(shape).sum(axis=axis).shape if name == "logsumexp" \
                else shape
            kwargs["out"] = np.full(result_shape, np.nan, dtype=dtype)
        exact = expected(name, arrays, axis=axis, where=where)
        tasks.append((name, arrays, kwargs, exact))
    return tasks


def test_concurrent_calls(backend):
    tasks = _tasks()

    def run(task):
        name, arrays, kwargs, _ = task
        return getattr(fastsoft, name)(*arrays, backend=backend, **kwargs)

    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        results = list(pool.map(run, tasks))
    for (name, _, kwargs, (exact, scale, result)), got in zip(tasks, results):
        if "out" in kwargs:
            assert got is kwargs["out"]
        assert_matches(got, exact, scale, result, what=f"{name} in a thread")


def test_concurrent_calls_on_shared_input(backend):
    """Many threads reading the same (read-only) input at once."""
    x = inputs_for("softmax", (64, 257), "float64", "readonly", kind="nonfinite", seed=1)[0]
    exact, scale, result = expected("softmax", (x,), axis=0)
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        results = list(pool.map(lambda _: fastsoft.softmax(x, axis=0, backend=backend),
                                range(64)))
    for got in results:
        assert_matches(got, exact, scale, result, what="softmax on a shared input")
