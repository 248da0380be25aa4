"""The report of `python -m bench`: its targets, the notes, the table."""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

import temporalio

from bench.options import BenchOptions

TARGET_RATIO = 0.70
TARGET_UPDATE_P95_MS = 100.0
TARGET_LATENESS_P99_MS = 1000.0
FLAT_WITHIN = 0.10  # beyond the cache, memory may grow by at most 10% between the sizes measured
# Outage day (bench/storm.py), for N = 2,000 over 600 s on 2 cores.
STORM_ACK_P99_S = 60.0
STORM_LATENESS_P99_S = 5.0
STORM_LATENESS_RATIO = 1.5
STORM_QUEUE_P95_MS = 300.0


def notes(o: BenchOptions) -> list[str]:
    """What the run did differently from the full sizes, said in the output."""
    if o.storm:
        return storm_notes(o)
    out = []
    if o.complaints < 200:
        out.append(f"lifecycle and ceiling ran {o.complaints} workflows each, to finish in under "
                   "5 minutes (the full size: --complaints 200)")
    if o.escalation_complaints:
        arriving = (f"arriving {o.escalation_rate:g} per second" if o.escalation_rate > 0
                    else f"arriving all at once ({o.concurrency} at a time)")
        out.append(f"escalation lateness from {o.escalation_complaints} complaints {arriving}, "
                   f"whose personal acknowledgement fell due {o.escalation_after} after intake "
                   "(the demo policy's 1m, shortened)")
    if o.burst:
        out.append(f"burst: {o.burst} complaints submitted ahead of time ({o.concurrency} at a "
                   "time), each received_at the same instant, so that every personal "
                   "acknowledgement fell due at one instant (the full size: --burst 200)")
    if o.workers > 1:
        out.append(f"--workers {o.workers}: the lifecycle and the burst ran again on "
                   f"{o.workers} worker processes; the 1-process figures are the runs above")
    if o.worker_options:
        out.append("worker options: " + ", ".join(o.worker_options))
    if o.scale_sizes and tuple(o.scale_sizes) != (100, 400, 1600):
        why = ("to finish in under 5 minutes" if max(o.scale_sizes) < 1600
               else "beyond the full sizes")
        out.append(f"scale sizes {','.join(map(str, o.scale_sizes))} with a {o.scale_cache}-workflow "
                   f"cache, opened {o.scale_concurrency} at a time, {why} (the full sizes: "
                   "--scale 100,400,1600 --scale-cache 100)")
    out.append("both sides encrypt payloads (the codec's own cost is reported apart)"
               if not o.plain_payloads else "both sides without payload encryption "
               "(--plain-payloads)")
    out.append("the dev server as `make dev` runs it: search attributes registered at start "
               "and cached, SQLite in WAL mode with normal sync" if not o.plain_server else
               "the dev server as start-dev leaves it: SQLite's default journal and a full "
               "sync per commit, search attributes re-read on every use (--plain-server), "
               "not as `make dev` runs it")
    return out


def storm_notes(o: BenchOptions) -> list[str]:
    out = []
    if (o.storm, o.over) != (2000, 600.0):
        out.append(f"storm of {o.storm} complaints over {o.over:g} s (the full size: --storm "
                   "2000 --over 600, `make bench-storm`); the targets are for the full size")
    out.append(f"the default policy on a 24/7 calendar, the personal acknowledgement due "
               f"{o.storm_due} after intake (an hour in the default), digest after "
               f"{o.storm_digest_after} within {o.storm_digest_window}")
    out.append("the gateway, the HTTP server, the worker, the ceiling's worker, PostgreSQL, "
               "the Temporal dev server and the senders share this machine's cores")
    return out


