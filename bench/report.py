#!/usr/bin/env python3
"""Render an `isol8 bench --json` result as the markdown tables of
docs/benchmarks.md. Usage: bench/report.py RESULT.json"""
import json
import sys

LABELS = [
    ("cold", "isol8, cold (no warm container)"),
    ("warm", "isol8, warm, library"),
    ("ttfb", "isol8, warm, first output byte"),
    ("cli", "isol8 run, warm, CLI end to end"),
    ("session", "isol8, session run (its interpreter), library"),
    ("api_exec", "baseline: exec via the Docker API"),
    ("docker_exec", "baseline: docker exec"),
    ("docker_run", "baseline: docker run --rm"),
]


def fmt(s, key):
    return "n/a" if s.get("n", 0) == 0 else f"{s[key]:.1f}"


def main(path):
    d = json.load(open(path))
    print(f"isol8 {d['version']}, {d['cores']} cores; milliseconds; "
          "ratio = exec-via-API p50 / this p50\n")
    print("| runtime | measure | p50 | p90 | p99 | max | vs API exec |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for rt, m in d["runtimes"].items():
        base = m["api_exec"].get("p50")
        for i, (key, label) in enumerate(LABELS):
            s = m.get(key, {})
            ratio = ""
            if base and s.get("n") and key != "api_exec":
                r = base / s["p50"]
                ratio = f"{r:.1f}x faster" if r >= 1 else f"{1/r:.1f}x slower"
            print(f"| {rt if i == 0 else ''} | {label} | {fmt(s, 'p50')} | "
                  f"{fmt(s, 'p90')} | {fmt(s, 'p99')} | {fmt(s, 'max')} | "
                  f"{ratio} |")
    print("\n| in flight | containers | jobs | jobs/s | p50 ms | p99 ms | errors |")
    print("|---:|---|---:|---:|---:|---:|---:|")
    for t in d["throughput"]:
        lat = t["latency"]
        print(f"| {t['concurrency']} | {'scrubbed reuse' if t['reuse'] else 'one-use'} "
              f"| {t['jobs']} | {t['jobs_per_s']:.1f} | {fmt(lat, 'p50')} | "
              f"{fmt(lat, 'p99')} | {lat['errors']} |")
    print(f"\npeak RSS of the benchmarking isol8 process: "
          f"{d['peak_rss_kb'] / 1024:.1f} MB")


if __name__ == "__main__":
    main(sys.argv[1])
