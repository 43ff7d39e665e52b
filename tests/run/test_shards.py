"""Shards of one run on "many machines" (here: processes started side by side), and their merge.

Each shard is a real ``mcpgate run --shard I/N --start-at T`` process against a real server on
127.0.0.1; ``mcpgate merge`` then has to give exactly what the union of their samples gives.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from mcpgate.app.run import RunOptions, run_plan
from mcpgate.engine.shard import Shard
from mcpgate.metrics.registry import new_histogram
from mcpgate.results.io import read
from mcpgate.results.schema import Results, ShardInfo
from mcpgate.support import exitcodes
from mcpgate.support.startat import iso
from tests.conftest import PeerFactory, Spawn
from tests.faultserver import FaultServer
from tests.run.helpers import calls_seen, config_file, count, plan_from, target
from tests.test_cli_probe import mcpgate

AHEAD = 6.0  # seconds from now to the shared start: time for three processes to start and preflight
RATE, SECONDS = 30, 2  # the arrival-rate scenario: 60 iterations, one at t = 0, then every 1/30 s


@dataclass
class Sharded:
    """Three shards of one run, their results files, and the merge of them."""

    dir: Path
    config: Path
    files: list[Path]
    shards: list[Results]
    codes: list[int]
    merge_code: int
    merge_out: str
    merge_err: str
    merged: Results


async def run_shards(
    config: Path, out: Path, count: int, workers: list[int], *, start_at: float | None = None
) -> list[tuple[int, str, str]]:
    """``count`` shard processes side by side, shard i with ``workers[i]`` worker processes."""
    when = iso(start_at if start_at is not None else time.time() + AHEAD)
    return list(
        await asyncio.gather(
            *(
                mcpgate(
                    "run",
                    "-c",
                    str(config),
                    "--shard",
                    f"{i}/{count}",
                    "--start-at",
                    when,
                    "--workers",
                    str(workers[i]),
                    "--no-progress",
                    "--out",
                    str(out / f"shard-{i}.json"),
                )
                for i in range(count)
            )
        )
    )


@pytest.fixture(scope="module")
async def sharded(peer: PeerFactory, tmp_path_factory: pytest.TempPathFactory) -> Sharded:
    """One arrival-rate run split three ways (the middle shard on two workers) against the SDK server."""
    tmp = tmp_path_factory.mktemp("sharded")
    config = config_file(
        tmp / "mcpgate.yaml",
        {
            "target": {"url": peer("stateful-json")},
            "flow": {
                "tools": [
                    {"name": "get_record", "weight": 3, "arguments": {"id": "rec_{{ randint(1, 50) }}"}},
                    {"name": "search_records", "weight": 1, "arguments": {"query": "test"}},
                ]
            },
            "scenarios": {
                "open": {
                    "executor": "constant-arrival-rate",
                    "rate": RATE,
                    "timeUnit": "1s",
                    "duration": f"{SECONDS}s",
                    "preAllocatedVUs": 9,
                    "maxVUs": 30,
                }
            },
            # Each shard runs 20 iterations and passes this; the run has 60 and does not.
            "thresholds": {"iterations": ["count<50"], "http_req_failed": ["rate<0.01"]},
            "seed": 7,
        },
    )
    ran = await run_shards(config, tmp, 3, [1, 2, 1])
    files = [tmp / f"shard-{i}.json" for i in range(3)]
    shards = [read(f) for f in files]
    code, out, err = await mcpgate(
        "merge", str(tmp / "shard-*.json"), "--out", str(tmp / "merged.json"), "--markdown", str(tmp / "merged.md")
    )
    return Sharded(tmp, config, files, shards, [c for c, _, _ in ran], code, out, err, read(tmp / "merged.json"))


def shard_of(results: Results) -> ShardInfo:
    assert results.run.shard is not None
    return results.run.shard


def union_percentiles(shards: list[Results], key: str) -> dict[str, float]:
    """p50..p99 of the union of the shards' samples: their histograms added, as the results file keeps them."""
    hist = new_histogram()
    top = 0.0
    for results in shards:
        entry = results.metrics.get(key)
        if entry is not None and entry.hdr:
            hist.decode_and_add(entry.hdr)
            top = max(top, entry.values["max"])
    raw = hist.get_percentile_to_value_dict([50.0, 90.0, 95.0, 99.0])
    stats = {"med": 50.0, "p(90)": 90.0, "p(95)": 95.0, "p(99)": 99.0}
    return {stat: min(raw[p] / 1000.0, top) for stat, p in stats.items()}


