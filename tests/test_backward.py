"""Backward passes against finite differences and closed forms, in float64.

Finite differences: the scalar loss of each group is ``sum(dy * f(x))`` over
the group (``f`` the float64 reference forward pass); one element position of
the group (a "column") is perturbed at a time, in every group at once, and
the 4th-order central difference

    (-L(x + 2h) + 8 L(x + h) - 8 L(x - h) + L(x - 2h)) / (12 h)

gives that column of the gradient (scikit-learn's test_loss.py does the same).
With h = 1e-3 on logits of size ~3 the truncation error is ~h**4 = 1e-12 and
the rounding error ~eps / h = 2e-13, both times the size of the derivatives;
rtol = 1e-7 leaves room without hiding a wrong formula (a mistake costs O(1)).
"""

import itertools

import numpy as np
import pytest

from fastsoft import reference
from tests.util import (
    BACKWARD,
    ELEMENTWISE,
    assert_matches,
    axis_id,
    call,
    error_scale,
    function_axes,
)

H = 1e-3


def _axes(axis, ndim):
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, tuple):
        return tuple(a % ndim for a in axis)
    return (axis % ndim,)


def finite_difference_gradient(forward, x, dy, axes):
    """d/dx of sum(dy * forward(x)) over each group, one group position at a time."""
    grad = np.empty_like(x)
    group_shape = [x.shape[a] for a in axes]

    def loss(z):
        return np.sum(dy * forward(z), axis=axes, keepdims=True)

    for position in itertools.product(*(range(n) for n in group_shape)):
        index = [slice(None)] * x.ndim
        for a, p in zip(axes, position):
            index[a] = slice(p, p + 1)
        index = tuple(index)

        def shifted(steps, index=index):
            z = x.copy()
            z[index] += steps * H
            return loss(z)

        grad[index] = (-shifted(2) + 8 * shifted(1) - 8 * shifted(-1) + shifted(-2)) / (12 * H)
    return grad


def _forward(name, axis):
    forward = getattr(reference, BACKWARD[name])
    if name in ELEMENTWISE:
        return forward
    return lambda z: forward(z, axis=axis)


SHAPES = [(4, 5), (3, 4, 2)]


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize(("name", "axis"), function_axes(BACKWARD, [-1, 0, 1, (0, -1), None]))
def test_against_finite_differences(name, axis, shape, rng, backend):
    x = 3 * rng.standard_normal(shape)
    dy = rng.standard_normal(shape)
    # An element-wise function: each element is its own group.
    axes = () if name in ELEMENTWISE else _axes(axis, x.ndim)
    forward = _forward(name, axis)
    y = forward(x)
    kwargs = {} if name in ELEMENTWISE else {"axis": axis}
    got = call(name, y, dy, backend=backend, **kwargs)
    fd = finite_difference_gradient(forward, x, dy, axes)
    np.testing.assert_allclose(got, fd, rtol=1e-7, atol=1e-9 * np.abs(dy).max())


def test_logsumexp_gradient_is_softmax(rng, backend):
    """d logsumexp(x) / dx = softmax(x): ties the forward functions together."""
    x = 3 * rng.standard_normal((4, 6))
    fd = finite_difference_gradient(lambda z: reference.logsumexp(z, keepdims=True), x,
                                    np.ones((4, 1)), (1,))
    np.testing.assert_allclose(call("softmax", x, backend=backend), fd, rtol=1e-7, atol=1e-10)


# --------------------------------------------------------------------------
# Closed forms

@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("n", [1, 2, 5, 17])
def test_softmax_full_jacobian(n, dtype, rng, backend):
    """With dy the rows of the identity, softmax_backward gives the Jacobian
    diag(y) - y y^T (symmetric), one row per call row."""
    y = call("softmax", (3 * rng.standard_normal(n)).astype(dtype), backend=backend)
    ys = np.broadcast_to(y, (n, n))
    eye = np.eye(n, dtype=dtype)
    got = call("softmax_backward", ys, eye, backend=backend)
    y_exact = y.astype(np.longdouble)
    jacobian = np.diag(y_exact) - np.outer(y_exact, y_exact)
    scale = error_scale("softmax_backward", [ys.astype(np.longdouble), eye.astype(np.longdouble)])
    assert_matches(got, jacobian, scale, np.dtype(dtype), what="softmax Jacobian")
    # Along axis 0 the same Jacobian comes out transposed (= itself).
    got0 = call("softmax_backward", np.ascontiguousarray(ys.T), eye, axis=0, backend=backend)
    assert_matches(got0, jacobian.T, scale.T, np.dtype(dtype), what="softmax Jacobian axis 0")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("n", [1, 2, 5, 17])
def test_log_softmax_full_jacobian(n, dtype, rng, backend):
    """d log_softmax(x)_i / dx_k = delta_ik - softmax(x)_k: rows I - 1 p^T."""
    x = (3 * rng.standard_normal(n)).astype(dtype)
    y = call("log_softmax", x, backend=backend)
    ys = np.broadcast_to(y, (n, n))
    eye = np.eye(n, dtype=dtype)
    got = call("log_softmax_backward", ys, eye, backend=backend)
    p = np.exp(y.astype(np.longdouble))
    jacobian = np.eye(n, dtype=np.longdouble) - p[None, :]
    scale = error_scale("log_softmax_backward", [ys.astype(np.longdouble),
                                                 eye.astype(np.longdouble)])
    assert_matches(got, jacobian, scale, np.dtype(dtype), what="log_softmax Jacobian")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_sigmoid_derivative_closed_form(dtype, rng, backend):
    """sigmoid'(x) = e / (1 + e)**2 with e = exp(-|x|), for x <= 0 where y = sigmoid(x)
    and 1 - y both carry full relative precision."""
    x = np.concatenate([-np.geomspace(1e-6, 80, 40), [0.0]]).astype(dtype)
    dy = rng.standard_normal(x.size).astype(dtype)
    y = call("sigmoid", x, backend=backend)
    got = call("sigmoid_backward", y, dy, backend=backend)
    e = np.exp(-np.abs(x.astype(np.longdouble)))
    exact = dy.astype(np.longdouble) * e / (1 + e) ** 2
    # y is within K eps of exact and 1 - y within K eps too; their product 2 K eps.
    assert_matches(got, exact, 0.0, np.dtype(dtype), k=8, what="sigmoid derivative")


@pytest.mark.parametrize("name", list(BACKWARD))
def test_backward_of_saturated_forward(name, backend):
    """Gradients through saturated outputs are exact zeros, never NaN."""
    forward = BACKWARD[name]
    x = np.array([[1000.0, 0.0, -1000.0], [-1000.0, -1000.0, -1000.0]])
    kwargs = {} if name in ELEMENTWISE else {"axis": -1}
    y = call(forward, x, backend=backend, **kwargs)
    dy = np.ones_like(x)
    got = call(name, y, dy, backend=backend, **kwargs)
    assert np.all(np.isfinite(got))
    if name != "log_softmax_backward":
        np.testing.assert_array_equal(got[0, [0, 2]], 0.0)


@pytest.mark.parametrize("axis", [-1, 0, (0, 1)], ids=axis_id)
def test_softmax_backward_with_masked_forward(axis, rng, backend):
    """The gradient of a masked softmax is 0 at masked entries (their y is 0)."""
    x = rng.standard_normal((4, 5))
    where = rng.random((4, 5)) < 0.6
    y = call("softmax", x, axis=axis, where=where, backend=backend)
    dy = rng.standard_normal((4, 5))
    got = call("softmax_backward", y, dy, axis=axis, backend=backend)
    np.testing.assert_array_equal(got[~where], 0.0)
