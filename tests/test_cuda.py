"""The CUDA backend against fastsoft.reference, on a GPU or on the Numba CUDA simulator.

Without a GPU these tests run on the simulator (``NUMBA_ENABLE_CUDASIM=1``, set
by ``tests/conftest.py`` when no CUDA driver is found), which runs every CUDA
thread as an OS thread.  So the launch parameters are shrunk (16 threads per
block, splits into chunks of 4 elements, at most 3 blocks per grid) and arrays
hold a few hundred elements: every code path -- several rows per block, one
block per row, rows split across blocks (online normalizer), column tiles of
a non-last axis with and without splits, grid-stride loops, tails -- runs on
shapes this small.  Each case asserts the path it is meant to take.

Tests that only mean something on hardware (default launch parameters on large
arrays, CuPy and PyTorch interop) are skipped on the simulator.

Tolerances: results are compared with the float64 reference (extended
precision for float64 results where the platform has it) within ULPS eps:
relative error for probabilities, error relative to max(|ref|, 1) for logs,
and ULPS eps times the magnitude of the summed terms for gradients.  ULPS = 8
allows for the GPU's exp (libdevice expf: up to 2 ulp) on top of the roundings
the CPU kernels have.
"""

import concurrent.futures
import importlib.util

import numpy as np
import pytest

import fastsoft
from fastsoft import _config, reference

_REASON = _config.unavailable_reason("cuda")
if _REASON is not None:
    pytest.skip(f"the CUDA backend is not available: {_REASON}", allow_module_level=True)

from numba import cuda  # noqa: E402

from fastsoft._cuda import _arrays, _launch, _run  # noqa: E402
from tests import util  # noqa: E402
from tests.test_edge_cases import BACKWARD_BEYOND_DOMAIN  # noqa: E402

SIMULATOR = _arrays.SIMULATOR
needs_gpu = pytest.mark.skipif(SIMULATOR, reason="needs a real GPU (this is the CUDA simulator)")

# Launch parameters small enough for the simulator to take every path.
TINY = dict(threads_per_block=16, elements_per_thread=2, max_columns_per_block=4,
            split_min_chunk=4, target_blocks=4, max_grid_blocks=3)
ULPS = 8
DTYPES = [np.float32, np.float64]
EXTENDED = np.finfo(np.longdouble).eps < 1e-18


@pytest.fixture(autouse=True)
def tiny_launches():
    with _launch.launch_config(**TINY):
        yield


@pytest.fixture
def default_launches():
    previous = _launch.set_launch_config(_launch.LaunchConfig())
    yield
    _launch.set_launch_config(previous)


# --------------------------------------------------------------------------
# Helpers


def host(a):
    """A result as an ndarray, wherever it lives."""
    if isinstance(a, np.ndarray):
        return a
    if hasattr(a, "copy_to_host"):
        return a.copy_to_host()
    if type(a).__module__.startswith("cupy"):
        return a.get()
    return a.cpu().numpy()  # torch


def is_device(a):
    return _arrays.is_device_array(a)


def logits(shape, dtype=np.float64, seed=0, scale=3.0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(shape) * scale).astype(dtype)


def oracle(name, *args, dtype, **kwargs):
    if np.dtype(dtype) == np.float64 and EXTENDED:
        kwargs["precision"] = np.longdouble
    return np.asarray(getattr(reference, name)(*args, **kwargs), dtype=np.float64)


def assert_matches(name, got, ref, dtype):
    """got (any dtype) equals the reference within the module's tolerances."""
    got = np.asarray(host(got), dtype=np.float64)
    assert got.shape == ref.shape
    nan = np.isnan(ref)
    np.testing.assert_array_equal(np.isnan(got), nan, err_msg=f"{name}: NaN positions")
    inf = np.isinf(ref)
    np.testing.assert_array_equal(got[inf], ref[inf], err_msg=f"{name}: infinities")
    finite = ~nan & ~inf
    assert np.all(np.isfinite(got[finite])), f"{name}: non-finite where the reference is finite"
    info = np.finfo(dtype)
    got, ref = np.where(finite, got, 0.0), np.where(finite, ref, 0.0)
    if name in ("softmax", "sigmoid"):
        err = np.abs(got - ref) / np.maximum(np.abs(ref), info.tiny)
    else:
        err = np.abs(got - ref) / np.maximum(np.abs(ref), 1.0)
    assert err.max(initial=0.0) <= ULPS * info.eps, (
        f"{name} {np.dtype(dtype).name}: error {err.max() / info.eps:.1f} eps"
    )


