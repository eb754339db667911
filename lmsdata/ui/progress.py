"""A progress bar for long library calls (sync, retry, the demo build).

The call runs on a worker thread while the script thread moves the bar: library callbacks may come
from the library's own threads, where Streamlit cannot draw.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import streamlit as st

T = TypeVar("T")
Report = Callable[[float, str], None]


def with_progress(label: str, work: Callable[[Report], T]) -> T:
    """Run `work(report)` on a worker thread and mirror its `report(share, text)` calls in a progress bar."""
    bar = st.progress(0.0, text=label)
    lock = threading.Lock()
    latest = [0.0, label]

    def report(share: float, text: str) -> None:
        with lock:
            latest[:] = [max(0.0, min(float(share), 1.0)), text]

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="lmsdata-action") as pool:
        future = pool.submit(work, report)
        while not future.done():
            time.sleep(0.1)
            with lock:
                share, text = latest
            bar.progress(share, text=text)
        result = future.result()
    bar.progress(1.0, text="Done")
    return result
