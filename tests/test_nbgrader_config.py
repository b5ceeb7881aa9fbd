"""Tests of the course's nbgrader_config.py, as formgrader reads it."""
from __future__ import annotations

from pathlib import Path

from nbconvert.exporters import HTMLExporter
from nbformat.v4 import new_code_cell, new_notebook, new_output

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = "<script>window.PWNED = 1</script>"


def _course_config(monkeypatch):
    """The configuration nbgrader loads in the course directory."""
    from nbgrader.apps.baseapp import NbGrader

    monkeypatch.chdir(ROOT)
    app = NbGrader()
    app.load_config_file()
    return app.config


def _formgrade_html(config) -> str:
    """A student's notebook as formgrader's submission page renders it
    (its exporter: template "formgrade", nbgrader's template folder)."""
    from nbgrader.server_extensions.formgrader import handlers

    config.HTMLExporter.template_name = "formgrade"
    config.HTMLExporter.extra_template_basedirs = [handlers.template_path]
    out = new_output("display_data", data={"text/html": SCRIPT + "<b>x</b>"})
    nb = new_notebook(cells=[new_code_cell("show()", outputs=[out])])
    html, _ = HTMLExporter(config=config).from_notebook_node(nb, resources={
        "base_url": "/", "index": 0, "total": 1, "notebook_id": "n",
        "submission_id": "s", "notebook_path": "p", "students": [],
        "nbgrader": {}})
    return html


def test_formgrader_renders_student_script_as_text(monkeypatch):
    """With the course's configuration, does formgrader's page show a
    student's <script> as text, where nbconvert's default (the known-bad
    case) leaves it live?"""
    config = _course_config(monkeypatch)
    assert config.HTMLExporter.sanitize_html is True
    assert "&lt;script&gt;window.PWNED" in _formgrade_html(config)
    config.HTMLExporter.sanitize_html = False
    assert SCRIPT in _formgrade_html(config)


def test_course_id_matches_the_kits_gradebook(monkeypatch):
    """Do nbgrader's own commands (formgrader, export) see the course the
    kit records grades under?"""
    from autograder.grader import gradebook

    config = _course_config(monkeypatch)
    assert config.CourseDirectory.course_id == gradebook.COURSE_ID