def storm_targets(st: dict[str, Any]) -> list[dict[str, Any]]:
    out = []

    def add(name: str, target: str, measured: Any, met: bool | None) -> None:
        out.append({"name": name, "target": target, "measured": measured, "met": met})

    add("storm: nothing lost", "0", st["lost"], st["lost"] == 0)
    add("storm: nothing doubled", "0", st["doubled"], st["doubled"] == 0)
    add("storm: every complaint acknowledged once", str(st["accepted"]),
        st["customer_emails"], st["customer_emails"] == st["accepted"] == st["acknowledged"])
    add("storm: acknowledgement latency p99", f"< {STORM_ACK_P99_S:g} s",
        st["ack_latency_s"]["p99"], st["ack_latency_s"]["p99"] < STORM_ACK_P99_S)
    add("storm: breach lateness p99", f"< {STORM_LATENESS_P99_S:g} s",
        st["breach_lateness_s"]["p99"], st["breach_lateness_s"]["p99"] < STORM_LATENESS_P99_S)
    ratio = st["lateness_ratio"]
    add("storm: breach lateness p99 / ceiling's", f"<= {STORM_LATENESS_RATIO:g}", ratio,
        None if ratio is None else ratio <= STORM_LATENESS_RATIO)
    add("storm: console queue p95", f"< {STORM_QUEUE_P95_MS:g} ms", st["queue_p95_ms"],
        st["queue_p95_ms"] < STORM_QUEUE_P95_MS if st["page_reads"] else None)
    return out


def format_storm(st: dict[str, Any]) -> list[str]:
    def q(d: dict[str, float], unit: str) -> str:
        return (f"p50 {d['p50']} {unit}, p95 {d['p95']} {unit}, p99 {d['p99']} {unit}, "
                f"max {d['max']} {unit}")

    lines = [f"Outage day: {st['sent']} complaints by email over {st['over_s']:g} s "
             f"(sent in {st['sending_s']} s, all escalated after {st['storm_s']} s)",
             f"  accepted {st['accepted']} ({st['accepted_per_s']}/s; {st['deferred']} "
             f"deferred with 4xx and retried), stored {st['stored']}, lost {st['lost']}, "
             f"doubled {st['doubled']}",
             f"  SMTP transaction (MAIL FROM to 250): {q(st['smtp_transaction_ms'], 'ms')}",
             f"  acknowledgement latency (250 to the email): {q(st['ack_latency_s'], 's')}",
             f"  breach lateness ({st['escalated']} escalated): {q(st['breach_lateness_s'], 's')}",
             f"  ceiling ({st['ceiling_workflows']} bare timers, same instants): "
             f"{q(st['ceiling_breach_lateness_s'], 's')}",
             f"  lateness ratio (p99 / ceiling's p99): {st['lateness_ratio']}"]
    for part, d in st["lateness_parts_s"].items():
        lines.append(f"    {part:<24} p50 {d['p50']} s, p99 {d['p99']} s (a sample)")
    dg = st["digests"]
    lines += [f"  emails to staff: {st['staff_emails']} {st['staff_emails_by_kind']}; "
              f"{dg.get('coalesced_alerts', 0)} alerts coalesced in {dg.get('with_digest', 0)} "
              f"digest window(s), {dg.get('pending', 0)} digest(s) still to come",
              f"  emails to customers: {st['customer_emails']} (acknowledged "
              f"{st['acknowledged']}, duplicates {st['ack_duplicates']})",
              f"  console queue: {q(st['queue_ms'], 'ms')}; API list: {q(st['api_list_ms'], 'ms')}"
              f"; {st['page_reads']} reads, {st['page_errors']} errors",
              f"  worker: CPU {st['worker_cpu_s']} s, peak RSS {st['worker_rss_mib']['peak']} MiB;"
              f" PostgreSQL connections active max {st['postgres_connections']['active_max']} "
              f"(p95 {st['postgres_connections']['active_p95']}), open max "
              f"{st['postgres_connections']['total_max']}",
              "  CPU s by process: " + ", ".join(f"{k} {v}" for k, v in st["cpu_s"].items()),
              "  where the worker's time went (count, mean ms, ms per complaint):"]
    for what, d in st["time_by_type"].items():
        lines.append(f"    {what:<44} {d['count']:>7} {d['mean_ms']:>9} {d['ms_per_complaint']:>9}")
    lines.append(f"  errors {st['errors']} {st['first_errors']}")
    lines.append("")
    return lines


