"""The policy what-if. Three past complaints replayed against the default policy,
a stricter and a looser one; every count below is worked out by hand in the comments.

March 2026 in London is GMT (= UTC) with no public holiday, and every policy here works
09:00-17:00 Monday to Friday: a business day is 8 hours.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path

import asyncpg
import pytest

from starter import cli
from tests.scenarios import AS_OF, SUPERVISORS, at, ev
from workflows.models import Impact
from workflows.policy import load_policy, snapshot_policy
from workflows.whatif import PastComplaint, simulate

STRICT = """
name = "strict"
[calendar]
timezone = "Europe/London"
holidays_country = "GB"
holidays_subdivision = "ENG"
[acknowledgement]
personal_within = "30m"
[ownership]
phone_contact_within = "2h"
[communication]
customer_update_every = "12h"
[resolution]
sev1 = "4h"
sev2 = "8h"
sev3 = "2d"
sev4 = "3d"
[escalation]
team_lead_acts_within = "1h"
head_of_cs_acts_within = "2h"
"""

LOOSE = """
name = "loose"
[calendar]
timezone = "Europe/London"
[acknowledgement]
personal_within = "4h"
[ownership]
phone_contact_within = "8h"
[communication]
customer_update_every = "48h"
[resolution]
sev2 = "5d"
sev3 = "10d"
sev4 = "10d"
[escalation]
team_lead_acts_within = "4h"
head_of_cs_acts_within = "8h"
at_intake_for_severity_up_to = 1
"""


# P1, severity 3 (impact partial). Mon 2 Mar 09:00; acknowledged 09:45; called 12:00;
# an update Tue 08:00; a proposal Tue 15:00 pauses the update clock until the customer's
# reply Wed 10:00; resolved Thu 11:30.
P1 = PastComplaint("CRN-P1", at(2, 9), Impact.partial, None, at(5, 11, 30), (
    ev(at(2, 9), "received"),
    ev(at(2, 9, 45), "acknowledged_personally", "ana"),
    ev(at(2, 9, 45), "owner_assigned", detail="Sam Keller (sam)"),
    ev(at(2, 12), "phone_contact", "sam"),
    ev(at(3, 8), "customer_update", "sam"),
    ev(at(3, 15), "update_clock_paused"),
    ev(at(3, 15), "solution_proposed", "sam"),
    ev(at(4, 10), "customer_agreed", "ana"),
    ev(at(4, 10), "update_clock_resumed"),
    ev(at(5, 11, 30), "resolved", "sam"),
))
# P2, severity 2 (single client): escalated to a team lead at intake. Tue 3 Mar 14:00;
# acknowledged 14:20; the team lead tom reassigns it 14:50 (he acted on the escalation, and
# the new owner's phone clock starts); called 20:00; an update Wed 10:00; resolved Wed 16:00.
P2 = PastComplaint("CRN-P2", at(3, 14), Impact.single_client, None, at(4, 16), (
    ev(at(3, 14), "received"),
    ev(at(3, 14), "escalated", detail="level 1 (team lead): Severity 2 at intake",
       reason="Severity 2 at intake"),
    ev(at(3, 14, 20), "acknowledged_personally", "ana"),
    ev(at(3, 14, 20), "owner_assigned", detail="Sam Keller (sam)"),
    ev(at(3, 14, 50), "reassigned", "tom", "from sam to priya"),
    ev(at(3, 20), "phone_contact", "priya"),
    ev(at(4, 10), "customer_update", "priya"),
    ev(at(4, 16), "resolved", "priya"),
))
# P3, severity 4 (minor). Fri 6 Mar 16:00 and nothing since: open on Monday 10:00.
P3 = PastComplaint("CRN-P3", at(6, 16), Impact.minor, None, None, (ev(at(6, 16), "received"),))
HISTORY = [P1, P2, P3]


def policies(tmp_path: Path) -> tuple[Path, Path]:
    strict, loose = tmp_path / "strict.toml", tmp_path / "loose.toml"
    strict.write_text(STRICT)
    loose.write_text(LOOSE)
    return strict, loose


def replay(path: Path | None):
    policy = snapshot_policy(load_policy(path), at(1, 0, month=1))
    return simulate(policy, HISTORY, SUPERVISORS, AS_OF)


def breaches(outcome, crn: str) -> list[tuple[datetime, str]]:
    return outcome.replays[crn].breaches


def test_default_policy():
    o = replay(None)
    # P1: the update clock resumed Wed 10:00 with 24 h, due Thu 10:00: resolved 11:30, breached.
    # Resolution (5 business days) due Fri 17:00: met. The team lead's 2 h from Thu 10:00
    # were still running when it was resolved.
    assert breaches(o, "CRN-P1") == [(at(5, 10), "customer_update")]
    assert o.replays["CRN-P1"].escalations == [(at(5, 10), 1)]
    # P2: sam's phone clock was superseded at 14:50; priya's fell due 18:50, the call came
    # 20:00. Tom acted within 2 h of the intake escalation: no level 2.
    assert breaches(o, "CRN-P2") == [(at(3, 18, 50), "phone_contact")]
    assert o.replays["CRN-P2"].escalations == [(at(3, 14), 1), (at(3, 18, 50), 1)]
    # P3: acknowledgement due Fri 17:00, update Sat 16:00; nobody acts, so the team lead's
    # clock (Fri 19:00) and the head's (23:00) fall too. Resolution (Fri 16:00 + 40 business
    # hours) is not due yet on Monday.
    assert breaches(o, "CRN-P3") == [
        (at(6, 17), "personal_acknowledgement"), (at(6, 19), "escalation_level_1"),
        (at(6, 23), "escalation_level_2"), (at(7, 16), "customer_update")]
    assert o.replays["CRN-P3"].escalations == [(at(6, 17), 1), (at(6, 19), 2), (at(7, 16), 2)]
    assert dict(o.breaches) == {"customer_update": 2, "phone_contact": 1,
                                "personal_acknowledgement": 1, "escalation_level_1": 1,
                                "escalation_level_2": 1}
    assert (o.total_breaches, o.total_escalations, dict(o.escalations),
            o.breached_complaints) == (6, 6, {1: 4, 2: 2}, 3)


def test_stricter_policy(tmp_path: Path):
    strict, _ = policies(tmp_path)
    o = replay(strict)
    # P1: acknowledged 15 min late (due 09:30); the call 15 min late (due 11:45); silent
    # from Mon 09:00 to Tue 08:00 (due Mon 21:00) and again after the reply (Wed 10:00 +
    # 12 h = 22:00); 2 business days end Tue 17:00. Nobody acted within an hour of 09:30,
    # nor the head within two hours of 10:30.
    assert breaches(o, "CRN-P1") == [
        (at(2, 9, 30), "personal_acknowledgement"), (at(2, 10, 30), "escalation_level_1"),
        (at(2, 11, 45), "phone_contact"), (at(2, 12, 30), "escalation_level_2"),
        (at(2, 21), "customer_update"), (at(3, 17), "resolution"),
        (at(4, 22), "customer_update")]
    assert [level for _, level in o.replays["CRN-P1"].escalations] == [1, 2, 2, 2, 2, 2]
    # P2: priya's call due 16:50; the update due Wed 02:00; 8 business hours end Wed 14:00.
    # Tom's reassignment at 14:50 answered the intake escalation within the hour.
    assert breaches(o, "CRN-P2") == [
        (at(3, 16, 50), "phone_contact"), (at(4, 2), "customer_update"),
        (at(4, 14), "resolution")]
    assert [level for _, level in o.replays["CRN-P2"].escalations] == [1, 1, 1, 1]
    # P3: the same four breaches, earlier; 3 business days are not over by Monday 10:00.
    assert [name for _, name in breaches(o, "CRN-P3")] == [
        "personal_acknowledgement", "escalation_level_1", "escalation_level_2",
        "customer_update"]
    assert dict(o.breaches) == {"personal_acknowledgement": 2, "phone_contact": 2,
                                "customer_update": 4, "resolution": 2,
                                "escalation_level_1": 2, "escalation_level_2": 2}
    assert (o.total_breaches, o.total_escalations, dict(o.escalations),
            o.breached_complaints) == (14, 13, {1: 6, 2: 7}, 3)


def test_looser_policy(tmp_path: Path):
    _, loose = policies(tmp_path)
    o = replay(loose)
    # P1 and P2 meet everything; P2 (severity 2) is not escalated at intake (only 1 is).
    assert breaches(o, "CRN-P1") == breaches(o, "CRN-P2") == []
    assert o.replays["CRN-P2"].escalations == []
    # P3: acknowledgement due Fri 20:00, then the team lead (Sat 00:00) and head (08:00);
    # the update due Sun 16:00.
    assert breaches(o, "CRN-P3") == [
        (at(6, 20), "personal_acknowledgement"), (at(7, 0), "escalation_level_1"),
        (at(7, 8), "escalation_level_2"), (at(8, 16), "customer_update")]
    assert (o.total_breaches, o.total_escalations, dict(o.escalations),
            o.breached_complaints) == (4, 3, {1: 1, 2: 2}, 1)


# --- the CLI, on the same history in PostgreSQL ---------------------------------------


async def insert_history(conn: asyncpg.Connection) -> None:
    severity = {Impact.partial: 3, Impact.single_client: 2, Impact.minor: 4}
    # Before --since: a complaint never acknowledged, which must not count.
    old = PastComplaint("CRN-P0", at(2, 10, month=2), Impact.minor, None, at(2, 12, month=2),
                        (ev(at(2, 10, month=2), "received"),))
    for c in [old, *HISTORY]:
        await conn.execute(
            """INSERT INTO complaints (crn, source, external_ref, customer_id, subject,
                   description, impact, severity, severity_score, status, phase, policy_name,
                   received_at, resolved_at)
               VALUES ($1, 'web', $1, 'cust-kite', 's', 'd', $2, $3, 0, 'new', 'triage',
                       'default', $4, $5)""",
            c.crn, c.impact and c.impact.value, c.impact and severity[c.impact], c.received_at,
            c.resolved_at)
        await conn.executemany(
            "INSERT INTO complaint_events (crn, seq, at, event, actor, detail, reason) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7)",
            [(c.crn, i, e.at, e.event, e.actor, e.detail, e.reason)
             for i, e in enumerate(c.events, 1)])


async def test_policy_simulate_and_check_on_the_command_line(
        seeded: asyncpg.Pool, database_url: str, tmp_path: Path, monkeypatch, capsys):
    strict, loose = policies(tmp_path)
    async with seeded.acquire() as conn:
        await insert_history(conn)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.delenv("COMPLAINTS_POLICY", raising=False)

    async def run(*argv: str) -> tuple[int, str, str]:
        capsys.readouterr()
        try:
            await asyncio.to_thread(cli.main, list(argv))
            code = 0
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else 1
        out, err = capsys.readouterr()
        return code, out, err

    code, out, _ = await run("policy", "simulate", str(strict), "--since", "2026-03-01")
    assert code == 0, out
    rows = {line[:44].strip(): line[44:].split() for line in out.splitlines()}
    assert "What-if over 3 complaint(s) received since 2026-03-01 (2 resolved, 1 open)" in out
    # Replayed today, P3's resolution target has long passed too: one more breach and
    # escalation (at level 2) under each policy than on Monday 9 March.
    assert rows["Deadlines breached"] == ["7", "15", "+8"]
    assert rows["Personal acknowledgement"] == ["1", "2", "+1"]
    assert rows["Phone contact with the owner"] == ["1", "2", "+1"]
    assert rows["Customer update"] == ["2", "4", "+2"]
    assert rows["Resolution target"] == ["1", "3", "+2"]
    assert rows["Escalations raised"] == ["7", "14", "+7"]
    assert rows["to the head of customer success (level 2)"] == ["3", "8", "+5"]
    assert rows["Complaints with a breach"] == ["3", "(100%)", "3", "(100%)", "+0"]
    assert "CRN-P1  breaches now: customer_update; under the proposal:" in out

    code, out, _ = await run("policy", "simulate", str(loose), "--since", "2026-03-01")
    assert code == 0
    rows = {line[:44].strip(): line[44:].split() for line in out.splitlines()}
    assert rows["Deadlines breached"] == ["7", "5", "-2"]
    assert rows["Escalations raised"] == ["7", "4", "-3"]

    code, out, _ = await run("policy", "simulate", str(strict))  # no --since: P0 counts too
    assert "What-if over 4 complaint(s) received (3 resolved, 1 open)" in out

    code, out, _ = await run("policy", "check", str(strict))
    assert code == 0
    assert "a valid SLA policy, 'strict'" in out
    assert "resolution.sev2: 24h -> 8h" in out and "acknowledgement.personal_within: 1h -> 30m" in out

    bad = tmp_path / "bad.toml"
    bad.write_text('[resolution]\nsev1 = "soon"\n')
    code, _, err = await run("policy", "check", str(bad))
    assert code == 1 and "resolution.sev1" in err and "'soon' is not a duration" in err
    code, _, err = await run("policy", "simulate", str(bad))
    assert code == 1 and "resolution.sev1" in err


@pytest.mark.parametrize("path", ["default.toml", "demo.toml", "fca-disp.toml", "cfpb.toml"])
def test_shipped_policies_pass_the_check(path: str, capsys):
    from workflows.policy import POLICY_DIR

    cli.main(["policy", "check", str(POLICY_DIR / path)])
    assert "a valid SLA policy" in capsys.readouterr().out


# P4, severity 3 (partial). Mon 2 Mar 09:00; acknowledged and called; a proposal Mon 11:00
# that the customer never answers; nothing else recorded: open on Monday 11 May.
P4 = PastComplaint("CRN-P4", at(2, 9), Impact.partial, None, None, (
    ev(at(2, 9), "received"),
    ev(at(2, 9, 30), "acknowledged_personally", "ana"),
    ev(at(2, 9, 30), "owner_assigned", detail="Sam Keller (sam)"),
    ev(at(2, 10), "phone_contact", "sam"),
    ev(at(2, 11), "update_clock_paused"),
    ev(at(2, 11), "solution_proposed", "sam"),
))


def test_the_agreement_wait_and_a_regulators_limit_are_replayed():
    from workflows.policy import POLICY_DIR

    as_of = at(11, 9, month=5)
    default = simulate(snapshot_policy(load_policy(), at(1, 0, month=1)), [P4], SUPERVISORS,
                       as_of)
    # 5 business days from Mon 2 Mar 11:00 is Mon 9 Mar 11:00 (the resolution target, 5
    # business days from 09:00, uses up Friday: Fri 17:00). No regulator in the default.
    found = breaches(default, "CRN-P4")
    assert (at(6, 17), "resolution") in found and (at(9, 11), "customer_agreement") in found
    assert "regulatory_final_response" not in [name for _, name in found]
    assert (at(9, 11), 2) in default.replays["CRN-P4"].escalations  # level 2 by then
    fca = simulate(snapshot_policy(load_policy(POLICY_DIR / "fca-disp.toml"),
                                   at(1, 0, month=1)), [P4], SUPERVISORS, as_of)
    # Under the FCA's rules the final response was due 8 weeks after receipt, 27 Apr 09:00
    # (GMT until 29 Mar, so 09:00 UTC); it goes straight to the head of customer success.
    assert (at(27, 9, month=4), "regulatory_final_response") in breaches(fca, "CRN-P4")
    assert (at(27, 9, month=4), 2) in fca.replays["CRN-P4"].escalations
