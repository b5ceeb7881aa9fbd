"""Code that runs inside the box: the grading worker and its wire format.

Mounted read-only at /box/kit/agbox; it imports nothing from the grader
(only the standard library, torch and the student-side checks, rnn_checks).
"""
