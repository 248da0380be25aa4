"""`python -m bench` in miniature, so it cannot rot (docs/performance.md has the real run),
and the storm (`python -m bench --storm`) with two dozen emails.

It runs every phase of the benchmark with a few complaints on its own embedded stack and
checks that the report holds sane, non-zero numbers and a ratio computed from both runs.
Whether the targets are met is the benchmark's business, not a test's: this machine is
shared and noisy.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from datetime import timedelta

import pytest

from bench.__main__ import build_parser
from bench.options import parse_worker_options
from bench.report import format_report
from bench.run import BenchOptions, percentiles, run_bench
from bench.storm import storm_policy
from settings import REPO_ROOT
from starter.cli import build_parser as product_parser
from workflows.policy import SlaPolicy


def test_percentiles_are_nearest_rank():
    values = [float(v) for v in range(1, 101)]
    assert percentiles(values) == {"p50": 50.0, "p95": 95.0, "p99": 99.0, "max": 100.0}
    assert percentiles([]) == {"p50": 0.0, "p95": 0.0, "p99": 0.0, "max": 0.0}


def test_the_bench_command_takes_the_benchmark_options():
    args = build_parser().parse_args(["--complaints", "7", "--concurrency", "2",
                                      "--scale", "10,20", "--json"])
    assert (args.complaints, args.concurrency, args.scale_sizes, args.json) == (7, 2, (10, 20), True)


def test_worker_options_are_numbers_or_autoscaling():
    assert parse_worker_options(["max_concurrent_workflow_tasks=500",
                                 "sticky_queue_schedule_to_start_timeout=2.5",
                                 "workflow_task_poller_behavior=autoscaling"]) == {
        "max_concurrent_workflow_tasks": 500, "sticky_queue_schedule_to_start_timeout": 2.5,
        "workflow_task_poller_behavior": "autoscaling"}
    with pytest.raises(ValueError, match="expected KEY=VALUE"):
        parse_worker_options(["max_concurrent_activities"])


def test_python_m_bench_runs_from_the_checkout():
    """`make bench` runs `python -m bench` from the repository root: its flags, with --help."""
    result = subprocess.run([sys.executable, "-m", "bench", "--help"], cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: python -m bench")
    assert "--escalation-complaints" in result.stdout


def test_the_product_command_does_not_carry_the_benchmark(capsys):
    with pytest.raises(SystemExit) as exit_:
        product_parser().parse_args(["bench", "--complaints", "3"])
    assert exit_.value.code == 2
    assert "invalid choice: 'bench'" in capsys.readouterr().err


async def test_a_small_benchmark_reports_both_runs_and_their_ratio():
    report = await run_bench(BenchOptions(
        complaints=3, concurrency=3, escalation_complaints=2, escalation_after="3s",
        scale_sizes=(2, 4), scale_cache=2, scale_sample=2, scale_concurrency=2,
        archive_after="1s", burst=3, burst_lead=8, workers=2))

    life, ceiling = report["lifecycle"], report["ceiling"]
    for run in (life, ceiling):
        assert run["errors"] == 0, run["first_errors"]
        assert run["workflows"] == 3 and run["wall_s"] > 0
        assert run["activities"] > 0 and run["activities_per_s"] > 0
        assert run["updates"] == 3 * 10  # ten actions per complaint, ten updates per bare run
        assert 0 < run["update_ms"]["p50"] <= run["update_ms"]["p95"] <= run["update_ms"]["p99"]
        assert run["worker_peak_rss_mib"] > 20
        assert run["workflow_tasks"] > 0
    assert life["emails"] > 0 and ceiling["emails"] == 0

    # The ceiling mirrors what one real complaint asked of Temporal.
    shape = report["shape"]
    for key in ("activities", "timers", "timers_fired", "timers_cancelled", "updates"):
        assert shape["mirrored"][key] == shape["complaint"][key] == shape["ceiling"][key], key
    assert shape["complaint"]["updates"] == 10 and shape["ceiling"]["search_attribute_upserts"] == 0

    # The ratio is the lifecycle's activity throughput over the ceiling's, from both runs.
    expected = (life["activities"] / life["wall_s"]) / (ceiling["activities"] / ceiling["wall_s"])
    assert report["ratio"] > 0 and abs(report["ratio"] - expected) < 0.02 * expected + 0.002

    # Both sides ran with the payload codec; its own cost is measured against the ceiling's.
    codec = report["codec"]
    assert codec["payloads_per_complaint"] > 10 and codec["cpu_ms_per_complaint"] > 0
    share = codec["cpu_ms_per_complaint"] / ceiling["worker_cpu_ms_per_workflow"]
    assert abs(codec["share_of_ceiling"] - share) < 0.002 + 0.01 * share

    # The complaint against the ceiling beyond throughput, as positive numbers.
    for key in ("ratio", "history_bytes_ratio", "worker_cpu_ratio", "update_p95_ratio"):
        assert isinstance(report[key], float) and report[key] > 0, key
    assert report["history_bytes_ratio"] > 1  # the complaint carries its state and payloads
    # The ratio is of the medians of the workflows each side ran (all of them, at this size).
    sampled = report["history_bytes"]
    assert sampled["lifecycle"]["workflows"] == sampled["ceiling"]["workflows"] == report[
        "lifecycle"]["workflows"]
    for side in sampled.values():
        assert side["min"] <= side["median"] <= side["max"]
    assert report["history_bytes_ratio"] == round(
        sampled["lifecycle"]["median"] / sampled["ceiling"]["median"], 3)
    assert report["history_bytes_ratio_calibration"] > 1

    escalation = report["escalation"]
    assert escalation["errors"] == 0 and escalation["measured"] == 2, escalation["first_errors"]
    assert 0 <= escalation["lateness_ms"]["p50"] <= escalation["lateness_ms"]["p99"] < 60_000
    assert escalation["p99_ms"] == escalation["lateness_ms"]["p99"] > 0
    assert escalation["rate"] == 4.0

    # The burst: every personal acknowledgement due at one instant, all escalated.
    burst = escalation["burst"]
    assert burst["errors"] == 0 and burst["measured"] == 3, burst["first_errors"]
    assert burst["due_spread_ms"] == 0.0 and burst["processes"] == 1
    assert isinstance(burst["p99_ms"], float) and 0 < burst["p99_ms"] < 60_000
    assert burst["lateness_ms"]["p50"] <= burst["p99_ms"]

    # --workers 2: the lifecycle and the burst again on two processes, beside one.
    rows = report["processes"]["rows"]
    assert [row["processes"] for row in rows] == [1, 2]
    for row in rows:
        assert row["activities_per_s"] > 0 and row["worker_cpu_s"] > 0
        assert row["worker_peak_rss_mib"] > 20 and row["burst_p99_ms"] > 0
    assert rows[1]["lifecycle"]["errors"] == 0, rows[1]["lifecycle"]["first_errors"]
    assert rows[1]["burst"]["measured"] == 3 and rows[1]["burst"]["processes"] == 2
    assert rows[1]["worker_peak_rss_mib"] > rows[0]["worker_peak_rss_mib"]  # two processes

    scale = report["scale"]
    assert scale["errors"] == 0, scale["first_errors"]
    assert [row["open"] for row in scale["sizes"]] == [0, 2, 4]
    for row in scale["sizes"]:
        assert row["rss_mib"] > 20
    assert all(row["update_ms"]["p50"] > 0 for row in scale["sizes"][1:])

    assert {t["name"] for t in report["targets"]} >= {"update round trip p95 (lifecycle)",
                                                      "escalation lateness p99",
                                                      "burst lateness p99 (3 due at once, 1 process)"}
    table = format_report(report)
    assert "ratio of activity throughput" in table and "Targets:" in table
    assert "payload codec (AES-256-GCM, both sides)" in table
    assert "ratios, lifecycle / ceiling: history bytes" in table
    assert "Burst (3 of 3 complaints on 2 worker process(es)" in table
    assert "Worker processes (CPU and RSS summed over the processes):" in table


def test_the_storm_flags_and_its_policy():
    args = build_parser().parse_args(["--storm", "30", "--over", "45", "--storm-due", "20s"])
    assert (args.storm, args.over, args.storm_due) == (30, 45.0, "20s")
    policy = load_policy_text(storm_policy("5m", 5, "10m"))
    assert policy.acknowledgement.personal_within == timedelta(minutes=5)
    assert policy.calendar.working_days == ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    assert (policy.calendar.day_starts, policy.calendar.day_ends) == ("00:00", "24:00")
    assert policy.calendar.holidays_country is None
    assert (policy.digest.after, policy.digest.window) == (5, timedelta(minutes=10))


def load_policy_text(text: str) -> SlaPolicy:
    return SlaPolicy.model_validate(tomllib.loads(text))


async def test_a_small_storm_loses_nothing_doubles_nothing_and_reports_every_figure():
    """Two dozen complaints by email through the gateway over 15 s, nobody acknowledging:
    every one stored, started, acknowledged once, breached and escalated; the team lead gets
    the first five escalations and one digest (the policy's digest after 5 within 15 s)."""
    report = await run_bench(BenchOptions(
        storm=24, over=15, storm_senders=4, storm_due="20s", storm_digest_window="15s",
        storm_digest_wait=45))
    storm = report["storm"]
    assert storm["errors"] == 0, storm["first_errors"]
    assert (storm["sent"], storm["accepted"], storm["stored"]) == (24, 24, 24)
    assert (storm["lost"], storm["doubled"], storm["not_in_temporal"]) == (0, 0, 0)
    assert storm["customer_emails"] == storm["acknowledged"] == 24
    assert storm["ack_duplicates"] == 0 and storm["escalated"] == 24
    for key in ("ack_latency_s", "breach_lateness_s", "ceiling_breach_lateness_s"):
        q = storm[key]
        assert set(q) == {"p50", "p95", "p99", "max"}, key
        assert q["p50"] <= q["p95"] <= q["p99"] <= q["max"] < 120, key
    assert storm["ack_latency_s"]["p50"] > 0 and storm["ceiling_workflows"] == 24
    assert storm["lateness_ratio"] is None or storm["lateness_ratio"] > 0
    # Told once: five escalations on their own, the rest in digests (each window's first
    # five go alone); nothing else to staff.
    kinds = storm["staff_emails_by_kind"]
    coalesced = storm["digests"]["coalesced_alerts"]
    assert kinds["escalation"] + coalesced == 24 and kinds["escalation"] >= 5
    assert kinds.get("staff_digest", 0) + storm["digests"]["pending"] == storm["digests"][
        "with_digest"] >= 1
    assert storm["staff_emails"] == sum(kinds.values()) < 24
    assert storm["page_reads"] > 0 and storm["queue_p95_ms"] > 0 and storm["page_errors"] == 0
    assert storm["worker_cpu_s"] > 0 and storm["worker_rss_mib"]["peak"] > 20
    assert storm["postgres_connections"]["total_max"] >= 1
    assert "activity: send_email" in storm["time_by_type"]
    assert "workflow tasks: InboundMessageWorkflow" in storm["time_by_type"]
    assert {t["name"] for t in report["targets"]} >= {"storm: nothing lost",
                                                      "storm: breach lateness p99"}
    table = format_report(report)
    assert "Outage day: 24 complaints by email" in table and "Targets:" in table
