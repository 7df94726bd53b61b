"""Reading a JSON-lines log (one JSON object a line) that an append may have left cut short.

A log is appended to line by line (`metrics.jsonl`), so a kill or a full disk during an append
can leave its last line without its newline and half written. That line is dropped with a
warning; any other line that is not a JSON object is damage, and an `InputError` names the file
and the line.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

from fuelbreak.errors import InputError


def read_jsonl(path: str | Path, what: str = "log") -> list[dict]:
    """The records of a JSON-lines file, blank lines skipped and a torn last line dropped (warning)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{what} {path} is not UTF-8 text (byte {exc.start}): not a {what}") from None
    except OSError as exc:
        raise InputError(f"{what} {path} cannot be read: {exc.strerror or exc}") from None
    lines = text.split("\n")  # the last item is what follows the last newline: "" when whole
    records = []
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            if n == len(lines):  # no newline after it: an append cut short
                warnings.warn(
                    f"{what} {path}: its last line (line {n}) was cut short, by a kill or a full disk "
                    "during an append; dropped",
                    stacklevel=2,
                )
                break
            raise InputError(f"{what} {path} line {n} is not valid JSON: {exc.msg}") from exc
        if not isinstance(record, dict):
            raise InputError(f"{what} {path} line {n} is not a JSON object")
        records.append(record)
    return records