async def test_three_shards_merged_count_every_sample_and_match_the_union_percentiles(sharded: Sharded) -> None:
    assert sharded.codes == [exitcodes.OK] * 3, [s.run.reason for s in sharded.shards]
    for i, results in enumerate(sharded.shards):
        assert results.run.status == "passed"
        assert results.run.shard is not None
        assert (results.run.shard.index, results.run.shard.count) == (i, 3)
        assert count(results, "iterations") == RATE * SECONDS / 3  # iteration n ran on shard n mod 3
    assert [s.run.workers for s in sharded.shards] == [1, 2, 1]
    merged = sharded.merged
    # Counts: the sums, so exactly the plan's iterations, none dropped.
    assert count(merged, "iterations") == RATE * SECONDS
    assert count(merged, "dropped_iterations") == 0
    for key, entry in merged.metrics.items():
        parts = [s.metrics[key].values for s in sharded.shards if key in s.metrics]
        if entry.type.value == "counter":
            assert entry.values["count"] == sum(p["count"] for p in parts), key
        elif entry.type.value == "rate":
            assert entry.values["passes"] == sum(p["passes"] for p in parts), key
            assert entry.values["fails"] == sum(p["fails"] for p in parts), key
        elif entry.type.value == "trend":
            assert entry.values["count"] == sum(p["count"] for p in parts), key
            assert entry.values["min"] == min(p["min"] for p in parts), key
            assert entry.values["max"] == max(p["max"] for p in parts), key
    # Percentiles: those of the union of the three shards' histograms (HDR: 3 significant digits).
    keys = ["http_req_duration", "mcp_tool_duration"] + [
        k for k in merged.metrics if k.startswith("mcp_tool_duration{")
    ]
    for key in keys:
        union = union_percentiles(sharded.shards, key)
        for stat, value in union.items():
            assert merged.metrics[key].values[stat] == pytest.approx(value, rel=1e-3), (key, stat)
    tools = {row.name: row for row in merged.tools}
    assert tools["get_record"].count + tools["search_records"].count == RATE * SECONDS
    search = union_percentiles(sharded.shards, "mcp_tool_duration{tool:search_records}")
    assert tools["search_records"].p95 == pytest.approx(search["p(95)"], rel=1e-3)
    # The timeline: the shards' points at the same offset, added.
    assert merged.timeseries is not None
    points = [s.timeseries.points for s in sharded.shards if s.timeseries is not None]
    assert len(merged.timeseries.points) == max(len(p) for p in points)
    for field in ("requests", "iterations", "failed", "errors", "dropped"):
        total = sum(getattr(p, field) for shard in points for p in shard)
        assert sum(getattr(p, field) for p in merged.timeseries.points) == total, field
    for i, point in enumerate(merged.timeseries.points):
        assert point.vus_max == sum(shard[i].vus_max for shard in points if i < len(shard))
    assert merged.run.workers == 4
    assert merged.run.shard is not None
    assert merged.run.shard.merged == [0, 1, 2]
    assert merged.run.shard.start_at == shard_of(sharded.shards[0]).start_at


async def test_a_threshold_each_shard_passes_fails_on_the_union(sharded: Sharded) -> None:
    assert sharded.merge_code == exitcodes.THRESHOLDS_FAILED, sharded.merge_err
    merged = sharded.merged
    assert merged.run.status == "failed"
    assert merged.run.exit_code == exitcodes.THRESHOLDS_FAILED
    assert merged.run.reason == "iterations count<50 failed: count=60"
    verdicts = {(t.metric, t.expression): t for t in merged.thresholds}
    assert not verdicts[("iterations", "count<50")].ok
    assert verdicts[("iterations", "count<50")].value == RATE * SECONDS
    assert verdicts[("http_req_failed", "rate<0.01")].ok
    for shard in sharded.shards:
        assert all(t.ok for t in shard.thresholds)
    # The console summary is one run's, and says which shards it holds.
    assert sharded.merge_out.startswith("mcpgate: FAILED: thresholds crossed (exit 99)")
    assert f"shards     0, 1, 2 of 3 merged, load from {shard_of(merged).start_at}" in sharded.merge_out
    assert "✗ iterations" in sharded.merge_out
    assert "| shards | 0, 1, 2 of 3 merged" in (sharded.dir / "merged.md").read_text()
    # The report of the merged file prints the same summary again.
    code, out, _ = await mcpgate("report", str(sharded.dir / "merged.json"))
    assert code == exitcodes.OK
    assert out == sharded.merge_out


