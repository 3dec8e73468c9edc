#!/usr/bin/env python3
"""Compares bench_kernels runs of two builds: per variant, the time and the
ratio to the same build's fp32 yardstick (same shape, batch and threads) in
the same run, as medians over the runs given.

    python3 bench/compare.py --old a1.json a2.json --new b1.json b2.json

The "change" column is new ratio / old ratio - 1: negative means the new
build lost ground against its own yardstick.
"""
import argparse
import statistics

from report import load  # bench/report.py: medians keyed by benchmark name


def ratios(paths):
    """{(variant, rows, cols, batch, threads): [(ms, ratio to fp32), ...]} over the runs."""
    out = {}
    for p in paths:
        runs, _ = load(p)
        fp32 = {(r["rows"], r["cols"], r["batch"], r["threads"]): r["ms"] for r in runs if r["kind"] == "fp32"}
        for r in runs:
            if r["kind"] != "lut":
                continue
            key = (r["variant"], r["rows"], r["cols"], r["batch"], r["threads"])
            base = fp32.get(key[1:])
            if base:
                out.setdefault(key, []).append((r["ms"], base / r["ms"]))
            out.setdefault(("fp32",) + key[1:], []).append((base, 1.0)) if base else None
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--old", nargs="+", required=True)
    ap.add_argument("--new", nargs="+", required=True)
    a = ap.parse_args()
    old, new = ratios(a.old), ratios(a.new)
    print("| variant | rows×cols | batch | threads | old ms | new ms | old × fp32 | new × fp32 | change |")
    print("|---|---|---|---|---|---|---|---|---|")
    worst = 0.0
    for key in sorted(set(old) & set(new), key=lambda k: (int(k[3]), k[0] != "fp32", k[0])):
        o, n = old[key], new[key]
        oms = statistics.median(x[0] for x in o)
        nms = statistics.median(x[0] for x in n)
        orat = statistics.median(x[1] for x in o)
        nrat = statistics.median(x[1] for x in n)
        change = nrat / orat - 1.0
        if key[0] != "fp32":
            worst = min(worst, change)
        print(f"| {key[0]} | {key[1]}×{key[2]} | {key[3]} | {key[4]} | {oms:.3f} | {nms:.3f} | "
              f"{orat:.2f} | {nrat:.2f} | {100 * change:+.1f} % |")
    print(f"\nworst change of a LUT variant's ratio: {100 * worst:+.1f} %")


if __name__ == "__main__":
    main()
