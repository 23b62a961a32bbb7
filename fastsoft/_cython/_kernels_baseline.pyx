# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
# cython: cdivision=True, nonecheck=False, cpow=True
"""fastsoft's Cython kernels compiled for the baseline instruction set (x86-64: SSE2; other CPUs: the compiler's default).

The source is _kernels.pxi; setup.py compiles it once per instruction set and
fastsoft/_cython/__init__.py imports the best variant this CPU can run.
"""

VARIANT = "baseline"

include "_kernels.pxi"
