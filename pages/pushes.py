"""Failed pushes: why grades did not land, who fixes each kind, and safe retries with a result per push."""

from __future__ import annotations

import json

import pandas as pd
import streamlit as st

from lmsdata.access import Permission
from lmsdata.bundle import CLUSTER_PREFIX, cluster_key
from lmsdata.masking import mask_email, mask_name
from lmsdata.pushes.taxonomy import Category
from lmsdata.ui import budget, confirm, escalation, jobs, links, loaders, privacy, push_search, safe, widgets
from lmsdata.ui.context import Context
from lmsdata.ui.frame import show
from lmsdata.wording import lms_name, plural

RETRY_FLAG = "pushes_retry"
SHOWN_ROWS = 1000
TABLE_KEY = "pushes_table"
NAMED_IN_QUESTION = 10  # pushes named one by one in the retry question; the rest are counted


def category(slug: str) -> Category | None:
    try:
        return Category.from_slug(slug)
    except ValueError:
        return None


def render(ctx: Context) -> None:
    st.title("Failed pushes")
    confirm.last_outcome(RETRY_FLAG)
    push_search.find(ctx, lambda push_id: details(ctx, push_id, unmasked=False))
    groups = loaders.failed_by_category(ctx.db_path, ctx.data_version)
    if groups.empty:
        widgets.empty("No failed grade pushes: every grade that was pushed reached Clever. Nothing to do.")
        return
    summary(ctx, groups)
    clusters(ctx)
    listing(ctx, groups)


def summary(ctx: Context, groups: pd.DataFrame) -> None:
    total, ready = int(groups["pushes"].sum()), int(groups["ready"].sum())
    cols = st.columns(3)
    cols[0].metric("Failed or unknown", f"{total:,}")
    cols[1].metric("Look ready to retry", f"{ready:,}", help="The cache says the blocking condition is gone; "
                   "the retry checks again with Clever before sending.")
    cols[2].metric("Categories", groups["category"].nunique())
    st.subheader("By category and owner")
    st.caption("The owner is whoever unblocks the pushes now (the readiness check's, as in the list below): a grade "
               "waiting on a blocked create belongs to whoever unblocks the create, a push that looks ready is ours.")
    view = groups.assign(
        label=groups["category"].map(lambda c: category(c).label if category(c) else c),
        owner=groups["owner"].map(widgets.owner_label),
        next_step=[step or (category(c).next_step if category(c) else "")
                   for c, step in zip(groups["category"], groups["next_step"], strict=True)],
    )
    shown, times = widgets.with_times(view[["label", "owner", "pushes", "ready", "districts", "next_step", "oldest",
                                            "newest"]], {"oldest": "Oldest", "newest": "Newest"}, ctx.now)
    st.dataframe(
        shown,
        hide_index=True,
        column_config={"label": "Category", "owner": "Owner", "pushes": "Pushes", "ready": "Look ready",
                       "districts": "Districts",
                       "next_step": st.column_config.TextColumn("Next step", width="large"), **times},
    )


def clusters(ctx: Context) -> None:
    found = loaders.failure_clusters(ctx.db_path, ctx.data_version)
    st.subheader("The same error across districts")
    st.caption("An error in many districts at once points at Clever or an LMS (an outage, an API change); "
               "an error in one district points at that district's setup. HTTP 0: Clever did not answer (a timeout "
               "or a dropped connection).")
    view = found.assign(
        scope=[scope(n, c) for n, c in zip(found["districts"], found["category"], strict=True)],
        district_ids=found["district_ids"].map(", ".join),
        key=[cluster_key(row) for row in found.to_dict("records")],
        kind=found["kind"].map(widgets.state_label),
        lms_types=found["lms_types"].map(lambda types: ", ".join(lms_name(t) if t != "(none)" else t
                                                                 for t in types.split(", "))),
        last_status=widgets.http_status(found["last_status"]),
    )
    shown, times = widgets.with_times(
        view[["error", "last_status", "kind", "lms_types", "pushes", "districts", "scope", "first_seen", "last_seen",
              "district_ids", "key"]], {"first_seen": "First seen", "last_seen": "Last seen"}, ctx.now)
    st.dataframe(
        shown,
        hide_index=True,
        column_config={"error": "Error", "last_status": "HTTP", "lms_types": "LMS", "kind": "Operation",
                       "pushes": "Pushes", "districts": "Districts", "scope": "Points at",
                       "district_ids": "District IDs", "key": "Cluster", **times},
    )
    escalate(ctx, view)


def escalate(ctx: Context, view: pd.DataFrame) -> None:
    """A cluster's escalation bundle for Clever support (the cluster named by its key, not Clever's text)."""
    if view.empty:
        return
    labels = {row["key"]: " · ".join((row["key"], row["kind"], f"HTTP {_http(row['last_status'])}",
                                      plural(int(row["districts"]), "district"), plural(int(row["pushes"]), "push")))
              for row in view.to_dict("records")}
    chosen = st.selectbox("Escalate a cluster to Clever support", list(labels), format_func=labels.get,
                          index=None, placeholder="Choose a cluster", key="pushes_cluster_pick")
    if chosen:
        escalation.panel(ctx, f"{CLUSTER_PREFIX}{chosen}", key="cluster_bundle")


