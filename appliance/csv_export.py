"""Spreadsheet-safe CSV: every export of the appliance goes through :func:`csv_text`.

Rows are written by the standard :mod:`csv` module (quoting commas, quotes and
line breaks), and a cell a spreadsheet would run as a formula (one starting
with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return: a name typed
``=HYPERLINK(…)`` by someone) is prefixed with an apostrophe (OWASP "CSV
injection"). Numbers stay numbers: only text is neutralised.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Final

_FORMULA_STARTS: Final = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> str | int | float:
    """Return ``value`` as a cell no spreadsheet evaluates."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int | float):
        return value
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def csv_text(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """Return ``header`` and ``rows`` as CSV text (CRLF line ends, as RFC 4180 says)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows([safe_cell(value) for value in row] for row in rows)
    return out.getvalue()
