"""The report: ratios and targets computed from the scenarios' figures, written as JSON,
Markdown and a PNG chart under bench/results/.

Ratios put each scenario against a limit measured in the same run on the same machine:
`*_vs_floor` against the floor endpoint (one primary-key SELECT through DRF, same server
and workers), `*_vs_pg` against pgbench running the bid transaction alone. Absolute
figures move with the machine; the ratios say how much of the stack's capacity the
product's own code leaves.
"""

import json
import shutil
from datetime import datetime
from pathlib import Path

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def _get(results: dict, dotted: str):
    node = results
    for part in dotted.split("."):
        if not isinstance(node, dict) or node.get(part) is None:
            return None
        node = node[part]
    return node


def _ratio(a, b):
    if a is None or not b:
        return None
    return a / b


# (key, label, comparison, goal): the targets. They are reported, never enforced.
TARGETS = [
    ("ratios.hot_vs_floor", "hot bids vs floor", ">=", 0.5),
    ("ratios.spread_vs_floor", "spread bids vs floor", ">=", 0.5),
    ("ratios.list_vs_floor", "list vs floor", ">=", 0.5),
    ("ratios.detail_vs_floor", "detail vs floor", ">=", 0.5),
    ("hot.p99_ms", "hot p99 (ms)", "<=", 50),
    ("hot.violations", "hot violations", "==", 0),
    ("hot.errors_5xx", "hot 5xx", "==", 0),
    ("spread.violations", "spread violations", "==", 0),
    ("spread.errors_5xx", "spread 5xx", "==", 0),
    ("closing.p99_s", "closing p99 (s)", "<=", 1.0),
    ("closing.max_s", "closing max (s)", "<=", 2.0),
    ("fanout.emails_per_s", "fan-out emails/s", ">=", 500),
    ("fanout.worker_peak_rss_mb", "fan-out mailer worker peak RSS (MB)", "<=", 300),
]


def _meets(value, comparison: str, goal) -> bool | None:
    if value is None:
        return None
    return {
        ">=": value >= goal,
        "<=": value <= goal,
        "==": value == goal,
    }[comparison]


def complete(results: dict) -> dict:
    """Add the ratios, the targets and the overall verdict to the scenarios' figures."""

    def floor(name: str):
        """The floor around the scenario (the mean of the floor before and after it), or
        the floor of the run when it was not measured after it."""
        return _get(results, f"{name}.floor_rps") or _get(results, "floor.rps")

    results["ratios"] = {
        "hot_vs_floor": _ratio(_get(results, "hot.bid_rps"), floor("hot")),
        "spread_vs_floor": _ratio(_get(results, "spread.bid_rps"), floor("spread")),
        "list_vs_floor": _ratio(_get(results, "list.rps"), floor("list")),
        "detail_vs_floor": _ratio(_get(results, "detail.rps"), floor("detail")),
        "hot_vs_pg": _ratio(_get(results, "hot.bid_rps"), _get(results, "pg.hot_tps")),
        "spread_vs_pg": _ratio(_get(results, "spread.bid_rps"), _get(results, "pg.spread_tps")),
        "hot_accepted_vs_pg": _ratio(
            _get(results, "hot.accepted_per_s"), _get(results, "pg.hot_tps")
        ),
    }
    results["targets"] = [
        {
            "key": key,
            "label": label,
            "value": _get(results, key),
            "goal": f"{comparison} {goal}",
            "pass": _meets(_get(results, key), comparison, goal),
        }
        for key, label, comparison, goal in TARGETS
    ]
    failures = []
    for name in ("floor", "list", "detail", "hot", "spread", "fanout", "closing"):
        scenario = results.get(name)
        if not isinstance(scenario, dict):
            continue
        for figure in ("violations", "errors_5xx", "conn_errors"):
            if scenario.get(figure):
                failures.append(f"{name}.{figure} = {scenario[figure]}")
    results.setdefault("failures", []).extend(failures)
    results["ok"] = not results["failures"]
    return results


def _fmt(value, digits: int = 1) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return str(value)


CPU_COLUMNS = ("gunicorn", "postgres", "mailer", "closer", "beat", "sink", "redis", "loadgen")