async def one_line_error(*args: str) -> str:
    code, out, err = await mcpgate(*args)
    assert code == exitcodes.INVALID_INPUT, out + err
    assert out == ""
    assert err.count("\n") == 1, err
    assert "Traceback" not in err
    return err.removeprefix("mcpgate: error: ").rstrip("\n")


async def test_merge_refuses_shards_of_different_runs(sharded: Sharded, tmp_path: Path) -> None:
    # A real shard of another run: the same server, another rate.
    other = yaml.safe_load(sharded.config.read_text())
    other["scenarios"]["open"]["rate"] = 15
    other["scenarios"]["open"]["duration"] = "1s"
    config = config_file(tmp_path / "other.yaml", other)
    code, _, err = await mcpgate(
        "run", "-c", str(config), "--shard", "1/3", "--no-progress", "--out", str(tmp_path / "other.json")
    )
    assert code == exitcodes.OK, err
    out = tmp_path / "merged.json"
    said = await one_line_error("merge", str(sharded.files[0]), str(tmp_path / "other.json"), "--out", str(out))
    assert said.startswith(
        f"merge: not shards of one run: {sharded.files[0]} and {tmp_path / 'other.json'} ran different configs"
    )
    assert not out.exists()


async def test_merge_names_what_is_wrong_with_its_files(sharded: Sharded, tmp_path: Path) -> None:
    first, second, third = (str(f) for f in sharded.files)
    data = json.loads(sharded.files[2].read_text())

    def variant(name: str, change: dict[str, Any]) -> str:
        changed = json.loads(json.dumps(data))
        changed["run"].update(change)
        path = tmp_path / name
        path.write_text(json.dumps(changed))
        return str(path)

    copy = tmp_path / "copy-of-0.json"
    shutil.copy(sharded.files[0], copy)
    (tmp_path / "notes.txt").write_text("not json")
    (tmp_path / "other.json").write_text('{"schema": "something/else"}')
    cases = {
        ("merge", first, second): "merge: shard 2 of 3 is missing (given: 0, 1): merge every shard's file, "
        "or pass --allow-missing to merge what is there",
        ("merge", first, second, third, str(copy)): f"merge: shard 0/3 is given twice: {first} and {copy}",
        (
            "merge",
            first,
            second,
            variant("late.json", {"shard": {**data["run"]["shard"], "start_at": "2030-01-01T00:00:00.000Z"}}),
        ): (
            f"merge: not shards of one run: {first} started its load at {data['run']['shard']['start_at']}, "
            f"{tmp_path / 'late.json'} at 2030-01-01T00:00:00.000Z"
        ),
        ("merge", first, variant("four.json", {"shard": {**data["run"]["shard"], "count": 4}})): (
            f"merge: not shards of one run: {first} is shard 0/3, {tmp_path / 'four.json'} is shard 2/4"
        ),
        ("merge", first, variant("whole.json", {"shard": None})): (
            f"{tmp_path / 'whole.json'}: is not a shard's results (it was run without --shard I/N)"
        ),
        ("merge", str(sharded.dir / "merged.json")): (
            f"{sharded.dir / 'merged.json'}: is already a merge (of shards 0, 1, 2); merge the shards' own files"
        ),
        ("merge", str(tmp_path / "notes.txt")): f"{tmp_path / 'notes.txt'}: not JSON",
        ("merge", str(tmp_path / "other.json")): (
            f"{tmp_path / 'other.json'}: not an mcpgate results file "
            "(schema 'something/else', expected 'mcpgate/results/v1')"
        ),
        ("merge", str(tmp_path / "nothing-*.json")): f"{tmp_path / 'nothing-*.json'}: no results file matches",
        ("merge", str(tmp_path / "absent.json")): f"{tmp_path / 'absent.json'}: no such file",
        ("merge", str(tmp_path)): f"{tmp_path}: is a directory",
    }
    for argv, message in cases.items():
        said = await one_line_error(*argv)
        assert said.startswith(message), (argv, said)


