"""The one error type for bad user input: it names what is wrong and what to do.

The CLI prints ``subject: why`` on one line and exits with code 2, without a traceback.
"""

from __future__ import annotations


class UserError(Exception):
    """Bad input from the user: ``subject`` is the field, file or option; ``why`` the fix."""

    exit_code = 2

    def __init__(self, subject: str, why: str) -> None:
        super().__init__(f"{subject}: {why}")
        self.subject = subject
        self.why = why
