"""Every public function x backend x dtype x layout x axis against fastsoft.reference.

The tolerance model (``rtol = 4 eps`` of the result dtype plus an absolute floor
where a formula cancels) is described in ``tests/util.py``.
"""

import numpy as np
import pytest

from tests.util import (
    AXES,
    DTYPES,
    ELEMENTWISE,
    FLOAT_DTYPES,
    FUNCTIONS,
    LAYOUTS,
    MASKED,
    SHAPE,
    arrange,
    assert_matches,
    awkward,
    axis_id,
    call,
    check,
    expected,
    function_axes,
    inputs_for,
    seed_of,
)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("name", "axis"), function_axes(FUNCTIONS, AXES))
def test_matches_reference(name, axis, dtype, layout, backend):
    arrays = inputs_for(name, SHAPE, dtype, layout, axis=axis, seed=seed_of(name, dtype))
    check(name, arrays, backend=backend, axis=axis)


# Value kinds beyond "normal": non-finite mixes and extreme magnitudes for every
# float dtype, and more integer types (full-range int64 and int8, uint8).
DTYPE_KINDS = [(dtype, kind) for dtype in FLOAT_DTYPES for kind in ("nonfinite", "huge", "tiny")]
DTYPE_KINDS += [("int64", "huge"), ("int8", "huge"), ("uint8", "normal"), ("int32", "normal")]


@pytest.mark.parametrize("layout", ["C", "negative"])
@pytest.mark.parametrize(("dtype", "kind"), DTYPE_KINDS, ids=lambda v: str(v))
@pytest.mark.parametrize(("name", "axis"), function_axes(FUNCTIONS, AXES))
def test_matches_reference_awkward_values(name, axis, dtype, kind, layout, backend):
    arrays = inputs_for(name, SHAPE, dtype, layout, kind, axis=axis, seed=seed_of(name, kind))
    check(name, arrays, backend=backend, axis=axis)


