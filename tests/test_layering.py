"""Only the UI layer imports streamlit: the library stays usable from the CLI and a partner's backend."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_library_code_outside_ui_never_imports_streamlit() -> None:
    offenders = []
    for path in (ROOT / "lmsdata").rglob("*.py"):
        if "ui" in path.relative_to(ROOT / "lmsdata").parts[:1]:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [alias.name for alias in node.names] if isinstance(node, ast.Import)
                else [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            )
            if any(name.split(".")[0] == "streamlit" for name in names):
                offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []
