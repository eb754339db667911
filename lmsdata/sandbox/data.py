"""Deterministic rosters: each district is generated on demand from (seed, district index).

Nothing here is mutable or stored globally, so `large` costs nothing until a district is asked
for, and an evicted district comes back byte-identical. Items are pre-serialised as the Data API's
wrapped list items (`{"data": …, "uri": …}`) so a 10000-item page is one `bytes.join`.
"""

from __future__ import annotations

import json
import random
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from lmsdata.sandbox import names
from lmsdata.sandbox.ids import Kind, district_token, object_id
from lmsdata.sandbox.timefmt import iso

DAY = 86400.0
ROLES = ("district_admin", "staff", "teacher", "student")
NOT_CONNECTED = ("", None)
STATE_VALUES = (
    "initial_sync_processing",
    "pending_authorization",
    "matching_in_progress",
    "error",
    "disconnected",
    "",
    "success",
    None,
)
_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
# A course's sequence number is its place in this list, so its id needs no random draw: the rest of the
# world is what it was before courses existed. Resources: a few per district, each for some courses.
COURSE_NAMES = tuple(course for _, courses in names.COURSES for course in courses)
RESOURCES = (("Practice problem sets", ("student", "teacher")), ("Reading library", ("student", "teacher")),
             ("Teacher guide", ("teacher",)))


def resource_of_course(course_seq: int) -> int:
    """Which resource (index in RESOURCES) a course carries: each course has one, each resource several."""
    return course_seq % len(RESOURCES)


@dataclass(frozen=True)
class DistrictPlan:
    """What a district looks like before it is generated (cheap: one per district at start)."""

    index: int
    users: int
    lms_state: str | None
    lms_type: str | None
    profile: str  # healthy | gaps (how well Clever matched its LMS)
    stale: bool  # last_lms_sync days old


# (lms_state, lms_type, profile, stale): the demo's twelve districts, every lms_state and LMS.
_DEMO_PATTERN: tuple[tuple[str | None, str | None, str, bool], ...] = (
    ("success", "canvas", "healthy", False),
    ("success", "google_classroom", "gaps", False),
    ("success", "schoology", "gaps", False),
    ("matching_in_progress", "canvas", "gaps", False),
    ("success", "canvas", "healthy", True),
    ("error", "schoology", "gaps", True),
    ("", "", "gaps", False),
    ("pending_authorization", "google_classroom", "gaps", False),
    ("initial_sync_processing", "canvas", "gaps", False),
    ("disconnected", "schoology", "healthy", True),
    (None, None, "gaps", False),
    ("success", "schoology", "healthy", False),
)
_TINY_PATTERN = (
    ("success", "canvas", "gaps", False),
    ("success", "schoology", "gaps", False),
    ("matching_in_progress", "google_classroom", "gaps", False),
)
SCALES = ("tiny", "demo", "large")
LARGE_DISTRICTS = 520
LARGE_BIG_DISTRICTS = 9


def plan_districts(seed: int, scale: str) -> list[DistrictPlan]:
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; use one of {', '.join(SCALES)}")
    rng = random.Random(f"plan:{seed}:{scale}")
    if scale == "tiny":
        return [DistrictPlan(i, rng.randint(13, 17), *p) for i, p in enumerate(_TINY_PATTERN)]
    if scale == "demo":
        return [DistrictPlan(i, rng.randint(120, 550), *p) for i, p in enumerate(_DEMO_PATTERN)]
    big = set(rng.sample(range(len(_DEMO_PATTERN), LARGE_DISTRICTS), LARGE_BIG_DISTRICTS))
    plans = []
    for i in range(LARGE_DISTRICTS):
        size = rng.randint(52_000, 80_000) if i in big else rng.randint(200, 1_900)
        if i < len(_DEMO_PATTERN):
            plans.append(DistrictPlan(i, size, *_DEMO_PATTERN[i]))
            continue
        state = rng.choices(
            ["success", "matching_in_progress", "error", "disconnected", "", None,
             "pending_authorization", "initial_sync_processing"],
            weights=[60, 8, 5, 4, 8, 3, 6, 6],
        )[0]
        lms = rng.choices(["canvas", "google_classroom", "schoology"], weights=[45, 30, 25])[0]
        if state in NOT_CONNECTED:
            lms = state
        profile = "healthy" if rng.random() < 0.7 else "gaps"
        plans.append(DistrictPlan(i, size, state, lms, profile, rng.random() < 0.1))
    return plans


