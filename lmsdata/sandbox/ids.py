"""Deterministic, sortable identifiers: 24-hex ObjectIDs, district tokens, assignment UUIDs.

An ObjectID here is `timestamp(8) district(6) kind(2) seq(8)`: ids of one kind in one district
sort in creation order, so Data API paging is a bisect, and any id says which district owns it.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from enum import IntEnum

_HEX24 = re.compile(r"^[0-9a-f]{24}$")


class Kind(IntEnum):
    DISTRICT = 0
    SCHOOL = 1
    TERM = 2
    SECTION = 3
    USER = 4
    EVENT = 5
    CONTACT = 6
    TOKEN = 7
    COURSE = 8
    RESOURCE = 9


def _epoch(seed: int) -> int:
    # A plausible ObjectID timestamp (2021-2023), different per seed so seeds never share ids.
    return 0x60000000 + (seed * 2654435761) % 0x04000000


def object_id(seed: int, district: int, kind: Kind, seq: int) -> str:
    return f"{_epoch(seed):08x}{district:06x}{int(kind):02x}{seq:08x}"


def parse_id(seed: int, value: str) -> tuple[int, Kind, int] | None:
    """(district index, kind, seq) for an id this sandbox issued, else None."""
    if not _HEX24.match(value) or int(value[:8], 16) != _epoch(seed):
        return None
    try:
        kind = Kind(int(value[14:16], 16))
    except ValueError:
        return None
    return int(value[8:14], 16), kind, int(value[16:], 16)


def district_token(seed: int, district: int) -> str:
    """A 40-hex bearer token, like Clever's district-app tokens."""
    return hashlib.sha1(f"lmsdata-sandbox:{seed}:{district}:token".encode()).hexdigest()


def assignment_uuid(seed: int, counter: int) -> str:
    digest = hashlib.sha256(f"lmsdata-sandbox:{seed}:assignment:{counter}".encode()).digest()
    return str(uuid.UUID(bytes=digest[:16], version=4))


def is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return len(value) == 36
