"""nbgrader configuration: the repo root is the course directory.

solutions/<assignment>/ is nbgrader's source directory (notebooks with
solutions and hidden tests); assignments/<assignment>/ is its release
directory (what students get). Run nbgrader from the repo root.
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
