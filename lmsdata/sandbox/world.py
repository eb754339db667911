"""The sandbox's mutable world: generated districts (bounded LRU) plus the overrides on top.

Only changes live in memory for good (`DistrictState`); a district's generated base can be evicted
and regenerated at any time. Every change to a Data API object records an event, as Clever does.
"""

from __future__ import annotations

import json
import threading
from bisect import bisect_left
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lmsdata.sandbox.data import (
    NOT_CONNECTED,
    Collection,
    DistrictBase,
    DistrictPlan,
    district_identity,
    generate_district,
    percentages,
    unwrap,
)
from lmsdata.sandbox.ids import Kind, district_token, object_id, parse_id
from lmsdata.sandbox.timefmt import iso, parse_iso

EVENT_RETENTION_S = 30 * 86400.0
_COUNT_KEY = {"student": "students", "teacher": "teachers"}


class UnknownObject(KeyError):
    """The control plane named a district, user, section or assignment that does not exist."""

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass
class DistrictState:
    """Everything that changed in one district since it was generated."""

    fields: dict[str, Any] = field(default_factory=dict)
    users: dict[str, dict[str, Any] | None] = field(default_factory=dict)  # None = deleted
    added_users: list[str] = field(default_factory=list)
    sections: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    launched: set[str] = field(default_factory=set)
    events: list[dict[str, Any]] = field(default_factory=list)
    count_delta: dict[str, list[int]] = field(
        default_factory=lambda: {"students": [0, 0], "teachers": [0, 0], "sections": [0, 0]}
    )
    version: int = 0


def role_of(user: dict[str, Any]) -> str:
    return next(iter(user.get("roles") or {"": None}))


def _synced(obj: dict[str, Any] | None) -> bool:
    status = (obj or {}).get("lms_status")
    return bool(status and status.get("synced_in_lms"))