def _cpu_table(results: dict, names: list[str]) -> list[str]:
    """Where the two cores went in each HTTP scenario (shares of all cores' wall time)."""
    measured = [
        n for n in names if isinstance(results.get(n), dict) and results[n].get("cpu_shares")
    ]
    if not measured:
        return []
    lines = [
        "",
        "Where the cores went (CPU time ÷ wall time of all cores; `idle` is unused):",
        "",
        "| scenario | " + " | ".join(CPU_COLUMNS) + " | other | idle |",
        "| --- |" + " ---: |" * (len(CPU_COLUMNS) + 2),
    ]
    for name in measured:
        shares = results[name]["cpu_shares"]
        cells = [_fmt(shares.get(c, 0.0), 2) for c in (*CPU_COLUMNS, "other", "idle")]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def markdown(results: dict) -> str:
    meta = results["meta"]
    ratios = results["ratios"]
    lines = [
        f"# Benchmark {meta['started_at']} ({meta['mode']})",
        "",
        f"{meta['sizes_text']}. Commit `{meta.get('commit') or '?'}`, "
        f"{meta['cpus']} CPUs; load generator CPU share (of 2 cores) "
        f"{_fmt(meta.get('loadgen_cpu_share'), 2)}; connections: {meta['connections']}.",
        "",
        "| scenario | req/s | accepted/s | p50 ms | p99 ms | vs floor | vs pgbench "
        "| 5xx | violations | load-gen CPU |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    rows = [
        ("floor", "rps", None, None, None),
        ("hot", "bid_rps", "accepted_per_s", "hot_vs_floor", "hot_vs_pg"),
        ("spread", "bid_rps", "accepted_per_s", "spread_vs_floor", "spread_vs_pg"),
        ("list", "rps", None, "list_vs_floor", None),
        ("detail", "rps", None, "detail_vs_floor", None),
    ]
    for name, rps, accepted, vs_floor, vs_pg in rows:
        s = results.get(name)
        if not isinstance(s, dict):
            continue
        lines.append(
            f"| {name} | {_fmt(s.get(rps), 0)} | {_fmt(s.get(accepted), 0) if accepted else ''} "
            f"| {_fmt(s.get('p50_ms'))} | {_fmt(s.get('p99_ms'))} "
            f"| {_fmt(ratios.get(vs_floor), 2) if vs_floor else '1.00'} "
            f"| {_fmt(ratios.get(vs_pg), 2) if vs_pg else ''} "
            f"| {_fmt(s.get('errors_5xx'))} | {_fmt(s.get('violations'))} "
            f"| {_fmt(s.get('loadgen_cpu_share'), 2)} |"
        )
    lines += _cpu_table(results, [name for name, *_ in rows])
    slices = _get(results, "floor.slices") or []
    if len(slices) > 1:
        parts = [
            f"{_fmt(part['rps'], 0)}" + (f" after {part['after']}" if part["after"] else "")
            for part in slices
        ]
        lines += [
            "",
            "The floor, req/s, before the reads and again after each scenario divided by it "
            "(each ratio divides by the mean of the floor before and after it): "
            + ", ".join(parts)
            + ".",
        ]
    pg = results.get("pg")
    if isinstance(pg, dict):
        lines += [
            "",
            f"pgbench, the bid transaction alone ({pg['clients']} clients, "
            f"{pg['duration_s']:g} s each): hot row {_fmt(pg['hot_tps'], 0)} tps, "
            f"spread {_fmt(pg['spread_tps'], 0)} tps.",
        ]
    fanout = results.get("fanout")
    if isinstance(fanout, dict):
        lines += [
            "",
            f"Fan-out: {_fmt(fanout['received'])} of {_fmt(fanout['expected'])} emails in "
            f"{_fmt(fanout['elapsed_s'])} s = {_fmt(fanout['emails_per_s'], 0)} emails/s; "
            f"first after {_fmt(fanout['first_email_s'], 2)} s; mailer worker peak RSS "
            f"{_fmt(fanout['worker_peak_rss_mb'], 0)} MB "
            f"(idle {_fmt(fanout['worker_rss_before_mb'], 0)} MB; closer "
            f"{_fmt(fanout['closer_peak_rss_mb'], 0)} MB); "
            f"violations {_fmt(fanout['violations'])}.",
        ]
        if fanout["timed_out"]:
            lines[-1] += (
                f" Timed out after {_fmt(fanout['elapsed_s'])} s; by the end of the run the "
                f"sink had {_fmt(fanout.get('received_by_end_of_run'))} of them."
            )
    closing = results.get("closing")
    if isinstance(closing, dict):
        lines += [
            "",
            f"Closing: {closing['auctions']} auctions ending in the same second "
            f"(created via {closing['created_via']}); {closing['closed']} closed, "
            f"{closing['mail_complete']} with every end email; violations "
            f"{closing['violations']}.",
            "",
            "| delay after end_time (s) | p50 | p99 | max |",
            "| --- | ---: | ---: | ---: |",
        ]
        for label, part in (
            ("winner recorded (seen by polling)", closing["winner"]),
            ("winner recorded (closed_at)", closing["recorded_closed_at"]),
            ("last end email received", closing["email"]),
            ("both (the closing figure)", closing),
        ):
            lines.append(
                f"| {label} | {_fmt(part['p50_s'], 3)} | {_fmt(part['p99_s'], 3)} "
                f"| {_fmt(part['max_s'], 3)} |"
            )
    lines += ["", "| target | value | goal | result |", "| --- | ---: | --- | --- |"]
    for target in results["targets"]:
        verdict = {True: "pass", False: "FAIL", None: "not run"}[target["pass"]]
        value = target["value"]
        lines.append(
            f"| {target['label']} | {_fmt(value, 2 if isinstance(value, float) else 1)} "
            f"| {target['goal']} | {verdict} |"
        )
    lines += [
        "",
        "Targets are information, never enforced. The run fails only on a violated "
        "invariant, a 5xx, a lost connection or a crashed component.",
        "",
        f"**Result: {'OK' if results['ok'] else 'FAILED'}**"
        + ("" if results["ok"] else ": " + "; ".join(results["failures"])),
        "",
    ]
    return "\n".join(lines)


