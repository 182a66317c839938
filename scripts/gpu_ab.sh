#!/usr/bin/env bash
# On the GPU machine, one call: the same mamba-bench cases on two source trees, for an A/B of
# two commits that no environment switch separates. B is this working tree, A is BASE_TREE
# (e.g. `git archive <commit> | tar -x -C ab_base` into an untracked folder of the working
# tree, which the device tool carries). Both build mamba-bench; the cases then run A, B, A, B,
# ... for ROUNDS rounds, so drift of the machine hits both alike, and the summary gives each
# figure's median per tree and the ratio B / A.
# Environment: BASE_TREE (required); CASES [";"-separated mamba-bench argument lists, each
# with --preset 130m --dtype bf16 unless it names a --preset; leading NAME=value words set
# that case's environment in both trees]; ROUNDS [3]; NCU_CASES (the same form, without
# environment words: each profiled per kernel once per tree by scripts/gpu_profile.sh, into
# OUT/ncu_a and OUT/ncu_b); OUT [bench/results/tmp].
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
A=$(cd "${BASE_TREE:?BASE_TREE is required}" && pwd)
O=${OUT:-$ROOT/bench/results/tmp}
mkdir -p "$O"
t0=$SECONDS
for tree in b a; do
  src=$ROOT
  [ $tree = a ] && src=$A
  if ! TARGETS=mamba-bench SKIP_TESTS=1 BUILD_DIR=/tmp/ab-$tree SRC_DIR=$src bash "$ROOT/scripts/gpu_test.sh" \
      > "$O/build_$tree.log" 2>&1; then
    tail -30 "$O/build_$tree.log"; exit 1
  fi
done
echo "builds: $((SECONDS - t0)) s"
export LD_LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}
IFS=';' read -ra cases <<< "${CASES:---decode-batches 1,64 --prefill-batches 1 --prefill-lens 64}"
for r in $(seq 1 "${ROUNDS:-3}"); do
  for tree in a b; do
    i=0
    for c in "${cases[@]}"; do
      i=$((i + 1))
      preset=(--preset 130m --dtype bf16)
      [[ " $c " == *" --preset "* ]] && preset=()
      # Leading NAME=value words: that case's environment (both trees).
      read -ra words <<< "$c"
      envs=()
      while [[ ${#words[@]} -gt 0 && ${words[0]} =~ ^[A-Z_][A-Z0-9_]*= ]]; do envs+=("${words[0]}"); words=("${words[@]:1}"); done
      timeout 300 env "${envs[@]}" /tmp/ab-$tree/bench/mamba-bench "${preset[@]}" "${words[@]}" --json "$O/${tree}_r${r}_case$i.json" \
        > "$O/${tree}_r${r}_case$i.txt" 2>&1 || tail -5 "$O/${tree}_r${r}_case$i.txt"
    done
  done
  echo "round $r: $((SECONDS - t0)) s"
done
python3 - "$O" <<'PY'
import glob, json, os, statistics, sys
out = sys.argv[1]
fig = {}  # (case, phase, batch, length) -> tree -> [ms]
for f in sorted(glob.glob(os.path.join(out, "[ab]_r*_case*.json"))):
    tree, _, case = os.path.basename(f)[:-5].split("_")
    d = json.load(open(f))
    for x in d.get("decode", []):
        fig.setdefault((case, "decode", x["batch"], 1), {}).setdefault(tree, []).append(x["tpot_ms"])
    for x in d.get("prefill", []):
        fig.setdefault((case, "prefill", x["batch"], x["length"]), {}).setdefault(tree, []).append(x["ms"])
lines = ["| case | phase | batch | length | A ms (median) | B ms (median) | B / A | A runs | B runs |",
         "|---|---|---|---|---|---|---|---|---|"]
for k in sorted(fig):
    a, b = fig[k].get("a", []), fig[k].get("b", [])
    if not a or not b:
        continue
    ma, mb = statistics.median(a), statistics.median(b)
    lines.append(f"| {k[0]} | {k[1]} | {k[2]} | {k[3]} | {ma:.3f} | {mb:.3f} | {mb / ma:.3f} | "
                 f"{', '.join(f'{v:.3f}' for v in a)} | {', '.join(f'{v:.3f}' for v in b)} |")
open(os.path.join(out, "ab.md"), "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PY
if [ -n "${NCU_CASES:-}" ]; then
  for tree in a b; do  # per-kernel times of each tree's build (scripts/gpu_profile.sh)
    echo "== ncu, tree $tree"
    LAUNCH_COUNT= SKIP_BUILD=1 BUILD_DIR=/tmp/ab-$tree OUT=$O/ncu_$tree PROFILE_CASES=$NCU_CASES \
      bash "$ROOT/scripts/gpu_profile.sh" > "$O/ncu_$tree.log" 2>&1 || tail -5 "$O/ncu_$tree.log"
    grep -A14 "^== case" "$O/ncu_$tree/ncu_summary.txt"
  done
fi
echo "total: $((SECONDS - t0)) s"