def assert_gradient(name, got, y, dy, axis, dtype):
    ref = oracle(name, y, dy, dtype=dtype, **({} if axis is None else {"axis": axis}))
    got = np.asarray(host(got), dtype=np.float64)
    y64, dy64 = y.astype(np.float64), dy.astype(np.float64)
    if name == "softmax_backward":
        scale = np.abs(y64) * (np.abs(dy64) + np.sum(np.abs(dy64 * y64), axis=axis, keepdims=True))
    elif name == "log_softmax_backward":
        scale = np.abs(dy64) + np.exp(y64) * np.sum(np.abs(dy64), axis=axis, keepdims=True)
    else:
        scale = np.abs(dy64 * y64)
    excess = np.abs(got - ref) - ULPS * np.finfo(dtype).eps * scale
    assert excess.max() <= np.finfo(dtype).tiny, f"{name}: error beyond {ULPS} eps"


def path(shape, axis):
    """The kernel family and split of a row function on an array of ``shape``."""
    axes = fastsoft._validate.normalize_axes(axis, len(shape))
    order = _run.block_order(shape, _arrays.contiguous_strides(shape, 8), axes)
    groups = _run.row_groups(order, axes)
    block = tuple(int(np.prod([shape[a] for a in g])) for g in groups)
    family, threads, _, _, chunks, _ = _run._row_geometry(block, _launch.get_launch_config())
    if family == "rows":
        kind = "rows-shared" if threads[1] > 1 else "row-per-block"
    else:
        kind = "columns"
    return kind + ("-split" if chunks > 1 else "")


# (shape, axis, path the tiny launch parameters give)
CASES = [
    ((7, 5), -1, "rows-shared"),          # 4 rows per block, 2 blocks, tails in both
    ((6, 37), -1, "row-per-block"),       # 16 threads per row, 37 = 2*16 + 5, grid-stride
    ((2, 45), -1, "row-per-block-split"),  # 2 chunks per row
    ((1, 70), -1, "row-per-block-split"),  # 4 chunks
    ((5, 3, 10), 1, "columns"),           # middle axis: column tiles of 4, tail of 2
    ((9, 6), 0, "columns-split"),         # axis 0, split along the axis
    ((33, 2), 0, "columns-split"),
    ((3, 4, 5), (1, 2), "row-per-block-split"),  # a tuple of axes
]
CASE_IDS = [f"{shape}-axis{axis}" for shape, axis, _ in CASES]


@pytest.mark.parametrize("shape, axis, expected", CASES, ids=CASE_IDS)
def test_cases_take_their_path(shape, axis, expected):
    assert path(shape, axis) == expected


# --------------------------------------------------------------------------
# Forward row functions on every path


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("shape, axis, expected", CASES, ids=CASE_IDS)
@pytest.mark.parametrize("name", ["softmax", "log_softmax", "logsumexp"])
def test_forward_paths(name, shape, axis, expected, dtype):
    x = logits(shape, dtype, seed=len(name) + sum(shape))
    d = cuda.to_device(x)
    got = getattr(fastsoft, name)(d, axis=axis)
    assert is_device(got) and np.dtype(got.dtype) == dtype
    assert_matches(name, got, oracle(name, x, axis=axis, dtype=dtype), dtype)
    np.testing.assert_array_equal(host(d), x)  # the input is untouched