async def test_allow_missing_merges_what_is_there_and_says_so(sharded: Sharded, tmp_path: Path) -> None:
    code, out, err = await mcpgate(
        "merge", str(sharded.files[0]), str(sharded.files[2]), "--allow-missing", "--out", str(tmp_path / "m.json")
    )
    merged = read(tmp_path / "m.json")
    assert err == (
        "mcpgate: warning: shard 1 of 3 is missing: these results hold only the other shards' part of the load\n"
    )
    assert merged.run.shard is not None
    assert (merged.run.shard.merged, merged.run.shard.missing) == ([0, 2], [1])
    assert count(merged, "iterations") == 2 * RATE * SECONDS / 3
    assert code == merged.run.exit_code == exitcodes.OK  # 40 iterations: count<50 fails only with all three
    assert "missing: 1" in out
    assert any("shard 1 of 3 is missing" in note for note in merged.run.notes)


async def test_shards_with_different_worker_counts_run_every_vu_and_iteration_once(
    faults: FaultServer, tmp_path: Path
) -> None:
    """A ramp and an arrival-rate scenario smaller than the shard count, over shards of 2, 1 and 3 workers."""
    fault = "ok-shards"
    config = config_file(
        tmp_path / "mcpgate.yaml",
        {
            "target": target(faults.url(fault)),
            "flow": {
                "tools": [{"name": "echo", "arguments": {"text": "{{ scenario }}-{{ vu }}-{{ iteration }}"}}],
                "think_time": "50ms",
            },
            "scenarios": {
                "ramp": {
                    "executor": "ramping-vus",
                    "startVUs": 0,
                    "stages": [{"duration": "1s", "target": 7}, {"duration": "1s", "target": 7}],
                    "gracefulRampDown": "1s",
                },
                "open": {
                    "executor": "constant-arrival-rate",
                    "rate": 10,
                    "timeUnit": "1s",
                    "duration": "2s",
                    "preAllocatedVUs": 2,
                    "maxVUs": 2,
                },
            },
        },
    )
    ran = await run_shards(config, tmp_path, 3, [2, 1, 3])
    assert [code for code, _, _ in ran] == [exitcodes.OK] * 3, [err for _, _, err in ran]
    code, _, err = await mcpgate("merge", str(tmp_path / "shard-*.json"), "--out", str(tmp_path / "merged.json"))
    assert code == exitcodes.OK, err
    merged = read(tmp_path / "merged.json")
    seen = [arguments["text"].split("-") for arguments in calls_seen(faults, fault)]
    calls = [(scenario, int(vu), int(iteration)) for scenario, vu, iteration in seen]
    assert len(set(calls)) == len(calls)  # no VU ran an iteration twice: VU numbers are unique run-wide
    assert {vu for scenario, vu, _ in calls if scenario == "ramp"} == set(range(1, 8))  # the ramp reached 7
    assert {vu for scenario, vu, _ in calls if scenario == "open"} <= {8, 9}  # "open" numbers its VUs after it
    opened = sum(1 for scenario, _, _ in calls if scenario == "open")
    assert opened + count(merged, "dropped_iterations") == 20  # every iteration of the plan started or dropped, once
    assert count(merged, "iterations") == len(calls)
    assert merged.metric("vus_max", "max") == 9
    # Shard 2 has no part of "open" (2 VUs for 3 shards), and says so.
    idle = "shard 2/3 runs nothing of scenario 'open': its 2 VUs run on shards 0 to 1"
    assert idle in read(tmp_path / "shard-2.json").run.notes
    assert idle in merged.run.notes
    # Shard 2 asked for 3 workers but has 2 VUs (3 and 6): never more workers than VUs.
    assert [s.workers for s in shard_of(merged).runs] == [2, 1, 2]


