#!/usr/bin/env python3
"""Server overhead over the engine (issue 6): compares `mamba-cli bench --json` reports with
a `mamba-bench --json` run at the same model shape, dtype and device.

  scripts/server_overhead.py --engine ENGINE.json [--markdown F.md] [--json F.json] C1.json C16.json ...

Per concurrency c (each server report's "concurrency"):
  TPOT  server p50 (client-side, first -> last token) vs engine decode TPOT at batch c.
  TTFT  (c = 1 only) server p50 vs engine prefill of 1 x prompt, and vs prefill + one decode
        step (the server emits the first token from the prefill logits; the second figure
        is the looser bound).
  throughput  server output tokens/s vs the engine's closed-loop bound for c streams of
        N output tokens: c * N / (prefill(c x prompt) + (N - 1) * TPOT(c)).
Overhead = server / engine - 1. The issue's target: under 10% at concurrency 1.
Exit status 0 whether or not the target is met (the table says which); 2 on bad input.
"""
import argparse
import json
import sys

TARGET = 0.10


def load(path):
    with open(path) as f:
        return json.load(f)


def fixed_length(dist, what, path):
    try:
        return int(dist)
    except (TypeError, ValueError):
        sys.exit(f"server_overhead: {path}: {what} distribution {dist!r} is not a fixed length")


def pct(server, engine):
    return server / engine - 1.0 if engine and engine > 0 else None


def fmt_pct(x):
    return "n/a" if x is None else f"{x * 100:+.1f}%"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--engine", required=True, help="mamba-bench --json output")
    ap.add_argument("--markdown", help="write the tables here too")
    ap.add_argument("--json", help="write the comparison as JSON here")
    ap.add_argument("server", nargs="+", help="mamba-cli bench --json outputs")
    a = ap.parse_args()

    engine = load(a.engine)
    decode = {int(d["batch"]): d["tpot_ms"] / 1e3 for d in engine.get("decode", []) if "tpot_ms" in d}
    prefill = {(int(p["batch"]), int(p["length"])): p["ms"] / 1e3 for p in engine.get("prefill", []) if "ms" in p}

    rows, lat, summary = [], [], []
    for path in a.server:
        s = load(path)
        c = int(s["concurrency"])
        prompt = fixed_length(s["prompt_tokens_distribution"], "prompt", path)
        out = fixed_length(s["output_tokens_distribution"], "output", path)
        if s.get("failed", 0):
            print(f"server_overhead: warning: {path}: {s['failed']} failed requests {s.get('errors')}", file=sys.stderr)
        if s["output_tokens"] != s["succeeded"] * out:
            print(f"server_overhead: warning: {path}: {s['output_tokens']} output tokens, expected "
                  f"{s['succeeded']} x {out} (did requests stop early?)", file=sys.stderr)
        tpot, ttft = s["tpot_seconds"]["p50"], s["ttft_seconds"]["p50"]
        thr = s["output_tokens_per_second"]
        e_tpot = decode.get(c)
        e_pre = prefill.get((c, prompt))
        entry = {"concurrency": c, "prompt_tokens": prompt, "output_tokens": out,
                 "server_tpot_p50_s": tpot, "server_ttft_p50_s": ttft, "server_output_tok_s": thr,
                 "server_internal_tpot_p50_s": s["server_tpot_seconds"]["p50"],
                 "server_internal_ttft_p50_s": s["server_ttft_seconds"]["p50"],
                 "engine_decode_tpot_s": e_tpot, "engine_prefill_s": e_pre}
        if e_tpot is not None:
            entry["tpot_overhead"] = pct(tpot, e_tpot)
            rows.append((c, "TPOT p50 (ms)", tpot * 1e3, s["server_tpot_seconds"]["p50"] * 1e3,
                         f"decode B={c}", e_tpot * 1e3, entry["tpot_overhead"]))
        if c == 1 and e_pre is not None:
            entry["ttft_overhead"] = pct(ttft, e_pre)
            rows.append((c, "TTFT p50 (ms)", ttft * 1e3, s["server_ttft_seconds"]["p50"] * 1e3,
                         f"prefill 1x{prompt}", e_pre * 1e3, entry["ttft_overhead"]))
            if e_tpot is not None:
                entry["ttft_overhead_vs_prefill_plus_step"] = pct(ttft, e_pre + e_tpot)
                rows.append((c, "TTFT p50 (ms)", ttft * 1e3, s["server_ttft_seconds"]["p50"] * 1e3,
                             f"prefill 1x{prompt} + 1 decode step", (e_pre + e_tpot) * 1e3,
                             entry["ttft_overhead_vs_prefill_plus_step"]))
        if e_tpot is not None and e_pre is not None:
            bound = c * out / (e_pre + (out - 1) * e_tpot)
            entry["engine_output_tok_s_bound"] = bound
            entry["throughput_shortfall"] = 1.0 - thr / bound
            rows.append((c, "output tok/s", thr, None, f"c*N/(prefill {c}x{prompt} + (N-1)*TPOT)", bound,
                         pct(bound, thr)))
        lat.append((c, s))
        if c == 1:
            for key, label in (("tpot_overhead", "TPOT"), ("ttft_overhead", "TTFT")):
                if entry.get(key) is not None:
                    ok = entry[key] < TARGET
                    summary.append(f"c=1 {label} overhead {fmt_pct(entry[key])}: "
                                   f"{'meets' if ok else 'MISSES'} the <{TARGET * 100:.0f}% target")
        entry["report"] = path
        s["_entry"] = entry

    md = []
    md.append(f"Engine: `mamba-bench` preset {engine.get('preset')} {engine.get('device')} {engine.get('dtype')}, "
              f"CUDA graphs {engine.get('cuda_graphs')}. Server: `mamba-cli bench` (client-side latencies; "
              f"'server-internal' = the server's own timing in the final message).")
    md.append("")
    md.append("| c | metric | server | server-internal | engine baseline | engine | overhead |")
    md.append("|---|---|---|---|---|---|---|")
    for c, metric, sv, si, base, ev, ov in rows:
        si_s = "" if si is None else f"{si:.3f}"
        md.append(f"| {c} | {metric} | {sv:.3f} | {si_s} | {base} | {ev:.3f} | {fmt_pct(ov)} |")
    md.append("")
    md.append("Throughput overhead = engine bound / server - 1 (the extra time the server takes per token).")
    md.append("")
    md.append("| c | requests | TTFT p50 / p90 / p99 ms | TPOT p50 / p90 / p99 ms | e2e p50 ms | req/s | output tok/s |")
    md.append("|---|---|---|---|---|---|---|")
    for c, s in lat:
        t, p, e = s["ttft_seconds"], s["tpot_seconds"], s["e2e_seconds"]
        md.append(f"| {c} | {s['succeeded']} ok / {s['failed']} failed | "
                  f"{t['p50'] * 1e3:.2f} / {t['p90'] * 1e3:.2f} / {t['p99'] * 1e3:.2f} | "
                  f"{p['p50'] * 1e3:.3f} / {p['p90'] * 1e3:.3f} / {p['p99'] * 1e3:.3f} | "
                  f"{e['p50'] * 1e3:.1f} | {s['requests_per_second']:.2f} | {s['output_tokens_per_second']:.1f} |")
    md.append("")
    md.extend(f"* {line}" for line in summary)
    text = "\n".join(md) + "\n"
    print(text)
    if a.markdown:
        with open(a.markdown, "w") as f:
            f.write(text)
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"engine": a.engine, "target_overhead_c1": TARGET,
                       "results": [s["_entry"] for _, s in lat]}, f, indent=2)
            f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
