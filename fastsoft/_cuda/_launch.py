"""Launch parameters of the CUDA kernels, in one place.

Every kernel launch reads :func:`get_launch_config`.  The defaults suit a
current data-centre GPU; tests shrink them (``launch_config(threads_per_block=16,
...)``) so that the simulator, which runs each CUDA thread as an OS thread,
exercises the multi-block, split-row and tail paths on arrays of a few hundred
elements.

How the parameters pick a strategy for rows of length ``n`` along the last axis:

* ``threads_per_row = next_pow2(ceil(n / elements_per_thread))``, at most
  ``threads_per_block``; a block holds ``threads_per_block // threads_per_row``
  rows.  Short rows (``n <= threads_per_block * elements_per_thread``, 1024 by
  default) therefore share a block; longer rows get a block each.
* A row that has a block to itself is split across several blocks when the
  rows alone would not give ``target_blocks`` blocks, in chunks of at least
  ``split_min_chunk`` elements (the online-normalizer path).
* A non-last axis is read by blocks of ``columns`` x ``lanes`` threads:
  ``columns = min(next_pow2(inner), max_columns_per_block)`` adjacent columns
  (coalesced loads), and ``lanes = threads_per_block // columns`` threads
  splitting the reduced axis; the same splitting rule applies to column tiles.
* Grids are capped at ``max_grid_blocks``; kernels loop (grid-stride) over the
  rest.
"""

import contextlib
import dataclasses
import threading
from typing import Optional


@dataclasses.dataclass(frozen=True)
class LaunchConfig:
    """Launch parameters (see the module docstring for how they are used)."""

    #: Threads in every block (a power of two, at most 1024).
    threads_per_block: int = 256
    #: Elements each thread of a short row should handle; sets threads per row.
    elements_per_thread: int = 4
    #: Adjacent columns one block reads along a non-last axis (a power of two).
    max_columns_per_block: int = 64
    #: Smallest piece of a row (or column tile, in elements) a block gets when split.
    split_min_chunk: int = 4096
    #: Blocks that keep the device busy; None: 4 per multiprocessor.
    target_blocks: Optional[int] = None
    #: Largest grid launched (grid-stride loops do the rest); None: 32 per multiprocessor.
    max_grid_blocks: Optional[int] = None

    def __post_init__(self):
        for name in ("threads_per_block", "max_columns_per_block"):
            value = getattr(self, name)
            if not (isinstance(value, int) and 1 <= value <= 1024 and value & (value - 1) == 0):
                raise ValueError(f"{name} must be a power of two from 1 to 1024, got {value!r}")
        for name in ("elements_per_thread", "split_min_chunk", "target_blocks",
                     "max_grid_blocks"):
            value = getattr(self, name)
            if value is None and name in ("target_blocks", "max_grid_blocks"):
                continue
            if not (isinstance(value, int) and value >= 1):
                raise ValueError(f"{name} must be a positive integer, got {value!r}")


_lock = threading.Lock()
_config = LaunchConfig()


def get_launch_config():
    """The launch parameters in force."""
    return _config


def set_launch_config(config=None, **changes):
    """Replace the launch parameters (a LaunchConfig, or fields to change); return the old ones."""
    global _config
    with _lock:
        previous = _config
        _config = dataclasses.replace(config if config is not None else previous, **changes)
    return previous


@contextlib.contextmanager
def launch_config(**changes):
    """Context manager: launch with ``changes`` applied inside the block."""
    previous = set_launch_config(**changes)
    try:
        yield get_launch_config()
    finally:
        set_launch_config(previous)


def next_pow2(n):
    """Smallest power of two >= n (1 for n <= 1)."""
    return 1 if n <= 1 else 1 << (int(n) - 1).bit_length()


def ceil_div(a, b):
    return -(-a // b)


_sm_count = None


def multiprocessor_count():
    """Multiprocessors of the current device (16 when it cannot be asked, as in the simulator)."""
    global _sm_count
    if _sm_count is None:
        from numba import cuda

        try:
            _sm_count = int(cuda.get_current_device().MULTIPROCESSOR_COUNT)
        except Exception:  # the simulator's device has no attributes
            _sm_count = 16
    return _sm_count


def target_blocks(config):
    return config.target_blocks or 4 * multiprocessor_count()


def max_grid_blocks(config):
    return config.max_grid_blocks or 32 * multiprocessor_count()
