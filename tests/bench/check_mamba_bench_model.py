"""Runs mamba-bench on CPU on a real checkpoint (--model) and checks its report (not its
timings): the checkpoint's shape is what was timed (parameters, state sizes), every case has a
positive time and floor, the CPU serves the checkpoint's state sizes unpadded, and a missing
directory, --state-size with --model and --max-concurrency on the CPU are refused with a message
naming the problem.

Usage: check_mamba_bench_model.py BENCH MODEL_DIR OUT_DIR
"""
import json
import pathlib
import subprocess
import sys

bench, model, out = sys.argv[1], pathlib.Path(sys.argv[2]), pathlib.Path(sys.argv[3])
out.mkdir(parents=True, exist_ok=True)
base = [bench, "--device", "cpu", "--dtype", "fp32", "--iters", "2"]
subprocess.run(base + ["--model", str(model), "--decode-batches", "1,2", "--prefill-batches", "1",
                       "--prefill-lens", "8", "--json", str(out / "model.json")],
               check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
report = json.loads((out / "model.json").read_text())
config = json.loads((model / "config.json").read_text())
assert report["model"] == str(model) and report["preset"] == "", report["model"]
assert report["state_sizes"] == [config["state_size"]] * config["num_hidden_layers"], report["state_sizes"]
assert report["served_state_sizes"] == report["state_sizes"], report["served_state_sizes"]  # no padding on the CPU
# The checkpoint's parameters, not the tiny preset's (0.089 M).
assert report["parameters"] > 1e6, report["parameters"]
assert [d["batch"] for d in report["decode"]] == [1, 2]
for case in report["decode"] + report["prefill"]:
    time = case.get("tpot_ms", case.get("ms"))
    assert time > 0 and case["floor_ms"] > 0, case

for args, expected in [(["--model", str(out / "no-such-model")], "no-such-model"),
                       (["--model", str(model), "--state-size", "8"], "--state-size"),
                       (["--max-concurrency"], "needs a CUDA device")]:
    r = subprocess.run(base + args, capture_output=True, text=True)
    assert r.returncode != 0, args
    assert expected in r.stderr, (args, r.stderr)
print("mamba-bench --model report OK")