def machine() -> dict[str, Any]:
    mem = next(line for line in Path("/proc/meminfo").read_text().splitlines()
               if line.startswith("MemTotal"))
    return {"nproc": os.cpu_count(), "memory_gib": round(int(mem.split()[1]) / 1024 ** 2, 1),
            "python": platform.python_version(), "temporalio": temporalio.__version__,
            "platform": platform.platform(),
            # Other work on a shared machine shows here (the ratio is what stands up to it).
            "load_average_at_start": [round(x, 2) for x in os.getloadavg()]}


def targets(report: dict[str, Any]) -> list[dict[str, Any]]:
    out = []

    def add(name: str, target: str, measured: Any, met: bool | None) -> None:
        out.append({"name": name, "target": target, "measured": measured, "met": met})

    ratio = report.get("ratio")
    if ratio is not None:
        add("lifecycle / ceiling activity throughput", f">= {TARGET_RATIO:.0%}", ratio,
            ratio >= TARGET_RATIO)
    if "lifecycle" in report:
        p95 = report["lifecycle"]["update_ms"]["p95"]
        add("update round trip p95 (lifecycle)", f"< {TARGET_UPDATE_P95_MS:.0f} ms", p95,
            p95 < TARGET_UPDATE_P95_MS)
    escalation = report.get("escalation", {})
    if "lateness_ms" in escalation:
        p99 = escalation["lateness_ms"]["p99"]
        add("escalation lateness p99",
            f"< {TARGET_LATENESS_P99_MS:.0f} ms", p99, p99 < TARGET_LATENESS_P99_MS)
    for burst in [escalation.get("burst")] + [
            row["burst"] for row in report.get("processes", {}).get("rows", [])[1:]]:
        if burst:
            add(f"burst lateness p99 ({burst['complaints']} due at once, "
                f"{burst['processes']} process{'es' if burst['processes'] > 1 else ''})",
                f"< {TARGET_LATENESS_P99_MS:.0f} ms", burst["p99_ms"],
                burst["p99_ms"] < TARGET_LATENESS_P99_MS)
    if "scale" in report:
        growth = report["scale"]["growth_beyond_cache"]
        add("worker memory beyond the workflow cache", f"flat (within {FLAT_WITHIN:.0%})",
            growth, None if growth is None else growth <= FLAT_WITHIN)
    return out


def _parts(e: dict[str, Any]) -> list[str]:
    out = []
    for part, label in [("timer_started_late", "timer recorded after its due instant"),
                        ("timer_fired_late", "server fired it late"),
                        ("workflow_task_pickup", "workflow task scheduled and picked up"),
                        ("decision_recorded", "(decision recorded, after due)")]:
        q = e.get("parts_ms", {}).get(part)
        if q:
            out.append(f"  {label:<40} p50 {q['p50']:>8} ms   p99 {q['p99']:>8} ms")
    return out


