"""Text from outside (Clever, an LMS, a district, an import, a URL) shown as text, never as Markdown.

`st.title`, `st.markdown`, `st.warning`, captions and badges all interpret Markdown, Streamlit
directives (`:red[…]`) and bare URLs (auto-links). `text()` backslash-escapes every ASCII punctuation
mark (CommonMark renders an escaped mark as itself) and folds line breaks, so the value reads exactly
as it was given. Never put its result inside a backtick code span, where escapes stay literal.
"""

from __future__ import annotations

import re
import string
from typing import Any

_PUNCTUATION = re.compile("([" + re.escape(string.punctuation) + "])")
_LINE_BREAKS = re.compile(r"[\r\n\t\u2028\u2029]+")


def text(value: Any) -> str:
    """`value` escaped for any Streamlit element that reads Markdown; None is the empty string."""
    if value is None:
        return ""
    return _PUNCTUATION.sub(r"\\\1", _LINE_BREAKS.sub(" ", str(value)))
