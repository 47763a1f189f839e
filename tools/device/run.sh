#!/usr/bin/env bash
# The GPU-machine script: unpack Node + project + Vulkan loader, report the adapter, check the GPU
# kernels against the cpu ops, then run the benches beside their PyTorch/transformers anchors on the
# same shapes and write the comparisons. Results go to $OUT (the folder whose files come back).
#   tools/device/run.sh [--quick] [all|learner|rollout]
#     --quick: SwiftShader-sized shapes, for a rehearsal here
#     learner: self-check + bench:gpu-learner + PyTorch eager/PEFT anchor
#     rollout: bench:gpu-rollout + transformers generate anchor + bench:tina-step + bench:q4-sync
# Budget: every phase has its own timeout; 'learner' worst case 810 s (120+150+300+240), 'rollout'
# 330 s (80+60+150+40): run them as separate calls to stay inside a 10-minute call limit.
# At most 8 files come back from a device call: the phases write into a scratch folder; $OUT gets
# the comparisons, the three loractor JSONs and results.tar.gz (every log and JSON).
set -uo pipefail
cd "$(dirname "$0")/../.."
repo=$(pwd)
final=${OUT:-$repo/runs/device}
mkdir -p "$final"
quick=""; what=all
for arg in "$@"; do
  case "$arg" in
    --quick) quick=--quick ;;
    all|learner|rollout) what=$arg ;;
    *) echo "run.sh: unknown argument '$arg' (use [--quick] [all|learner|rollout])" >&2; exit 2 ;;
  esac
done
work=$(mktemp -d)
out="$work/results"
mkdir -p "$out"
tar -C "$work" -xJf "$repo/.device-pack/loractor.tar.xz"
node="$work/bin/node"
proj="$work/project"
if ! ldconfig -p 2>/dev/null | grep -q libvulkan.so.1; then
  for d in "$work"/debs/*.deb; do dpkg -x "$d" /; done
  ldconfig
fi
nvidia_icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
if [ -z "${VK_ICD_FILENAMES:-}" ] && [ -f "$nvidia_icd" ]; then export VK_DRIVER_FILES="$nvidia_icd"; fi
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-$work}
echo "node $("$node" --version)"
(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || true)
run() { # name timeout command...
  local name=$1 secs=$2; shift 2
  echo "== $name"
  timeout "$secs" "$@" > "$out/$name.log" 2>&1; local rc=$?
  tail -n 40 "$out/$name.log"; echo "== $name: rc $rc"
}
torch_ok=0
if python3 -c 'import torch, peft, transformers' 2>/dev/null; then torch_ok=1; fi
if [ "$what" != rollout ]; then
  if [ -n "$quick" ]; then
    shapes=quick; args=(--sequences 4 --prompt 16 --completion 48 --micro-batch 2 --reps 1)
  else
    shapes=1.5b,0.5b; args=(--sequences 4 --prompt 512 --completion 3584 --micro-batch 1 --reps 2)
  fi
  run selfcheck 120 "$node" "$proj/dist/tools/gpu-selfcheck.js" --json "$out/selfcheck.json"
  run kernels 150 "$node" "$proj/dist/tools/bench-gpu-learner.js" --shapes none --kernels ${quick:+--quick} --out "$out/loractor-kernels.json"
  run loractor 300 "$node" "$proj/dist/tools/bench-gpu-learner.js" --shapes "$shapes" "${args[@]}" --out "$out/loractor-learner.json"
  if [ $torch_ok = 1 ]; then
    run pytorch 240 python3 "$repo/tools/device/torch_learner.py" --shapes "$shapes" "${args[@]}" --out "$out/pytorch-learner.json"
  else
    echo "== pytorch: torch/peft/transformers not importable here; anchor skipped" | tee "$out/pytorch.log"
  fi
  "$node" "$proj/dist/tools/device-compare.js" "$out/loractor-learner.json" "$out/pytorch-learner.json" | tee "$out/comparison.txt"
fi
if [ "$what" != learner ]; then
  if [ -n "$quick" ]; then
    rshapes=quick; rargs=(--batches 1,2,4 --prompt 8 --tokens 6)
  else
    rshapes=1.5b,0.5b; rargs=(--batches 1,2,4,8,16,32,48,64 --prompt 512 --tokens 48)
  fi
  run rollout 80 "$node" "$proj/dist/tools/bench-gpu-rollout.js" --shapes "$rshapes" "${rargs[@]}" --out "$out/loractor-rollout.json"
  if [ $torch_ok = 1 ]; then
    run transformers 60 python3 "$repo/tools/device/torch_rollout.py" --shapes "$rshapes" "${rargs[@]}" --out "$out/transformers-rollout.json"
  else
    echo "== transformers: torch/peft/transformers not importable here; anchor skipped" | tee "$out/transformers.log"
  fi
  run tina 150 "$node" "$proj/dist/tools/bench-tina-step.js" $quick --out "$out/loractor-tina-step.json"
  # The per-step sync into a q4f16_1 WebLLM library (merge + quantize on the GPU), 1.5B shape, 28 layers.
  run q4sync 40 "$node" "$proj/dist/tools/bench-q4-sync.js" $quick --out "$out/loractor-q4-sync.json"
  "$node" "$proj/dist/tools/device-compare-rollout.js" "$out/loractor-rollout.json" "$out/transformers-rollout.json" "$out/loractor-tina-step.json" | tee "$out/comparison-rollout.txt"
fi
for f in comparison.txt comparison-rollout.txt loractor-kernels.json loractor-learner.json loractor-rollout.json loractor-tina-step.json loractor-q4-sync.json; do
  [ -f "$out/$f" ] && cp "$out/$f" "$final/"
done
tar -C "$out" -czf "$final/results.tar.gz" .
echo "results in $final: $(ls "$final" | tr '\n' ' ')"
rm -rf "$work"
