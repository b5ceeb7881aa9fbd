"""Check evidence: recorded in the kernel, loaded safely in the grader.

During grading (``AUTOGRADER_EVIDENCE_DIR`` set) each nbtests call appends
its collected data to ``<dir>/<grade_id>.pt`` *before* judging. The grader
loads it with ``torch.load(..., weights_only=True)``, which unpickles only
tensors and plain containers, and re-judges it in its own process.

Evidence is plain data only: ``dict``/``list``/``tuple`` of exact
``torch.Tensor`` (CPU), ``int``, ``float``, ``bool``, ``str``, ``None``.
"""
from __future__ import annotations

import os
from pathlib import Path

import torch

from autograder.config import CHECKS

PLAIN_SCALARS = (int, float, bool, str, type(None))
PLAIN_CONTAINERS = (dict, list, tuple)


class BadEvidence(ValueError):
    """Evidence holds something other than plain data."""


def evidence_dir() -> Path | None:
    """The folder named by ``AUTOGRADER_EVIDENCE_DIR``, or None."""
    value = os.environ.get(CHECKS.evidence_env)
    return Path(value) if value else None


def path_of(directory: Path | str, grade_id: str) -> Path:
    """Where the evidence of ``grade_id`` lives."""
    return Path(directory) / f"{grade_id}.pt"


def check_plain(data, where: str = "evidence") -> None:
    """Raise :class:`BadEvidence` unless ``data`` is plain data."""
    cls = type(data)
    if any(cls is t for t in PLAIN_SCALARS):
        return
    if cls is torch.Tensor:
        if data.device.type != "cpu":
            raise BadEvidence(f"{where}: tensor on {data.device}, not cpu")
        return
    if cls is dict:
        for k, v in data.items():
            if type(k) is not str:
                raise BadEvidence(f"{where}: key of type {type(k).__name__}")
            check_plain(v, f"{where}[{k!r}]")
        return
    if cls is list or cls is tuple:
        for i, v in enumerate(data):
            check_plain(v, f"{where}[{i}]")
        return
    raise BadEvidence(f"{where}: {cls.__name__} is not plain data")


def record(grade_id: str, data, directory: Path | str | None = None):
    """Append ``data`` to the evidence of ``grade_id`` (when grading).

    Args:
        directory: defaults to ``AUTOGRADER_EVIDENCE_DIR``; nothing is
            recorded when neither is set.

    Returns:
        The evidence file, or None when nothing was recorded.
    """
    directory = directory or evidence_dir()
    if directory is None:
        return None
    check_plain(data)
    path = path_of(directory, grade_id)
    entries = load(directory, grade_id) or []
    entries.append(data)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(entries, tmp)
    os.replace(tmp, path)
    return path


def load(directory: Path | str, grade_id: str) -> list | None:
    """The recorded entries of ``grade_id``, or None if none were recorded.

    Raises:
        BadEvidence: the file is not plain data (or not loadable safely).
    """
    path = path_of(directory, grade_id)
    if not path.is_file():
        return None
    try:
        entries = torch.load(path, weights_only=True, map_location="cpu")
    except Exception as exc:  # noqa: BLE001 - any unpickling failure
        raise BadEvidence(f"{path.name}: cannot be loaded safely "
                          f"({type(exc).__name__})") from None
    if type(entries) is not list:
        raise BadEvidence(f"{path.name}: expected a list of entries")
    check_plain(entries, path.name)
    return entries
