"""Escalation bundles (issue 12): every listed part is there, and no token, secret, student name or
student e-mail is, in any file of the ZIP (searched for every token of the sandbox that built the
cache and every student of the cache). Sending goes through the real SMTP sink and is audited."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from lmsdata import bundle, demo, queries
from lmsdata.access import AccessDenied, Principal, Role
from lmsdata.audit import entries
from lmsdata.cli import cli
from lmsdata.db import connect
from lmsdata.mail import Mailer, MailError, MailSink


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, list[str], str]]:
    """The demo cache; every token and secret of its sandbox; a district with failed pushes, one of
    which now names its student (in the grade comment and in Clever's answer) as a partner's might."""
    path = tmp_path_factory.mktemp("bundle") / "demo.db"
    env = demo.start(path)
    try:
        demo.build(env)
        secrets = [*env.sandbox.world.tokens, demo.DEMO_CLIENT_SECRET]
    finally:
        env.close()
    with connect(path) as db, db.conn:
        district_id, push_id, first, last, email = db.execute(
            "SELECT p.district_id, p.id, u.first_name, u.last_name, u.email FROM pushes p "
            "JOIN users u ON u.id = p.student_id WHERE p.state = 'failed' AND u.email IS NOT NULL "
            "ORDER BY p.id LIMIT 1").fetchone()
        payload = {"grade_points": 9, "grade_comment": f"Great work, {first} {last}! Write to {email}."}
        db.execute("UPDATE pushes SET payload = ?, last_message = ? WHERE id = ?",
                   [json.dumps(payload), f"User {email} ({first} {last}) not found", push_id])
        db.execute("UPDATE push_attempts SET message = ? WHERE push_id = ?",
                   [f"User {email} ({first} {last}) not found; token {secrets[0]}", push_id])
    yield path, secrets, str(district_id)


def students(path: Path) -> list[tuple[str, str]]:
    """Every student's full name and e-mail in the cache."""
    with connect(path) as db:
        return [(f"{f} {la}", e or "") for f, la, e in db.execute(
            "SELECT first_name, last_name, email FROM users WHERE role = 'student'")]


def unzip(data: bytes) -> dict[str, str]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name).decode() for name in archive.namelist()}


def test_a_district_bundle_has_every_part(built: tuple[Path, list[str], str]) -> None:
    path, _, district_id = built
    with connect(path) as db:
        made = bundle.for_district(db, district_id)
        district = db.execute("SELECT name, lms_type, lms_state FROM districts WHERE id = ?", [district_id]).fetchone()
        snapshots = db.execute("SELECT COUNT(*) FROM district_history WHERE district_id = ?", [district_id]).fetchone()
    files = unzip(made.zip_bytes())
    assert sorted(files) == sorted(bundle.FILES)
    facts = json.loads(files["district.json"])["district"]
    assert (facts["id"], facts["name"], facts["lms_type"], facts["lms_state"]) == (district_id, *district)
    assert {"last_lms_sync", "matched_students", "matched_teachers", "matched_sections"} <= set(facts)
    history = list(csv.DictReader(io.StringIO(files["history.csv"])))
    assert len(history) == snapshots[0] > 1 and history[0]["matched_students"] != ""
    unmatched = list(csv.DictReader(io.StringIO(files["unmatched.csv"])))
    assert [u["role"] for u in unmatched] == ["student", "teacher"]
    for row in unmatched:  # the sample ids are real unmatched users of this district
        assert len(row["sample_clever_ids"].split()) == min(int(row["unmatched"]), bundle.SAMPLES)
    assert "section_id" in files["unsynced_sections.csv"]
    attempts = json.loads(files["failed_attempts.json"])
    assert 0 < len(attempts) <= bundle.ATTEMPTS
    assert {"started_at", "http_status", "request_body", "response_body", "push_id"} <= set(attempts[0])
    assert attempts == sorted(attempts, key=lambda a: a["started_at"], reverse=True)
    assert district_id in made.summary and made.summary == files["summary.md"]


