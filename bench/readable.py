"""What `widgets.readable` (headers in words, relative + exact local times, blank cells) adds to a table.

    .venv/bin/python bench/readable.py
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lmsdata.pushes.log import iso
from lmsdata.ui.widgets import readable


def main() -> None:
    now = datetime.now(UTC)
    frame = pd.DataFrame({"id": range(2000), "last_message": ["User not found"] * 2000,
                          "updated_at": [iso(now - timedelta(minutes=i)) for i in range(2000)],
                          "sent_at": [None] * 2000})
    for rows in (520, 1000, 2000):
        part = frame.head(rows)
        best = float("inf")
        for _ in range(5):
            started = time.perf_counter()
            readable(part, now)
            best = min(best, time.perf_counter() - started)
        print(f"{rows:>5} rows, 2 time columns: {best * 1000:.1f} ms (best of 5)")


if __name__ == "__main__":
    main()
