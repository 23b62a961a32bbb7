"""Numba's on-disk cache: beside the package when it can be written, else a user folder."""

import os
import stat
import sys

import pytest

from fastsoft._cache import numba_cache_dir, user_cache_dir


@pytest.fixture
def user_cache(tmp_path, monkeypatch):
    """Point the per-user cache at a temporary folder; return the expected Numba cache dir."""
    home = tmp_path / "user-cache"
    if sys.platform == "win32":
        monkeypatch.setenv("LOCALAPPDATA", str(home))
    elif sys.platform == "darwin":
        monkeypatch.setenv("HOME", str(home))
        home = home / "Library" / "Caches"
    else:
        monkeypatch.setenv("XDG_CACHE_HOME", str(home))
    return os.path.join(str(home), "fastsoft", "numba")


def test_user_cache_dir_follows_platform_convention(user_cache):
    assert os.path.join(user_cache_dir(), "numba") == user_cache


def test_writable_package_caches_beside_itself(tmp_path, user_cache):
    package = tmp_path / "pkg"
    package.mkdir()
    assert numba_cache_dir(str(package)) is None
    assert (package / "__pycache__").is_dir()


def test_unusable_pycache_falls_back_to_user_dir(tmp_path, user_cache):
    """A file where __pycache__ should be: the folder cannot be made (works as root too)."""
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__pycache__").write_text("not a folder")
    assert numba_cache_dir(str(package)) == user_cache


def _read_only(path):
    path.chmod(stat.S_IRUSR | stat.S_IXUSR)
    if os.access(path, os.W_OK):
        path.chmod(stat.S_IRWXU)
        pytest.skip("running as root (or similar): a read-only folder stays writable")


def test_read_only_package_falls_back_to_user_dir(tmp_path, user_cache):
    package = tmp_path / "pkg"
    package.mkdir()
    _read_only(package)
    try:
        assert numba_cache_dir(str(package)) == user_cache
    finally:
        package.chmod(stat.S_IRWXU)


def test_read_only_pycache_falls_back_to_user_dir(tmp_path, user_cache):
    package = tmp_path / "pkg"
    (package / "__pycache__").mkdir(parents=True)
    _read_only(package / "__pycache__")
    try:
        assert numba_cache_dir(str(package)) == user_cache
    finally:
        (package / "__pycache__").chmod(stat.S_IRWXU)


def test_unwritable_access_check_falls_back(tmp_path, user_cache, monkeypatch):
    """The decision follows os.access, so it is testable where chmod is not (root)."""
    package = tmp_path / "pkg"
    package.mkdir()
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    assert numba_cache_dir(str(package)) == user_cache
