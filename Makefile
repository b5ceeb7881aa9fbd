# The README's two commands:  `make demo` (main job) and `make test` (tests).
# Both create .venv/ at the repo root on first use; instructors and tools rely
# on .venv/ being the environment.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# setup also puts the data in the notebooks' ../data (solutions/data and
# assignments/data, git-ignored), where d2l.load_data_time_machine looks, so
# the instructor's and the student's notebooks run offline.
ASSIGNMENT := deep_bidirectional_rnn

.PHONY: setup demo test test-fast release bench calibrate clean-course

setup: $(STAMP)

$(STAMP): requirements.txt requirements.lock.txt requirements-d2l.txt pyproject.toml scripts/install_system_deps.sh
	bash scripts/install_system_deps.sh
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -r requirements.txt -c requirements.lock.txt
	$(PY) -m pip install --quiet --no-deps -r requirements-d2l.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	$(PY) -m autograder data
	cd solutions/$(ASSIGNMENT) && $(CURDIR)/$(PY) -m autograder data --install
	cd assignments/$(ASSIGNMENT) && $(CURDIR)/$(PY) -m autograder data --install
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m autograder demo

test: $(STAMP)
	$(PY) -m pytest

test-fast: $(STAMP)
	$(PY) -m pytest -m "not slow"

release: $(STAMP)
	$(PY) -m autograder release

bench: $(STAMP)
	$(PY) -m autograder bench

calibrate: $(STAMP)
	$(PY) scripts/calibrate.py

clean-course:
	rm -rf gradebook.db submitted autograded feedback demo_output .grading
