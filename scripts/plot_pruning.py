#!/usr/bin/env python3
"""Plots for `mamba-tool sweep` (issue 5).

  plot_pruning.py --csv OUT/sweep.csv --scores scores.json --out OUT

writes
  OUT/perplexity_vs_ratio.png  perplexity against the pruning ratio, one line per scoring
                               method, one panel per selection mode (the dashed line is the
                               dense model)
  OUT/state_activity.png       heatmap of the Δ-guided state activity (delta_b) per layer and
                               state, each layer divided by its maximum (the paper's Fig. 3
                               style); a second panel shows the output-contribution score
Needs matplotlib (`$MAMBA_PYTHON -m pip install matplotlib`).
"""
import argparse
import csv
import json
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

METHOD_STYLE = {"delta_b": ("Δ-guided (Δ·|B|)", "o"), "output": ("output |C·h|", "s"),
                "weight": ("weight norm", "^"), "random": ("random", "x")}


def plot_ppl(rows, out):
    modes = [m for m in ("per-layer", "global") if any(r["mode"] == m for r in rows)]
    fig, axes = plt.subplots(1, len(modes), figsize=(6 * len(modes), 4.2), squeeze=False, sharey=True)
    dense = [float(r["perplexity"]) for r in rows if float(r["ratio"]) == 0.0]
    for ax, mode in zip(axes[0], modes):
        for method, (label, marker) in METHOD_STYLE.items():
            pts = sorted((float(r["ratio"]), float(r["perplexity"])) for r in rows
                         if r["mode"] == mode and r["method"] == method)
            if pts:
                ax.plot([p[0] for p in pts], [p[1] for p in pts], marker=marker, label=label)
        if dense:
            ax.axhline(dense[0], color="gray", linestyle="--", linewidth=1, label="dense")
        ax.set_xlabel("pruning ratio r (fraction of SSM states removed)")
        ax.set_title(f"{mode} selection")
        ax.grid(True, alpha=0.3)
    axes[0][0].set_ylabel("held-out perplexity")
    axes[0][-1].legend()
    fig.tight_layout()
    fig.savefig(os.path.join(out, "perplexity_vs_ratio.png"), dpi=130)
    plt.close(fig)


def layer_matrix(table):
    """[layer][group][state] -> rows of layer·group, each normalized by its layer's max."""
    rows, labels = [], []
    for li, groups in enumerate(table):
        peak = max(max(g) for g in groups) or 1.0
        for gi, g in enumerate(groups):
            rows.append([v / peak for v in g])
            labels.append(f"L{li}" if len(groups) == 1 else f"L{li} g{gi}")
    width = max(len(r) for r in rows)
    return [r + [float("nan")] * (width - len(r)) for r in rows], labels


def plot_activity(scores, out):
    panels = [(m, t) for m, t in (("delta_b", "Δ-guided activity  mean Δ·|B|"),
                                  ("output", "output contribution  mean |C·h|"))
              if m in scores["scores"]]
    fig, axes = plt.subplots(len(panels), 1, figsize=(10, 1.2 + 0.45 * len(scores["scores"][panels[0][0]]) * len(panels)),
                             squeeze=False)
    for ax, (method, title) in zip(axes[:, 0], panels):
        mat, labels = layer_matrix(scores["scores"][method])
        im = ax.imshow(mat, aspect="auto", cmap="viridis", interpolation="nearest", vmin=0, vmax=1)
        ax.set_yticks(range(len(labels)))
        ax.set_yticklabels(labels)
        ax.set_xlabel("state index s")
        ax.set_title(f"{title} (each layer / its max)")
        fig.colorbar(im, ax=ax, fraction=0.025)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "state_activity.png"), dpi=130)
    plt.close(fig)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--csv", required=True)
    ap.add_argument("--scores", required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    with open(a.csv) as f:
        rows = list(csv.DictReader(f))
    with open(a.scores) as f:
        scores = json.load(f)
    os.makedirs(a.out, exist_ok=True)
    plot_ppl(rows, a.out)
    plot_activity(scores, a.out)
    print("wrote", os.path.join(a.out, "perplexity_vs_ratio.png"), "and", os.path.join(a.out, "state_activity.png"))


if __name__ == "__main__":
    main()