# Shapes: 0-d, length-1 axes, empty arrays (including a zero-length reduced
# axis), 4-d with tuple axes, a long row, an inner axis longer than one
# column chunk of a non-last-axis kernel, and rows on both sides of the Cython
# short-row limits (32, 80 and 128) in several blocks of rows, the last one partial.
SHAPE_AXES = [
    ((), None),
    ((1,), -1),
    ((9,), 0),
    ((9,), None),
    ((4, 1), -1),
    ((1, 4), 0),
    ((0,), -1),
    ((0,), None),
    ((3, 0), -1),
    ((3, 0), 0),
    ((0, 3), -1),
    ((0, 3), 0),
    ((2, 0, 3), 1),
    ((2, 0, 3), (0, 2)),
    ((2, 0, 3), None),
    ((2, 3, 4, 5), (1, 3)),
    ((2, 3, 4, 5), (0, 1, 2)),
    ((2, 3, 4, 5), (-1, -2)),
    ((3, 5000), -1),
    ((2, 5, 600), 1),
    ((3, 40, 2100), 1),  # blocks of several column chunks: runs of chunks cross blocks
    ((300, 4), 0),
    ((70, 32), -1),
    ((70, 33), -1),
    ((20, 128), -1),
    ((20, 129), -1),
    ((20, 80), -1),    # the last row length of the short-row path for float64
    ((20, 81), -1),    # and the first of the row path
    ((1500, 1), -1),
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(("shape", "axis"), SHAPE_AXES,
                         ids=[f"{s}-{axis_id(a)}" for s, a in SHAPE_AXES])
@pytest.mark.parametrize("name", FUNCTIONS)
def test_shapes(name, shape, axis, dtype, backend):
    axis = None if name in ELEMENTWISE else axis
    for kind in ("normal", "nonfinite"):
        arrays = inputs_for(name, shape, dtype, kind=kind, axis=axis, seed=seed_of(shape, kind))
        got = check(name, arrays, backend=backend, axis=axis)
        if name == "logsumexp" and 0 in shape and got.size:
            # A zero-length reduced group sums nothing: log(0) = -inf.
            assert np.all(got == -np.inf)


# --------------------------------------------------------------------------
# where= masks


def make_mask(kind, shape, axis, rng):
    """A ``where=`` mask of ``kind`` for an input of ``shape`` reduced over ``axis``."""
    random = rng.random(shape) < 0.6
    if kind == "random":
        return random
    if kind == "all_true":
        return np.ones(shape, dtype=bool)
    if kind == "all_false":
        return np.zeros(shape, dtype=bool)
    if kind == "fully_masked_groups":
        # Some whole reduced groups masked out, the others random.
        axes = range(len(shape)) if axis is None else np.atleast_1d(axis) % len(shape)
        kill_shape = tuple(1 if i in axes else n for i, n in enumerate(shape))
        kill = rng.random(kill_shape) < 0.4
        if kill.size > 1:
            kill.flat[0], kill.flat[-1] = True, False
        return random & ~kill
    if kind == "broadcast":
        return rng.random((1,) + shape[1:-1] + (1,)) < 0.6 if len(shape) > 2 \
            else rng.random(shape[-1:]) < 0.6
    if kind == "list":
        return random.tolist()
    if kind == "strided":
        return arrange(random, "negative")
    raise ValueError(kind)


MASK_KINDS = ("random", "fully_masked_groups", "all_true", "all_false", "broadcast", "list",
              "strided")


@pytest.mark.parametrize("value_kind", ["normal", "nonfinite"])
@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
@pytest.mark.parametrize("mask_kind", MASK_KINDS)
@pytest.mark.parametrize(("name", "axis"), function_axes(MASKED, AXES))
def test_where(name, axis, mask_kind, dtype, value_kind, rng, backend):
    x = awkward(SHAPE, dtype, kind=value_kind, seed=seed_of(name, dtype, value_kind))
    where = make_mask(mask_kind, SHAPE, axis, rng)
    got = check(name, (x,), backend=backend, axis=axis, where=where)
    full = np.broadcast_to(np.asarray(where), SHAPE)
    if name == "softmax":
        # Masked-out entries are exactly 0; fully masked groups are all 0.
        assert np.all(got[~full] == 0)
    elif name == "log_softmax":
        assert np.all(got[~full] == -np.inf)
    if mask_kind == "all_false":
        fill = {"softmax": 0.0, "log_softmax": -np.inf, "logsumexp": -np.inf}[name]
        assert np.all(got == fill)


@pytest.mark.parametrize("name", MASKED)
def test_where_ignores_masked_nonfinite(name, backend):
    # NaN and +inf that are masked out do not poison the row.
    x = np.array([[1.0, np.nan, 2.0, np.inf, -np.inf]])
    where = np.array([True, False, True, False, True])
    got = call(name, x, where=where, backend=backend)
    assert np.all(np.isfinite(got[..., [0, 2]] if name != "logsumexp" else got))
    check(name, (x,), backend=backend, where=where)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("n", [7, 70, 1000])
@pytest.mark.parametrize("name", MASKED)
def test_where_ignores_masked_nonfinite_in_long_rows(name, n, dtype, backend):
    """Masked-out NaN, +inf and huge values all along a row (in the kernels'
    vector lanes as well as their tails) neither win the max nor reach the
    sums; a row masked out entirely, whatever it holds, gets the fill, and a
    row with one element left is not taken for one with none."""
    rng = np.random.default_rng(seed_of(name, n, dtype))
    x = rng.standard_normal((3, n)).astype(dtype)
    where = rng.random((3, n)) < 0.6
    where[0, 0] = True
    hidden = np.flatnonzero(~where[0])
    big = np.finfo(dtype).max / 2
    x[0, hidden] = np.resize(np.array([np.nan, np.inf, big, -np.inf], dtype), hidden.size)
    x[1] = np.resize(np.array([np.inf, np.nan, big], dtype), n)
    where[1] = False
    where[2] = False  # one element, early in the row
    where[2, 3] = True
    got = check(name, (x,), backend=backend, where=where)
    fill = {"softmax": 0.0, "log_softmax": -np.inf, "logsumexp": -np.inf}[name]
    if name == "logsumexp":
        assert np.isfinite(got[[0, 2]]).all() and got[1] == fill
    else:
        assert np.isfinite(got[where]).all()
        assert np.all(got[~where] == fill)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("n", [3, 10, 16, 40, 100])
@pytest.mark.parametrize("name", MASKED)
def test_where_in_blocks_of_short_rows(name, n, dtype, backend):
    """Many masked short rows (the Cython backend's short-row blocks, with
    their rows in groups of 16 and the groups' leftovers): masked-out NaN,
    +inf and huge values, rows masked out entirely, and unmasked NaN, +inf
    and all -inf rows among them, each poisoning only its own row."""
    rng = np.random.default_rng(seed_of(name, n, dtype))
    rows = 301
    x = rng.standard_normal((rows, n)).astype(dtype) * 3
    where = rng.random((rows, n)) < 0.6
    where[:, 0] = True
    hidden = ~where
    x[hidden] = np.resize(np.array([np.nan, np.inf, np.finfo(dtype).max / 2, -np.inf], dtype),
                          hidden.sum())
    where[17] = where[150] = where[300] = False  # fully masked
    x[40, 0] = np.nan
    x[41, 0] = np.inf
    x[42] = -np.inf
    got = check(name, (x,), backend=backend, where=where)
    fill = {"softmax": 0.0, "log_softmax": -np.inf, "logsumexp": -np.inf}[name]
    poisoned = [40, 41, 42]
    fine = np.setdiff1d(np.arange(rows), poisoned + [17, 150, 300])
    if name == "logsumexp":
        assert np.all(got[[17, 150, 300]] == fill)
        assert np.isnan(got[40]) and got[41] == np.inf and got[42] == -np.inf
        assert np.isfinite(got[fine]).all()
    else:
        assert np.all(got[~where] == fill)
        assert np.isnan(got[poisoned][where[poisoned]]).all()
        assert np.isfinite(got[fine][where[fine]]).all()


@pytest.mark.parametrize("layout", ["C", "F", "negative"])
@pytest.mark.parametrize("axis", AXES, ids=axis_id)
@pytest.mark.parametrize("keepdims", [False, True])
def test_logsumexp_keepdims(keepdims, axis, layout, rng, backend):
    x = awkward(SHAPE, "float64", layout, seed=seed_of(axis, layout))
    got = check("logsumexp", (x,), backend=backend, axis=axis, keepdims=keepdims)
    expected_shape = np.sum(np.ones(SHAPE), axis=axis, keepdims=keepdims).shape
    assert got.shape == expected_shape
    where = make_mask("fully_masked_groups", SHAPE, axis, rng)
    check("logsumexp", (x,), backend=backend, axis=axis, keepdims=keepdims, where=where)


@pytest.mark.parametrize("name", [n for n in FUNCTIONS if n not in ELEMENTWISE])
def test_default_axis_is_last(name, backend):
    arrays = inputs_for(name, SHAPE, "float64", seed=3)
    exact, scale, result = expected(name, arrays, axis=-1)
    got = call(name, *arrays, backend=backend)
    assert_matches(got, exact, scale, result, what=name)


@pytest.mark.parametrize("name", FUNCTIONS)
def test_array_like_input(name, backend):
    """Lists, tuples and NumPy scalars are accepted like arrays."""
    arrays = inputs_for(name, (3, 4), "float64", seed=5)
    as_lists = [a.tolist() for a in arrays]
    kwargs = {} if name in ELEMENTWISE else {"axis": -1}
    np.testing.assert_array_equal(call(name, *as_lists, backend=backend, **kwargs),
                                  call(name, *arrays, backend=backend, **kwargs))
    as_tuples = [tuple(map(tuple, a)) for a in as_lists]
    np.testing.assert_array_equal(call(name, *as_tuples, backend=backend, **kwargs),
                                  call(name, *arrays, backend=backend, **kwargs))


@pytest.mark.parametrize("name", [n for n in FUNCTIONS if n not in ELEMENTWISE])
def test_empty_axis_tuple(name, backend):
    """``axis=()`` reduces over no axis (as in NumPy): every element is its own group."""
    kind = "normal" if name.endswith("_backward") else "nonfinite"
    arrays = inputs_for(name, SHAPE, "float64", kind=kind, axis=(), seed=6)
    got = check(name, arrays, backend=backend, axis=())
    assert got.shape == SHAPE
    if name == "softmax":
        np.testing.assert_array_equal(got, np.where(np.isfinite(arrays[0]), 1.0, np.nan))


@pytest.mark.parametrize("name", MASKED)
def test_where_on_0d(name, backend):
    for where, fill in ((True, None), (False, {"softmax": 0.0, "log_softmax": -np.inf,
                                               "logsumexp": -np.inf}[name])):
        got = check(name, (np.float64(3.0),), backend=backend, axis=None, where=where)
        assert got.shape == ()
        if fill is not None:
            assert got == fill
