"""Functions along a non-last axis by bands of rows (Cython backend).

Large slabs whose column chunks would read short strips of rows take
``cols_bands`` (fastsoft/_cython/_kernels.pxi): each thread takes a band of
whole rows for the column maxima (forward functions) and the sums, whose
partials are combined, and then writes its band; the backward passes write a
piece of 1024 columns at a time, each with its own choice of exp.  Here
``set_band_mode`` forces bands (and, for comparison, chunks) on small arrays:
bands of unequal rows, several groups of 8192 columns, several slabs, piece
tails, non-finite input, where= masks, and pieces that need the wide exp or
double lanes beside pieces that do not.  Both paths must match the
reference.
"""

import numpy as np
import pytest
from numpy import inf

import fastsoft
from tests.util import (
    HUGE_MAXIMA,
    KINDS,
    assert_matches,
    call,
    expected,
    inputs_for,
    maxima_across_unshifted_range,
    seed_of,
    tied_huge_maxima,
)

pytestmark = pytest.mark.skipif("cython" not in fastsoft.backends(),
                                reason="the Cython backend is not built")

FUNCTIONS = ("softmax", "log_softmax", "logsumexp", "softmax_backward", "log_softmax_backward")
SHAPES = [
    ((301, 40), 0),      # bands of unequal rows
    ((37, 8200), 0),     # two groups of columns, the second 8 wide; a piece tail
    ((3, 50, 2100), 1),  # three slabs
    ((4, 3), 0),         # fewer rows than bands of 4 rows, and short rows
    ((1, 70), 0),        # one row: a thread with no rows
]


def _run(cython, mode, name, arrays, axis, **kwargs):
    previous = cython.set_band_mode(mode)
    out = np.full(np.delete(arrays[0].shape, axis) if name == "logsumexp" else arrays[0].shape,
                  np.nan, dtype=arrays[0].dtype)
    try:
        return call(name, *arrays, axis=axis, out=out, backend="cython", **kwargs)
    finally:
        cython.set_band_mode(previous)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(("shape", "axis"), SHAPES)
@pytest.mark.parametrize("name", FUNCTIONS)
def test_bands_and_chunks_match_the_reference(cython_variant, name, shape, axis, dtype, kind):
    arrays = inputs_for(name, shape, dtype, kind=kind, axis=axis,
                        seed=seed_of(name, shape, dtype, kind))
    exact, scale, result = expected(name, arrays, axis=axis)
    for mode in (1, -1):
        got = _run(cython_variant, mode, name, arrays, axis)
        assert_matches(got, exact, scale, result, what=f"{name} band mode {mode}")


