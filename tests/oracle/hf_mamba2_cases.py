#!/usr/bin/env python3
"""Oracle for the model math: random small HF Mamba2 checkpoints and transformers' logits.

Writes, for each case, OUT/<case>/{config.json, model.safetensors} and OUT/<case>/expected.json:
  {"sequences": [[ids...], ...], "logits": [[[V floats] per position] per sequence]}
computed with transformers' Mamba2ForCausalLM (its pure-PyTorch path) on CPU in fp32, one
sequence at a time. For n_groups > 1 the gated RMSNorm is patched to normalise each group of
Di/G channels, as mamba_ssm and HF's CUDA path do (HF's torch path normalises the whole Di).
One case is also written in the state-spaces mamba_ssm format (config.json +
pytorch_model.bin) to OUT/<case>_mamba_ssm.
"""
import json
import os
import sys

import torch
from transformers import Mamba2Config, Mamba2ForCausalLM
from transformers.models.mamba2 import modeling_mamba2

CASES = [
    # name, hidden, layers, heads, head_dim, groups, state, chunk, vocab, lengths
    ("g1_n20_p16", 64, 2, 8, 16, 1, 20, 8, 97, [1, 5, 13, 27]),
    ("g2_n48_p32", 64, 2, 4, 32, 2, 48, 16, 128, [3, 16, 37]),
    ("g4_n16_p16_q64", 32, 3, 4, 16, 4, 16, 64, 64, [2, 9, 70]),
    ("g1_n7_p16_bias", 48, 2, 6, 16, 1, 7, 4, 80, [1, 11]),
]


def grouped_forward(self, hidden_states, gate=None):
    dtype = hidden_states.dtype
    h = hidden_states.to(torch.float32)
    if gate is not None:
        h = h * torch.nn.functional.silu(gate.to(torch.float32))
    groups = getattr(self, "_oracle_groups", 1)
    shape = h.shape
    h = h.view(*shape[:-1], groups, shape[-1] // groups)
    h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + self.variance_epsilon)
    return self.weight * h.view(shape).to(dtype)


def make_model(name, hidden, layers, heads, head_dim, groups, state, chunk, vocab, seed):
    cfg = Mamba2Config(
        hidden_size=hidden, num_hidden_layers=layers, num_heads=heads, head_dim=head_dim,
        n_groups=groups, state_size=state, chunk_size=chunk, vocab_size=vocab, expand=2,
        conv_kernel=4, use_conv_bias=True, use_bias=name.endswith("_bias"),
        tie_word_embeddings=not name.endswith("_bias"), residual_in_fp32=True,
        layer_norm_epsilon=1e-5, time_step_limit=(0.0, float("inf")),
        bos_token_id=0, eos_token_id=0, pad_token_id=0)
    torch.manual_seed(seed)
    model = Mamba2ForCausalLM(cfg).eval()
    with torch.no_grad():
        # Perturb every parameter so that no term is trivially 1 or 0 (norm weights, D, biases).
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.1)
        for layer in model.backbone.layers:
            layer.mixer.A_log.copy_(torch.log(torch.empty_like(layer.mixer.A_log).uniform_(1, 8)))
            layer.mixer.dt_bias.copy_(torch.empty_like(layer.mixer.dt_bias).uniform_(-4, 0))
            layer.mixer.norm._oracle_groups = groups
    return model


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    modeling_mamba2.MambaRMSNormGated.forward = grouped_forward
    for i, (name, hidden, layers, heads, head_dim, groups, state, chunk, vocab, lengths) in enumerate(CASES):
        model = make_model(name, hidden, layers, heads, head_dim, groups, state, chunk, vocab, 1234 + i)
        d = os.path.join(out, name)
        model.save_pretrained(d)
        gen = torch.Generator().manual_seed(99 + i)
        seqs = [torch.randint(0, vocab, (n,), generator=gen).tolist() for n in lengths]
        logits = []
        with torch.no_grad():
            for s in seqs:
                logits.append(model(torch.tensor([s])).logits[0].tolist())
        with open(os.path.join(d, "expected.json"), "w") as f:
            json.dump({"sequences": seqs, "logits": logits}, f)
        if i == 0:
            write_mamba_ssm(model, os.path.join(out, name + "_mamba_ssm"))
    print("wrote", len(CASES), "cases to", out)


def write_mamba_ssm(model, d):
    """The same weights in the state-spaces layout: pytorch_model.bin with mamba_ssm names."""
    os.makedirs(d, exist_ok=True)
    cfg = model.config
    sd = {}
    for k, v in model.state_dict().items():
        sd[k.replace("backbone.embeddings.", "backbone.embedding.")] = v.clone()
    sd["lm_head.weight"] = sd["backbone.embedding.weight"]  # tied: both keys, one storage
    torch.save(sd, os.path.join(d, "pytorch_model.bin"))
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump({
            "d_model": cfg.hidden_size, "d_intermediate": 0, "n_layer": cfg.num_hidden_layers,
            "vocab_size": cfg.vocab_size - 1, "pad_vocab_size_multiple": cfg.vocab_size,
            "ssm_cfg": {"layer": "Mamba2", "d_state": cfg.state_size, "headdim": cfg.head_dim,
                        "ngroups": cfg.n_groups, "chunk_size": cfg.chunk_size},
            "rms_norm": True, "residual_in_fp32": True, "fused_add_norm": True,
            "tie_embeddings": True}, f)


if __name__ == "__main__":
    main()
