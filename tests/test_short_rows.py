"""Short rows in the Cython backend: the vectorized row maxima and spreads.

Rows of 2 to 16 elements (fastsoft/_cython/fs_short.h) take their maxima
across groups of rows at once (AVX-512: 16 float32 or 8 float64 rows, from
windows of powers of two; AVX2: 8 or 4 rows, one vector per row folded
across the group), and spread per-row values back over the rows (permutes;
AVX2: overlapping broadcast stores).  Each SIMD variant (AVX-512 and AVX2 run
this code, the baseline the scalar loops) must match the reference for every row length from
2 to 17, in blocks of whole groups, a tail of rows outside any group, and
several blocks, on one thread and split across threads.  Longer short rows
(63 to 128) check the float32 maxima and sums taken row by row in lanes.
"""

import numpy as np
import pytest

import fastsoft
from tests.util import KINDS, check, inputs_for, seed_of

pytestmark = pytest.mark.skipif("cython" not in fastsoft.backends(),
                                reason="the Cython backend is not built")

# The forward functions use fs_short.h (maxima, spreads); every function's
# blocks of short rows are whole groups of rows (the backward passes' too).
FUNCTIONS = ("softmax", "log_softmax", "logsumexp", "softmax_backward", "log_softmax_backward")
# 2 to 16: the vectorized lengths, 17 just past them; 63 to 128: float32 rows
# long enough for their maxima and sums in vector lanes row by row
# (SHORT_VECTOR_ROW), up to the longest short rows.
LENGTHS = [*range(2, 18), 63, 64, 65, 80, 100, 127, 128]
BLOCK = 1024  # SHORT_BLOCK: elements per block of the short-row path


def _rows(n):
    """Several blocks of rows, the last with a few rows outside whole groups."""
    return 2 * (BLOCK // n) + 16 * 3 + 5


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", FUNCTIONS)
def test_short_rows_match_the_reference(cython_variant, name, dtype, kind):
    for n in LENGTHS:
        arrays = inputs_for(name, (_rows(n), n), dtype, kind=kind,
                            seed=seed_of(name, dtype, kind, n))
        check(name, arrays, backend="cython", axis=-1)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", ["softmax", "log_softmax", "logsumexp"])
def test_each_rows_max_is_found_at_every_position(cython_variant, name, dtype):
    """Row r's max is 1000 times 1 to 3 (exp of it overflows in either dtype)
    at position r % n, so a max that missed it, or a spread that gave a row
    another row's max, would overflow or scale the wrong row.  Ties and a
    row of NaN beside it check the max's NaN rule."""
    for n in LENGTHS:
        rows = _rows(n)
        r = np.arange(rows)
        x = np.random.default_rng(seed_of(name, dtype, n)).standard_normal((rows, n))
        x[r, r % n] = 1000.0 * (1 + r % 3)
        x[7, :] = x[7, 0]  # all tied
        x[9, :] = np.nan
        x[10, n - 1] = np.nan  # NaN beside the peak
        check(name, (x.astype(dtype),), backend="cython", axis=-1)
