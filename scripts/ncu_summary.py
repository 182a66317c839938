#!/usr/bin/env python3
"""Per-kernel totals from an Nsight Compute CSV (--metrics gpu__time_duration.sum --csv):
kernel name, launches, total and mean device time, sorted by total. Usage: ncu_summary.py F.csv"""
import csv
import sys
from collections import defaultdict


def main(path):
    tot, cnt = defaultdict(float), defaultdict(int)
    with open(path, newline="") as f:
        lines = [l for l in f if l.startswith('"')]  # skip ncu's ==PROF== chatter
    for row in csv.DictReader(lines):
        if row.get("Metric Name") != "gpu__time_duration.sum":
            continue
        v = float(row["Metric Value"].replace(",", ""))
        unit = row.get("Metric Unit", "ns")
        scale = {"ns": 1e-3, "nsecond": 1e-3, "us": 1.0, "usecond": 1.0, "ms": 1e3, "msecond": 1e3}[unit]
        name = row["Kernel Name"][:90] + " " + row.get("Grid Size", "")
        tot[name] += v * scale
        cnt[name] += 1
    total = sum(tot.values())
    print(f"{'total us':>12} {'n':>6} {'mean us':>9}  kernel (grid)   [all kernels: {total:.1f} us]")
    for name, t in sorted(tot.items(), key=lambda kv: -kv[1])[:40]:
        print(f"{t:12.1f} {cnt[name]:6d} {t / cnt[name]:9.2f}  {name}")


if __name__ == "__main__":
    try:
        main(sys.argv[1])
    except BrokenPipeError:  # the caller keeps only the first lines (| head)
        sys.stderr.close()
