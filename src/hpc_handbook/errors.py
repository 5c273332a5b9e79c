"""The one error type for bad input, so every command reports it the same way."""

from __future__ import annotations

from pathlib import Path

#: Exit code for bad input (a malformed profile, notebook, fragment or metadata entry).
INPUT_ERROR_EXIT_CODE = 2


class HandbookInputError(Exception):
    """Bad input: names the file, the key or cell, and what was expected."""

    exit_code = INPUT_ERROR_EXIT_CODE

    def __init__(self, file: str | Path, where: str, problem: str) -> None:
        self.file = str(file)
        self.where = where
        self.problem = problem
        super().__init__(self.message)

    @property
    def message(self) -> str:
        where = f" at {self.where}" if self.where else ""
        return f"{self.file}{where}: {self.problem}"


class HandbookInputErrors(HandbookInputError):
    """Several input errors in one file, reported together so one run fixes them all."""

    def __init__(self, errors: list[HandbookInputError]) -> None:
        self.errors = errors
        first = errors[0]
        super().__init__(first.file, first.where, first.problem)

    @property
    def message(self) -> str:
        return "\n".join(error.message for error in self.errors)
