"""Errors users see, each with the exit code of ``CONVENTIONS.md``.

0 success · 1 no answer / no results · 2 usage or input error · 3 index problem.
The CLI prints ``str(error)`` as one line and exits with ``error.exit_code``.
"""


class SemsearchError(Exception):
    exit_code = 2


class InputError(SemsearchError):
    """Bad path, unreadable file, bad option or query."""

    exit_code = 2


class IndexProblem(SemsearchError):
    """Index missing and cannot be built, built with another model, corrupt, or model missing."""

    exit_code = 3
