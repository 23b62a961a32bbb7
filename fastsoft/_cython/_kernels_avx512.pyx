# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
# cython: cdivision=True, nonecheck=False, cpow=True
"""fastsoft's Cython kernels compiled for AVX-512 F/DQ/BW/VL.

The source is _kernels.pxi; setup.py compiles it once per instruction set and
fastsoft/_cython/__init__.py imports the best variant this CPU can run.
"""

VARIANT = "avx512"

include "_kernels.pxi"
