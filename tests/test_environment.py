"""Do the pins agree: requirements.txt, the lock, environment.yml, the venv?"""
import importlib.metadata
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==([^\s;#]+)")


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins_of_lines(lines) -> dict[str, str]:
    """Map normalised package name -> pinned version for 'name==ver' lines."""
    pins = {}
    for line in lines:
        m = PIN.match(line.strip())
        if m:
            pins[_norm(m.group(1))] = m.group(2)
    return pins


def pins_of(path: Path) -> dict[str, str]:
    return pins_of_lines(path.read_text().splitlines())


def conda_pip_pins() -> dict[str, str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = [d for d in env["dependencies"] if isinstance(d, dict)][0]["pip"]
    return pins_of_lines(pip)


def test_requirements_are_exact_pins():
    """Is every requirement in requirements.txt an exact '==' pin?"""
    lines = [
        ln.strip() for ln in (ROOT / "requirements.txt").read_text().splitlines()
        if ln.strip() and not ln.startswith("#")
    ]
    loose = [ln for ln in lines if not PIN.match(ln)]
    assert not loose, f"requirements.txt has unpinned lines: {loose}"


def test_environment_yml_matches_requirements():
    """Does environment.yml list exactly the pins of requirements.txt?"""
    req, conda = pins_of(ROOT / "requirements.txt"), conda_pip_pins()
    diff = {
        k: (req.get(k), conda.get(k))
        for k in req.keys() | conda.keys() if req.get(k) != conda.get(k)
    }
    assert not diff, f"(requirements.txt, environment.yml) disagree: {diff}"


def test_environment_yml_is_python_311():
    """Does environment.yml ask for Python 3.11, like the venv?"""
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert "python=3.11" in env["dependencies"]


def test_lock_agrees_with_requirements():
    """Does the lock pin every top-level package at the same version?"""
    req, lock = pins_of(ROOT / "requirements.txt"), pins_of(
        ROOT / "requirements.lock.txt"
    )
    diff = {k: (v, lock.get(k)) for k, v in req.items() if lock.get(k) != v}
    assert not diff, f"(requirements.txt, lock) disagree: {diff}"


def test_d2l_is_pinned_apart():
    """Is d2l pinned to 0.17.6 outside requirements.txt (installed --no-deps)?"""
    assert pins_of(ROOT / "requirements-d2l.txt") == {"d2l": "0.17.6"}
    assert "d2l" not in pins_of(ROOT / "requirements.txt")


@pytest.mark.parametrize(
    "req_file", ["requirements.txt", "requirements-d2l.txt"]
)
def test_installed_versions_match_pins(req_file):
    """Does the running environment have exactly the pinned versions?"""
    wrong = {}
    for name, version in pins_of(ROOT / req_file).items():
        try:
            got = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            got = None
        if got is None or got.split("+")[0] != version.split("+")[0]:
            wrong[name] = (got, version)
    assert not wrong, f"installed != pinned (got, expected): {wrong}"


def test_pin_parser_rejects_loose_lines():
    """Can the pin check fail: is a '>=' line left out of the pins?"""
    assert pins_of_lines(["torch>=2.0", "tqdm==4.70.1"]) == {"tqdm": "4.70.1"}