def _nonfinite_rows(dtype):
    """Rows of 9 covering every non-finite case, and a mask (with a fully masked row)."""
    inf, nan = np.inf, np.nan
    x = logits((8, 9), dtype, seed=3)
    x[1, [2, 5]] = -inf                # -inf entries: probability 0
    x[2, :] = -inf                     # all -inf: NaN (logsumexp -inf)
    x[3, 4] = inf                      # +inf: NaN (logsumexp +inf)
    x[4, 1] = nan                      # NaN: NaN
    x[5, [0, 3]] = [inf, nan]          # NaN beats +inf
    x[6, [1, 6]] = [inf, -inf]
    mask = np.ones((8, 9), dtype=bool)
    mask[0, ::2] = False               # partly masked
    mask[4, 1] = False                 # the NaN is masked out: a normal row
    mask[5, :] = False                 # fully masked: zeros / -inf
    mask[7, [3, 8]] = False
    return x, mask


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("axis", [-1, 0], ids=["rows", "columns"])
@pytest.mark.parametrize("masked", [False, True], ids=["unmasked", "masked"])
@pytest.mark.parametrize("name", ["softmax", "log_softmax", "logsumexp"])
def test_nonfinite_and_masks(name, masked, axis, dtype):
    x, mask = _nonfinite_rows(dtype)
    if axis == 0:
        x, mask = np.ascontiguousarray(x.T), np.ascontiguousarray(mask.T)
    where = mask if masked else None
    got = getattr(fastsoft, name)(cuda.to_device(x), axis=axis, where=where)
    assert_matches(name, got, oracle(name, x, axis=axis, where=where, dtype=dtype), dtype)


@pytest.mark.parametrize("name", ["softmax", "log_softmax", "logsumexp"])
def test_nonfinite_split_rows(name):
    # Split rows: special values in different chunks than the max, fully masked chunks.
    x = logits((3, 40), np.float64, seed=5)
    x[0, 35] = np.inf
    x[1, 3] = np.nan
    x[2, :25] = -np.inf
    mask = np.ones_like(x, dtype=bool)
    mask[2, 25:] = False  # row 2 fully masked
    mask[0, :20] = False
    assert path(x.shape, -1) == "row-per-block-split"
    for where in (None, mask):
        got = getattr(fastsoft, name)(cuda.to_device(x), where=where)
        assert_matches(name, got, oracle(name, x, where=where, dtype=np.float64), np.float64)


@pytest.mark.parametrize("axis", [-1, 0])
def test_masks_broadcast_and_on_device(axis):
    x = logits((6, 7), np.float32, seed=8)
    row_mask = np.array([True, False, True, True, False, True, True])
    where = row_mask if axis == -1 else row_mask[:6, None]
    expected = oracle("softmax", x, axis=axis, where=where, dtype=np.float32)
    got = fastsoft.softmax(cuda.to_device(x), axis=axis, where=where)
    assert_matches("softmax", got, expected, np.float32)
    got = fastsoft.softmax(cuda.to_device(x), axis=axis, where=cuda.to_device(where))
    assert_matches("softmax", got, expected, np.float32)


def test_stability_examples():
    got = fastsoft.softmax(cuda.to_device(np.array([[1000.0, 0.0], [-1000.0, -1000.0]])))
    np.testing.assert_array_equal(host(got), [[1.0, 0.0], [0.5, 0.5]])
    got = fastsoft.softmax(cuda.to_device(np.array([3e38, 1e38], dtype=np.float32)))
    np.testing.assert_array_equal(host(got), np.array([1.0, 0.0], dtype=np.float32))
    got = fastsoft.log_softmax(cuda.to_device(np.array([0.0, -1e4])))
    np.testing.assert_array_equal(host(got), [0.0, -1e4])
    got = fastsoft.softmax(cuda.to_device(np.array([1.6, 3.1, 0.5])))
    np.testing.assert_allclose(host(got), [0.17198205, 0.77077009, 0.05724785], rtol=1e-7)
    extremes = cuda.to_device(np.array([-1000.0, 1000.0]))
    np.testing.assert_array_equal(host(fastsoft.sigmoid(extremes)), [0.0, 1.0])
    np.testing.assert_array_equal(host(fastsoft.log_sigmoid(extremes)), [-1000.0, 0.0])


# --------------------------------------------------------------------------
# Layouts: strided, negative strides, Fortran order, non-adjacent axes, dtypes


def _layout(name):
    """(host array, device view with the same values and strides)."""
    full = logits((6, 10), np.float64, seed=11)
    d = cuda.to_device(full)
    if name == "fortran":
        x = np.asfortranarray(full)
        return x, cuda.to_device(x)
    # Views made on the device (no copy): transposed, every other row, reversed rows.
    x, shape, strides, offset = {
        "transposed": (full.T, (10, 6), (8, 80), 0),
        "strided": (full[::2, 1:], (3, 9), (160, 8), 8),
        "reversed": (full[:, ::-1], (6, 10), (80, -8), 72),
    }[name]
    return x, _arrays.view(d, shape, strides, offset)


