"""LMS Connect Health: pull Clever LMS Connect state into SQLite, explain it, and act on it.

`lmsdata` is a library; the Streamlit pages and the `lmsdata` CLI are thin shells over it.
Only the UI layer (`dashboard.py`, `pages/`, `lmsdata/ui/`) imports streamlit.
"""

__version__ = "0.1.0"
