"""The runner's pieces that need no SIPp: statistics parsing, percentiles, node sampling,
the progress line, option checks."""

from __future__ import annotations

import io
import json
import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from loadtest.progress import ProgressLine, status_text
from loadtest.runner import (
    LoadOptions,
    NodeSampler,
    RunError,
    StatTail,
    counts,
    failures,
    percentile,
    read_rtt,
    response_times,
    summarize,
)

HEADER = "StartTime;TotalCallCreated;CurrentCall;SuccessfulCall(C);FailedCall(C);" \
         "FailedMaxUDPRetrans(C);FailedUnexpectedMessage(C);caller_hangup(C);\n"


def test_stat_tail_follows_a_growing_file(tmp_path: Path) -> None:
    path = tmp_path / "stat.csv"
    tail = StatTail(path)
    assert tail.latest() == {}  # not there yet
    path.write_text(HEADER + "x;1;1;0;0;0;0;0;\n")
    assert counts(tail.latest(), ("caller_hangup",))["created"] == 1
    with path.open("a") as handle:
        handle.write("x;5;2;2;1;0;1;1;\nx;9;")  # a row still being written
    row = tail.latest()
    assert counts(row, ("caller_hangup",)) == {
        "created": 5, "successful": 2, "failed": 1, "current": 2, "retransmissions": 0,
        "caller_hangup": 1}
    assert failures(row) == {"FailedUnexpectedMessage": 1}
    with path.open("a") as handle:
        handle.write("3;4;5;0;0;0;\n")
    assert counts(tail.latest(), ())["created"] == 9


def test_percentiles_match_numpy() -> None:
    values = [float(v) for v in np.random.default_rng(7).exponential(100, 1001)]
    ordered = sorted(values)
    for q in (0, 50, 90, 95, 99, 100):
        assert percentile(ordered, q) == pytest.approx(float(np.percentile(values, q)))
    stats = summarize(values)
    assert stats["count"] == 1001 and stats["max"] == round(max(values), 3)
    assert stats["p95"] == round(float(np.percentile(values, 95)), 3)
    assert summarize([]) == {"count": 0}


def test_rtt_rows_to_response_times(tmp_path: Path) -> None:
    path = tmp_path / "queue_caller_1_rtt.csv"
    path.write_text("Date_ms;response_time_ms;rtd_no\n100;20;answer\n900;40;answer\n"
                    "1500;5300;connected\n2100;5100;connected\n2500;3;bye\n")
    rows = read_rtt([path])
    assert len(rows) == 5
    timing = response_times(rows, talk_ms=5000.0, offset=2.0)
    assert timing["response_times"]["answer"]["count"] == 2
    assert timing["response_times"]["answer"]["mean"] == 30.0
    assert timing["response_times"]["bye"]["count"] == 1
    wait = timing["queue_wait"]
    assert (wait["count"], wait["min"], wait["max"]) == (2, 100.0, 300.0)
    series = timing["response_time_series"]
    assert [p["t"] for p in series["answer"]] == [2.0]  # both in the run's third second
    assert [(p["t"], p["mean"]) for p in series["queue_wait"]] == [(3.0, 300.0), (4.0, 100.0)]


def test_node_sampler_reads_proc() -> None:
    sampler = NodeSampler(os.getpid(), None)
    sample = sampler.sample()
    assert sampler.source == "proc"
    assert sample["cpu_seconds"] > 0 and sample["rss_bytes"] > 1_000_000
    assert sample["main_cpu_seconds"] <= sample["cpu_seconds"]
    with pytest.raises(RunError, match="no such process"):
        NodeSampler(2**22 + 12345, None)


@pytest.fixture
def healthz() -> Iterator[tuple[str, dict[str, object]]]:
    body: dict[str, object] = {"status": "ok", "calls": 7, "registrations": {"contacts": 12},
                               "process": {"cpu_seconds": 1.5, "rss_bytes": 123456}}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            data = json.dumps(body).encode()
            self.send_response(200 if self.path == "/healthz" else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", body
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_node_sampler_reads_healthz(healthz: tuple[str, dict[str, object]]) -> None:
    url, body = healthz
    sampler = NodeSampler(None, url)
    assert sampler.sample() == {"calls": 7, "contacts": 12, "cpu_seconds": 1.5,
                                "rss_bytes": 123456}
    assert sampler.source == "healthz"
    del body["process"]  # a node that does not report itself: calls only, source none
    assert sampler.sample() == {"calls": 7, "contacts": 12}
    assert sampler.source is None
    assert NodeSampler(None, "http://127.0.0.1:9").sample() == {}  # nobody there


def test_progress_line() -> None:
    text = status_text(elapsed=12.2, duration=60, started=1200, succeeded=1100, failed=3,
                       rate=99.96, current=97, cpu_percent=35.4, rss_bytes=120_000_000)
    assert text == ("[   12s/60s] calls 1200 started, 1100 ok, 3 failed, 97 up | 100.0/s | "
                    "node cpu 35% rss 120MB")
    tty = io.StringIO()
    line = ProgressLine(stream=tty, tty=True)
    line.update("abcdef")
    line.update("xy")
    line.close()
    assert tty.getvalue() == "\rabcdef\rxy    \n"
    log = io.StringIO()
    line = ProgressLine(stream=log, tty=False, log_interval=3600)
    line.update("first")
    line.update("second")  # within the interval: not logged
    line.message("phase")
    assert log.getvalue() == "first\nphase\n"
    quiet = io.StringIO()
    ProgressLine(stream=quiet, enabled=False).update("x")
    assert quiet.getvalue() == ""


def test_options_are_checked(tmp_path: Path) -> None:
    ok = LoadOptions(target="127.0.0.1:5060", cps=2.5, agents=3, duration=4, out=tmp_path)
    assert ok.calls == 10
    assert ok.parameters()["out"] == str(tmp_path)
    for bad in ({"cps": 0}, {"agents": 0}, {"transport": "sctp"}, {"max_wait": 0},
                {"talk_time": -1}, {"register_from_agent_port": True, "transport": "tcp"},
                {"register_from_agent_port": True, "register": False}):
        args = {"target": "127.0.0.1:5060", "cps": 1.0, "agents": 1, "duration": 1.0,
                "out": tmp_path, **bad}
        with pytest.raises(ValueError):
            LoadOptions(**args)  # type: ignore[arg-type]