def format_report(r: dict[str, Any]) -> str:
    mc = r["machine"]
    lines = [f"python -m bench: {mc['nproc']} cores, {mc['memory_gib']} GiB, Python "
             f"{mc['python']}, temporalio {mc['temporalio']}; {r['elapsed_s']} s in all ("
             + ", ".join(f"{k} {v} s" for k, v in r.get("phase_s", {}).items()) + ")",
             f"load average at start {mc.get('load_average_at_start')}, at end "
             f"{mc.get('load_average_at_end')}", ""]
    if "lifecycle" in r:
        sh = r["shape"]
        lines.append("Per workflow (from recorded histories):  "
                     f"{'complaint':>10} {'ceiling':>8}")
        for key in ("activities", "timers", "timers_fired", "timers_cancelled", "updates",
                    "workflow_tasks", "search_attribute_upserts", "history_events"):
            lines.append(f"  {key:<38} {sh['complaint'][key]:>10} {sh['ceiling'][key]:>8}")
        lines.append("")
        life, ceil = r["lifecycle"], r["ceiling"]
        lines.append(f"{'':<38} {'lifecycle':>10} {'ceiling':>10}")
        rows = [
            ("workflows", "workflows"), ("wall time (s)", "wall_s"),
            ("complaints per second", "complaints_per_s"), ("activities", "activities"),
            ("activities per second", "activities_per_s"), ("emails per second", "emails_per_s"),
            ("worker peak RSS (MiB)", "worker_peak_rss_mib"),
            ("workflow tasks", "workflow_tasks"),
            ("workflow task, worker ms (mean)", "workflow_task_ms_mean"),
            ("workflow task, queued ms (mean)", "workflow_task_wait_ms_mean"),
            ("activity ms (mean)", "activity_ms_mean"),
            ("worker CPU ms per workflow", "worker_cpu_ms_per_workflow"),
        ]
        for label, key in rows:
            lines.append(f"  {label:<36} {life[key]!s:>10} {ceil[key]!s:>10}")
        for label, key in [("SQLite requests per workflow", "requests_per_workflow"),
                           ("SQLite ms per workflow", "ms_per_workflow"),
                           ("visibility requests per workflow", "visibility_requests_per_workflow"),
                           ("visibility ms per workflow", "visibility_ms_per_workflow"),
                           ("SQLite busy share of wall time", "busy_share_of_wall")]:
            lines.append(f"  {label:<36} {life['server'][key]!s:>10} {ceil['server'][key]!s:>10}")
        for p in ("p50", "p95", "p99"):
            lines.append(f"  {'update round trip ' + p + ' (ms)':<36} "
                         f"{life['update_ms'][p]:>10} {ceil['update_ms'][p]:>10}")
        for part in life["cpu_s"]:
            lines.append(f"  {'CPU s, ' + part:<36} {life['cpu_s'][part]:>10} "
                         f"{ceil['cpu_s'].get(part, '-')!s:>10}")
        lines.append(f"  {'errors':<36} {life['errors']:>10} {ceil['errors']:>10}")
        lines.append(f"  ratio of activity throughput (lifecycle / ceiling): {r.get('ratio')}")
        lines.append(f"  ratios, lifecycle / ceiling: history bytes {r.get('history_bytes_ratio')}"
                     f", worker CPU per workflow {r.get('worker_cpu_ratio')}, update round "
                     f"trip p95 {r.get('update_p95_ratio')}")
        sampled = r.get("history_bytes", {})
        if sampled.get("lifecycle", {}).get("workflows"):
            life_b, ceil_b = sampled["lifecycle"], sampled["ceiling"]
            lines.append(
                f"  history bytes, median of {life_b['workflows']} and {ceil_b['workflows']} "
                f"workflows: {life_b['median']:,} ({life_b['min']:,} to {life_b['max']:,}) "
                f"against {ceil_b['median']:,} ({ceil_b['min']:,} to {ceil_b['max']:,}); "
                f"calibration's one pair: {r.get('history_bytes_ratio_calibration')}")
        if r.get("codec"):
            c = r["codec"]
            lines.append(f"  payload codec (AES-256-GCM, both sides): {c['cpu_ms_per_complaint']} "
                         f"CPU ms per complaint to decrypt and encrypt its {c['payloads_per_complaint']} "
                         f"payloads ({c['payload_kib_per_complaint']} KiB); the ceiling's worker "
                         f"spends {c['ceiling_worker_cpu_ms_per_workflow']} CPU ms per workflow "
                         f"(codec = {c['share_of_ceiling']} of it)")
        lines.append("")
    if r.get("explain"):
        lines.append("The ceiling with one of the complaint's costs added back:")
        for row in r["explain"]:
            lines.append(f"  {row['variant']:<24} {row['activities_per_s']:>6} activities/s "
                         f"({row['of_ceiling']:.0%} of the ceiling); SQLite requests/workflow "
                         f"{row['server']['requests_per_workflow']}; worker CPU ms/workflow "
                         f"{row['worker_cpu_ms_per_workflow']}; update p95 "
                         f"{row['update_ms']['p95']} ms")
        lines.append("")
    e = r.get("escalation", {})
    if "lateness_ms" in e:
        lat = e["lateness_ms"]
        lines.append(f"Escalation lateness ({e['measured']} of {e['complaints']} complaints "
                     f"arriving {e['rate']:g}/s, personal acknowledgement due after "
                     f"{e['personal_acknowledgement_due_after']}): p50 {lat['p50']} ms, p99 "
                     f"{e['p99_ms']} ms, max {lat['max']} ms; errors {e['errors']}")
        lines += _parts(e)
        lines.append("")
    for burst in [e.get("burst")] + [row["burst"] for row in r.get("processes", {}).get("rows", [])[1:]]:
        if not burst:
            continue
        lat = burst["lateness_ms"]
        lines.append(f"Burst ({burst['measured']} of {burst['complaints']} complaints on "
                     f"{burst['processes']} worker process(es), every personal acknowledgement due "
                     f"at {burst['due_at']}, spread {burst['due_spread_ms']} ms; opened "
                     f"{burst['opened_per_s']}/s, done {burst['idle_before_due_s']} s before): "
                     f"lateness p50 {lat['p50']} ms, p99 {burst['p99_ms']} ms, max {lat['max']} ms;"
                     f" last escalation email {burst['last_escalation_email_after_due_s']} s after"
                     f"; errors {burst['errors']}")
        lines += _parts(burst)
        lines.append("")
    if r.get("processes"):
        lines.append("Worker processes (CPU and RSS summed over the processes):")
        lines.append(f"  {'processes':>9} {'activities/s':>13} {'CPU s':>7} {'CPU ms/wf':>10} "
                     f"{'RSS MiB':>8} {'update p95':>11} {'burst p50':>10} {'burst p99':>10}")
        for row in r["processes"]["rows"]:
            lines.append(f"  {row['processes']:>9} {row['activities_per_s']:>13} "
                         f"{row['worker_cpu_s']!s:>7} {row['worker_cpu_ms_per_workflow']:>10} "
                         f"{row['worker_peak_rss_mib']!s:>8} {row['update_p95_ms']:>11} "
                         f"{row['burst_p50_ms']!s:>10} {row['burst_p99_ms']!s:>10}")
        lines.append(f"  activity throughput, {r['processes']['rows'][-1]['processes']} processes "
                     f"/ 1: {r['processes']['activities_per_s_ratio']}")
        lines.append("")
    if "scale" in r:
        s = r["scale"]
        lines.append(f"Scale (complaints open and waiting on timers; worker cache "
                     f"{s['cache_size']} workflows):")
        lines.append(f"  {'open':>6} {'RSS MiB':>8} {'cached':>7} {'evicted':>8} "
                     f"{'update p50':>11} {'p95':>7} {'p99':>7} {'opened/s':>9}")
        for row in s["sizes"]:
            u = row["update_ms"] or {"p50": "-", "p95": "-", "p99": "-"}
            lines.append(f"  {row['open']:>6} {row['rss_mib']:>8} {row.get('cached_workflows', '-')!s:>7} "
                         f"{row.get('evictions', '-')!s:>8} {u['p50']!s:>11} {u['p95']!s:>7} "
                         f"{u['p99']!s:>7} {row.get('opened_per_s', '-')!s:>9}")
        lines.append(f"  memory growth beyond the cache: {s['growth_beyond_cache']}; "
                     f"errors {s['errors']}")
        lines.append("")
    if "storm" in r:
        lines += format_storm(r["storm"])
    lines.append("Targets:")
    for t in r["targets"]:
        verdict = {True: "met", False: "MISSED", None: "not measured"}[t["met"]]
        lines.append(f"  {t['name']:<44} {t['target']:<18} {t['measured']!s:<10} {verdict}")
    notes = r.get("notes") or []
    lines += [f"Note: {n}" for n in notes]
    return "\n".join(lines)
