# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
# cython: cdivision=True, nonecheck=False, cpow=True
"""fastsoft's Cython kernels compiled for AVX2 + FMA (x86-64 CPUs from 2013 on).

The source is _kernels.pxi; setup.py compiles it once per instruction set and
fastsoft/_cython/__init__.py imports the best variant this CPU can run.
"""

VARIANT = "avx2"

include "_kernels.pxi"
