"""Errors of the batch jobs that an operator (or the nightly pipeline) must be able to act on."""

from __future__ import annotations


class LakeError(Exception):
    """The history lake cannot give what a job needs: the message names the path and why
    (an empty partition, a file that is not Parquet, a symbol with no data). Raised before the
    job writes anything."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason
