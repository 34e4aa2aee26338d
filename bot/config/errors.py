"""Configuration problems and the one error that carries them.

An operator reads these at 3 a.m. in a terminal or a systemd journal, so every problem is a single
line that stands alone: where the value came from, which dotted key, what is wrong with it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum


class ProblemKind(IntEnum):
    """Lower sorts first: the first line of a ConfigError is the one most worth reading."""

    # The file itself is missing or broken; nothing else about it can be trusted.
    FILE = 0
    # A secret in a file is a leak in progress (it is probably in git already): say so first.
    SECRET_IN_FILE = 1
    # A misspelt key usually also causes a "missing" or a wrong default; the typo is the root cause.
    UNKNOWN_KEY = 2
    INVALID_VALUE = 3
    MISSING = 4


@dataclass(frozen=True)
class ConfigProblem:
    source: str  # a file path as given, or "environment TRADEBOT_..."
    key: str | None  # dotted key, e.g. "ingest.symbols[1]"; None when the problem is the whole file
    message: str
    kind: ProblemKind = ProblemKind.INVALID_VALUE

    def __str__(self) -> str:
        if self.key:
            return f"{self.source}: {self.key}: {self.message}"
        return f"{self.source}: {self.message}"


class ConfigError(Exception):
    """Settings could not be loaded. str() is one line; `lines()` lists every problem found."""

    def __init__(self, problems: Sequence[ConfigProblem]) -> None:
        if not problems:
            raise ValueError("a ConfigError needs at least one problem")
        # sorted() is stable, so problems of one kind keep the order they were found in.
        self.problems: tuple[ConfigProblem, ...] = tuple(sorted(_without_echoes(problems), key=lambda p: p.kind))
        super().__init__(str(self.problems[0]))

    def __str__(self) -> str:
        return str(self.problems[0])

    def lines(self) -> list[str]:
        return [str(problem) for problem in self.problems]


def _without_echoes(problems: Sequence[ConfigProblem]) -> list[ConfigProblem]:
    """Drops "required, but not set" for a key whose misspelling was already reported with a
    suggestion: the typo is the one problem, and the fix for both."""
    suggested = set()
    for problem in problems:
        if problem.kind is ProblemKind.UNKNOWN_KEY and problem.key and "did you mean '" in problem.message:
            parent = problem.key.rpartition(".")[0]
            name = problem.message.split("did you mean '", 1)[1].split("'", 1)[0]
            suggested.add((problem.source, f"{parent}.{name}" if parent else name))
    return [problem for problem in problems if not (problem.kind is ProblemKind.MISSING and (problem.source, problem.key) in suggested)]