def chart(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_ratio, ax_latency, ax_closing) = plt.subplots(1, 3, figsize=(16, 5))
    fig.suptitle(f"Auction service benchmark, {results['meta']['started_at']}")

    ratios = results["ratios"]
    names = [
        "hot_vs_floor",
        "spread_vs_floor",
        "list_vs_floor",
        "detail_vs_floor",
        "hot_vs_pg",
        "spread_vs_pg",
    ]
    values = [ratios.get(name) or 0.0 for name in names]
    colors = ["tab:green" if v >= 0.5 else "tab:red" for v in values]
    ax_ratio.bar([n.replace("_vs_", "\nvs ") for n in names], values, color=colors)
    ax_ratio.axhline(0.5, color="grey", linestyle="--", linewidth=1, label="target 0.5")
    ax_ratio.set_title("Throughput ratios")
    ax_ratio.legend()
    ax_ratio.tick_params(axis="x", labelsize=8)

    scenarios = [
        n for n in ("floor", "hot", "spread", "list", "detail") if isinstance(results.get(n), dict)
    ]
    width = 0.4
    xs = range(len(scenarios))
    ax_latency.bar(
        [x - width / 2 for x in xs],
        [results[n]["p50_ms"] for n in scenarios],
        width,
        label="p50",
    )
    ax_latency.bar(
        [x + width / 2 for x in xs],
        [results[n]["p99_ms"] for n in scenarios],
        width,
        label="p99",
    )
    ax_latency.axhline(50, color="grey", linestyle="--", linewidth=1, label="hot p99 target")
    ax_latency.set_xticks(list(xs), scenarios)
    ax_latency.set_yscale("log")
    ax_latency.set_ylabel("ms (log scale)")
    ax_latency.set_title("Latency (16 concurrent users)")
    ax_latency.legend()

    closing = results.get("closing")
    if isinstance(closing, dict):
        parts = [("winner", closing["winner"]), ("email", closing["email"]), ("both", closing)]
        stats = ["p50_s", "p99_s", "max_s"]
        width = 0.25
        for i, stat in enumerate(stats):
            ax_closing.bar(
                [x + (i - 1) * width for x in range(len(parts))],
                [part[stat] for _, part in parts],
                width,
                label=stat.removesuffix("_s"),
            )
        ax_closing.set_xticks(range(len(parts)), [name for name, _ in parts])
        ax_closing.axhline(1.0, color="grey", linestyle="--", linewidth=1, label="p99 target")
        ax_closing.legend()
    ax_closing.set_ylabel("s after end_time")
    ax_closing.set_title("Closing delay")

    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write(results: dict, directory: Path = RESULTS_DIR) -> dict[str, Path]:
    """latest.json (+ a dated copy), latest.md, latest.png; returns the paths."""
    directory.mkdir(parents=True, exist_ok=True)
    stamp = datetime.fromisoformat(results["meta"]["started_at"]).strftime("%Y-%m-%dT%H%M%S")
    paths = {
        "json": directory / "latest.json",
        "dated": directory / f"{stamp}.json",
        "md": directory / "latest.md",
        "png": directory / "latest.png",
    }
    paths["json"].write_text(json.dumps(results, indent=2, default=str) + "\n")
    shutil.copyfile(paths["json"], paths["dated"])
    paths["md"].write_text(markdown(results))
    chart(results, paths["png"])
    return paths
