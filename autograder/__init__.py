"""Autograder for the d2l lesson on deep and bidirectional RNNs.

The public contract with student notebooks (function names and cell
``grade_id``s) is in :mod:`autograder.contract` and the README. Each kind of
check lives in a module of its own (shapes, params, device, reference,
perplexity, causality); each instructor action too (release, grade,
grade_all, feedback, demo). :mod:`autograder.cli` only parses arguments.
"""

__version__ = "0.1.0"
