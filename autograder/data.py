"""Offline Time Machine data for ``d2l.load_data_time_machine``.

d2l 0.17.6 reads ``timemachine.txt`` from ``../data`` relative to the working
directory and downloads it when it is not there. This module finds a verified
copy and places it where d2l looks, so the book's call works unchanged:

1. the file (or folder) named by the ``D2L_TIMEMACHINE`` environment variable;
2. ``../shared/data/`` beside the repo (the course machines' shared folder);
3. d2l's own cache, ``../data`` relative to the working directory;
4. a download through ``d2l.download`` when there is a network.

Every candidate is checked against the SHA-1 that d2l checks.
"""
from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

from autograder.config import DATA


class DataNotFoundError(RuntimeError):
    """No verified copy of timemachine.txt could be found or downloaded."""


def sha1_of(path: Path) -> str:
    """Return the hex SHA-1 of the file at ``path``."""
    digest = hashlib.sha1()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def candidates(cwd: Path | None = None) -> list[tuple[str, Path]]:
    """List the places looked in, in order, as (description, path) pairs."""
    cwd = Path(cwd or os.getcwd())
    found = []
    env = os.environ.get(DATA.env_var)
    if env:
        path = Path(env)
        if path.is_dir():
            path = path / DATA.file_name
        found.append((f"${DATA.env_var}", path))
    found.append(("the shared data folder", DATA.shared_dir / DATA.file_name))
    cache = (cwd / DATA.d2l_cache_dir / DATA.file_name).resolve()
    found.append(("d2l's cache (../data)", cache))
    return found


def locate(cwd: Path | None = None, download: bool = True) -> Path:
    """Return the path of a verified timemachine.txt.

    Args:
        cwd: the working directory whose ``../data`` is d2l's cache.
        download: try ``d2l.download`` when no local copy is verified.

    Raises:
        DataNotFoundError: with every place looked in and how to fix it.
    """
    report = []
    for where, path in candidates(cwd):
        status = _verify(path)
        if status == "ok":
            return path
        report.append(f"  - {where}: {path} ({status})")
    if download:
        path, status = _download(cwd)
        if path is not None:
            return path
        report.append(f"  - download through d2l: {status}")
    raise DataNotFoundError(_not_found_message(report))


def _verify(path: Path) -> str:
    """Say 'ok', 'missing' or why the file at ``path`` is not usable."""
    if not path.is_file():
        return "missing"
    got = sha1_of(path)
    if got != DATA.sha1:
        return f"corrupt: SHA-1 {got} != expected {DATA.sha1}"
    return "ok"


def _download(cwd: Path | None) -> tuple[Path | None, str]:
    """Fetch the file with d2l.download into d2l's cache; never raise."""
    try:
        import requests
        from d2l import torch as d2l
    except ImportError as err:  # pragma: no cover - broken environment
        return None, f"d2l is not importable ({err})"
    cache_dir = str(Path(cwd or os.getcwd()) / DATA.d2l_cache_dir)
    try:
        fname = Path(d2l.download("time_machine", cache_dir=cache_dir))
    except (requests.RequestException, OSError) as err:
        return None, f"no network or no write access ({type(err).__name__})"
    status = _verify(fname)
    if status != "ok":
        fname.unlink(missing_ok=True)
        return None, f"downloaded file was {status}"
    return fname, "ok"


def _not_found_message(report: list[str]) -> str:
    return "\n".join(
        [
            "The Time Machine text (timemachine.txt) was not found. Looked in:",
            *report,
            "Provide it in one of these ways:",
            f"  export {DATA.env_var}=/path/to/timemachine.txt",
            f"  or copy it to {DATA.shared_dir}/",
            "  or connect to the internet so that d2l can download it.",
            f"Its SHA-1 must be {DATA.sha1}.",
        ]
    )


def install(cwd: Path | None = None) -> Path:
    """Place a verified copy where d2l looks from ``cwd`` (``../data``).

    After this, ``d2l.load_data_time_machine`` works offline from ``cwd``.

    Returns:
        The path of the file in d2l's cache.
    """
    cwd = Path(cwd or os.getcwd())
    target = (cwd / DATA.d2l_cache_dir / DATA.file_name).resolve()
    if _verify(target) == "ok":
        return target
    source = locate(cwd)
    if source.resolve() != target:
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
    return target


def export_env(cwd: Path | None = None) -> Path:
    """Locate the verified file and name it in ``$D2L_TIMEMACHINE``.

    The student-facing checks (``autograder.student``) read the data from
    that variable when it is set, else as the book does (``../data``); the
    grader, the benchmark and the tests call this once so that they work
    from any directory.

    Returns:
        The verified file.
    """
    path = locate(cwd, download=False)
    os.environ[DATA.env_var] = str(path)
    return path
