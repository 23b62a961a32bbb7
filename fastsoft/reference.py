"""Plain NumPy reference implementations: the definition of "correct".

Every function here reads like the textbook formula, computes in float64 and
returns float64, whatever the input dtype.  ``precision=np.longdouble`` runs
the same formulas in extended precision (80-bit on x86-64): the tests use it
as the oracle for float64 results, whose last bits float64 itself cannot
settle (``exp(x - max)`` inherits the rounding of ``x - max``).  There are no tricks beyond the
ones the semantics require (shift by the row max, split sigmoid on the sign
of x), and speed is not a goal.  The test suite compares every backend of
every public function to these.

The semantics (shared by all backends):

* ``axis`` is an int, a tuple of ints (one flattened group) or None (all).
* Masked-out entries (``where=False``) take no part in the max or the sum
  and get 0 (softmax) or -inf (log_softmax); a fully masked group gives all
  zeros, all -inf, and -inf for logsumexp.
* A -inf entry gets probability 0; a group that is all -inf or holds +inf or
  NaN gives NaN everywhere (softmax, log_softmax).  logsumexp gives -inf for
  an all -inf or empty group, +inf for a group holding +inf and no NaN, and
  NaN for a group holding NaN.
"""

import numpy as np

from fastsoft._validate import check_same_shape, normalize_axes

__all__ = [
    "softmax",
    "log_softmax",
    "logsumexp",
    "sigmoid",
    "log_sigmoid",
    "softmax_backward",
    "log_softmax_backward",
    "sigmoid_backward",
]


def _as_float(x, precision=np.float64):
    x = np.asarray(x)
    if x.dtype.kind not in "biuf":
        raise TypeError(f"unsupported dtype {x.dtype}")
    return x.astype(precision)


def _mask(where, shape):
    if where is None:
        return np.ones(shape, dtype=bool)
    return np.broadcast_to(np.asarray(where, dtype=bool), shape)


def _group_stats(x, axes, mask):
    """Row max (with masked entries as -inf) and the shifted sum of exps."""
    xm = np.where(mask, x, -np.inf)
    row_max = np.max(xm, axis=axes, keepdims=True, initial=-np.inf)
    # Shift by a finite max only; a non-finite max is handled by the callers.
    shift = np.where(np.isfinite(row_max), row_max, 0.0)
    sum_exp = np.sum(np.exp(xm - shift), axis=axes, keepdims=True)
    any_unmasked = np.any(mask, axis=axes, keepdims=True)
    return row_max, shift, sum_exp, any_unmasked


def softmax(x, axis=-1, *, where=None, precision=np.float64):
    x = _as_float(x, precision)
    axes = normalize_axes(axis, x.ndim)
    mask = _mask(where, x.shape)
    with np.errstate(all="ignore"):
        row_max, shift, sum_exp, any_unmasked = _group_stats(x, axes, mask)
        y = np.exp(x - shift) / sum_exp
        # A group holding NaN or +inf, or only -inf, has no meaningful answer.
        y = np.where(np.isfinite(row_max), y, np.nan)
    y = np.where(mask & any_unmasked, y, 0.0)
    return y


def log_softmax(x, axis=-1, *, where=None, precision=np.float64):
    x = _as_float(x, precision)
    axes = normalize_axes(axis, x.ndim)
    mask = _mask(where, x.shape)
    with np.errstate(all="ignore"):
        row_max, shift, sum_exp, any_unmasked = _group_stats(x, axes, mask)
        y = (x - shift) - np.log(sum_exp)
        y = np.where(np.isfinite(row_max), y, np.nan)
    y = np.where(mask & any_unmasked, y, -np.inf)
    return y


def logsumexp(x, axis=-1, *, keepdims=False, where=None, precision=np.float64):
    x = _as_float(x, precision)
    axes = normalize_axes(axis, x.ndim)
    mask = _mask(where, x.shape)
    with np.errstate(all="ignore"):
        row_max, shift, sum_exp, _ = _group_stats(x, axes, mask)
        lse = shift + np.log(sum_exp)
        # +inf wins over everything but NaN; all -inf (or nothing) gives -inf.
        has_nan = np.any(np.isnan(x) & mask, axis=axes, keepdims=True)
        lse = np.where(np.isposinf(row_max), np.inf, lse)
        lse = np.where(np.isneginf(row_max), -np.inf, lse)
        lse = np.where(has_nan, np.nan, lse)
    if not keepdims:
        lse = np.squeeze(lse, axis=axes)
    return lse


def sigmoid(x, *, precision=np.float64):
    x = _as_float(x, precision)
    with np.errstate(all="ignore"):
        # Split on the sign so that exp never overflows and small results
        # keep full relative precision (no 1 - something cancellation).
        e = np.exp(-np.abs(x))
        y = np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
    return np.where(np.isnan(x), np.nan, y)


def log_sigmoid(x, *, precision=np.float64):
    x = _as_float(x, precision)
    with np.errstate(all="ignore"):
        # log(sigmoid(x)) = min(x, 0) - log1p(exp(-|x|)).
        y = np.minimum(x, 0.0) - np.log1p(np.exp(-np.abs(x)))
    return np.where(np.isnan(x), np.nan, y)


def softmax_backward(y, dy, axis=-1, *, precision=np.float64):
    y, dy = _as_float(y, precision), _as_float(dy, precision)
    check_same_shape(y, dy)
    axes = normalize_axes(axis, y.ndim)
    with np.errstate(all="ignore"):
        return y * (dy - np.sum(dy * y, axis=axes, keepdims=True))


def log_softmax_backward(y, dy, axis=-1, *, precision=np.float64):
    y, dy = _as_float(y, precision), _as_float(dy, precision)
    check_same_shape(y, dy)
    axes = normalize_axes(axis, y.ndim)
    with np.errstate(all="ignore"):
        return dy - np.exp(y) * np.sum(dy, axis=axes, keepdims=True)


def sigmoid_backward(y, dy, *, precision=np.float64):
    y, dy = _as_float(y, precision), _as_float(dy, precision)
    check_same_shape(y, dy)
    with np.errstate(all="ignore"):
        return dy * y * (1.0 - y)