ROLLOVER_DAYS = {1: 3, 3: 12}  # district index % 5 -> days since its new term started (term readiness demo)


def district_identity(seed: int, index: int) -> tuple[str, str]:
    """(name, e-mail domain) without generating the district, so listings stay cheap at any scale.

    Towns are dealt without repeats (seed-shuffled); past the list, a number keeps names unique.
    """
    towns = list(names.TOWNS)
    random.Random(f"towns:{seed}").shuffle(towns)
    town = towns[index % len(towns)]
    number = index // len(towns) + 1
    suffix = random.Random(f"suffix:{seed}:{index}").choice(names.DISTRICT_SUFFIXES)
    initials = "".join(word[0] for word in suffix.split()).lower()
    tail = f" {number}" if number > 1 else ""
    return f"{town} {suffix}{tail}", f"{town.lower()}{initials}{tail.strip()}.org"


def percentages(counts: dict[str, list[int]]) -> dict[str, float]:
    """lms_matched_percentage from the matched/total counts, 0-100 with one decimal."""
    return {k: round(100.0 * m / t, 1) if t else 0.0 for k, (m, t) in counts.items()}


def wrap(collection: str, obj: dict[str, Any]) -> bytes:
    return b'{"data":' + _dumps(obj).encode() + f',"uri":"/v3.1/{collection}/{obj["id"]}"}}'.encode()


def unwrap(blob: bytes) -> bytes:
    """The object JSON inside a wrapped list item (the uri tail has a fixed shape)."""
    return blob[8 : blob.rindex(b',"uri":"/v3.1/')]


@dataclass
class Collection:
    """Ids in ascending order beside their pre-serialised list items."""

    ids: list[str] = field(default_factory=list)
    blobs: list[bytes] = field(default_factory=list)

    def add(self, collection: str, obj: dict[str, Any]) -> None:
        self.ids.append(obj["id"])
        self.blobs.append(wrap(collection, obj))


@dataclass
class DistrictBase:
    """One generated district: the immutable starting point that overrides apply on top of."""

    index: int
    id: str
    token: str
    district: dict[str, Any]  # without lms_matched_percentage (derived from counts)
    schools: Collection
    terms: Collection
    sections: Collection
    courses: Collection
    resources: Collection
    users: Collection
    users_by_role: dict[str, Collection]
    counts: dict[str, list[int]]  # {"students": [matched, total], "teachers": …, "sections": …}
    not_launched: frozenset[str]  # Schoology students who never opened the app's LTI link
    events: list[dict[str, Any]]
    weight: int  # users, for the LRU budget