class World:
    def __init__(self, seed: int, plans: list[DistrictPlan], clock: Callable[[], float],
                 cache_weight: int = 400_000) -> None:
        self.seed, self.plans, self.clock = seed, plans, clock
        self.started_at = clock()
        self.cache_weight = cache_weight
        self.lock = threading.RLock()
        self._cache: OrderedDict[int, tuple[DistrictBase, dict[Any, tuple[int, Collection]]]] = OrderedDict()
        self._cached_weight = 0
        self._generating: dict[int, threading.Lock] = {}
        self._states: dict[int, DistrictState] = {}
        self.tokens = [district_token(seed, p.index) for p in plans]
        self._token_index = {t: i for i, t in enumerate(self.tokens)}
        self.revoked: set[int] = set()
        self.generated = 0  # how many district generations ran (to show laziness)

    # ---- identity -----------------------------------------------------------------------
    def district_id(self, index: int) -> str:
        return object_id(self.seed, index, Kind.DISTRICT, 0)

    def index_of(self, district_id: str) -> int:
        parsed = parse_id(self.seed, district_id)
        if not parsed or parsed[1] != Kind.DISTRICT or parsed[0] >= len(self.plans) or parsed[2]:
            raise UnknownObject(f"unknown district {district_id!r}")
        return parsed[0]

    def index_for_token(self, token: str) -> int | None:
        index = self._token_index.get(token)
        return None if index is None or index in self.revoked else index

    def locate(self, object_id_: str, kind: Kind) -> int | None:
        """The district index that owns this id (if it is of that kind), else None."""
        parsed = parse_id(self.seed, object_id_)
        if not parsed or parsed[1] != kind or parsed[0] >= len(self.plans):
            return None
        return parsed[0]

    # ---- generated bases (bounded LRU) -----------------------------------------------------
    def _cached(self, index: int) -> tuple[DistrictBase, dict[Any, tuple[int, Collection]]] | None:
        with self.lock:
            entry = self._cache.get(index)
            if entry is not None:
                self._cache.move_to_end(index)
            return entry

    def _entry(self, index: int) -> tuple[DistrictBase, dict[Any, tuple[int, Collection]]]:
        """The district's generated base, generating it (once, outside the world lock) if needed."""
        entry = self._cached(index)
        if entry is not None:
            return entry
        with self.lock:
            generating = self._generating.setdefault(index, threading.Lock())
        with generating:
            entry = self._cached(index)
            if entry is not None:
                return entry
            base = generate_district(self.seed, self.plans[index], self.started_at)
            with self.lock:
                entry = (base, {})
                self.generated += 1
                self._cache[index] = entry
                self._cached_weight += base.weight
                while self._cached_weight > self.cache_weight and len(self._cache) > 1:
                    _, (old, _) = self._cache.popitem(last=False)
                    self._cached_weight -= old.weight
                return entry

    def base(self, index: int) -> DistrictBase:
        return self._entry(index)[0]

    def state(self, index: int) -> DistrictState:
        with self.lock:
            return self._states.setdefault(index, DistrictState())

    # ---- reads --------------------------------------------------------------------------
    def summary(self, index: int) -> dict[str, Any]:
        """Id, name and LMS fields without generating the district (for listings at any scale)."""
        plan = self.plans[index]
        with self.lock:
            state = self._states.get(index)
            fields = dict(state.fields) if state else {}
        return {"id": self.district_id(index), "name": district_identity(self.seed, index)[0],
                "lms_type": fields.get("lms_type", plan.lms_type),
                "lms_state": fields.get("lms_state", plan.lms_state)}

    def district(self, index: int) -> dict[str, Any]:
        base = self.base(index)
        with self.lock:
            state = self._states.get(index)
            obj = dict(base.district)
            counts = {k: list(v) for k, v in base.counts.items()}
            if state:
                obj.update(state.fields)
                for key, (matched, total) in state.count_delta.items():
                    counts[key][0] += matched
                    counts[key][1] += total
        obj["lms_matched_percentage"] = None if obj["lms_state"] in NOT_CONNECTED else percentages(counts)
        return obj

    def collection(self, index: int, name: str, role: str | None = None) -> Collection:
        """Ids and list items of schools/terms/sections/users/courses/resources as served now (overrides applied)."""
        base, views = self._entry(index)
        source = {"schools": base.schools, "terms": base.terms, "sections": base.sections,
                  "courses": base.courses, "resources": base.resources,
                  "users": base.users_by_role.get(role, Collection()) if role else base.users}[name]
        with self.lock:
            state = self._states.get(index)
            if state is None or name not in ("sections", "users"):
                return source
            cached = views.get((name, role))
            if cached and cached[0] == state.version:
                return cached[1]
            view = self._merge(source, name, role, state)
            views[(name, role)] = (state.version, view)
            return view

    def _merge(self, source: Collection, name: str, role: str | None, state: DistrictState) -> Collection:
        overrides = state.users if name == "users" else state.sections
        if not overrides and not state.added_users:
            return source
        out = Collection()
        for uid, blob in zip(source.ids, source.blobs, strict=True):
            if uid not in overrides:
                out.ids.append(uid)
                out.blobs.append(blob)
            elif (obj := overrides[uid]) is not None:
                out.add(name, obj)
        if name == "users":
            for uid in state.added_users:
                obj = state.users.get(uid)
                if obj is not None and role in (None, role_of(obj)):
                    out.add(name, obj)
        return out

    def _lookup(self, object_id_: str, kind: Kind) -> tuple[int, dict[str, Any]] | None:
        index = self.locate(object_id_, kind)
        if index is None:
            return None
        with self.lock:
            state = self._states.get(index)
            overrides = (state.users if kind == Kind.USER else state.sections) if state else {}
            if object_id_ in overrides:
                obj = overrides[object_id_]
                return None if obj is None else (index, json.loads(json.dumps(obj)))
        base = self.base(index)
        coll = {Kind.USER: base.users, Kind.SECTION: base.sections, Kind.SCHOOL: base.schools,
                Kind.TERM: base.terms, Kind.COURSE: base.courses, Kind.RESOURCE: base.resources}[kind]
        seq = int(object_id_[16:], 16)
        if kind in (Kind.COURSE, Kind.RESOURCE):  # only those in use are listed: the sequence is not the position
            seq = bisect_left(coll.ids, object_id_)
        if seq < len(coll.ids) and coll.ids[seq] == object_id_:
            return index, json.loads(unwrap(coll.blobs[seq]))
        return None

    def user(self, user_id: str) -> tuple[int, dict[str, Any]] | None:
        return self._lookup(user_id, Kind.USER)

    def section(self, section_id: str) -> tuple[int, dict[str, Any]] | None:
        return self._lookup(section_id, Kind.SECTION)

    def school(self, school_id: str) -> tuple[int, dict[str, Any]] | None:
        return self._lookup(school_id, Kind.SCHOOL)

    def term(self, term_id: str) -> tuple[int, dict[str, Any]] | None:
        return self._lookup(term_id, Kind.TERM)

    def course(self, course_id: str) -> tuple[int, dict[str, Any]] | None:
        return self._lookup(course_id, Kind.COURSE)

    def resource(self, resource_id: str) -> tuple[int, dict[str, Any]] | None:
        return self._lookup(resource_id, Kind.RESOURCE)

    def has_launched(self, index: int, user_id: str) -> bool:
        if user_id not in self.base(index).not_launched:
            return True
        with self.lock:
            state = self._states.get(index)
            return bool(state and user_id in state.launched)

    def events(self, index: int) -> list[dict[str, Any]]:
        """The district's event feed, oldest first, without events past the 30-day retention."""
        base = self.base(index)
        with self.lock:
            state = self._states.get(index)
            events = base.events + (state.events if state else [])
        cutoff = iso(self.clock() - EVENT_RETENTION_S)
        return [e for e in events if e["created"] >= cutoff]

    # ---- changes (each records its events) ------------------------------------------------
    def _emit(self, index: int, kind: str, obj: dict[str, Any],
              previous: dict[str, Any] | None = None) -> None:
        state = self.state(index)
        seq = len(self.base(index).events) + len(state.events)
        data: dict[str, Any] = {"object": obj}
        if previous is not None:
            data["previous_attributes"] = previous
        state.events.append({"id": object_id(self.seed, index, Kind.EVENT, seq), "type": kind,
                             "created": iso(self.clock()), "data": data})
        state.version += 1

    def _emit_district_diff(self, index: int, before: dict[str, Any]) -> None:
        after = self.district(index)
        previous = {k: v for k, v in before.items() if after.get(k) != v}
        if previous:
            self._emit(index, "districts.updated", after, previous)

    def set_lms_state(self, district_id: str, lms_state: str | None, lms_type: str | None = None) -> None:
        index = self.index_of(district_id)
        with self.lock:
            before = self.district(index)
            fields = self.state(index).fields
            fields["lms_state"] = lms_state
            if lms_type is not None:
                fields["lms_type"] = lms_type
            if lms_state in NOT_CONNECTED or lms_state == "pending_authorization":
                fields["last_lms_sync"] = None
            elif lms_state in ("success", "matching_in_progress", "initial_sync_processing"):
                fields["last_lms_sync"] = iso(self.clock())
            self._emit_district_diff(index, before)

    def set_last_lms_sync(self, district_id: str, at: str | None) -> None:
        """When the LMS last synced with Clever (None: never), so freshness can be tested without waiting."""
        if at is not None and not isinstance(at, str):
            raise TypeError("at must be an ISO 8601 time or null")
        index = self.index_of(district_id)
        stamp = None if at is None else iso(parse_iso(at))
        with self.lock:
            before = self.district(index)
            self.state(index).fields["last_lms_sync"] = stamp
            self._emit_district_diff(index, before)

    def _count(self, index: int, key: str | None, old: dict[str, Any] | None,
               new: dict[str, Any] | None) -> None:
        if key is None:
            return
        delta = self.state(index).count_delta[key]
        delta[0] += int(_synced(new)) - int(_synced(old))
        delta[1] += int(new is not None) - int(old is not None)

    def require(self, object_id_: str, kind: Kind) -> tuple[int, dict[str, Any]]:
        found = self._lookup(object_id_, kind)
        if found is None:
            raise UnknownObject(f"unknown {kind.name.lower()} {object_id_!r}")
        return found

    def _set_lms_status(self, object_id_: str, kind: Kind, synced: bool) -> None:
        """Match/unmatch a user or section: its event, then the district's new percentages."""
        with self.lock:
            index, obj = self.require(object_id_, kind)
            if obj.get("lms_status") == {"synced_in_lms": synced}:
                return
            before_district = self.district(index)
            previous = {"lms_status": obj.get("lms_status")}
            old = dict(obj)
            obj["lms_status"] = {"synced_in_lms": synced}
            obj["last_modified"] = iso(self.clock())
            state = self.state(index)
            if kind == Kind.USER:
                state.users[object_id_] = obj
                self._count(index, _COUNT_KEY.get(role_of(obj)), old, obj)
                self._emit(index, "users.updated", obj, previous)
            else:
                state.sections[object_id_] = obj
                self._count(index, "sections", old, obj)
                self._emit(index, "sections.updated", obj, previous)
            self._emit_district_diff(index, before_district)

    def set_user_matched(self, user_id: str, matched: bool) -> None:
        self._set_lms_status(user_id, Kind.USER, matched)

    def set_section_synced(self, section_id: str, synced: bool) -> None:
        self._set_lms_status(section_id, Kind.SECTION, synced)

    def mark_launched(self, user_id: str) -> None:
        with self.lock:
            index, _ = self.require(user_id, Kind.USER)
            self.state(index).launched.add(user_id)

    def add_user(self, district_id: str, role: str, section_ids: tuple[str, ...] | list[str]) -> dict[str, Any]:
        if role not in ("student", "teacher"):
            raise ValueError("role must be 'student' or 'teacher'")
        index = self.index_of(district_id)
        with self.lock:
            sections = []
            for sid in section_ids:
                found = self.section(sid)
                if found is None or found[0] != index:
                    raise UnknownObject(f"unknown section {sid!r} in district {district_id}")
                sections.append(found[1])
            base, state = self.base(index), self.state(index)
            before_district = self.district(index)
            seq = len(base.users.ids) + len(state.added_users)
            uid = object_id(self.seed, index, Kind.USER, seq)
            now = iso(self.clock())
            district = base.district
            connected = before_district["lms_state"] not in NOT_CONNECTED
            first, last = ("Jordan", "Newcomer") if role == "student" else ("Casey", "Newhire")
            domain = district["portal_url"].rsplit("/", 1)[-1]
            school = sections[0]["school"] if sections else base.schools.ids[0]
            number = f"{9000000 + seq}"
            role_fields: dict[str, Any] = {"school": school, "schools": [school], "sis_id": number,
                                           "state_id": None}
            role_fields.update({"student_number": number, "grade": "7"} if role == "student"
                               else {"district": district_id, "teacher_number": number, "title": "Teacher"})
            user = {"id": uid, "district": district_id,
                    "email": f"{first.lower()}.{last.lower()}{seq}@{domain}.org",
                    "name": {"first": first, "middle": None, "last": f"{last} {seq}"},
                    "created": now, "last_modified": now,
                    "lms_status": {"synced_in_lms": False} if connected else None,
                    "roles": {role: role_fields}}
            state.added_users.append(uid)
            state.users[uid] = user
            self._count(index, _COUNT_KEY[role], None, user)
            self._emit(index, "users.created", user)
            key = "students" if role == "student" else "teachers"
            for section in sections:
                previous = {key: list(section[key])}
                section[key].append(uid)
                if role == "teacher" and not section.get("teacher"):
                    section["teacher"] = uid
                section["last_modified"] = now
                state.sections[section["id"]] = section
                self._emit(index, "sections.updated", section, previous)
            self._emit_district_diff(index, before_district)
            return user

    def remove_user(self, user_id: str) -> None:
        with self.lock:
            index, user = self.require(user_id, Kind.USER)
            before_district = self.district(index)
            state = self.state(index)
            needle = user_id.encode()
            now = iso(self.clock())
            sections = self.collection(index, "sections")
            for sid, blob in zip(list(sections.ids), list(sections.blobs), strict=True):
                if needle not in blob:
                    continue
                section = json.loads(unwrap(blob))
                previous = {k: list(section[k]) for k in ("students", "teachers") if user_id in section[k]}
                for key in previous:
                    section[key].remove(user_id)
                if section.get("teacher") == user_id:
                    previous["teacher"] = user_id
                    section["teacher"] = section["teachers"][0] if section["teachers"] else None
                section["last_modified"] = now
                state.sections[sid] = section
                self._emit(index, "sections.updated", section, previous)
            state.users[user_id] = None
            self._count(index, _COUNT_KEY.get(role_of(user)), user, None)
            self._emit(index, "users.deleted", user)
            self._emit_district_diff(index, before_district)

    def revoke_token(self, district_id: str) -> None:
        with self.lock:
            self.revoked.add(self.index_of(district_id))

    def restore_token(self, district_id: str) -> None:
        with self.lock:
            self.revoked.discard(self.index_of(district_id))
