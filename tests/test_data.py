"""Does the kit find a verified timemachine.txt offline, and fail clearly?"""
import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest

from autograder import data
from autograder.config import DATA

SHARED = DATA.shared_dir / DATA.file_name
needs_shared = pytest.mark.skipif(
    not SHARED.is_file(), reason=f"no shared copy at {SHARED}"
)


@pytest.fixture
def nowhere(tmp_path, monkeypatch):
    """No copy anywhere: empty shared dir, no env var, no network."""
    monkeypatch.setattr(
        data, "DATA", dataclasses.replace(DATA, shared_dir=tmp_path / "none")
    )
    monkeypatch.delenv(DATA.env_var, raising=False)
    import requests
    from d2l import torch as d2l

    def offline(*args, **kwargs):
        raise requests.ConnectionError("offline")

    monkeypatch.setattr(d2l, "download", offline)
    work = tmp_path / "work"
    work.mkdir()
    return work


def test_missing_file_says_where_it_looked(nowhere):
    """Is a missing file one clear error naming every place and the fix?"""
    with pytest.raises(data.DataNotFoundError) as err:
        data.locate(nowhere)
    msg = str(err.value)
    assert "missing" in msg and DATA.env_var in msg
    assert str(nowhere.parent / "data" / DATA.file_name) in msg
    assert "download through d2l: no network" in msg
    assert "Traceback" not in msg and "ConnectionError(" not in msg


def test_corrupt_file_is_rejected(nowhere, tmp_path, monkeypatch):
    """Is a file with the wrong SHA-1 refused, naming both hashes?"""
    bad = tmp_path / DATA.file_name
    bad.write_text("the time traveller (for so it will be convenient)\n")
    monkeypatch.setenv(DATA.env_var, str(bad))
    with pytest.raises(data.DataNotFoundError) as err:
        data.locate(nowhere)
    assert f"!= expected {DATA.sha1}" in str(err.value)
    assert data.sha1_of(bad) in str(err.value)


def test_download_failure_is_not_a_traceback(nowhere):
    """Does an offline download through d2l say so in one short line?"""
    path, status = data._download(nowhere)
    assert path is None and "ConnectionError" in status


@needs_shared
def test_env_var_accepts_a_folder(nowhere, monkeypatch):
    """Does D2L_TIMEMACHINE work when it names the folder, not the file?"""
    monkeypatch.setenv(DATA.env_var, str(SHARED.parent))
    assert data.locate(nowhere) == SHARED


@needs_shared
def test_install_places_a_verified_copy(tmp_path, monkeypatch):
    """Does install() put the file where d2l looks (../data) from cwd?"""
    work = tmp_path / "a" / "b"
    work.mkdir(parents=True)
    target = data.install(work)
    assert target == (tmp_path / "a" / "data" / DATA.file_name)
    assert data.sha1_of(target) == DATA.sha1


@needs_shared
@pytest.mark.slow
def test_book_call_works_from_another_directory(tmp_path):
    """After the helper ran there, does the book's own call work offline?"""
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {**os.environ, "HTTP_PROXY": "http://127.0.0.1:9",
           "HTTPS_PROXY": "http://127.0.0.1:9"}  # any download would fail
    run = lambda *args: subprocess.run(  # noqa: E731
        [sys.executable, *args], cwd=work, env=env,
        capture_output=True, text=True, timeout=300,
    )
    helper = run("-m", "autograder", "data", "--install")
    assert helper.returncode == 0, helper.stderr
    book = run("-c", "from d2l import torch as d2l; "
               "it, vocab = d2l.load_data_time_machine(32, 35); "
               "print(len(vocab))")
    assert book.returncode == 0, book.stderr
    assert book.stdout.strip() == "28"
    assert "Downloading" not in book.stdout


def test_data_file_is_not_committed():
    """Is timemachine.txt kept out of git (it comes from shared/ or d2l)?"""
    root = Path(__file__).resolve().parent.parent
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=root, capture_output=True, text=True
    )
    if tracked.returncode != 0:
        pytest.skip("not a git checkout")
    names = [Path(p).name for p in tracked.stdout.splitlines()]
    assert DATA.file_name not in names