class _Generator:
    """Builds one district. Split into steps so each stays readable."""

    def __init__(self, seed: int, plan: DistrictPlan, started_at: float) -> None:
        self.seed, self.plan, self.now = seed, plan, started_at
        self.rng = random.Random(f"district:{seed}:{plan.index}")
        self.did = object_id(seed, plan.index, Kind.DISTRICT, 0)
        self.created = iso(started_at - self.rng.uniform(300, 900) * DAY)
        self.seqs = dict.fromkeys(Kind, 0)
        self.year = int(iso(started_at)[:4])
        self.name, self.domain = district_identity(seed, plan.index)

    def next_id(self, kind: Kind) -> str:
        seq = self.seqs[kind]
        self.seqs[kind] = seq + 1
        return object_id(self.seed, self.plan.index, kind, seq)

    def person(self) -> tuple[str, str, str | None]:
        rng = self.rng
        middle = rng.choice(names.FIRST_NAMES)[0] if rng.random() < 0.4 else None
        return rng.choice(names.FIRST_NAMES), rng.choice(names.LAST_NAMES), middle

    def lms_flag(self, rate: float) -> bool | None:
        state = self.plan.lms_state
        if state in NOT_CONNECTED:
            return None
        if state in ("pending_authorization", "initial_sync_processing"):
            return False
        return self.rng.random() < rate

    def rates(self) -> tuple[float, float, float]:
        rng = self.rng
        if self.plan.lms_state == "matching_in_progress":
            return rng.uniform(0.3, 0.8), rng.uniform(0.5, 0.9), rng.uniform(0.3, 0.8)
        if self.plan.profile == "healthy":
            return rng.uniform(0.97, 1.0), rng.uniform(0.98, 1.0), rng.uniform(0.95, 1.0)
        return rng.uniform(0.7, 0.9), rng.uniform(0.85, 0.97), rng.uniform(0.75, 0.92)

    def build(self) -> DistrictBase:
        plan, rng = self.plan, self.rng
        n_admin = 1
        n_staff = max(1, plan.users // 400)
        n_teachers = max(2, plan.users // 18)
        n_students = max(4, plan.users - n_admin - n_staff - n_teachers)
        student_rate, teacher_rate, section_rate = self.rates()

        schools = self.schools(max(1, n_students // 450))
        terms = self.terms()
        users = Collection()
        by_role = {role: Collection() for role in ROLES}
        counts = {"students": [0, 0], "teachers": [0, 0], "sections": [0, 0]}

        def add_user(obj: dict[str, Any], role: str) -> None:
            users.add("users", obj)
            by_role[role].blobs.append(users.blobs[-1])
            by_role[role].ids.append(obj["id"])

        for _ in range(n_admin):
            add_user(self.staff_user(schools, "district_admin"), "district_admin")
        for _ in range(n_staff):
            add_user(self.staff_user(schools, "staff"), "staff")

        teacher_ids: list[str] = []
        teacher_school: list[int] = []
        for t in range(n_teachers):
            school = t % len(schools)
            flag = self.lms_flag(teacher_rate)
            counts["teachers"][1] += 1
            counts["teachers"][0] += flag is True
            obj = self.teacher(schools[school], flag)
            teacher_ids.append(obj["id"])
            teacher_school.append(school)
            add_user(obj, "teacher")

        per_teacher = 2 if plan.users < 40 else 3
        section_specs = [(t, k) for t in range(n_teachers) for k in range(per_teacher)]
        section_ids = [self.next_id(Kind.SECTION) for _ in section_specs]
        section_flags = [self.lms_flag(section_rate) for _ in section_specs]
        sections_of_school: dict[int, list[int]] = {}
        for pos, (t, _) in enumerate(section_specs):
            sections_of_school.setdefault(teacher_school[t], []).append(pos)

        members: list[list[str]] = [[] for _ in section_specs]
        student_ids = [self.next_id(Kind.USER) for _ in range(n_students)]
        student_schools = [s % len(schools) for s in range(n_students)]
        for s, uid in enumerate(student_ids):
            options = sections_of_school.get(student_schools[s]) or list(range(len(section_specs)))
            for pos in rng.sample(options, min(4, len(options))):
                members[pos].append(uid)
        flags = [self.lms_flag(student_rate) for _ in student_ids]
        anchor = members[0][0] if members[0] else None
        if plan.lms_state not in NOT_CONNECTED and plan.profile == "gaps":
            self.enforce_gaps(section_flags, flags, student_ids.index(anchor) if anchor else None)
        not_launched = self.pick_not_launched(student_ids, flags, anchor)
        for s, uid in enumerate(student_ids):
            counts["students"][1] += 1
            counts["students"][0] += flags[s] is True
            add_user(self.student(uid, schools[student_schools[s]], flags[s]), "student")

        sections = Collection()
        for pos, (t, k) in enumerate(section_specs):
            flag = section_flags[pos]
            counts["sections"][1] += 1
            counts["sections"][0] += flag is True
            sections.add("sections", self.section(
                section_ids[pos], schools[teacher_school[t]], terms, teacher_ids[t], k,
                members[pos], flag,
            ))

        district = self.district()
        courses = self.courses(sections)
        return DistrictBase(
            index=plan.index, id=self.did, token=district_token(self.seed, plan.index),
            district=district, schools=self.collect("schools", schools),
            terms=self.collect("terms", terms), sections=sections, courses=courses,
            resources=self.resources(courses), users=users,
            users_by_role=by_role, counts=counts, not_launched=not_launched,
            events=self.history(district, counts), weight=len(users.ids) + len(sections.ids),
        )

    def enforce_gaps(self, section_flags: list[bool | None], flags: list[bool | None],
                     anchor: int | None) -> None:
        """A district with gaps has a usable first section and student, and a gap of each kind."""
        synced = self.plan.lms_state not in ("pending_authorization", "initial_sync_processing")
        if synced:
            section_flags[0] = True
            if anchor is not None:
                flags[anchor] = True
        if len(section_flags) > 1:
            section_flags[-1] = False
        last = len(flags) - 1
        flags[last if last != anchor else last - 1] = False

    def pick_not_launched(self, ids: list[str], flags: list[bool | None],
                          anchor: str | None) -> frozenset[str]:
        if self.plan.lms_type != "schoology":
            return frozenset()
        matched = [uid for uid, flag in zip(ids, flags, strict=True) if flag and uid != anchor]
        chosen = {uid for uid in matched if self.rng.random() < 0.1}
        if not chosen and matched:
            chosen.add(matched[-1])
        return frozenset(chosen)

    def collect(self, collection: str, objs: list[dict[str, Any]]) -> Collection:
        out = Collection()
        for obj in objs:
            out.add(collection, obj)
        return out

    def courses(self, sections: Collection) -> Collection:
        """The courses the district's sections belong to, ascending (their ids follow COURSE_NAMES)."""
        used = sorted({json.loads(unwrap(blob))["course"] for blob in sections.blobs})
        return self.collect("courses", [{
            "id": cid, "district": self.did, "name": COURSE_NAMES[int(cid[16:], 16)],
            "number": f"C{101 + int(cid[16:], 16)}",
        } for cid in used])

    def resources(self, courses: Collection) -> Collection:
        """The resources the district's courses carry (so each reaches some sections and users)."""
        carried = {resource_of_course(int(cid[16:], 16)) for cid in courses.ids}
        return self.collect("resources", [{
            "id": object_id(self.seed, self.plan.index, Kind.RESOURCE, k), "district": self.did,
            "resource_id": f"lmsdata-{k + 1}", "title": title, "roles": list(roles),
            "created": self.created, "updated": self.created,
        } for k, (title, roles) in enumerate(RESOURCES) if k in carried])

    def district(self) -> dict[str, Any]:
        plan, rng = self.plan, self.rng
        first, last, middle = self.person()
        sis_state = rng.choices(["success", "running", "error", "pending", "paused"],
                                weights=[85, 6, 3, 4, 2])[0]
        errors = {"error": "Sync failed: the SIS export is missing sections.csv",
                  "pending": "Action needed: 14 students are missing a school"}
        if plan.lms_state in NOT_CONNECTED or plan.lms_state == "pending_authorization":
            last_lms_sync = None
        elif plan.stale or plan.lms_state in ("error", "disconnected"):
            last_lms_sync = iso(self.now - rng.uniform(3, 12) * DAY)
        else:
            last_lms_sync = iso(self.now - rng.uniform(300, 10800))
        contact_email = None if plan.lms_state is None else f"{first[0].lower()}{last.lower()}@{self.domain}"
        return {
            "id": self.did,
            "name": self.name,
            "sis_type": rng.choice(names.SIS_TYPES),
            "state": sis_state,
            "error": errors.get(sis_state, ""),
            "last_sync": iso(self.now - rng.uniform(1800, 30000)),
            "last_attendance_sync": None,
            "launch_date": iso(self.now - rng.uniform(200, 700) * DAY)[:10],
            "pause_start": None,
            "pause_end": None,
            "portal_url": f"https://clever.com/in/{self.domain.split('.')[0]}",
            "login_methods": sorted(rng.sample(names.LOGIN_METHODS, 2)),
            "mdr_number": None,
            "nces_id": f"{rng.randint(1, 56):02d}{rng.randint(0, 99999):05d}",
            "district_contact": {
                "id": object_id(self.seed, plan.index, Kind.CONTACT, 0),
                "district": self.did,
                "email": contact_email,
                "name": {"first": first, "middle": middle, "last": last},
                "title": rng.choice(names.STAFF_TITLES),
            },
            "lms_type": plan.lms_type,
            "lms_state": plan.lms_state,
            "last_lms_sync": last_lms_sync,
        }

    def history(self, district: dict[str, Any], counts: dict[str, list[int]]) -> list[dict[str, Any]]:
        """One `districts.updated` event for how the district reached its current lms_state."""
        previous = {
            "success": "matching_in_progress", "matching_in_progress": "initial_sync_processing",
            "initial_sync_processing": "pending_authorization", "pending_authorization": "",
            "error": "success", "disconnected": "success",
        }.get(self.plan.lms_state or "")
        if previous is None:
            return []
        obj = dict(district)
        obj["lms_matched_percentage"] = percentages(counts)
        return [{
            "id": object_id(self.seed, self.plan.index, Kind.EVENT, 0),
            "type": "districts.updated",
            "created": iso(self.now - self.rng.uniform(0.2, 2) * DAY),
            "data": {"object": obj, "previous_attributes": {"lms_state": previous}},
        }]

    def schools(self, count: int) -> list[dict[str, Any]]:
        rng, out = self.rng, []
        for n in range(count):
            kind, low, high = names.SCHOOL_KINDS[n % len(names.SCHOOL_KINDS)]
            first, last, _ = self.person()
            sis = f"{100 + n}"
            out.append({
                "id": self.next_id(Kind.SCHOOL), "district": self.did,
                "name": f"{rng.choice(names.SCHOOL_NAMES)} {kind}", "school_number": sis,
                "sis_id": sis, "state_id": f"ST{rng.randint(10000, 99999)}", "nces_id": None,
                "mdr_number": None, "low_grade": low, "high_grade": high,
                "phone": f"({rng.randint(201, 989)}) 555-{rng.randint(1000, 9999)}",
                "location": {"address": f"{rng.randint(10, 9999)} {rng.choice(names.LAST_NAMES)} Ave",
                             "city": self.name.split()[0], "state": "CA", "zip": f"{rng.randint(10000, 99999)}",
                             "lat": None, "lon": None},
                "principal": {"name": f"{first} {last}", "email": f"{first[0].lower()}{last.lower()}@{self.domain}"},
                "created": self.created, "last_modified": self.created, "ext": {},
            })
        return out

    def terms(self) -> list[dict[str, Any]]:
        year = int(iso(self.now - 200 * DAY)[:4])
        spans = ((f"Fall {year}", f"{year}-08-15", f"{year}-12-20"),
                 (f"Spring {year + 1}", f"{year + 1}-01-06", f"{year + 1}-06-05"))
        rollover = ROLLOVER_DAYS.get(self.plan.index % 5)  # a few districts are in a new term's first weeks
        if rollover is not None:
            start = self.now - rollover * DAY
            spans = (spans[0], (f"New term {year + 1}", iso(start)[:10], iso(start + 150 * DAY)[:10]))
        return [{"id": self.next_id(Kind.TERM), "district": self.did, "name": name,
                 "start_date": f"{start}T00:00:00.000Z", "end_date": f"{end}T00:00:00.000Z"}
                for name, start, end in spans]

    def base_user(self, flag: bool | None, email: str | None, first: str, last: str,
                  middle: str | None, uid: str | None = None) -> dict[str, Any]:
        return {
            "id": uid or self.next_id(Kind.USER), "district": self.did, "email": email,
            "name": {"first": first, "middle": middle, "last": last},
            "created": self.created, "last_modified": self.created,
            "lms_status": None if flag is None else {"synced_in_lms": flag},
        }

    def staff_user(self, schools: list[dict[str, Any]], role: str) -> dict[str, Any]:
        first, last, middle = self.person()
        obj = self.base_user(None, f"{first[0].lower()}{last.lower()}@{self.domain}", first, last, middle)
        title = self.rng.choice(names.STAFF_TITLES)
        if role == "district_admin":
            obj["roles"] = {"district_admin": {"title": title}}
        else:
            obj["roles"] = {"staff": {"schools": [s["id"] for s in schools[:3]],
                                      "staff_id": f"E{self.rng.randint(10000, 99999)}", "title": title,
                                      "department": "Technology", "roles": ["staff"],
                                      "credentials": {"district_username": f"{first[0]}{last}".lower()}}}
        return obj

    def teacher(self, school: dict[str, Any], flag: bool | None) -> dict[str, Any]:
        first, last, middle = self.person()
        number = f"T{self.rng.randint(100000, 999999)}"
        obj = self.base_user(flag, f"{first[0].lower()}{last.lower()}{number[-3:]}@{self.domain}",
                             first, last, middle)
        obj["roles"] = {"teacher": {
            "district": self.did, "school": school["id"], "schools": [school["id"]],
            "sis_id": number, "state_id": None, "teacher_number": number,
            "title": self.rng.choice(("Teacher", "Lead Teacher", "Instructor")),
            "credentials": {"district_username": f"{first[0]}{last}{number[-3:]}".lower()},
        }}
        return obj

    def student(self, uid: str, school: dict[str, Any], flag: bool | None) -> dict[str, Any]:
        rng = self.rng
        first, last, middle = self.person()
        number = f"{rng.randint(1000000, 9999999)}"
        grades = {"Kindergarten": ("Kindergarten", "1", "2", "3", "4", "5"),
                  "6": ("6", "7", "8"), "9": ("9", "10", "11", "12")}[school["low_grade"]]
        grade = rng.choice(grades)
        level = 0 if grade == "Kindergarten" else int(grade)
        year = self.year
        email = None if level < 3 and rng.random() < 0.5 else \
            f"{first.lower()}.{last.lower()}{number[-4:]}@students.{self.domain}".replace("'", "")
        obj = self.base_user(flag, email, first, last, middle, uid)
        obj["roles"] = {"student": {
            "school": school["id"], "schools": [school["id"]], "sis_id": number,
            "state_id": f"{rng.randint(100000000, 999999999)}", "student_number": number,
            "grade": grade, "graduation_year": str(year + 12 - level),
            "dob": f"{rng.randint(1, 12)}/{rng.randint(1, 28)}/{year - 6 - level}",
            "gender": rng.choice(("F", "M", "X")), "ell_status": rng.choice(("N", "N", "N", "Y")),
            "credentials": {"district_username": f"{first[0]}{last}{number[-4:]}".lower()},
        }}
        return obj

    def section(self, sid: str, school: dict[str, Any], terms: list[dict[str, Any]], teacher: str,
                period: int, students: list[str], flag: bool | None) -> dict[str, Any]:
        subject, courses = self.rng.choice(names.COURSES)
        course = self.rng.choice(courses)
        return {
            "id": sid, "district": self.did, "school": school["id"],
            "course": object_id(self.seed, self.plan.index, Kind.COURSE, COURSE_NAMES.index(course)),
            "term_id": terms[period % len(terms)]["id"],
            "name": f"{course} - Period {period + 1}", "period": str(period + 1),
            "section_number": f"{period + 1:02d}", "sis_id": f"SEC-{sid[-6:]}",
            "subject": subject, "grade": section_grade(course, sid, school), "teacher": teacher,
            "teachers": [teacher], "students": students, "created": self.created,
            "last_modified": self.created, "ext": {},
            "lms_status": None if flag is None else {"synced_in_lms": flag},
        }


def generate_district(seed: int, plan: DistrictPlan, started_at: float) -> DistrictBase:
    return _Generator(seed, plan, started_at).build()


def section_grade(course: str, sid: str, school: Mapping[str, Any]) -> str:
    """A grade that fits the course and the school: "Math 7" is grade 7; others take one of the
    school's grades, chosen from the section id (not the random stream, so the rest of the world stays)."""
    low = 0 if school["low_grade"] == "Kindergarten" else int(school["low_grade"])
    high = int(school["high_grade"])
    named = [int(word) for word in course.split() if word.isdigit() and low <= int(word) <= high]
    level = named[0] if named else low + zlib.crc32(sid.encode()) % (high - low + 1)
    return "Kindergarten" if level == 0 else str(level)