@pytest.mark.parametrize("axis", [-1, 0])
@pytest.mark.parametrize("layout", ["fortran", "strided", "reversed", "transposed"])
def test_device_layouts(layout, axis):
    x, d = _layout(layout)
    np.testing.assert_array_equal(host(d), x)
    for name in ("softmax", "logsumexp"):
        got = getattr(fastsoft, name)(d, axis=axis)
        assert_matches(name, got, oracle(name, x, axis=axis, dtype=np.float64), np.float64)


def device_with_layout(x, rng):
    """A device view holding ``x`` in a random memory layout: axes permuted, gaps, reversals."""
    perm = rng.permutation(x.ndim)
    step = rng.integers(1, 3, x.ndim)
    flip = rng.integers(0, 2, x.ndim).astype(bool)
    buffer_shape = [x.shape[p] * step[p] for p in perm]
    buffer = np.zeros(buffer_shape)
    index = [np.arange(x.shape[p])[::-1 if flip[p] else 1] * step[p] for p in perm]
    buffer[np.ix_(*index)] = np.transpose(x, perm)
    buffer_strides = _arrays.contiguous_strides(buffer_shape, 8)
    strides, offset = [0] * x.ndim, 0
    for k, p in enumerate(perm):
        stride = int(buffer_strides[k] * step[p])
        if flip[p]:
            offset += (x.shape[p] - 1) * stride
            stride = -stride
        strides[p] = stride
    return _arrays.view(cuda.to_device(buffer), x.shape, strides, offset)


@pytest.mark.parametrize("seed", range(12))
def test_random_layouts_masks_and_outs(seed):
    """Random shapes, axes, memory layouts, masks and out= layouts (in place too)."""
    rng = np.random.default_rng(seed)
    shape = tuple(int(n) for n in rng.integers(1, 6, int(rng.integers(1, 4))))
    x = logits(shape, np.float64, seed=seed)
    ndim = len(shape)
    axis = [None, -1, 0, tuple(range(ndim))[-2:]][seed % 4]
    name = ["softmax", "log_softmax", "logsumexp"][seed % 3]
    mask_shape = tuple(n if rng.random() < 0.6 else 1 for n in shape)
    where = rng.random(mask_shape) < 0.7 if seed % 2 else None
    expected = oracle(name, x, axis=axis, where=where, dtype=np.float64)
    d = device_with_layout(x, rng)
    np.testing.assert_array_equal(host(d), x)
    if name != "logsumexp" and seed % 3 == 1:
        out = d  # in place
    else:
        out = device_with_layout(np.zeros(expected.shape), rng) if expected.ndim else None
    got = getattr(fastsoft, name)(d, axis=axis, where=where, out=out)
    assert out is None or got is out
    assert_matches(name, got, expected, np.float64)


def test_fortran_result_keeps_memory_order():
    x = np.asfortranarray(logits((5, 6), np.float32, seed=2))
    got = fastsoft.softmax(cuda.to_device(x))  # axis -1: columns of a Fortran array
    assert path((6, 5), 0) == "columns-split"
    assert host(got).flags.f_contiguous
    assert_matches("softmax", got, oracle("softmax", x, dtype=np.float32), np.float32)


def test_non_adjacent_axes_and_none():
    x = logits((3, 4, 5), np.float64, seed=4)
    for axis in [(0, 2), None]:
        for name in ("softmax", "log_softmax", "logsumexp"):
            got = getattr(fastsoft, name)(cuda.to_device(x), axis=axis)
            assert_matches(name, got, oracle(name, x, axis=axis, dtype=np.float64), np.float64)


def test_keepdims_and_scalars():
    x = logits((4, 3, 5), np.float32, seed=6)
    got = fastsoft.logsumexp(cuda.to_device(x), axis=1, keepdims=True)
    assert got.shape == (4, 1, 5)
    assert_matches("logsumexp", got, oracle("logsumexp", x, axis=1, keepdims=True,
                                            dtype=np.float32), np.float32)
    assert fastsoft.softmax(3.0, axis=None, backend="cuda") == 1.0
    assert fastsoft.sigmoid(0.0, backend="cuda") == 0.5
    assert fastsoft.logsumexp(np.zeros(3), axis=None, backend="cuda").shape == ()


