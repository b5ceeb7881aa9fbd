"""nbgrader configuration: the repo root is the course directory.

solutions/<assignment>/ is nbgrader's source directory (notebooks with
solutions and hidden tests); assignments/<assignment>/ is its release
directory (what students get). Run nbgrader, and formgrader
(``.venv/bin/jupyter lab`` or ``jupyter server``), from the repo root.
"""
import os

c = get_config()  # noqa: F821  (injected by nbgrader)

c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))
c.CourseDirectory.course_id = "d2l-deep-bidirectional-rnn"
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "assignments"

# Training cells run longer than nbgrader's 30 s default. The grading budget
# per cell comes from autograder.config (GradingLimits); this is the ceiling
# for a plain `nbgrader autograde` run by hand.
c.ExecutePreprocessor.timeout = 600

# Student output is inert wherever an instructor looks at it. formgrader and
# `nbgrader generate_feedback` render notebooks with nbconvert's
# HTMLExporter, whose sanitize_html is off by default: a <script> a student
# printed would run in the instructor's Jupyter origin (with the Jupyter
# API, as the server's user). With it on, it comes out as text.
# (`python -m autograder feedback` passes the same setting on its command
# line, so it holds for a course folder without this file too.)
c.HTMLExporter.sanitize_html = True

# Not configured, on purpose:
# * MathJax: formgrader's notebook template calls nbconvert's mathjax()
#   macro without a URL, so HTMLExporter.mathjax_url is not used and math
#   is typeset by MathJax from its CDN; offline it shows as raw $...$.
# * The exchange (c.Exchange.root): the kit releases by committing
#   assignments/ and collects with `grade-all DIR`, so formgrader's
#   "release" and "collect" (which need the exchange) stay unavailable, and
#   its "exchange directory does not exist" warning can be ignored.
# See the README, "Manual grading".
