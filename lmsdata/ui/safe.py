"""Text from outside (Clever, an LMS, a district, an import, a URL) shown as text, never as Markdown.

`st.title`, `st.markdown`, `st.warning`, captions and badges all interpret Markdown, Streamlit
directives (`:red[…]`) and bare URLs (auto-links). `text()` backslash-escapes every ASCII punctuation
mark (CommonMark renders an escaped mark as itself) and folds line breaks, so the value reads exactly
as it was given. Streamlit's GFM autolinker runs on the parsed text, after the escapes, so a bare
`http://`, `www.` or `name@host` would still become a link: an invisible WORD JOINER (U+2060) after the
scheme's colon, after `www` and before `@` breaks the pattern without changing what a person reads.
Never put its result inside a backtick code span, where escapes stay literal.
"""

from __future__ import annotations

import re
import string
from typing import Any

_PUNCTUATION = re.compile("([" + re.escape(string.punctuation) + "])")
_LINE_BREAKS = re.compile(r"[\r\n\t\u2028\u2029]+")
_AUTOLINKS = re.compile(r"(?i)(?<=[a-z]):(?=//)|(?<=www)(?=\.)|(?=@)")
WORD_JOINER = "\u2060"


def text(value: Any) -> str:
    """`value` escaped for any Streamlit element that reads Markdown; None is the empty string."""
    if value is None:
        return ""
    unlinked = _AUTOLINKS.sub(lambda found: found.group() + WORD_JOINER, _LINE_BREAKS.sub(" ", str(value)))
    return _PUNCTUATION.sub(r"\\\1", unlinked)
