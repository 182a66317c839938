#!/usr/bin/env python3
"""Loads a pruned checkpoint with transformers' Mamba2ForCausalLM and compares its logits with
the engine's (DIR/expected.json: {"ids": [...], "state_size": N', "logits": [[V floats] per position]}).

Exit codes: 0 match (max |a-b| / max |b| <= 1e-4, fp32 CPU), 1 mismatch, 77 transformers
missing (the C++ test skips).
"""
import json
import sys

try:
    import torch
    from transformers import Mamba2ForCausalLM
except ImportError as e:  # pragma: no cover
    print("transformers unavailable:", e)
    sys.exit(77)


def main():
    d = sys.argv[1]
    with open(f"{d}/expected.json") as f:
        exp = json.load(f)
    model = Mamba2ForCausalLM.from_pretrained(d, torch_dtype=torch.float32).eval()
    if model.config.state_size != exp["state_size"]:
        print("state_size", model.config.state_size, "!=", exp["state_size"])
        return 1
    with torch.no_grad():
        got = model(torch.tensor([exp["ids"]])).logits[0].double()
    want = torch.tensor(exp["logits"], dtype=torch.float64)
    err = ((got - want).abs().max() / want.abs().max()).item()
    print(f"transformers vs engine: max rel err {err:.3e}")
    return 0 if err <= 1e-4 else 1


if __name__ == "__main__":
    sys.exit(main())