def _http(status: object) -> str:
    return "-" if status is None or pd.isna(status) else str(status)


def scope(districts: int, slug: str | None) -> str:
    """What the spread of one error suggests: Clever or an LMS failing, or districts' own setups."""
    if districts == 1:
        return "one district: its setup"
    if slug in ("transient", "unrecognized", None):
        return f"{districts} districts: likely a Clever or LMS outage"
    return f"{districts} districts, each its own setup"


def listing(ctx: Context, groups: pd.DataFrame) -> None:
    st.subheader("Pushes")
    names = loaders.district_names(ctx.db_path, ctx.data_version)
    c1, c2, c3 = st.columns([3, 3, 2])
    slugs = list(dict.fromkeys(groups["category"]))  # one row per category and owner: each category once
    links.seed("pushes_category", "category", many=True, choices=slugs)
    links.seed("pushes_district", "district", many=True, choices=names)
    links.seed("pushes_ready_only", "ready", flag=True)
    categories = tuple(c1.multiselect("Category", slugs, key="pushes_category",
                                      format_func=lambda c: category(c).label if category(c) else c))
    district_ids = tuple(c2.multiselect("District", list(names), format_func=names.get, key="pushes_district"))
    ready_only = c3.toggle("Only those that look ready", key="pushes_ready_only")
    for param, value in (("category", list(categories)), ("district", list(district_ids)), ("ready", ready_only)):
        links.keep(param, value)
    unmasked = privacy.bulk_toggle(ctx, "failed pushes: student names and e-mails", key="pushes_unmasked")
    rows = loaders.failed_pushes(ctx.db_path, ctx.data_version, district_ids=district_ids, categories=categories,
                                 ready_only=ready_only, limit=SHOWN_ROWS)
    if rows.empty:
        widgets.empty("No failed push matches these filters. Clear a filter to see more.")
        return
    view = pd.DataFrame(
        {
            "Push": rows["id"],
            "Ready": widgets.pills(rows["ready"].map(widgets.READY).fillna("unknown")),
            "Category": rows["category"].map(lambda c: category(c).label if c and category(c) else c or ""),
            # the readiness check's owner: a grade waiting on a blocked create belongs to whoever unblocks it
            "Owner": rows["ready_owner"].map(lambda o: widgets.owner_label(o) if isinstance(o, str) else ""),
            "District": rows["district"],
            "Section": rows["section"],
            "Student": privacy.mask_students(rows, everything=unmasked)["student"],
            "Operation": rows["kind"].map(widgets.state_label),
            # a push that waits on another one never reached Clever: no HTTP status to show
            "HTTP": widgets.http_status(rows["last_status"].where(rows["waits_on_push"].isna())),
            "Waits on": rows["waits_on_push"].map(lambda p: "" if pd.isna(p) else f"pushes?push={int(p)}"),
            "Clever said": rows["last_message"],
            "Attempts": rows["attempts"],
            "updated_at": rows["updated_at"],
        }
    )
    view, times = widgets.with_times(view, {"updated_at": "Last attempt"}, ctx.now)
    st.caption(f"{len(rows):,} pushes shown{' (the newest)' if len(rows) == SHOWN_ROWS else ''} · select rows to "
               "retry them or to see their attempts")
    event = st.dataframe(view, hide_index=True, on_select="rerun", selection_mode="multi-row",
                         key=widgets.selection_key(TABLE_KEY),
                         column_config={**times, "Ready": widgets.pill_column("Ready", widgets.READY_COLOURS),
                                        "Waits on": st.column_config.LinkColumn(
                                            display_text=r"\?push=(\d+)", help="The push this one waits on")})
    picked = [i for i in widgets.selected_rows(event) if i < len(rows)]
    chosen = [int(rows.iloc[i]["id"]) for i in picked]
    if ctx.can(Permission.RETRY):
        retry_buttons(ctx, groups, rows.iloc[picked], unmasked=unmasked)
        jobs.panel(ctx, ("bulk_retry",))
    linked = linked_push()
    if chosen:
        st.query_params["push"] = str(chosen[0])
        details(ctx, chosen[0], unmasked=unmasked, listed=rows)
    elif linked is not None:  # `/pushes?push=ID`: that push's details, even when filters hide its row
        details(ctx, linked, unmasked=unmasked, listed=rows)
    else:
        st.query_params.pop("push", None)


def linked_push() -> int | None:
    """The push a deep link names, on the session's first run only (later the selection says which)."""
    if st.session_state.get("pushes_link_opened"):
        return None
    st.session_state["pushes_link_opened"] = True
    value = st.query_params.get("push", "")
    return int(value) if value.isdigit() and len(value) < 19 else None


