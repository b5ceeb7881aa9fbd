"""Every threshold, budget, seed and time limit of the kit, in one place.

Each value says where it comes from. Values marked "calibrated" are measured
by ``scripts/calibrate.py``; its output is committed in
``scripts/calibration.json``.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

# The repo root is the nbgrader course directory.
COURSE_ROOT = Path(__file__).resolve().parent.parent
ASSIGNMENT_ID = "deep_bidirectional_rnn"


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """Where the Time Machine text is looked for (in this order)."""

    # 1. This environment variable: a path to timemachine.txt or its folder.
    env_var: str = "D2L_TIMEMACHINE"
    # 2. ../shared/data/ beside the repo (the course machines' shared folder).
    shared_dir: Path = COURSE_ROOT.parent / "shared" / "data"
    # 3. d2l's own cache: ../data relative to the working directory
    #    (d2l.download's default cache_dir).
    d2l_cache_dir: str = "../data"
    file_name: str = "timemachine.txt"
    # The SHA-1 that d2l 0.17.6 checks (d2l.DATA_HUB['time_machine']).
    sha1: str = "090b5e7e70c295757f55df93cb0a180b9691891a"


@dataclasses.dataclass(frozen=True)
class BookRecipe:
    """The book's recipe for both models (d2l 0.17.6, section 9.3 / 9.4)."""

    batch_size: int = 32
    num_steps: int = 35
    num_hiddens: int = 256
    num_layers: int = 2
    num_epochs: int = 500
    lr_deep: float = 2.0   # deep LSTM, SGD
    lr_bidirectional: float = 1.0  # bidirectional LSTM, SGD
    clip_theta: float = 1.0  # d2l.grad_clipping(net, 1)


DATA = DataConfig()
BOOK = BookRecipe()