@pytest.mark.parametrize("kind", ["normal", "nonfinite"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(("shape", "axis"), SHAPES)
@pytest.mark.parametrize("name", ["softmax", "log_softmax", "logsumexp"])
def test_bands_with_where(cython_variant, name, shape, axis, dtype, kind):
    """where=: the bands' maxima skip masked-out entries, their sums leave them
    out, and a column with no unmasked entry in any band (or with one, in the
    last band only) gets the fill (or its one value)."""
    (x,) = inputs_for(name, shape, dtype, kind=kind, seed=seed_of(name, shape, dtype, kind))
    rng = np.random.default_rng(seed_of("where", name, shape, dtype, kind))
    where = rng.random(shape) < 0.7
    columns = np.moveaxis(where, axis, 0)  # a view: rows first, columns last
    columns[..., 1] = False
    columns[..., 2] = False
    columns[-1, ..., 2] = True
    exact, scale, result = expected(name, (x,), axis=axis, where=where)
    fill = {"softmax": 0.0, "log_softmax": -np.inf}.get(name)
    for mode in (1, -1):
        got = _run(cython_variant, mode, name, (x,), axis, where=where)
        assert_matches(got, exact, scale, result, what=f"{name} where= band mode {mode}")
        if fill is not None:
            assert np.all(got[~where] == fill)


@pytest.mark.parametrize("kind", ["normal", "nonfinite"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(("shape", "axis"), SHAPES)
@pytest.mark.parametrize(("name", "which"), [("softmax", 0), ("log_softmax", 0),
                                             ("softmax_backward", 0), ("softmax_backward", 1),
                                             ("log_softmax_backward", 0),
                                             ("log_softmax_backward", 1)])
def test_bands_in_place(cython_variant, name, shape, axis, dtype, which, kind):
    """out= an input (x; y or dy): float32 softmax's bands store their exps
    in out while they sum them and then scale them there, so every band must
    read its rows of x before it overwrites them and not read x again; the
    other functions read their inputs again as they write (normal input:
    log_softmax and float64 softmax from unshifted sums, see
    band_max_sum_plain)."""
    arrays = inputs_for(name, shape, dtype, kind=kind, axis=axis,
                        seed=seed_of("in place", name, shape, dtype, kind))
    exact, scale, result = expected(name, arrays, axis=axis)
    for mode in (1, -1):
        work = [a.copy() for a in arrays]
        target = work[which]
        previous = cython_variant.set_band_mode(mode)
        try:
            got = call(name, *work, axis=axis, out=target, backend="cython")
        finally:
            cython_variant.set_band_mode(previous)
        assert got is target
        assert_matches(got, exact, scale, result, what=f"{name} in place, band mode {mode}")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_each_piece_chooses_its_exp(cython_variant, dtype):
    """log_softmax_backward: one piece of columns holds y = 60, beyond the
    float32 lanes' exp (y <= 43), and for float64 one holds y = 700, beyond
    the lean exp (y <= 664); the other pieces take the lean paths.  A choice
    made for the wrong piece overflows or loses the large terms."""
    rng = np.random.default_rng(seed_of("pieces", dtype))
    y = rng.uniform(-8, 0, (40, 3000)).astype(dtype)
    dy = rng.standard_normal((40, 3000)).astype(dtype) * 1e-20
    y[7, 1500] = 60.0
    if dtype == "float64":
        y[9, 2500] = 700.0
        dy *= 1e-280
    exact, scale, result = expected("log_softmax_backward", (y, dy), axis=0)
    got = _run(cython_variant, 1, "log_softmax_backward", (y, dy), 0)
    assert np.isfinite(got).all()
    assert_matches(got, exact, scale, result, what="log_softmax_backward bands")


def test_each_piece_chooses_its_lanes(cython_variant):
    """float32 softmax_backward: in one column of one piece, dy - total is
    4.5e38, beyond float32 (see softmax_backward_in_float), while the result
    y * (dy - total) is 2.25e38; that piece must run in double lanes, the
    others may take float32 lanes.  A piece given another's choice gives inf."""
    rng = np.random.default_rng(seed_of("lanes"))
    y = rng.uniform(0, 1e-3, (40, 3000)).astype(np.float32)
    dy = rng.standard_normal((40, 3000)).astype(np.float32)
    y[:2, 2100] = [0.5, 1.0]
    dy[:2, 2100] = [3e38, -3e38]
    exact, scale, result = expected("softmax_backward", (y, dy), axis=0)
    got = _run(cython_variant, 1, "softmax_backward", (y, dy), 0)
    assert np.isfinite(got).all()
    assert_matches(got, exact, scale, result, what="softmax_backward bands")


def test_band_mode_is_settable_and_restored():
    from fastsoft import _cython

    default = _cython.set_band_mode(1)
    try:
        assert default == 0
        assert _cython.set_band_mode(-5) == 1
        assert _cython.set_band_mode(0) == -1
    finally:
        _cython.set_band_mode(default)


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("mode", [1, -1])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", ["softmax", "log_softmax", "logsumexp"])
def test_huge_column_maxima(cython_variant, name, dtype, mode, stream):
    """Columns whose max is huge and tied (see tied_huge_maxima) in bands, in
    chunks and, streamed, in pipelined chunks: float32 log_softmax folds max +
    log(sum) into one shift only for maxima below 2^20."""
    previous = cython_variant.set_stream_min_bytes(0 if stream else 1 << 60)
    try:
        for big in HUGE_MAXIMA:
            x = np.ascontiguousarray(tied_huge_maxima(40, big, dtype).T)
            exact, scale, result = expected(name, (x,), axis=0)
            got = _run(cython_variant, mode, name, (x,), 0)
            assert_matches(got, exact, scale, result, what=f"{name} {big} band mode {mode}")
    finally:
        cython_variant.set_stream_min_bytes(previous)


@pytest.mark.parametrize("mode", [1, -1])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", ["softmax", "log_softmax", "logsumexp"])
def test_column_maxima_across_the_unshifted_range(cython_variant, name, dtype, mode):
    """Bands of logsumexp, log_softmax and float64 softmax take each column's
    max and its sum of unshifted exps in one pass, used where every max of
    the group of columns is at most 40 (float32) or 600 (float64) in
    magnitude (see band_max_sum_plain).  Groups of 16 columns whose max runs
    across and past those ends (see maxima_across_unshifted_range), each
    column in another order: the max in the last row (found after the
    sums), in the first (a check every 32 rows ends the sums early), or
    anywhere."""
    spread = maxima_across_unshifted_range(301, dtype).T  # rising to each column's max
    rng = np.random.default_rng(seed_of("plain columns", name, dtype))
    for k in range(spread.shape[1]):
        column = spread[:, k]
        x = np.stack([column, column[::-1]] + [rng.permutation(column) for _ in range(14)],
                     axis=1)
        exact, scale, result = expected(name, (x,), axis=0)
        got = _run(cython_variant, mode, name, (x,), 0)
        assert_matches(got, exact, scale, result,
                       what=f"{name} max {column[-1]} band mode {mode}")


@pytest.mark.parametrize("mode", [1, -1])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_lone_column_entries_are_exact(cython_variant, dtype, mode):
    """A column with one finite entry gives exactly 1 (softmax), 0
    (log_softmax) and that entry (logsumexp), also from the bands' unshifted
    sums: the max's own term is taken out of the sum with the very bits the
    vectorized pass added (see plain_relative_sum).  2000 entries across the
    range of unshifted exps, in bands of unequal rows."""
    limit = 40.0 if dtype == "float32" else 600.0
    rng = np.random.default_rng(seed_of("lone columns", dtype))
    entries = np.concatenate([rng.uniform(-limit, limit, 1900),
                              rng.uniform(-1, 1, 100) * 2.0 ** -rng.integers(1, 100, 100)])
    x = np.full((301, entries.size), -inf, dtype=dtype)
    rows = rng.integers(0, 301, entries.size)
    x[rows, np.arange(entries.size)] = entries.astype(dtype)
    at = (rows, np.arange(entries.size))
    np.testing.assert_array_equal(_run(cython_variant, mode, "softmax", (x,), 0)[at], 1)
    np.testing.assert_array_equal(_run(cython_variant, mode, "log_softmax", (x,), 0)[at], 0)
    np.testing.assert_array_equal(_run(cython_variant, mode, "logsumexp", (x,), 0), x[at])


@pytest.mark.parametrize(("mode", "stream"), [(1, False), (-1, False), (-1, True)],
                         ids=["bands", "chunks", "streamed-chunks"])
@pytest.mark.parametrize("n", [10, 300])
def test_subnormal_softmax_results_in_columns(cython_variant, n, mode, stream):
    """float32 softmax along axis 1 of (2, n, 600): one slab of columns whose
    x - max run down to -110 (subnormal results, beside NaN, +-inf and -1e4)
    and one of narrow range.  Whether the first 4096 elements span more than
    87.33 chooses the exps' form (see test_edge_cases.py's test of the rows):
    the wide slab second and first must give the same bits, in bands, in
    chunks and in the streamed (pipelined) chunks, and match the reference."""
    rng = np.random.default_rng(seed_of("subnormal columns", n, mode, stream))
    wide = rng.uniform(-110.0, 0.0, (n, 600)).astype(np.float32)
    wide[0, :] = 0.0
    wide[n // 2, 1] = np.nan
    wide[:, 2] = -inf
    wide[n - 1, 2] = -95.5
    wide[n // 3, 3] = inf
    wide[1:, 4] = -1e4
    narrow = rng.uniform(-1.0, 1.0, (n, 600)).astype(np.float32)
    previous = cython_variant.set_stream_min_bytes(0 if stream else 2**62)
    try:
        after = _run(cython_variant, mode, "softmax", (np.stack([narrow, wide]),), 1)
        first = _run(cython_variant, mode, "softmax", (np.stack([wide, narrow]),), 1)
    finally:
        cython_variant.set_stream_min_bytes(previous)
    np.testing.assert_array_equal(after[1], first[0])
    assert np.any((first[0] > 0) & (first[0] < np.finfo(np.float32).smallest_normal))
    exact, scale, result = expected("softmax", (np.stack([wide, narrow]),), axis=1)
    assert_matches(first, exact, scale, result, what=f"softmax band mode {mode}")


def _at_line_offset(a, offset):
    """A copy of ``a`` that starts ``offset`` bytes past a 64-byte boundary."""
    buf = np.empty(a.nbytes + 128, dtype=np.uint8)
    start = (-buf.ctypes.data) % 64 + offset
    b = buf[start:start + a.nbytes].view(a.dtype).reshape(a.shape)
    b[...] = a
    return b


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("offset", [0, 16, 32, 48])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", FUNCTIONS)
def test_column_chunks_from_every_line_offset(cython_variant, name, dtype, offset, stream):
    """Chunks of columns (and, streamed, pipelined chunks) begin at the
    input's first 64-byte boundary after a first chunk of the columns before
    it (column_lead): inputs and out at each 16-byte offset from a cache
    line, rows a whole number of lines apart (2064 columns: a lead, two full
    chunks of 1024 and a short last one) or not (2070), masked or not.  Each
    must match the reference."""
    previous = cython_variant.set_stream_min_bytes(0 if stream else 1 << 60)
    try:
        for columns in (2064, 2070):
            shape = (37, columns)
            arrays = tuple(_at_line_offset(a, offset) for a in inputs_for(
                name, shape, dtype, axis=0, seed=seed_of("lead", name, dtype, columns)))
            masks = [None]
            if name not in ("softmax_backward", "log_softmax_backward"):
                masks.append(np.random.default_rng(columns).random(shape) < 0.9)
            for where in masks:
                kwargs = {} if where is None else {"where": where}
                exact, scale, result = expected(name, arrays, axis=0, **kwargs)
                got = _run(cython_variant, -1, name, arrays, 0, **kwargs)
                assert_matches(got, exact, scale, result,
                               what=f"{name} offset {offset} columns {columns} "
                               f"where={where is not None}")
    finally:
        cython_variant.set_stream_min_bytes(previous)
