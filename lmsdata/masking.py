"""Student details as the dashboard shows them by default: enough to tell rows apart, not to identify anyone.

Unmasked values are shown only after a deliberate, audited reveal (`lmsdata.reveal`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

HIDDEN = "•••"


def _text(value: Any) -> str:
    """The value as text; None and a missing table cell (NaN) are empty."""
    return "" if value is None or value != value else str(value)


def mask_name(name: Any) -> str:
    """'Ada Lovelace' → 'A. L.'."""
    parts = _text(name).split()
    return " ".join(f"{p[0]}." for p in parts) if parts else ""


def mask_email(email: Any) -> str:
    """'ada.lovelace@school.org' → 'a•••@school.org' (the school's domain helps support staff)."""
    text = _text(email)
    if "@" not in text:
        return HIDDEN if text else ""
    local, domain = text.split("@", 1)
    return f"{local[:1]}{HIDDEN}@{domain}"


def mask_sis_id(sis_id: Any) -> str:
    """'20931847' → '•••847': the last three characters, as support staff quote them to a district."""
    text = _text(sis_id).strip()
    if not text:
        return ""
    return HIDDEN + text[-3:] if len(text) > 4 else HIDDEN


def masked_values(*, name: Any = None, email: Any = None, sis_id: Any = None) -> dict[str, str]:
    """Each identifying string of one student (full name, its parts, e-mail, SIS id) and its mask."""
    found: dict[str, str] = {}
    full = " ".join(_text(name).split())
    if full:
        found[full] = mask_name(full)
        found.update({part: mask_name(part) for part in full.split() if len(part) > 1})
    if _text(email):
        found[_text(email)] = mask_email(email)
    if _text(sis_id).strip():
        found[_text(sis_id).strip()] = mask_sis_id(sis_id)
    return found


def mask_payload(payload: Any, *, name: Any = None, email: Any = None, sis_id: Any = None) -> Any:
    """A JSON-like payload (or an attempt's message) with the student's details masked wherever they occur
    as whole words ("Great work, Ada!" loses "Ada"; "Adaptive" keeps it)."""
    return mask_people(payload, [{"name": name, "email": email, "sis_id": sis_id}])


def mask_people(payload: Any, people: Iterable[Mapping[str, Any]]) -> Any:
    """`mask_payload` for several students at once (`name`, `email`, `sis_id` each): text that many
    students' records share, such as one error message across a failure cluster."""
    masks: dict[str, str] = {}
    for person in people:
        masks.update(masked_values(name=person.get("name"), email=person.get("email"), sis_id=person.get("sis_id")))
    if not masks:
        return payload
    alternatives = "|".join(re.escape(secret) for secret in sorted(masks, key=len, reverse=True))
    pattern = re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)")
    return _mask(payload, lambda text: pattern.sub(lambda m: masks[m.group(0)], text))


def _mask(value: Any, mask: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, Mapping):
        return {key: _mask(item, mask) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_mask(item, mask) for item in value]
    return value


# Clever's user fields that identify a person (a user's `name` is {"first", "middle", "last"}).
PERSON_FIELDS: dict[str, Callable[[Any], str]] = {
    "first": mask_name, "middle": mask_name, "last": mask_name, "first_name": mask_name, "last_name": mask_name,
    "email": mask_email, "sis_id": mask_sis_id, "student_number": mask_sis_id, "state_id": mask_sis_id,
}  # fmt: skip


def mask_fields(value: Any) -> Any:
    """A Clever record (or a part of it, such as an event's previous attributes) with person fields masked."""
    if isinstance(value, Mapping):
        return {key: PERSON_FIELDS[key](item) if key in PERSON_FIELDS and isinstance(item, str) else mask_fields(item)
                for key, item in value.items()}  # fmt: skip
    if isinstance(value, list):
        return [mask_fields(item) for item in value]
    return value


def mask_json_fields(text: Any) -> Any:
    """`mask_fields` for a JSON text as the cache stores it (other values are returned as they are)."""
    if not isinstance(text, str) or not text.strip():
        return text
    try:
        return json.dumps(mask_fields(json.loads(text)), sort_keys=True)
    except ValueError:
        return text
