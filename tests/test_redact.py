"""Tests of autograder/grader/redact.py: no grader paths in what people read."""
from __future__ import annotations

import json

from autograder.grader import redact


def test_scratch_path_becomes_the_students_view():
    """Is the setup cell's data path under the grader's scratch course
    shown relative to the notebook, as the student would see it?"""
    shown = redact.text("PosixPath('/tmp/autograder-brym95j2/course/"
                        "autograded/zoe/data/timemachine.txt')")
    assert shown == "PosixPath('../data/timemachine.txt')"


def test_notebook_folder_and_other_scratch_paths():
    """Is a path in the notebook's own folder made relative, and any other
    grader path cut to its file name?"""
    assert redact.text("/var/tmp/autograder-job-x/course/autograded/zoe/"
                       "deep_bidirectional_rnn/deep_rnn.ipynb") == \
        "deep_rnn.ipynb"
    assert redact.text('File "/tmp/autograder-read-1/a/b.py", line 3') == \
        'File "b.py", line 3'
    assert redact.text("/box/work/deep_rnn.ipynb") == "deep_rnn.ipynb"


def test_other_paths_are_left_alone():
    """Are ordinary paths (the library's, the student's own) kept?"""
    text = "/usr/lib/python3.11/x.py and ../data/timemachine.txt"
    assert redact.text(text) == text


def test_notebook_stays_valid_json():
    """Does a notebook file stay valid JSON after its paths are rewritten?"""
    nb = {"cells": [{"outputs": [{"text": "/tmp/autograder-q/course/"
                                  "autograded/a/data/t.txt\n"}]}]}
    out = json.loads(redact.notebook_bytes(json.dumps(nb).encode()))
    assert out["cells"][0]["outputs"][0]["text"] == "../data/t.txt\n"
