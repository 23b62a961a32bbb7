"""fastsoft: fast, exact, numerically stable softmax and sigmoid for NumPy.

Row-wise softmax, log_softmax, logsumexp, sigmoid, log_sigmoid and the
backward passes of softmax, log_softmax and sigmoid, as compiled kernels
behind a NumPy-compatible API.  ``fastsoft.reference`` holds the plain NumPy
definitions every backend is tested against.

>>> import fastsoft
>>> fastsoft.softmax([1.6, 3.1, 0.5]).round(4)
array([0.172 , 0.7708, 0.0572])
"""

from fastsoft import reference
from fastsoft._api import (
    log_sigmoid,
    log_softmax,
    log_softmax_backward,
    logsumexp,
    sigmoid,
    sigmoid_backward,
    softmax,
    softmax_backward,
)
from fastsoft._config import available_backends as backends
from fastsoft._config import default_backend as get_backend
from fastsoft._config import get_num_threads, set_num_threads, use_backend
from fastsoft._config import set_default_backend as set_backend

__version__ = "0.1.0"

expit = sigmoid
log_expit = log_sigmoid

__all__ = [
    "softmax",
    "log_softmax",
    "logsumexp",
    "sigmoid",
    "expit",
    "log_sigmoid",
    "log_expit",
    "softmax_backward",
    "log_softmax_backward",
    "sigmoid_backward",
    "reference",
    "backends",
    "set_backend",
    "get_backend",
    "use_backend",
    "set_num_threads",
    "get_num_threads",
    "__version__",
]
