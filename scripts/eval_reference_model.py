#!/usr/bin/env python3
"""Evaluate the shipped reference model with Hugging Face transformers on the CPU, in fp32.

This is the independent check of the numbers in models/mamba2-ref/README.md: it loads the
shipped files (config.json, model.safetensors, tokenizer.json) with `Mamba2ForCausalLM` and
`tokenizers`, applies the evaluation protocol below and, with --write-json, writes eval.json.

Evaluation protocol (the C++ `mamba-tool perplexity` implements the same):
  text    = wikitext2-valid.txt[S:], S = 1 + index of the first b'\\n' at or after byte offset
            floor(0.9 * filesize)  (the held-out part; the 4 KB slice is its first 4096 bytes)
  tokens  = encode(text), no BOS (byte-level: one token per UTF-8 byte)
  windows = non-overlapping [i*C, min((i+1)*C, T)), C = 2048; each starts from a zero state
  scored  = tokens 1..n-1 of each window, given the earlier tokens of the same window
            (the first token of each window is not scored)
  NLL     = -log_softmax(logits over all vocab_size = 272 rows)[target], fp32, summed in nats
  bytes   = sum of the byte lengths of the scored tokens
  report  = tokens scored, mean NLL, perplexity = exp(mean NLL), bpb = NLL_sum / (ln 2 * bytes)

Usage (from the repository root):
  python3 scripts/eval_reference_model.py                       # slice + full held-out (~20 min on 2 cores)
  python3 scripts/eval_reference_model.py --slice-only          # just the 4 KB slice (~45 s)
  python3 scripts/eval_reference_model.py --write-json models/mamba2-ref/eval.json --generate
"""

import argparse
import json
import math
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train_reference_model import (EVAL_CONTEXT, SLICE_BYTES, N_BYTE_TOKENS, load_corpus,  # noqa: E402
                                   evaluate)

PROMPTS = ["ROMEO:", " = Valkyria", "The history of"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="models/mamba2-ref")
    ap.add_argument("--data", default="../shared/data/text")
    ap.add_argument("--context", type=int, default=EVAL_CONTEXT)
    ap.add_argument("--slice-only", action="store_true")
    ap.add_argument("--write-json", metavar="PATH")
    ap.add_argument("--generate", action="store_true", help="print greedy and sampled generations")
    ap.add_argument("--gen-bytes", type=int, default=200)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args()

    import torch
    from tokenizers import Tokenizer
    from transformers import Mamba2ForCausalLM

    if args.threads:
        torch.set_num_threads(args.threads)
    torch.backends.cuda.matmul.allow_tf32 = False
    tok = Tokenizer.from_file(os.path.join(args.model, "tokenizer.json"))
    model = Mamba2ForCausalLM.from_pretrained(args.model, dtype=torch.float32).eval()
    assert model.lm_head.weight.data_ptr() == model.backbone.embeddings.weight.data_ptr(), "lm_head not tied"
    vocab = model.config.vocab_size

    _, _, heldout = load_corpus(args.data)
    text = heldout.decode("utf-8")
    tokens = tok.encode(text, add_special_tokens=False).ids
    assert tokens == list(heldout), "tokenizer does not give the bytes of the text"
    sets = {"slice4k": tokens[:SLICE_BYTES]}
    if not args.slice_only:
        sets["heldout"] = tokens

    def logits_fn(ids):
        return model(input_ids=ids, use_cache=False).logits

    res = {}
    for name, toks in sets.items():
        t0 = time.time()
        r = evaluate(logits_fn, toks, args.context, "cpu", batch_windows=1)
        r["seconds"] = time.time() - t0
        res[name] = r
        print(f"[HF fp32 cpu] {name}: tokens {r['tokens']} windows {r['windows']} tokens_scored "
              f"{r['tokens_scored']} bytes {r['bytes']} nll_sum {r['nll_sum']:.4f} mean_nll "
              f"{r['mean_nll']:.6f} ppl {r['ppl']:.4f} bpb {r['bpb']:.6f}  ({r['seconds']:.0f}s)", flush=True)

    if args.write_json:
        out = {
            "context": args.context,
            "slice4k_bpb": res["slice4k"]["bpb"],
            "slice4k_mean_nll": res["slice4k"]["mean_nll"],
            "slice4k_tokens_scored": res["slice4k"]["tokens_scored"],
            "slice4k_bytes_of_heldout": SLICE_BYTES,
        }
        if "heldout" in res:
            out.update({
                "heldout_bpb": res["heldout"]["bpb"],
                "heldout_tokens": res["heldout"]["tokens"],
                "heldout_tokens_scored": res["heldout"]["tokens_scored"],
                "heldout_mean_nll": res["heldout"]["mean_nll"],
                "heldout_ppl": res["heldout"]["ppl"],
            })
        out["measured_with"] = (f"scripts/eval_reference_model.py: transformers Mamba2ForCausalLM, fp32, CPU, "
                                f"torch {torch.__version__}")
        with open(args.write_json, "w") as f:
            json.dump(out, f, indent=2)
            f.write("\n")
        print(f"wrote {args.write_json}")

    if args.generate:
        suppress = list(range(N_BYTE_TOKENS, vocab))  # padded rows, never real tokens
        for prompt in PROMPTS:
            ids = torch.tensor([tok.encode(prompt, add_special_tokens=False).ids])
            for mode in ("greedy", "sampled"):
                kw = dict(max_new_tokens=args.gen_bytes, suppress_tokens=suppress, pad_token_id=256,
                          eos_token_id=256, attention_mask=torch.ones_like(ids))
                if mode == "greedy":
                    kw.update(do_sample=False)
                else:
                    torch.manual_seed(args.seed)
                    kw.update(do_sample=True, temperature=0.8, top_k=40, top_p=1.0)
                with torch.no_grad():
                    out = model.generate(ids, **kw)
                text = tok.decode(out[0].tolist(), skip_special_tokens=False)
                print(f"----- {mode} | prompt {prompt!r}" + ("" if mode == "greedy" else
                      f" | temperature 0.8, top_k 40, torch.manual_seed({args.seed})"))
                print(text)
        print("-----")


if __name__ == "__main__":
    main()
