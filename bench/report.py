#!/usr/bin/env python3
"""Turns bench_kernels' Google Benchmark JSON into a Markdown table and a PNG chart.

For every LUT kernel run: median time, effective GB/s of weight bytes, the
speed-up over the fp32 yardstick of the same shape, batch and threads, and the
memory floor (weight bytes / the measured read bandwidth with as many threads).

    python3 bench/report.py results.json --table out.md --chart out.png
"""
import argparse
import json
import re
import sys

NAME = re.compile(r"^(?:read_bw|(?P<kind>lut|fp32)(?:/(?P<variant>[^/]+/[^/]+/[^/]+))?"
                  r"/(?P<rows>\d+)x(?P<cols>\d+)/batch:(?P<batch>\d+))/threads:(?P<threads>\d+)")


def load(path):
    """Median (or single) runs keyed by their benchmark name without suffixes."""
    with open(path) as f:
        data = json.load(f)
    medians, singles = {}, {}
    for b in data["benchmarks"]:
        m = NAME.match(b["run_name"] if "run_name" in b else b["name"])
        if not m:
            continue
        scale = {"ns": 1e-6, "us": 1e-3, "ms": 1.0, "s": 1e3}[b.get("time_unit", "ns")]
        rec = dict(m.groupdict(), ms=b["real_time"] * scale, gbps=b.get("GBps", 0.0) / 1.0,
                   bytes=b.get("weight_bytes", 0.0), target=b.get("label", ""))
        if rec["kind"] is None:
            rec["kind"] = "read_bw"
        key = m.group(0)
        if b.get("run_type") == "aggregate":
            if b.get("aggregate_name") == "median":
                medians[key] = rec
        else:
            singles.setdefault(key, rec)
    runs = medians if medians else singles
    return list(runs.values()), data.get("context", {})


def analyse(runs):
    bw = {r["threads"]: r["gbps"] for r in runs if r["kind"] == "read_bw"}
    fp32 = {(r["rows"], r["cols"], r["batch"], r["threads"]): r for r in runs if r["kind"] == "fp32"}
    rows = []
    for r in runs:
        if r["kind"] == "read_bw" or r["rows"] is None:
            continue
        base = fp32.get((r["rows"], r["cols"], r["batch"], r["threads"]))
        floor_ms = r["bytes"] / (bw[r["threads"]] * 1e9) * 1e3 if r["threads"] in bw else float("nan")
        rows.append(dict(r, variant=r["variant"] or "fp32", speedup=base["ms"] / r["ms"] if base else float("nan"),
                         floor_ms=floor_ms))
    rows.sort(key=lambda r: (int(r["rows"]), int(r["cols"]), int(r["threads"]), int(r["batch"]),
                             r["kind"] != "fp32", r["variant"]))
    return bw, rows


def table(bw, rows, context):
    out = ["# sqllm kernel benchmark (cold: weights rotated over >= 1 GiB)", ""]
    if context:
        out.append(f"Host: {context.get('num_cpus', '?')} CPUs at {context.get('mhz_per_cpu', '?')} MHz; "
                   f"{context.get('date', '')}. Medians of the repetitions.")
        out.append("")
    for t, g in sorted(bw.items()):
        out.append(f"Measured read bandwidth, {t} thread(s): **{g:.1f} GB/s**")
    out += ["", "| kernel | target | rows×cols | batch | threads | time (ms) | weight GB/s | × fp32 | floor (ms) | "
                "time / floor |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        name = "fp32 (yardstick)" if r["kind"] == "fp32" else r["variant"]
        out.append(f"| {name} | {r['target']} | {r['rows']}×{r['cols']} | {r['batch']} | {r['threads']} | "
                   f"{r['ms']:.3f} | {r['gbps']:.1f} | {r['speedup']:.2f} | {r['floor_ms']:.3f} | "
                   f"{r['ms'] / r['floor_ms']:.2f} |")
    return "\n".join(out) + "\n"


def chart(bw, rows, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    threads = max(bw) if bw else "2"
    shape = max(((r["rows"], r["cols"]) for r in rows), key=lambda s: int(s[0]) * int(s[1]))
    sel = [r for r in rows if (r["rows"], r["cols"]) == shape and r["threads"] == threads]
    b1 = sorted([r for r in sel if r["batch"] == "1"], key=lambda r: r["gbps"])
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(15, max(5, 0.28 * len(b1) + 1.5)))
    labels = ["fp32 (yardstick)" if r["kind"] == "fp32" else r["variant"] for r in b1]
    ax1.barh(labels, [r["gbps"] for r in b1], color=["grey" if r["kind"] == "fp32" else "tab:blue" for r in b1])
    if threads in bw:
        ax1.axvline(bw[threads], color="red", linestyle="--", label=f"read bandwidth {bw[threads]:.1f} GB/s")
        ax1.legend(loc="lower right")
    ax1.set_xlabel("weight bytes per second (GB/s)")
    ax1.set_title(f"GEMV {shape[0]}×{shape[1]}, batch 1, {threads} threads, cold")
    ax1.tick_params(axis="y", labelsize=7)
    batches = sorted({int(r["batch"]) for r in sel})
    variants = sorted({r["variant"] for r in sel if r["kind"] == "lut" and "fp32/" in r["variant"]})
    for v in variants:
        pts = sorted((int(r["batch"]), r["speedup"]) for r in sel if r["variant"] == v)
        ax2.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=v)
    ax2.axhline(1.0, color="grey", linestyle="--", label="fp32 GEMV / GEMM")
    ax2.set_xscale("log", base=2)
    ax2.set_xticks(batches)
    ax2.set_xticklabels([str(b) for b in batches])
    ax2.set_xlabel("batch (activation vectors)")
    ax2.set_ylabel("speed-up over fp32 of the same shape")
    ax2.set_title("speed-up by batch size (fp32 LUTs)")
    ax2.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("json")
    ap.add_argument("--table", help="write the Markdown table here (default: stdout)")
    ap.add_argument("--chart", help="write the PNG chart here (needs matplotlib)")
    args = ap.parse_args()
    runs, context = load(args.json)
    if not runs:
        sys.exit(f"{args.json}: no bench_kernels results")
    bw, rows = analyse(runs)
    text = table(bw, rows, context)
    if args.table:
        with open(args.table, "w") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    if args.chart:
        chart(bw, rows, args.chart)


if __name__ == "__main__":
    main()
