#!/usr/bin/env python3
"""Turns bench_ggml's Google Benchmark JSON into a Markdown table and checks
issue 15's targets against it.

For every shape, batch and thread count: each variant's median time, bits per
weight, GB/s of weight bytes, its time over the memory floor (weight bytes /
the read bandwidth measured in the same run) and its speed against ggml's
fastest 4-bit type and the fp32 yardstick of the same run.

    python3 bench/ggml_report.py ggml.json [--ggml PREFIX] > ggml.md
"""
import argparse
import json
import math
import re
import os

NAME = re.compile(r"^(?:read_bw|(?P<variant>.+)/(?P<rows>\d+)x(?P<cols>\d+)/batch:(?P<batch>\d+))/threads:(?P<threads>\d+)")


def load(path):
    with open(path) as f:
        data = json.load(f)
    runs = {}
    for b in data["benchmarks"]:
        if b.get("run_type") != "aggregate" or b.get("aggregate_name") != "median":
            continue
        m = NAME.match(b["run_name"])
        if not m:
            continue
        scale = {"ns": 1e-3, "us": 1.0, "ms": 1e3, "s": 1e6}[b.get("time_unit", "ns")]
        runs[b["run_name"]] = dict(m.groupdict(), us=b["real_time"] * scale, gbps=b.get("GBps", 0.0),
                                   bytes=b.get("weight_bytes", 0.0), bpw=b.get("bits_per_weight", 0.0),
                                   target=b.get("label", ""))
    return runs, data.get("context", {})


def cpu_model():
    """The CPU's model name and the vector extensions that decide the kernels (x86 or ARM flags)."""
    model, flags = "unknown CPU", set()
    try:
        for line in open("/proc/cpuinfo"):
            key, _, value = line.partition(":")
            key = key.strip()
            if key in ("model name", "CPU part") and model == "unknown CPU":
                model = value.strip()
            elif key in ("flags", "Features") and not flags:
                flags = set(value.split())
    except OSError:
        pass
    wanted = ["avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512vbmi", "avx512_vnni", "avx_vnni",
              "avx512_bf16", "avx512_fp16", "amx_int8", "asimd", "asimddp", "i8mm", "sve"]
    have = [f for f in wanted if f in flags]
    return model + (" (" + " ".join(have) + ")" if have else "")


def ggml_version(prefix):
    """ggml's version from its installed CMake package, and the commit if GGML_COMMIT names it."""
    version = "unknown version"
    for root, _, files in os.walk(prefix or "/nonexistent"):
        if "ggml-config-version.cmake" in files:
            m = re.search(r'PACKAGE_VERSION "([^"]+)"', open(os.path.join(root, "ggml-config-version.cmake")).read())
            if m:
                version = m.group(1)
            break
    commit = os.environ.get("GGML_COMMIT", "")
    return version + (f", commit {commit}" if commit else "")


