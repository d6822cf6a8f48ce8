#!/usr/bin/env python3
"""Load-test a running `seq2seq serve` and print one JSON object.

    python scripts/load_test.py http://127.0.0.1:8000 --clients 32 --seconds 30
    python scripts/load_test.py http://127.0.0.1:8000 --clients 32 --requests 10000

Closed loop: each of N clients keeps one keep-alive connection and sends its next request as soon
as the previous answer arrives, one sentence per request by default, taken in turn from --input.
Stops after --seconds or --requests, whichever comes first. Prints requests/s, sentences/s, latency
percentiles (ms), errors by kind, and the server's resident memory (from GET /stats) before and
after. Only loopback or this machine's own addresses should be targets.
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import statistics
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    args = parse_args()
    url = urlsplit(args.url)
    sentences = [s for s in Path(args.input).read_text(encoding="utf-8").splitlines() if s.strip()]
    if not sentences:
        sys.exit(f"{args.input} holds no sentences")
    before = get_json(url, "/stats")
    result = run(url, sentences, args)
    after = get_json(url, "/stats")
    result["server_rss_mb_before"] = _mb(before.get("rss_bytes"))
    result["server_rss_mb_after"] = _mb(after.get("rss_bytes"))
    result["server_requests_total"] = after.get("requests")
    result["server_decoding_calls"] = after.get("calls", 0) - before.get("calls", 0)
    print(json.dumps(result, indent=1))


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("url", help="the server, e.g. http://127.0.0.1:8000")
    p.add_argument("--clients", type=int, default=1, help="concurrent closed-loop clients")
    p.add_argument("--seconds", type=float, default=30.0, help="stop after this long")
    p.add_argument("--requests", type=int, default=0, help="stop after this many requests (0: no limit)")
    p.add_argument("--lines", type=int, default=1, help="sentences per request")
    p.add_argument("--beam", type=int, help="beam_size to ask for (default: the server's)")
    p.add_argument(
        "--input",
        default=str(ROOT / "data" / "multi30k" / "test_2016_flickr.en"),
        help="sentences to send, one per line, in turn",
    )
    return p.parse_args()


def run(url, sentences: list[str], args: argparse.Namespace) -> dict:
    lock = threading.Lock()
    feed = itertools.cycle(sentences)
    latencies: list[float] = []
    errors: dict[str, int] = {}
    sent = itertools.count()  # a request number per request, shared: --requests bounds the total
    deadline = time.monotonic() + args.seconds

    def client() -> None:
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
        while time.monotonic() < deadline and (not args.requests or next(sent) < args.requests):
            with lock:
                body = {"text": [next(feed) for _ in range(args.lines)]}
            if args.beam:
                body["beam_size"] = args.beam
            start = time.perf_counter()
            try:
                conn.request("POST", "/translate", json.dumps(body), {"Content-Type": "application/json"})
                response = conn.getresponse()
                answer = response.read()
                ok = response.status == 200 and len(json.loads(answer)["translations"]) == args.lines
                kind = None if ok else f"HTTP {response.status}"
            except (OSError, http.client.HTTPException, ValueError, KeyError) as e:
                kind = type(e).__name__
                conn.close()
                conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
            seconds = time.perf_counter() - start
            with lock:
                if kind is None:
                    latencies.append(seconds)
                else:
                    errors[kind] = errors.get(kind, 0) + 1
        conn.close()

    threads = [threading.Thread(target=client) for _ in range(args.clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    ms = sorted(x * 1000 for x in latencies)
    cuts = statistics.quantiles(ms, n=100, method="inclusive") if len(ms) > 1 else ms * 99
    return {
        "clients": args.clients,
        "lines_per_request": args.lines,
        "seconds": round(elapsed, 2),
        "requests": len(latencies),
        "requests_per_s": round(len(latencies) / elapsed, 1),
        "sentences_per_s": round(len(latencies) * args.lines / elapsed, 1),
        "latency_ms": {
            "p50": round(cuts[49], 1),
            "p95": round(cuts[94], 1),
            "p99": round(cuts[98], 1),
            "max": round(ms[-1], 1),
        }
        if ms
        else None,
        "errors": sum(errors.values()),
        "errors_by_kind": errors,
    }


def get_json(url, path: str) -> dict:
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    try:
        conn.request("GET", path)
        return json.loads(conn.getresponse().read())
    finally:
        conn.close()


def _mb(n: int | None) -> float | None:
    return None if n is None else round(n / 2**20, 1)


if __name__ == "__main__":
    main()
