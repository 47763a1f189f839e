#!/usr/bin/env bash
# The GPU-machine script: unpack Node + project + Vulkan loader, report the adapter, check the GPU
# kernels against the cpu ops, then run bench:gpu-learner beside the PyTorch anchor on the same
# shapes and write one comparison. Results go to $OUT (the folder whose files come back).
#   tools/device/run.sh [--quick]        (--quick: SwiftShader-sized shapes, for a rehearsal here)
# Budget: every phase has its own timeout well inside the 10-minute call limit.
set -uo pipefail
cd "$(dirname "$0")/../.."
repo=$(pwd)
out=${OUT:-$repo/runs/device}
mkdir -p "$out"
quick=${1:-}
work=$(mktemp -d)
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
if [ "$quick" = "--quick" ]; then
  shapes=quick; args=(--sequences 4 --prompt 16 --completion 48 --micro-batch 2 --reps 1)
else
  shapes=1.5b,0.5b; args=(--sequences 4 --prompt 512 --completion 3584 --micro-batch 1 --reps 2)
fi
run selfcheck 120 "$node" "$proj/dist/tools/gpu-selfcheck.js" --json "$out/selfcheck.json"
run kernels 150 "$node" "$proj/dist/tools/bench-gpu-learner.js" --shapes none --kernels ${quick:+--quick} --out "$out/loractor-kernels.json"
run loractor 300 "$node" "$proj/dist/tools/bench-gpu-learner.js" --shapes "$shapes" "${args[@]}" --out "$out/loractor-learner.json"
if python3 -c 'import torch, peft, transformers' 2>/dev/null; then
  run pytorch 240 python3 "$repo/tools/device/torch_learner.py" --shapes "$shapes" "${args[@]}" --out "$out/pytorch-learner.json"
else
  echo "== pytorch: torch/peft/transformers not importable here; anchor skipped" | tee "$out/pytorch.log"
fi
"$node" "$proj/dist/tools/device-compare.js" "$out/loractor-learner.json" "$out/pytorch-learner.json" | tee "$out/comparison.txt"
rm -rf "$work"
