"""The exceptions the kit raises."""


class CheckFailed(AssertionError):
    """A check rejected the student's work.

    Subclasses AssertionError so that nbgrader (and pytest) report it as a
    failed test, not as an error in the grader. The message says what was
    got and what was expected, in the book's words.
    """
