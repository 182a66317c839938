#!/usr/bin/env python3
"""Where a kernel's warps stall, from an Nsight Compute report collected with the
SourceCounters section (PC sampling): `ncu -i R.ncu-rep --page source --csv --print-source sass`
piped in. Prints the stall reasons summed over the kernel and the SASS instructions with the
most samples (with their neighbours' opcodes), for finding the latency chain of a kernel.
Usage: ncu -i R --page source --csv --print-source sass | ncu_source_hotspots.py [top=40]"""
import csv
import sys
from collections import defaultdict


def num(s):
    try:
        return float(s.replace(",", ""))
    except (ValueError, AttributeError):
        return 0.0


def main(top):
    lines = [l for l in sys.stdin if l.strip() and not l.startswith("==")]
    rows = list(csv.reader(lines))
    # The report prints one table per kernel; each starts with a header row naming "Source".
    tables, cur = [], None
    for r in rows:
        if "Source" in r and any("Sampl" in c for c in r):
            cur = {"head": r, "rows": []}
            tables.append(cur)
        elif cur is not None:
            cur["rows"].append(r)
    for t in tables:
        head = t["head"]
        src = head.index("Source")
        total_col = next(i for i, c in enumerate(head) if c.startswith("Warp Stall Sampling (All"))
        reasons = [i for i, c in enumerate(head) if c.startswith("stall_") or c.startswith("smsp__pcsamp")]
        body = [r for r in t["rows"] if len(r) == len(head)]
        total = sum(num(r[total_col]) for r in body) or 1.0
        print(f"== kernel table: {len(body)} SASS lines, {total:.0f} samples")
        by_reason = defaultdict(float)
        for r in body:
            for i in reasons:
                by_reason[head[i]] += num(r[i])
        for name, v in sorted(by_reason.items(), key=lambda kv: -kv[1])[:12]:
            if v > 0:
                print(f"   {100 * v / total:5.1f}%  {name}")
        ranked = sorted(range(len(body)), key=lambda i: -num(body[i][total_col]))[:top]
        for i in sorted(ranked):
            r = body[i]
            print(f"{100 * num(r[total_col]) / total:5.1f}%  [{i:5d}] {r[src][:110]}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 40)
