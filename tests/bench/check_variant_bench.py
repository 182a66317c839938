"""Runs mamba-variant-bench on CPU at the tiny preset and checks its report (not its timings):
one entry per case and variant, every round timed, dense's speed-up exactly 1, masked variants
keep dense's shapes and state bytes, compacted ones have N' = floor(N (1 - r)) and less state.

Usage: check_variant_bench.py BENCH OUT_DIR
"""
import json
import math
import pathlib
import subprocess
import sys

bench, out = sys.argv[1], pathlib.Path(sys.argv[2])
out.mkdir(parents=True, exist_ok=True)
rounds = 2
cmd = [bench, "--device", "cpu", "--preset", "tiny", "--dtype", "fp32", "--masked-ratios", "0.5",
       "--ratios", "0.5,0.9", "--decode-batches", "2", "--prefill", "1x16", "--rounds", str(rounds),
       "--iters", "2", "--prefill-iters", "1", "--json", str(out / "variants.json"),
       "--markdown", str(out / "variants.md")]
subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
report = json.loads((out / "variants.json").read_text())
cases = report["cases"]
variants = ["dense", "masked r=0.5", "compacted r=0.5", "compacted r=0.9"]
assert len(cases) == 2 * len(variants), f"expected {2 * len(variants)} entries, got {len(cases)}"
for name in ("decode B2", "prefill 1x16"):
    rows = {c["variant"]: c for c in cases if c["case"] == name}
    assert sorted(rows) == sorted(variants), f"{name}: variants {sorted(rows)}"
    dense = rows["dense"]
    for v, c in rows.items():
        assert len(c["ms_rounds"]) == rounds and all(t > 0 for t in c["ms_rounds"]), f"{name} {v}: rounds {c['ms_rounds']}"
        assert c["speedup_min"] <= c["speedup_median"] <= c["speedup_max"], f"{name} {v}: spread"
        # Two rounds: the median is the mean of both per-round ratios.
        ratios = [d / t for d, t in zip(dense["ms_rounds"], c["ms_rounds"])]
        assert math.isclose(c["speedup_median"], sum(ratios) / 2, rel_tol=1e-9), f"{name} {v}: median {c['speedup_median']} vs {ratios}"
    assert dense["speedup_median"] == 1.0 and dense["speedup_min"] == 1.0, f"{name}: dense speed-up {dense['speedup_median']}"
    n = dense["state_size"]
    assert rows["masked r=0.5"]["state_size"] == n
    assert rows["masked r=0.5"]["state_bytes_per_sequence"] == dense["state_bytes_per_sequence"]
    for r in (0.5, 0.9):
        c = rows[f"compacted r={r}"]
        assert c["state_size"] == math.floor(n * (1 - r)), f"{name}: compacted r={r} has N' {c['state_size']}"
        assert c["state_bytes_per_sequence"] < dense["state_bytes_per_sequence"]
        # Only CUDA pads unaligned widths (server/model/state_padding.h); the CPU serves N' as is.
        assert c["served_state_size"] == c["state_size"], f"{name}: compacted r={r} served at {c['served_state_size']}"
assert "| decode B2 | compacted r=0.9 |" in (out / "variants.md").read_text()
print("variant bench report OK")
