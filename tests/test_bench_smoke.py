"""A few-second smoke of the benchmark harness (bench/): the benchmarks themselves are not tests.

It starts the nginx+njs stub MCP server, probes it in both protocol eras, and runs the soak
benchmark's own code path (``bench.soak.soak``: stub, ``mcpgate run`` pinned and sampled, results
parsed, report written) for about three seconds at a low fixed rate. The parsers it relies on
(/proc status and stat lines, the results timeline) are checked on fixed text.

Needs nginx and its njs module (Debian: nginx-light, libnginx-mod-http-js; bench/setup.sh installs
them). Without them the stub tests are skipped, unless MCPGATE_REQUIRE_PEERS=1 (as `make test`
sets it) makes that a failure.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench import common, peers, streams, suite
from bench.peers import PeerRun, parse_k6, parse_locust, parse_wrk
from bench.soak import SoakOptions, config_yaml, soak, summary


def need_stub() -> None:
    reason = common.stub_missing()
    if reason is None:
        return
    if os.environ.get("MCPGATE_REQUIRE_PEERS") == "1":
        pytest.fail(f"benchmark stub missing: {reason}")
    pytest.skip(f"benchmark stub missing: {reason}")


# -- parsers, on fixed text -----------------------------------------------------------------------

STATUS = """Name:\tpython3
State:\tS (sleeping)
VmPeak:\t  312000 kB
VmHWM:\t   61234 kB
VmRSS:\t   58111 kB
Threads:\t2
"""


def test_status_fields_are_read_in_kib() -> None:
    assert common.parse_status_kb(STATUS, "VmRSS") == 58111
    assert common.parse_status_kb(STATUS, "VmHWM") == 61234
    assert common.parse_status_kb(STATUS, "VmSwap") is None
    assert common.parse_status_kb("VmRSS:\t\n", "VmRSS") is None


def test_own_rss_and_cpu_are_sampled() -> None:
    fields = common.read_status_kb(os.getpid(), "VmRSS", "VmHWM")
    assert fields["VmRSS"] is not None
    assert fields["VmHWM"] is not None
    assert fields["VmHWM"] >= fields["VmRSS"] > 1000
    cpu = common.read_cpu_seconds(os.getpid())
    assert cpu is not None
    assert cpu > 0


def test_stat_cpu_survives_a_process_name_with_spaces_and_parens() -> None:
    ticks = os.sysconf("SC_CLK_TCK")
    line = f"4242 (a (b) c) S 1 4242 4242 0 -1 4194560 100 0 0 0 {3 * ticks} {ticks} 0 0 20 0 1 0 5 0 0"
    assert common.parse_stat_cpu_seconds(line) == pytest.approx(4.0)


def test_requests_are_mapped_to_wall_clock_through_the_timeline() -> None:
    results = {
        "run": {"started_at": "2026-01-01T00:00:00.000Z"},
        "timeseries": {"points": [{"t": 1.0, "requests": 100}, {"t": 2.0, "requests": 300}]},
    }
    curve = common.cumulative_requests(results)
    t0 = common.parse_utc("2026-01-01T00:00:00Z")
    assert curve == [(t0, 0), (t0 + 1, 100), (t0 + 2, 400)]
    assert common.requests_at(curve, t0 - 5) == 0
    assert common.requests_at(curve, t0 + 0.5) == pytest.approx(50)
    assert common.requests_at(curve, t0 + 1.5) == pytest.approx(250)
    assert common.requests_at(curve, t0 + 60) == 400
    assert common.cumulative_requests(None) == []


def test_affinity_mask_and_stub_config() -> None:
    assert common.affinity_mask(0) == "1"
    assert common.affinity_mask(3) == "1000"
    conf = common.render_stub_config(Path("/tmp/x"), 8123, 1, "/m/ngx_http_js_module.so")
    assert "listen 127.0.0.1:8123" in conf
    assert "worker_cpu_affinity 10;" in conf
    assert "load_module /m/ngx_http_js_module.so;" in conf
    assert "access_log off;" in conf
    unpinned = common.render_stub_config(Path("/tmp/x"), 8123, None, "/m.so")
    assert "worker_cpu_affinity 1" not in unpinned


def test_soak_config_is_valid_for_mcpgate(tmp_path: Path) -> None:
    from mcpgate.config.assemble import Overrides, assemble
    from mcpgate.plan.build import build_plan

    opts = SoakOptions()
    for executor in ("arrival", "vus"):
        path = tmp_path / f"{executor}.yaml"
        path.write_text(config_yaml("http://127.0.0.1:9/mcp", opts, executor=executor, rate=123, duration_s=30))
        plan = build_plan(assemble(path, Overrides()))
        assert [s.name for s in plan.scenarios] == ["soak"]


# -- the stub and the soak code path, for real ----------------------------------------------------


def probe(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mcpgate", "probe", url, *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_stub_speaks_both_protocol_eras() -> None:
    need_stub()
    with common.running_stub() as stub:
        handshake = probe(stub.url, "--protocol-version", "2025-11-25", "--call", "echo")
        assert handshake.returncode == 0, handshake.stdout + handshake.stderr
        assert "ok: 5 steps" in handshake.stdout
        assert "session/delete" in handshake.stdout
        modern = probe(stub.url, "--call", "add", "--args", '{"a": 2, "b": 3}', "--json")
        assert modern.returncode == 0, modern.stdout + modern.stderr
        report = json.loads(modern.stdout)
        assert report["protocol_version"] == "2026-07-28"
        assert report["server_info"] == {"name": "mcpgate-stub", "version": "1.0.0"}
        assert [s["method"] for s in report["steps"]] == ["server/discover", "tools/list", "tools/call"]
        delayed = probe(stub.delay_url(40), "--call", "echo", "--json")
        assert delayed.returncode == 0, delayed.stdout + delayed.stderr
        call = json.loads(delayed.stdout)["steps"][-1]
        assert call["method"] == "tools/call"
        assert call["duration_ms"] >= 40
        workers = list(stub.workers)
        master = stub.proc.pid
    assert not common.alive(master)
    assert workers
    assert not any(common.alive(pid) for pid in workers)


def test_soak_code_path_end_to_end(tmp_path: Path) -> None:
    need_stub()
    opts = SoakOptions(
        requests=2000,
        checkpoint=500,
        rate=200,  # iterations/s: 1,000 requests/s, far below what any machine does
        max_seconds=60,
        sample_interval=0.25,
        out_dir=tmp_path,
        name="smoke",
    )
    report = soak(opts, log=lambda _text: None)
    run, load, memory = report["run"], report["load"], report["memory"]
    assert run["exit_code"] == 0, run
    assert not run["timed_out"]
    assert report["plan"]["duration_s"] <= 4
    assert load["requests"] >= 2000
    assert load["requests_per_iteration"] == 5
    assert load["http_req_failed_rate"] == 0
    assert report["verdict"]["target_reached"]
    assert memory["samples"] >= 4
    for key in ("rss_at_checkpoint_mb", "rss_at_target_mb", "peak_rss_mb", "vm_hwm_mb"):
        assert memory[key] is not None
        assert 10 < memory[key] < 2000, (key, memory[key])
    assert memory["requests_at_checkpoint_sample"] >= 500
    assert memory["ratio"] == pytest.approx(memory["rss_at_target_mb"] / memory["rss_at_checkpoint_mb"], rel=0.01)
    assert memory["peak_rss_mb"] >= memory["rss_at_target_mb"]
    saved = json.loads((tmp_path / "smoke.json").read_text())
    assert saved["schema"] == "mcpgate-bench/soak/v1"
    assert saved["samples"]
    assert all(row[2] > 0 for row in saved["samples"])
    requests = [row[1] for row in saved["samples"]]
    assert requests == sorted(requests)
    assert requests[-1] >= 2000
    text = (tmp_path / "smoke.txt").read_text()
    assert "RSS after" in text
    assert text.strip() == summary(saved)


# -- the suite (bench/suite.py, bench/peers.py) ----------------------------------------------------

WRK_REPORT = """Running 3s test @ http://127.0.0.1:18080/mcp
  1 threads and 50 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     2.81ms    1.15ms   7.90ms   80.61%
    Req/Sec    18.09k     2.02k   21.79k    86.67%
  Latency Distribution
     50%  512.00us
     75%    2.65ms
     90%    4.14ms
     99%    1.20s
  53935 requests in 3.00s, 12.40MB read
  Non-2xx or 3xx responses: 7