def test_no_bundle_file_holds_a_token_secret_student_name_or_email(built: tuple[Path, list[str], str]) -> None:
    path, secrets, district_id = built
    people = students(path)
    assert len(people) > 100 and len(secrets) > 5
    with connect(path) as db:
        bundles = [bundle.for_district(db, district_id)]
        bundles += [bundle.for_cluster(db, bundle.cluster_key(c))
                    for c in queries.failure_clusters(db).to_dict("records")]
    masked_comment = False
    for made in bundles:
        for name, text in unzip(made.zip_bytes()).items():
            for secret in secrets:
                assert secret not in text, (made.subject, name)
            for full_name, email in people:
                assert full_name not in text, (made.subject, name, full_name)
                assert not email or email not in text, (made.subject, name, email)
            masked_comment = masked_comment or "Great work, " in text
    assert masked_comment  # the planted payload is in a bundle, masked: the check above saw it


def test_a_cluster_bundle_covers_each_of_its_districts(built: tuple[Path, list[str], str]) -> None:
    path, _, _ = built
    with connect(path) as db:
        widest = queries.failure_clusters(db).iloc[0].to_dict()
        made = bundle.for_cluster(db, "cluster:" + bundle.cluster_key(widest))
    about = json.loads(made.files["district.json"])
    assert sorted(d["id"] for d in about["districts"]) == sorted(widest["district_ids"])
    assert about["cluster"]["error"] == widest["error"] and about["cluster"]["pushes"] == widest["pushes"]
    attempts = json.loads(made.files["failed_attempts.json"])
    assert attempts and {a["district_id"] for a in attempts} <= set(widest["district_ids"])
    assert {a["kind"] for a in attempts} == {widest["kind"]}
    with connect(path) as db, pytest.raises(bundle.BundleError):
        bundle.for_cluster(db, "cluster:000000000000")


def test_sending_reaches_the_address_with_the_zip_and_is_audited(built: tuple[Path, list[str], str]) -> None:
    path, _, district_id = built
    with connect(path) as db:
        made = bundle.for_district(db, district_id)
    viewer = Principal("viv@partner.example", Role.VIEWER)
    with MailSink() as sink:
        with pytest.raises(AccessDenied):
            bundle.send(path, viewer, made, mailer=Mailer.from_url(sink.url), to="support@clever.example",
                        mail_from="health@partner.example")
        bundle.send(path, Principal("op@partner.example", Role.OPERATOR), made, mailer=Mailer.from_url(sink.url),
                    to="support@clever.example", mail_from="health@partner.example")
        [message] = sink.messages
    assert message["To"] == "support@clever.example"
    [attachment] = list(message.iter_attachments())
    assert attachment.get_filename() == made.filename
    assert sorted(unzip(attachment.get_content())) == sorted(bundle.FILES)
    with connect(path) as db:
        sent = entries(db, action="bundle-send")
    assert [(e["actor"], e["outcome"], e["target"]) for e in sent[:2]] == [
        ("op@partner.example", "ok", district_id), ("viv@partner.example", "refused", district_id)]


def test_cli_bundle_writes_the_zip_and_prints_json(built: tuple[Path, list[str], str], tmp_path: Path) -> None:
    path, secrets, district_id = built
    out = tmp_path / "b.zip"
    runner = CliRunner()
    result = runner.invoke(cli, ["bundle", district_id, "--db", str(path), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert sorted(unzip(out.read_bytes())) == sorted(bundle.FILES)
    result = runner.invoke(cli, ["bundle", district_id, "--db", str(path), "--format", "json"])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.output)
    assert printed["subject"] == district_id and printed["failed_attempts"]
    assert not any(secret in result.output for secret in secrets)
    with connect(path) as db:
        assert [e["target"] for e in entries(db, action="bundle-download")][:2] == [district_id, district_id]
    missing = runner.invoke(cli, ["bundle", "no-such-district", "--db", str(path)])
    assert missing.exit_code == 2 and "no district no-such-district" in missing.output


def test_a_refused_send_is_audited_as_failed_and_says_why(built: tuple[Path, list[str], str]) -> None:
    path, _, district_id = built
    with connect(path) as db:
        made = bundle.for_district(db, district_id)
    operator = Principal("op2@partner.example", Role.OPERATOR)
    with MailSink(refuse="554 5.7.1 Message rejected") as sink, pytest.raises(MailError, match="554"):
        bundle.send(path, operator, made, mailer=Mailer.from_url(sink.url), to="support@clever.example",
                    mail_from="health@partner.example")
    with connect(path) as db:
        last = entries(db, actor="op2@partner.example", action="bundle-send")
    assert [(e["outcome"], "554" in (e["detail"] or "")) for e in last] == [("failed", True)]