def verdict(ok):
    return "met" if ok else "**missed**"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("json")
    ap.add_argument("--ggml", default="")
    args = ap.parse_args()
    runs, ctx = load(args.json)
    bw = {r["threads"]: r["gbps"] for r in runs.values() if r["variant"] is None}
    groups = {}
    for r in runs.values():
        if r["variant"] is not None:
            groups.setdefault((int(r["rows"]), int(r["cols"]), int(r["batch"]), r["threads"]), []).append(r)

    out = ["# sqllm against ggml (CPU, cold, medians of interleaved runs in one process)", ""]
    out.append(f"- CPU: {cpu_model()}, {ctx.get('num_cpus', '?')} logical CPUs; run {ctx.get('date', '')}")
    out.append(f"- ggml {ggml_version(args.ggml)} (built with GGML_NATIVE, installed in {args.ggml or '?'})")
    for t, g in sorted(bw.items()):
        out.append(f"- read bandwidth, {t} threads: {g:.1f} GB/s (the floor of every row = weight bytes / this)")
    out.append("- `x floor`: time / floor; `vs best ggml 4-bit`: that ggml time / this time (> 1: faster);"
               " `vs fp32`: sqllm's fp32 yardstick time / this time")
    out.append("")

    checks = []
    for (rows, cols, batch, threads), rs in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][3], kv[0][2])):
        by = {r["variant"]: r for r in rs}
        g4 = [by[v] for v in ("ggml/q4_0", "ggml/q4_K", "ggml/iq4_nl") if v in by]
        best4 = min(g4, key=lambda r: r["us"]) if g4 else None
        fp32 = by.get("fp32/sqllm")
        floor_bw = bw.get(threads)
        out.append(f"## {rows}x{cols}, batch {batch}, {threads} threads")
        out.append("")
        out.append("| variant | ran on | µs | bits/weight | GB/s | x floor | vs best ggml 4-bit | vs fp32 |")
        out.append("|---|---|---:|---:|---:|---:|---:|---:|")
        for r in sorted(rs, key=lambda r: r["us"]):
            floor = r["bytes"] / (floor_bw * 1e3) if floor_bw else float("nan")
            r["x_floor"] = r["us"] / floor if floor else float("nan")
            vs4 = best4["us"] / r["us"] if best4 else float("nan")
            vsf = fp32["us"] / r["us"] if fp32 else float("nan")
            out.append(f"| {r['variant']} | {r['target']} | {r['us']:.0f} | {r['bpw']:.2f} | {r['gbps']:.1f} |"
                       f" {r['x_floor']:.2f} | {vs4:.2f} | {vsf:.2f} |")
        out.append("")

        def t(v):
            return by[v]["us"] if v in by else float("nan")

        where = f"{rows}x{cols} batch {batch}"
        if batch == 1:
            for lut in ("fp32", "fp16"):
                s3, s4, s2 = t(f"lut/3bit/{lut}/dense"), t(f"lut/4bit/{lut}/dense"), t(f"lut/2bit/{lut}/dense")
                q4 = min(t("ggml/q4_0"), t("ggml/q4_K"))
                checks.append((f"{where}: 3-bit {lut} LUT >= 1.5x ggml q3_K", f"{t('ggml/q3_K') / s3:.2f}x",
                               t("ggml/q3_K") / s3 >= 1.5))
                checks.append((f"{where}: 4-bit {lut} LUT at least as fast as ggml q4_0/q4_K", f"{q4 / s4:.2f}x",
                               q4 / s4 >= 1.0))
                checks.append((f"{where}: 2-bit {lut} LUT at least as fast as ggml q2_K", f"{t('ggml/q2_K') / s2:.2f}x",
                               t("ggml/q2_K") / s2 >= 1.0))
                for b in (2, 3, 4):
                    v = f"lut/{b}bit/{lut}/dense"
                    if v in by:
                        checks.append((f"{where}: {b}-bit {lut} LUT within 1.3x of the floor",
                                       f"{by[v]['x_floor']:.2f}x", by[v]["x_floor"] <= 1.3))
        if batch in (1, 8):
            for v, r in sorted(by.items()):
                m = re.match(r"lut/(\d)bit/(\w+)/(csr|balanced_csr)$", v)
                if m and f"lut/{m.group(1)}bit/{m.group(2)}/dense" in by:
                    ratio = r["us"] / by[f"lut/{m.group(1)}bit/{m.group(2)}/dense"]["us"]
                    checks.append((f"{where}: {v} <= 1.10x dense", f"{ratio:.2f}x", ratio <= 1.10))
        if batch in (8, 32) and best4:
            for v, r in sorted(by.items()):
                if v.startswith("int8/"):
                    checks.append((f"{where}: {v} faster than ggml's fastest 4-bit ({best4['variant']})",
                                   f"{best4['us'] / r['us']:.2f}x", best4["us"] / r["us"] > 1.0))

    out.append("## Issue 15's targets")
    out.append("")
    out.append("| target | measured | |")
    out.append("|---|---:|---|")
    for name, value, ok in checks:
        if "nan" in value:
            continue
        out.append(f"| {name} | {value} | {verdict(ok)} |")
    print("\n".join(out))


if __name__ == "__main__":
    main()
