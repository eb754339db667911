"""CSV that a spreadsheet opens as data: a cell that would start a formula is neutralised.

Names, e-mails and messages come from Clever, districts and imports; a cell such as `=HYPERLINK(…)`
or `@SUM(…)` would run in Excel or Sheets. OWASP's rule: prefix a cell that begins with `=`, `+`,
`-`, `@`, a tab or a carriage return with a single quote, so it shows as the text it is.
Numbers stay numbers (a negative number is not a formula), so sorting in the sheet still works.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from typing import IO, Any

import pandas as pd

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """The value with a leading `'` if, as text, it would be read as a formula; other values unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def write_rows(out: IO[str], rows: Iterable[Mapping[str, Any]], columns: Sequence[str]) -> None:
    """Write `rows` (only `columns`) as CSV with a header, every text cell made safe."""
    writer = csv.DictWriter(out, fieldnames=list(columns), extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({c: safe_cell(row.get(c)) for c in columns})


def frame_to_csv(frame: pd.DataFrame) -> bytes:
    """A DataFrame as UTF-8 CSV bytes for a download, every text cell made safe."""
    buffer = io.StringIO()
    frame.map(safe_cell).to_csv(buffer, index=False)
    return buffer.getvalue().encode()