async def test_a_signal_while_waiting_for_the_start_still_writes_the_results(
    peer: PeerFactory, spawn: Spawn, tmp_path: Path
) -> None:
    out = tmp_path / "shard-0.json"
    later = iso(time.time() + 120)
    proc = await spawn("run", "--url", peer("stateful-json"), "--shard", "0/2", "--start-at", later, "--out", str(out))
    assert proc.stderr is not None
    line = await asyncio.wait_for(proc.stderr.readline(), 30)
    assert b"shard 0/2: the preflight passed; the load starts at" in line
    proc.send_signal(signal.SIGTERM)
    stdout, _ = await asyncio.wait_for(proc.communicate(), 15)
    assert proc.returncode == exitcodes.INTERRUPTED
    results = read(out)
    assert results.run.status == "interrupted"
    assert results.run.reason == "stopped by a signal (SIGINT or SIGTERM) before the load started"
    assert results.run.shard is not None
    assert results.run.shard.index == 0
    assert count(results, "http_reqs") == 0  # only the preflight spoke to the server
    assert results.preflight
    assert stdout.decode().startswith("mcpgate: INTERRUPTED (exit 105)")


async def test_a_start_time_just_past_starts_at_once_and_notes_the_lag(peer: PeerFactory, tmp_path: Path) -> None:
    config = {
        "target": {"url": peer("stateful-json")},
        "scenarios": {"one": {"executor": "constant-vus", "vus": 1, "duration": "1s"}},
        "thresholds": {"http_req_failed": ["rate<0.01"]},
    }
    plan = plan_from(tmp_path, config)
    start_at = time.time() - 5
    options = RunOptions(progress=False, summary=False, shard=Shard(0, 2), start_at=start_at, interval=0.5)
    results = await run_plan(plan, options)
    assert results.run.status == "passed", results.run.reason
    assert shard_of(results).lag_s >= 5
    note = next(n for n in results.run.notes if n.startswith("the load started"))
    assert f"after --start-at {iso(start_at)} (the time had passed when the preflight ended)" in note
    assert count(results, "http_reqs") > 0
    assert [t.ok for t in results.thresholds] == [True]


async def test_a_shard_with_no_part_of_any_scenario_sends_nothing_and_judges_nothing(
    peer: PeerFactory, tmp_path: Path
) -> None:
    config = {
        "target": {"url": peer("stateful-json")},
        "scenarios": {"one": {"executor": "constant-vus", "vus": 1, "duration": "1s"}},
        "thresholds": {"http_req_failed": ["rate<0.01"]},
    }
    options = RunOptions(progress=False, summary=False, shard=Shard(1, 2), interval=0.5)
    results = await run_plan(plan_from(tmp_path, config), options)
    assert results.run.status == "passed", results.run.reason
    assert count(results, "http_reqs") == 0
    assert results.thresholds == []  # "no data" would fail it; the merge judges the run
    assert any(n.startswith("shard 1/2 has no part of any scenario") for n in results.run.notes)


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (("--shard", "2/2"), "--shard: expected I/N with I counting from 0 to N-1"),
        (("--shard", "first"), "--shard: expected I/N"),
        (("--start-at", "2020-01-01T00:00:00Z"), "--start-at: 2020-01-01T00:00:00.000Z was "),
        (("--start-at", "2026-11-26T10:00:00"), "--start-at: 2026-11-26T10:00:00 has no zone"),
        (("--start-at", "soon"), "--start-at: expected an ISO 8601 time with a zone"),
        (("--profile", "breakpoint", "--shard", "0/2"), "--shard: a breakpoint search runs on one machine"),
    ],
)
async def test_bad_scale_out_flags_are_one_line_before_any_traffic(flags: tuple[str, ...], message: str) -> None:
    said = await one_line_error("run", "--url", "http://127.0.0.1:1/mcp", *flags)
    assert said.startswith(message), said


def test_the_series_a_merge_reads_hold_every_sample_even_after_the_last_tick() -> None:
    """A run that ends just after a timeline tick keeps its last samples in the interval histograms."""
    from mcpgate.metrics.registry import Metrics
    from mcpgate.metrics.timeline import Timeline
    from mcpgate.results.build import series_entries

    metrics = Metrics()
    trend = metrics.trend("http_req_duration", (("method", "tools/call"),), track_interval=True)
    timeline = Timeline(metrics)
    for ms in (1.0, 2.0, 3.0):
        trend.add(ms)
    timeline.tick(1.0, 1, 1)
    for ms in (400.0, 500.0):  # after the last tick: never folded into the total
        trend.add(ms)
    (entry,) = series_entries(metrics)
    hist = new_histogram()
    assert entry.hdr is not None
    hist.decode_and_add(entry.hdr)
    assert hist.get_total_count() == entry.values["count"] == 5
    assert hist.get_max_value() >= 500_000


