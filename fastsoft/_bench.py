"""Timing for ``python -m fastsoft bench``: medians of repeats, measured side by side.

The machine is shared and noisy, so a single absolute time means little.
Implementations of one case are timed in interleaved rounds (every round times
each of them, in a rotating order), and tables report medians and ratios of
medians taken in the same rounds.  Each callable is warmed up before timing
(it compiles JIT kernels, starts thread pools), and called once untimed at the
start of its turn in every round: the first call after another implementation
pays for that one's leftovers (page faults of memory the allocator gave back,
evicted caches), which would otherwise count against whichever runs next.

>>> import numpy as np
>>> x = np.ones(1000)
>>> times = time_side_by_side({"copy": x.copy, "sum": x.sum}, repeat=3)
>>> sorted(times), len(times["copy"])
(['copy', 'sum'], 3)
"""

import gc
import math
import os
import statistics
import time
from dataclasses import dataclass, field

from fastsoft._comparisons import COMPARISONS, FLOOR, FLOOR_SCALE, Unavailable, make_inputs

__all__ = [
    "Measurement",
    "warm_up",
    "time_side_by_side",
    "measure",
    "run",
    "format_table",
    "geometric_mean",
    "OtherLoad",
]

# Calls shorter than this are repeated within one sample so the timer's
# resolution and the loop's overhead stay small against the call.
MIN_SAMPLE_TIME = 0.0002
MAX_NUMBER = 1000
# Warm-up before timing: calls until this many seconds have passed, longer for
# an implementation's first case in the process (PyTorch's first calls on this
# machine were 20x slower than its steady state for about 50 ms).
WARMUP_TIME = 0.03
FIRST_WARMUP_TIME = 0.3
_warmed_up = set()  # implementation names already warmed up in this process


def _time_calls(fn, number):
    start = time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - start) / number


def warm_up(fn, seconds=WARMUP_TIME):
    """Call ``fn`` once (JIT compilation), then again until ``seconds`` more have passed."""
    fn()
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        fn()


def time_side_by_side(callables, repeat, min_sample_time=MIN_SAMPLE_TIME, settle=True):
    """Seconds per call of each callable, ``repeat`` samples each, in interleaved rounds.

    Each callable is first warmed up (JIT compilation, first touch of memory,
    thread pools), then timed once to choose how many calls make one sample
    (enough to last ``min_sample_time``).  With ``settle``, every sample is
    preceded by one untimed call.
    """
    names = list(callables)
    numbers = {}
    for name in names:
        warm_up(callables[name], FIRST_WARMUP_TIME if name not in _warmed_up else WARMUP_TIME)
        _warmed_up.add(name)
    for name in names:
        once = _time_calls(callables[name], 1)
        numbers[name] = max(1, min(MAX_NUMBER, math.ceil(min_sample_time / max(once, 1e-9))))
    times = {name: [] for name in names}
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for round_index in range(repeat):
            # Rotate the order so no implementation always runs right after another.
            shift = round_index % len(names) if names else 0
            for name in names[shift:] + names[:shift]:
                if settle:
                    callables[name]()
                times[name].append(_time_calls(callables[name], numbers[name]))
    finally:
        if gc_was_enabled:
            gc.enable()
    return times


@dataclass
class Measurement:
    """The timings of one case: seconds per call for each implementation that ran."""

    case: object
    times: dict = field(default_factory=dict)
    skipped: dict = field(default_factory=dict)  # implementation -> why it did not run

    def median(self, name):
        """Median seconds per call of ``name``, or None when it did not run."""
        samples = self.times.get(name)
        return statistics.median(samples) if samples else None

    def floor(self):
        """The floor time of this case: a copy, 1.5x that for backward passes."""
        copy = self.median(FLOOR)
        return None if copy is None else copy * FLOOR_SCALE[self.case.function]

    def ratio(self, name, other):
        """``median(name) / median(other)``, or None when either did not run."""
        a, b = self.median(name), self.median(other)
        return None if a is None or b is None or b == 0 else a / b


def measure(case, implementations, repeat, seed=0):
    """Time ``implementations`` (registry names) on ``case`` side by side."""
    inputs = make_inputs(case, seed)
    callables, skipped = {}, {}
    for name in implementations:
        try:
            callables[name] = COMPARISONS[case.function][name](inputs)
        except Unavailable as exc:
            skipped[name] = str(exc)
    times = time_side_by_side(callables, repeat) if callables else {}
    return Measurement(case, times, skipped)


def run(cases, implementations, repeat, progress=None, seed=0):
    """:func:`measure` every case in turn; ``progress(i, n, case)`` is called before each."""
    results = []
    for i, case in enumerate(cases):
        if progress is not None:
            progress(i, len(cases), case)
        results.append(measure(case, implementations, repeat, seed))
    return results


def geometric_mean(values):
    """Geometric mean of the positive numbers in ``values`` (None when there are none).

    >>> geometric_mean([2.0, 8.0, None])
    4.0
    """
    values = [v for v in values if v is not None and v > 0]
    if not values:
        return None
    return math.exp(sum(math.log(v) for v in values) / len(values))


def format_table(headers, rows, align=None):
    """A plain-text table; ``align`` is a string of ``<`` and ``>``, one per column.

    >>> print(format_table(["name", "ms"], [["a", "1.0"], ["bb", "10.5"]], "<>"))
    name    ms
    ----  ----
    a      1.0
    bb    10.5
    """
    align = align or "<" * len(headers)
    cells = [list(map(str, headers))] + [["" if c is None else str(c) for c in r] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def line(row):
        return "  ".join(f"{c:{a}{w}}" for c, a, w in zip(row, align, widths)).rstrip()

    out = [line(cells[0]), "  ".join("-" * w for w in widths)]
    out += [line(row) for row in cells[1:]]
    return "\n".join(out)


class OtherLoad:
    """How busy other processes kept the CPUs while this one measured (Linux only).

    A parallel kernel waits for its slowest thread, so on a small shared machine
    another process taking a core slows it by whole scheduler time slices.
    Use as a context manager; ``fraction`` is then the share of all cores' time
    spent outside this process (steal time of a virtual machine included), or
    None where ``/proc/stat`` is not readable.
    """

    def __init__(self):
        self.fraction = None

    @staticmethod
    def _read():
        try:
            with open("/proc/stat", encoding="ascii") as f:
                fields = [int(v) for v in f.readline().split()[1:9]]
        except (OSError, ValueError):
            return None
        user, nice, system, idle, iowait, irq, softirq, steal = fields
        busy = user + nice + system + irq + softirq + steal
        mine = os.times()
        return busy, busy + idle + iowait, mine.user + mine.system

    def __enter__(self):
        self._start = self._read()
        return self

    def __exit__(self, *exc):
        end = self._read()
        if self._start is None or end is None:
            return False
        ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        busy = end[0] - self._start[0]
        total = end[1] - self._start[1]
        mine = (end[2] - self._start[2]) * ticks
        if total > 0:
            self.fraction = min(1.0, max(0.0, (busy - mine) / total))
        return False