def test_empty():
    got = fastsoft.softmax(cuda.to_device(np.zeros((3, 0))))
    assert got.shape == (3, 0) and is_device(got)
    got = fastsoft.logsumexp(cuda.to_device(np.zeros((3, 0))))
    np.testing.assert_array_equal(host(got), [-np.inf] * 3)
    got = fastsoft.logsumexp(cuda.to_device(np.zeros((2, 0, 3))), axis=1)
    np.testing.assert_array_equal(host(got), np.full((2, 3), -np.inf))
    assert fastsoft.sigmoid(np.zeros((0, 4)), backend="cuda").shape == (0, 4)


@pytest.mark.parametrize("source", [np.float16, np.int64, np.bool_])
def test_dtype_conversions(source):
    x = (logits((4, 9), np.float64, seed=1) * 2).astype(source)
    result = np.float16 if source == np.float16 else np.float64
    got = fastsoft.softmax(cuda.to_device(x))
    assert is_device(got) and np.dtype(got.dtype) == result
    assert_matches("softmax", got, oracle("softmax", x, dtype=result), result)
    got = fastsoft.log_softmax(cuda.to_device(x), dtype=np.float32)
    assert np.dtype(got.dtype) == np.float32
    assert_matches("log_softmax", got, oracle("log_softmax", x, dtype=np.float32), np.float32)