async def test_shards_without_a_shared_start_merge_by_offset_if_they_ran_together(
    sharded: Sharded, tmp_path: Path
) -> None:
    """Shards run without --start-at: merged with a warning; two that never ran at the same time are two runs."""

    def copy(index: int, **run: Any) -> Path:
        data = json.loads(sharded.files[index].read_text())
        data["run"]["shard"]["start_at"] = None
        data["run"].update(run)
        path = tmp_path / f"shard-{index}.json"
        path.write_text(json.dumps(data))
        return path

    files = [str(copy(i)) for i in range(3)]
    code, _, err = await mcpgate("merge", *files, "--out", str(tmp_path / "merged.json"))
    assert code == exitcodes.THRESHOLDS_FAILED  # the same run as before: count<50 fails on 60
    assert "mcpgate: warning: the shards did not share a --start-at" in err
    merged = read(tmp_path / "merged.json")
    assert count(merged, "iterations") == RATE * SECONDS
    assert merged.timeseries is not None

    ended = sharded.shards[0].run.ended_at
    files[1] = str(copy(1, started_at="2030-01-01T00:00:00.000Z", ended_at="2030-01-01T00:00:10.000Z"))
    said = await one_line_error("merge", *files)
    assert said == (
        f"merge: not shards of one run: {files[0]} ended ({ended}) before {files[1]} started (2030-01-01T00:00:00.000Z)"
    )


async def test_timelines_of_different_intervals_are_left_out_with_a_warning(sharded: Sharded, tmp_path: Path) -> None:
    data = json.loads(sharded.files[1].read_text())
    data["timeseries"]["interval_s"] = 2.0
    changed = tmp_path / "shard-1.json"
    changed.write_text(json.dumps(data))
    files = [str(sharded.files[0]), str(changed), str(sharded.files[2])]
    code, _, err = await mcpgate("merge", *files, "--out", str(tmp_path / "merged.json"))
    assert code == exitcodes.THRESHOLDS_FAILED
    assert "the shards' timelines have different intervals (1s, 2s; run every shard with the same --interval)" in err
    merged = read(tmp_path / "merged.json")
    assert merged.timeseries is None
    assert count(merged, "iterations") == RATE * SECONDS  # everything else merges as ever


async def test_the_merge_judges_drift_on_the_merged_timeline(sharded: Sharded, tmp_path: Path) -> None:
    """Each shard records its steady load; the merge judges drift over the union's windows."""
    code, out, err = await mcpgate(
        "merge",
        *(str(f) for f in sharded.files),
        "--out",
        str(tmp_path / "m.json"),
        "--drift-window",
        "1s",
        "--max-drift",
        "off",
    )
    assert code == exitcodes.THRESHOLDS_FAILED, out + err  # the union's iterations count<50, not drift
    merged = read(tmp_path / "m.json")
    assert merged.run.reason.startswith("iterations count<50 failed")
    assert merged.drift is not None
    steady = sharded.shards[0].drift.steady if sharded.shards[0].drift else None
    assert steady is not None
    assert merged.drift.steady == steady
    assert merged.drift.judged, merged.drift.note
    # Each window's requests are the shards' requests in the same timeline intervals, added.
    assert merged.timeseries is not None
    points = merged.timeseries.points
    interval = merged.timeseries.interval_s
    for window, field in ((merged.drift.first, "first_count"), (merged.drift.last, "last_count")):
        assert window is not None
        inside = [i for i, p in enumerate(points) if p.t - interval >= window.start - 0.3 and p.t <= window.end + 0.3]
        assert inside
        requests = sum(
            s.timeseries.points[i].requests
            for s in sharded.shards
            if s.timeseries is not None
            for i in inside
            if i < len(s.timeseries.points)
        )
        row = next(r for r in merged.drift.rows if r.metric == "http_req_duration")
        assert getattr(row, field) == requests, (field, inside)
    assert "drift" in out.lower()