Requests/sec:  17974.71
Transfer/sec:      4.13MB
"""


def blank_run(name: str) -> PeerRun:
    return PeerRun(name, [], 0, False, 0.0, 0.0, None, None)


def test_peer_reports_are_parsed() -> None:
    wrk = blank_run("wrk")
    parse_wrk(WRK_REPORT, wrk)
    assert (wrk.requests, wrk.seconds, wrk.failed) == (53935, 3.0, 7)
    assert wrk.latency_ms == {"p(50)": 0.512, "p(75)": 2.65, "p(90)": 4.14, "p(99)": 1200.0}
    k6 = blank_run("k6")
    summary = {
        "metrics": {
            "http_reqs": {"count": 1000, "rate": 250.0},
            "checks": {"passes": 795, "fails": 5},
            "http_req_failed": {"passes": 2, "fails": 998},
            "http_req_duration": {"med": 1.5, "p(95)": 4.0, "p(99)": 9.0, "max": 20.0},
            "iterations": {"count": 200},
        }
    }
    parse_k6(summary, k6)
    assert (k6.requests, k6.seconds, k6.failed, k6.requests_per_s) == (1000, 4.0, 7, 250.0)
    assert k6.extra["iterations"] == 200
    locust = blank_run("locust")
    stats = [
        {"num_requests": 300, "num_failures": 1, "start_time": 100.0, "last_request_timestamp": 104.0,
         "total_response_time": 600.0},
        {"num_requests": 100, "num_failures": 0, "start_time": 100.5, "last_request_timestamp": 105.0,
         "total_response_time": 200.0},
    ]  # fmt: skip
    parse_locust(stats, locust, 9.0)
    assert (locust.requests, locust.failed, locust.seconds, locust.latency_ms["avg"]) == (400, 1, 5.0, 2.0)


def test_suite_runs_every_peer_and_writes_its_tables(tmp_path: Path) -> None:
    need_stub()
    missing = peers.missing_peers()
    if missing:
        if os.environ.get("MCPGATE_REQUIRE_PEERS") == "1":
            pytest.fail(f"benchmark peers missing: {missing} (bench/setup.sh)")
        pytest.skip(f"benchmark peers missing: {missing} (bench/setup.sh)")
    options = suite.Options(seconds=1.5, vus=4, parts=("throughput", "startup"), out_dir=tmp_path, max_seconds=120)
    report = suite.run_suite(options, say=lambda text: None)
    runs = report["throughput"]["runs"]
    for name in ("mcpgate", "k6", "locust", "wrk"):
        assert runs[name]["requests"] > 0, runs[name]
        assert runs[name]["failed"] == 0, runs[name]
    assert runs["mcpgate"]["workers"] == 1
    assert runs["mcpgate"]["cpu_s"] > 0
    assert set(report["throughput"]["ratios"]) == {"mcpgate/k6", "mcpgate/locust", "mcpgate/wrk"}
    assert len(report["startup"]["seconds"]) == 5
    assert set(report["verdicts"]) == {"throughput", "startup"}
    text = suite.summary(report)
    assert "| mcpgate (checks on) |" in text
    assert "| CLI to first request (median of 5) |" in text


# -- density and held streams (issue 8) ------------------------------------------------------------

LIMITS = """Limit                     Soft Limit           Hard Limit           Units
Max cpu time              unlimited            unlimited            seconds
Max open files            20000                524288               files
Max locked memory         8388608              8388608              bytes
"""


def test_fd_limits_and_the_stubs_connections() -> None:
    assert common.parse_nofile_limit(LIMITS) == (20000, 524288)
    assert common.parse_nofile_limit("Max open files  unlimited  unlimited  files\n") == (None, None)
    with pytest.raises(ValueError, match="Max open files"):
        common.parse_nofile_limit("Max cpu time unlimited unlimited seconds\n")
    own = common.read_nofile_limit(os.getpid())
    assert own is not None
    assert own[0] is not None
    assert own[0] >= common.count_fds(os.getpid()) > 0  # type: ignore[operator]
    # Room for every connection of a 10,000-VU run where the hard limit allows it; never above it.
    assert common.stub_limits(20_000) == (20_000, 19_744)
    assert common.stub_limits(1_000_000) == (common.STUB_MAX_NOFILE, common.STUB_MAX_NOFILE - 256)
    assert common.stub_limits(1024) == (1024, 768)
    conf = common.render_stub_config(Path("/tmp/x"), 8123, None, "/m.so", limits=(20_000, 19_744))
    assert "worker_rlimit_nofile 20000;" in conf
    assert "worker_connections 19744;" in conf
    raised = common.raise_nofile(64)  # never lowers a limit
    assert raised["soft"] == raised["soft_before"]


def test_progress_lines_give_the_streams_held() -> None:
    text = "\n".join(
        [
            "running 10s/4m40s  vus 200/2000  iterations 210  req/s 80.5  not ok 0%  p95 12.1ms  streams 199",
            "some other line",
            "running 1m50s/4m40s  vus 2000/2000  iterations 12,034  req/s 140.0  not ok 0.01%  p95 9.0ms"
            "  streams 2,000",
            "running 2m/4m40s  vus 2000/2000  iterations 13,000  req/s 140.0  not ok 0%  p95 9.0ms",
        ]
    )
    assert streams.parse_progress(text) == [(10.0, 200, 199), (110.0, 2000, 2000)]


def test_streams_held_through_the_hold_are_counted_from_the_histogram() -> None:
    from mcpgate.metrics.registry import new_histogram

    hist = new_histogram()
    for seconds in (2.0, 179.0, 180.5, 185.0, 190.0):  # µs, as mcpgate's results keep them
        hist.record_value(int(seconds * 1_000_000))
    encoded = hist.encode().decode("ascii")
    assert streams.count_at_least(encoded, 180_000) == 3
    assert streams.count_at_least(encoded, 1_000) == 5
    assert streams.count_at_least(encoded, 200_000) == 0
    assert streams.count_at_least(None, 1) == 0


def test_streams_config_is_valid_for_mcpgate(tmp_path: Path) -> None:
    from mcpgate.config.assemble import Overrides, assemble
    from mcpgate.plan.build import build_plan

    for transport in streams.TRANSPORTS:
        o = streams.StreamsOptions(transport=transport)
        path = tmp_path / f"{transport}.yaml"
        path.write_text(streams.config_yaml("http://127.0.0.1:9/mcp", o))
        plan = build_plan(assemble(path, Overrides()))
        (scenario,) = plan.scenarios
        assert scenario.max_vus == 2000
        assert scenario.duration == pytest.approx(o.run_s)  # the run ends with the hold
        assert "--transport" not in streams.server_command(9, "streamable-http")
        assert streams.server_command(9, "sse")[-2:] == ["--transport", "sse"]


def test_density_rows_and_table() -> None:
    mc = blank_run("mcpgate")
    mc.peak_rss_mb, mc.peak_tree_rss_mb, mc.requests, mc.failed, mc.seconds = 240.0, 250.0, 100_000, 10, 20.0
    mc.extra["iterations"] = 20_000
    k6 = blank_run("k6")
    k6.peak_rss_mb, k6.peak_tree_rss_mb, k6.requests, k6.seconds = 3500.0, None, 50_000, 20.0
    k6.extra |= {"iterations": 10_000, "memory_capped": 12288.0}
    rows = {"mcpgate_10000": suite._density_row(mc, 10_000), "k6_10000": suite._density_row(k6, 10_000)}
    assert rows["mcpgate_10000"]["peak_mb"] == 250.0  # the tree, when it is above the main process
    assert rows["mcpgate_10000"]["mb_per_vu"] == 0.025
    assert rows["mcpgate_10000"]["failed_rate"] == 0.0001
    assert rows["mcpgate_10000"]["iterations_per_vu_s"] == 0.1
    assert rows["k6_10000"]["peak_mb"] == 3500.0
    de = {"seconds": 20.0, "sizes": [10_000], "iterations_per_vu_s_bound": 0.8, "memory_ratio_k6/mcpgate_10000": 14.0}
    table = suite.density_table(de | rows)
    assert table[2].startswith("| mcpgate, 10,000 | 250 MB | 0.025 |  | 100,000 |")
    assert table[3].startswith("| k6, 10,000 (memory cap hit) | 3,500 MB | 0.350 | 14.0x | 50,000 |")


def test_streams_part_end_to_end(tmp_path: Path) -> None:
    held = streams.StreamsOptions(
        sessions=20, ramp_s=1.0, settle_s=1.0, hold_s=3.0, think="0.5s..1s", sample_interval=0.25
    )
    options = suite.Options(parts=("streams",), out_dir=tmp_path, max_seconds=120, streams=held)
    report = suite.run_suite(options, say=lambda text: None)
    part = report["streams"]
    assert part["mcpgate_exit_code"] == 0, (part["stderr_tail"], part["server_log_tail"])
    held_streams, steps = part["streams"], part["steps"]
    assert held_streams["max_open"] == 20
    assert held_streams["held_through_hold"] == 20
    assert held_streams["opened"] == 20  # none reopened: each session's stream lived its whole life
    assert (held_streams["closed"], held_streams["stalled"]) == (0, 0)
    assert steps["error_rate"] == 0
    assert steps["tool_calls"] >= 20
    mc, server = part["mcpgate"], part["server"]
    assert mc["fds_peak"] >= 20  # a socket per held stream at least
    assert mc["fd_soft_limit"] >= mc["fds_peak"]
    assert 10 < mc["peak_rss_mb"] < 2000
    assert mc["rss_at_load_start_mb"] is not None
    assert server["fds_peak"] >= 20
    assert server["peak_rss_mb"] > 10
    assert server["alive_at_end"]
    assert part["verdict"]["met"]
    assert not part["verdict"]["at_target_scale"]
    assert report["verdicts"] == {"streams": True}
    text = suite.summary(report)
    assert "| 20 sessions holding their GET stream for 3 s (SDK example server)" in text
    json.dumps(report)  # the suite's JSON can hold it


def test_memory_per_session_is_the_slope_over_the_ramp() -> None:
    points = [{"t": float(t), "vus": 10 * t} for t in range(1, 21)]  # 10 new VUs a second for 20 s
    assert streams.vus_at(points, 2.5) == pytest.approx(25)
    assert streams.vus_at(points, 25) is None
    start = 1000.0

    def sample(t: float, kib: int) -> common.Sample:
        return common.Sample(start + t, t, kib, kib, kib, 0.0, 1)

    # 30 MiB of one-time costs in the first seconds, then 20 KiB per VU: the slope is the 20.
    samples = [sample(t / 2, (20_000 if t < 4 else 50_000) + 20 * 5 * t) for t in range(41)]
    assert streams.marginal_kib(samples, points, start, 20.0) == pytest.approx(20.0)
    assert streams.marginal_kib(samples[:2], points, start, 20.0) is None