# --------------------------------------------------------------------------
# Element-wise and backward passes


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name", ["sigmoid", "log_sigmoid"])
def test_elementwise(name, dtype):
    x = logits((7, 9), dtype, seed=9, scale=30.0)
    x[0, :4] = [np.inf, -np.inf, np.nan, 0.0]
    x[1, :2] = [-100.0, 100.0]
    got = getattr(fastsoft, name)(cuda.to_device(x))
    assert is_device(got)
    assert_matches(name, got, oracle(name, x, dtype=dtype), dtype)
    got = getattr(fastsoft, name)(cuda.to_device(x)[:, ::-2])  # strided device view
    assert_matches(name, got, oracle(name, x[:, ::-2], dtype=dtype), dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("shape, axis, expected", CASES, ids=CASE_IDS)
@pytest.mark.parametrize("name", ["softmax_backward", "log_softmax_backward"])
def test_backward_paths(name, shape, axis, expected, dtype):
    forward = name.replace("_backward", "")
    y = oracle(forward, logits(shape, dtype, seed=2), axis=axis, dtype=np.float64).astype(dtype)
    dy = logits(shape, dtype, seed=3, scale=1.0)
    got = getattr(fastsoft, name)(cuda.to_device(y), cuda.to_device(dy), axis=axis)
    assert is_device(got) and np.dtype(got.dtype) == dtype
    assert_gradient(name, got, y, dy, axis, dtype)


def test_sigmoid_backward_and_mixed_inputs():
    y = reference.sigmoid(logits((5, 7), seed=4))
    dy = logits((5, 7), seed=5)
    got = fastsoft.sigmoid_backward(cuda.to_device(y), dy)  # device y, host dy
    assert is_device(got)
    assert_gradient("sigmoid_backward", got, y, dy, None, np.float64)
    got = fastsoft.softmax_backward(y.astype(np.float32), cuda.to_device(dy), backend="cuda")
    assert is_device(got) and np.dtype(got.dtype) == np.float64  # promotion of y and dy


# The simulator runs the kernels on NumPy scalars, which warn where they
# overflow as intended (a GPU does not).
@pytest.mark.filterwarnings("ignore:.*encountered in:RuntimeWarning")
@pytest.mark.parametrize("case", list(BACKWARD_BEYOND_DOMAIN))
def test_backward_beyond_forward_range(case):
    """The CPU backends' backward cases beyond what a forward pass produces
    (overflowing and underflowing intermediates, infinite sums) on the device."""
    name, y, dy = BACKWARD_BEYOND_DOMAIN[case]
    axis = None if name == "sigmoid_backward" else -1
    kwargs = {} if axis is None else {"axis": axis}
    got = getattr(fastsoft, name)(cuda.to_device(y), cuda.to_device(dy), **kwargs)
    exact, scale, result = util.expected(name, (y, dy), axis=axis)
    util.assert_matches(host(got), exact, scale, result, k=ULPS, what=case)


# --------------------------------------------------------------------------
# out=


def test_out_device_array_and_in_place():
    x = logits((6, 37), np.float32, seed=12)
    d = cuda.to_device(x)
    out = cuda.device_array((6, 37), np.float32)
    assert fastsoft.softmax(d, out=out) is out
    assert_matches("softmax", out, oracle("softmax", x, dtype=np.float32), np.float32)
    assert fastsoft.log_softmax(d, out=(out,)) is out
    assert_matches("log_softmax", out, oracle("log_softmax", x, dtype=np.float32), np.float32)
    assert fastsoft.softmax(d, out=d) is d  # in place, one block per row, and ...
    assert_matches("softmax", d, oracle("softmax", x, dtype=np.float32), np.float32)
    x2 = logits((2, 45), np.float32, seed=14)
    d2 = cuda.to_device(x2)
    assert fastsoft.log_softmax(d2, out=d2) is d2  # ... rows split across blocks
    assert_matches("log_softmax", d2, oracle("log_softmax", x2, dtype=np.float32), np.float32)


def test_out_strided_overlapping_and_reduced():
    x = logits((5, 8), np.float64, seed=13)
    big = cuda.device_array((8, 5), np.float64)
    out = _arrays.view(big, (5, 8), (8, 40))  # a transposed out=, written in place
    assert fastsoft.softmax(cuda.to_device(x), out=out) is out
    assert_matches("softmax", out, oracle("softmax", x, dtype=np.float64), np.float64)
    # out overlapping the input by a shifted view: computed aside, then copied.
    buf = cuda.to_device(np.concatenate([x.ravel(), np.zeros(3)]))
    src = _arrays.view(buf, (5, 8), (64, 8))
    dst = _arrays.view(buf, (5, 8), (64, 8), offset=24)
    fastsoft.softmax(src, out=dst)
    assert_matches("softmax", dst, oracle("softmax", x, dtype=np.float64), np.float64)
    lse_out = cuda.device_array((8,), np.float64)
    assert fastsoft.logsumexp(cuda.to_device(x), axis=0, out=lse_out) is lse_out
    assert_matches("logsumexp", lse_out, oracle("logsumexp", x, axis=0, dtype=np.float64),
                   np.float64)
    half = cuda.device_array((5, 8), np.float16)  # float16 out: converted on the device
    fastsoft.softmax(cuda.to_device(x.astype(np.float16)), out=half)
    assert_matches("softmax", half, oracle("softmax", x.astype(np.float16), dtype=np.float16),
                   np.float16)


def test_out_errors():
    d = cuda.to_device(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"'out' has shape \(3, 2\), expected \(2, 3\)"):
        fastsoft.softmax(d, out=cuda.device_array((3, 2)))
    with pytest.raises(TypeError, match="'out' has dtype float32, expected float64"):
        fastsoft.softmax(d, out=cuda.device_array((2, 3), np.float32))
    with pytest.raises(TypeError, match="'out' must be a device array when the input is on"):
        fastsoft.softmax(d, out=np.empty((2, 3)))
    with pytest.raises(TypeError, match="'out' must be a device array or a numpy.ndarray"):
        fastsoft.softmax(d, out=[0.0] * 6)
    with pytest.raises(ValueError, match=r"'out' has shape \(2,\), expected \(2, 1\)"):
        fastsoft.logsumexp(d, keepdims=True, out=cuda.device_array(2))
    with pytest.raises(ValueError, match="cannot be broadcast"):
        fastsoft.softmax(d, where=cuda.to_device(np.ones(2, dtype=bool)))
    with pytest.raises(TypeError, match="'where' must be a boolean array"):
        fastsoft.softmax(d, where=cuda.to_device(np.ones(3)))


# --------------------------------------------------------------------------
# Dispatch and availability


def test_dispatch():
    assert "cuda" in fastsoft.backends()
    x = logits((3, 4), np.float32)
    got = fastsoft.softmax(cuda.to_device(x))  # backend=None: a device array goes to cuda
    assert is_device(got)
    for value in (x, x.tolist()):
        got = fastsoft.softmax(value, backend="cuda")  # host in, host out
        assert isinstance(got, np.ndarray)
        assert_matches("softmax", got, oracle("softmax", np.asarray(value), dtype=got.dtype),
                       got.dtype)
    out = np.empty((4, 3), np.float32).T  # host out= for host input, any layout
    assert fastsoft.softmax(x, backend="cuda", out=out) is out
    assert_matches("softmax", out, oracle("softmax", x, dtype=np.float32), np.float32)
    dev_out = cuda.device_array((3, 4), np.float32)  # device out= for host input
    assert fastsoft.softmax(x, backend="cuda", out=dev_out) is dev_out


def test_cpu_backend_refuses_a_gpu_array():
    class FakeGPUArray:  # anything exposing the CUDA array interface
        __cuda_array_interface__ = {"shape": (2,), "typestr": "<f8", "data": (0, False),
                                    "version": 3}

    with pytest.raises(TypeError, match="'x' is a GPU device array"):
        fastsoft.softmax(FakeGPUArray(), backend="numba")


def test_cpu_backend_refuses_a_numba_device_array():
    # Under the simulator the device array has no __cuda_array_interface__.
    with pytest.raises(TypeError, match="'x' is a GPU device array"):
        fastsoft.softmax(cuda.to_device(np.zeros(2)), backend="numba")


def test_unavailable_reason_without_numba_cuda(monkeypatch):
    from fastsoft import _cuda

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "numba_cuda" else real(name, *a))
    assert "numba-cuda is not installed" in _cuda.unavailable_reason()
    monkeypatch.undo()
    assert _cuda.unavailable_reason() is None


