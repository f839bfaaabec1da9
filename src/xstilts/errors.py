"""User-facing errors.

Every error a user can cause (bad config, malformed data file, missing model) is an :class:`XstiltsError`.
The CLI prints its message on one line and exits with status 2; ``--debug`` shows the traceback.
"""

from __future__ import annotations

from pathlib import Path


class XstiltsError(Exception):
    """An error caused by the user's input, reported as one line without a traceback."""


class ConfigError(XstiltsError):
    """The experiment config is invalid (unknown key, wrong type, impossible value, unknown task or language)."""


class DataFormatError(XstiltsError):
    """A data file does not follow its official format.

    The message names the file, the 1-based line number (when there is one) and what was expected, e.g.
    ``xnli.test.tsv:17: expected 15 tab-separated columns, got 3``.
    """

    def __init__(self, path: str | Path, line: int | None, expected: str):
        self.path, self.line, self.expected = str(path), line, expected
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {expected}")


class MissingDataError(XstiltsError):
    """A data file or folder that a task needs is not there (and no online source could be used)."""