def retry_buttons(ctx: Context, groups: pd.DataFrame, chosen: pd.DataFrame, *, unmasked: bool) -> None:
    """The two retry buttons; the confirmation names every push it will touch, and clears the selection."""
    ready_total = int(groups["ready"].sum())
    left, right, _ = st.columns([2, 2, 4])
    if left.button(f"Retry selected ({len(chosen)})", disabled=chosen.empty, key="pushes_retry_selected"):
        confirm.ask(RETRY_FLAG, named_pushes(chosen, unmasked=unmasked))
    if right.button(f"Retry all that look ready ({ready_total:,})", disabled=not ready_total, key="pushes_retry_ready"):
        ready = loaders.failed_pushes(ctx.db_path, ctx.data_version, ready_only=True, limit=None)
        confirm.ask(RETRY_FLAG, named_pushes(ready, unmasked=unmasked))
    payload = confirm.pending(RETRY_FLAG)
    if payload:
        n = len(payload["push_ids"])
        budget.retry_note(ctx, payload["push_ids"])
        listed = "; ".join(payload["names"][:NAMED_IN_QUESTION])
        more = f"; and {n - NAMED_IN_QUESTION:,} more" if n > NAMED_IN_QUESTION else ""
        confirm.question(
            RETRY_FLAG,
            f"Retry {plural(n, 'push')} ({safe.text(listed)}{more})? Each is checked against Clever "
            "first: a push that is still blocked is skipped with its reason, and only the newest grade per student "
            f"and assignment is sent.{' It runs in the worker: follow it under Jobs.' if n > 1 else ''}",
            f"Retry {plural(n, 'push')}",
            lambda p: jobs.retry(ctx, p["push_ids"]),
            keep_label="Don't retry",
            after=lambda: widgets.clear_selection(TABLE_KEY),
        )


def named_pushes(rows: pd.DataFrame, *, unmasked: bool) -> dict[str, list]:
    """Push ids and how the question names each: 'push 142 · G. H. · essay-3' (student masked unless revealed)."""
    shown = privacy.mask_students(rows, everything=unmasked)
    names = [
        " · ".join(part for part in (f"push {int(row['id'])}", row.get("student"), row.get("assignment_key")) if part)
        for _, row in shown.iterrows()
    ]
    return {"push_ids": [int(i) for i in rows["id"]], "names": names}


def details(ctx: Context, push_id: int, *, unmasked: bool, listed: pd.DataFrame | None = None) -> None:
    """One push: its category, who unblocks it now (the readiness check's owner, as in its row), student,
    payload and attempts. `listed` are the rows on screen, which carry the readiness verdict."""
    push = loaders.push(ctx.db_path, ctx.data_version, push_id)
    if push is None:
        return
    student = {"name": push["student"], "email": push["student_email"]}
    visible = unmasked or not push["student_id"] or privacy.revealed(push["student_id"]) is not None
    with st.container(border=True):
        st.markdown(f"**Push {push_id}** · {safe.text(push['kind'])} · {safe.text(push['state'])} · "
                    f"{safe.text(push['district'])}")
        found = category(push["category"]) if push["category"] else None
        verdict = listed[listed["id"] == push_id] if listed is not None and "ready_owner" in listed else None
        if verdict is not None and not verdict.empty:  # the effective owner and step, as the row says
            now = verdict.iloc[0]
            label = found.label if found else "Failed"
            st.markdown(f"**{label}** — owner now: {widgets.owner_label(now['ready_owner'])}  \n"
                        f"{safe.text(now['ready_next_step'] or (found.next_step if found else ''))}")
        elif found:
            st.markdown(f"**{found.label}** — owner: {widgets.owner_label(found.owner)}  \n{found.next_step}")
        if push["student_id"] and visible:
            st.markdown(f"Student: **{safe.text(student['name'])}** · {safe.text(student['email'])} · "
                        f"{safe.text(push['student_id'])}")
        elif push["student_id"]:
            st.markdown(f"Student: **{safe.text(mask_name(student['name']))}** · "
                        f"{safe.text(mask_email(student['email']))}")
            privacy.reveal_button(ctx, push["student_id"], reason=f"push {push_id}", key=f"reveal_{push_id}")
        payload = json.loads(push["payload"] or "{}")
        st.json(payload if visible else privacy.mask_text(payload, student), expanded=False)
        attempts = loaders.push_attempts(ctx.db_path, ctx.data_version, push_id)
        if attempts.empty:
            widgets.empty("No attempt recorded for this push yet.")
        else:
            if not visible:
                attempts = attempts.assign(message=attempts["message"].map(lambda m: privacy.mask_text(m, student)))
            shown, labels = widgets.readable(attempts, ctx.now, {"id": "Attempt", "duration_ms": "Duration (ms)"})
            st.dataframe(shown, hide_index=True, column_config=labels)


show(render)