def test_launch_config_is_checked():
    with pytest.raises(ValueError, match="threads_per_block must be a power of two"):
        _launch.LaunchConfig(threads_per_block=48)
    with pytest.raises(ValueError, match="split_min_chunk must be a positive integer"):
        _launch.LaunchConfig(split_min_chunk=0)


def test_concurrent_calls():
    xs = [logits((3, 20), np.float64, seed=s) for s in range(4)]
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda x: host(fastsoft.softmax(cuda.to_device(x))), xs))
    for x, got in zip(xs, results):
        assert_matches("softmax", got, oracle("softmax", x, dtype=np.float64), np.float64)


# --------------------------------------------------------------------------
# Real GPU only


BIG = [((4096, 4096), -1), ((8, 1_000_000), -1), ((1000, 8192), 0), ((65536, 10), -1),
       ((32, 50257), -1)]


@needs_gpu
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("shape, axis", BIG, ids=[f"{s}-axis{a}" for s, a in BIG])
def test_large_default_launches(shape, axis, dtype, default_launches):
    x = logits(shape, dtype, seed=21)
    d = cuda.to_device(x)
    for name in ("softmax", "log_softmax", "logsumexp"):
        got = getattr(fastsoft, name)(d, axis=axis)
        assert_matches(name, got, oracle(name, x, axis=axis, dtype=dtype), dtype)
    y = host(fastsoft.softmax(d, axis=axis))
    dy = logits(shape, dtype, seed=22, scale=1.0)
    got = fastsoft.softmax_backward(cuda.to_device(y), cuda.to_device(dy), axis=axis)
    assert_gradient("softmax_backward", got, y, dy, axis, dtype)


@needs_gpu
def test_cupy_in_cupy_out(default_launches):
    cupy = pytest.importorskip("cupy")
    x = logits((64, 300), np.float32)
    got = fastsoft.softmax(cupy.asarray(x))
    assert isinstance(got, cupy.ndarray)
    assert_matches("softmax", got.get(), oracle("softmax", x, dtype=np.float32), np.float32)
    out = cupy.empty((64,), np.float32)
    assert fastsoft.logsumexp(cupy.asarray(x), out=out) is out


@needs_gpu
def test_torch_cuda_tensor(default_launches):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("PyTorch has no CUDA here")
    x = logits((64, 300), np.float32)
    got = fastsoft.softmax(torch.as_tensor(x, device="cuda"))
    assert isinstance(got, torch.Tensor) and got.is_cuda
    assert_matches("softmax", got.cpu().numpy(), oracle("softmax", x, dtype=np.float32),
                   np.float32)
