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

from bench import common, peers, suite
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
    from mcpgate.plan import build_plan

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
