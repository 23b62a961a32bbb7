"""Where JIT caches go when the package folder is read-only."""

import os
import sys


def user_cache_dir():
    """The per-user cache folder (XDG on Linux, Library/Caches on macOS)."""
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or os.path.expanduser("~\\AppData\\Local")
    elif sys.platform == "darwin":
        base = os.path.expanduser("~/Library/Caches")
    else:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return os.path.join(base, "fastsoft")


def numba_cache_dir(package_dir):
    """None when Numba can cache beside the package; otherwise a user folder.

    Numba itself raises "no locator available" where neither the package's
    ``__pycache__`` nor its own fallback is writable (numba issues 4908, 5566).
    """
    pycache = os.path.join(package_dir, "__pycache__")
    try:
        os.makedirs(pycache, exist_ok=True)
        writable = os.access(pycache, os.W_OK)
    except OSError:
        writable = False
    if writable:
        return None
    return os.path.join(user_cache_dir(), "numba")
