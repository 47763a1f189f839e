#!/usr/bin/env bash
# The GPU-machine script: unpack Node + project + Vulkan loader, report the adapter, check the GPU
# kernels against the cpu ops, then run the benches beside their PyTorch/transformers anchors on the
# same shapes and write the comparisons. Results go to $OUT (the folder whose files come back).
#   tools/device/run.sh [--quick] [all|learner|rollout|webllm]
#     --quick: SwiftShader-sized shapes, for a rehearsal here
#     learner: self-check + bench:gpu-learner + PyTorch eager/PEFT anchor
#     rollout: bench:gpu-rollout + transformers generate anchor + bench:tina-step + bench:q4-sync
#     webllm:  WebLLM against its number of actors (the pack's q0f32 or q0f16 library), WebLLM's single
#              stream at the 1.5B shape and the q4 end-to-end check (webllm-q4-check: tokens against the
#              CPU on the same q4 weights, before and after a q4 sync; its 1536x28-q4f16_1 library);
#              pack.sh LIB.wasm ... packs them
# Budget: every phase has its own timeout; 'learner' worst case 810 s (120+150+300+240), 'rollout'
# 400 s (150+60+150+40), 'webllm' 550 s (200+150+200): run them as separate calls to stay inside a
# 10-minute call limit, rollout first (the open GPU issue's targets).
# At most 8 files come back from a device call: the phases write into a scratch folder; $OUT gets
# the comparisons, the loractor JSONs of the phases that ran (at most 5) and results.tar.gz (every
# log and JSON).
set -uo pipefail
cd "$(dirname "$0")/../.."
repo=$(pwd)
final=${OUT:-$repo/runs/device}
mkdir -p "$final"
quick=""; what=all
for arg in "$@"; do
  case "$arg" in
    --quick) quick=--quick ;;
    all|learner|rollout|webllm) what=$arg ;;
    *) echo "run.sh: unknown argument '$arg' (use [--quick] [all|learner|rollout|webllm])" >&2; exit 2 ;;
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
phase() { [ "$what" = all ] || [ "$what" = "$1" ]; }
if phase learner; then
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
if phase rollout; then
  if [ -n "$quick" ]; then
    rshapes=quick; rargs=(--batches 1,2,4 --prompt 8 --tokens 6); serial=4
  else
    rshapes=1.5b,0.5b; rargs=(--batches 1,2,4,8,16,32,48,64 --prompt 512 --tokens 48); serial=48
  fi
  # --serial-batch: that batch again with overlap off (what encoding while the GPU works gains);
  # --route-batch: that batch again on the other decode route (whether skinnyRows' default suits the GPU);
  # --unfused-batch: that batch again with nothing fused, with the SwiGLU fold switched and with the norms
  #   apart from the LoRA A products (what each fusion gains);
  # --unrecorded-batch: that batch again with every decode step encoded (what replaying recorded steps saves).
  run rollout 150 "$node" "$proj/dist/tools/bench-gpu-rollout.js" --shapes "$rshapes" "${rargs[@]}" --serial-batch $serial --route-batch $serial --unfused-batch $serial --unrecorded-batch $serial --out "$out/loractor-rollout.json"
  if [ $torch_ok = 1 ]; then
    run transformers 60 python3 "$repo/tools/device/torch_rollout.py" --shapes "$rshapes" "${rargs[@]}" --out "$out/transformers-rollout.json"
  else
    echo "== transformers: torch/peft/transformers not importable here; anchor skipped" | tee "$out/transformers.log"
  fi
  run tina 150 "$node" "$proj/dist/tools/bench-tina-step.js" $quick --out "$out/loractor-tina-step.json"
  # The per-step sync into a q4f16_1 WebLLM library (merge + quantize on the GPU), 1.5B shape, 28 layers.
  run q4sync 40 "$node" "$proj/dist/tools/bench-q4-sync.js" $quick --out "$out/loractor-q4-sync.json"
fi
if phase webllm; then
  # The synthetic checkpoints are made here (the 1.5B one: about 80 s on one core) into this cache.
  wcache="$work/webllm-cache"
  q0=$(ls "$work"/mlc/*-q0f32.wasm "$work"/mlc/*-q0f16.wasm 2>/dev/null | head -n 1)
  q4=$(ls "$work"/mlc/1536x28-q4f16_1.wasm 2>/dev/null | head -n 1)
  # SwiftShader takes minutes per WebLLM token at 0.5B: the rehearsal runs one actor for one token.
  if [ -n "$quick" ]; then wargs=(--actors 1 --sequences 1 --tokens 1); wsecs=1800; else wargs=(--actors 1,2,4,8 --sequences 16 --tokens 128); wsecs=200; fi
  if [ -n "$q0" ]; then
    run webllm-scaling $wsecs "$node" "$proj/dist/tools/webllm-scaling.js" --lib "$q0" --cache "$wcache" "${wargs[@]}" --out "$out/loractor-webllm-scaling.json"
  else
    echo "== webllm-scaling: no q0f32/q0f16 library in the pack (tools/device/pack.sh LIB.wasm ...)" | tee "$out/webllm-scaling.log"
  fi
  if [ -n "$q4" ] && [ -z "$quick" ]; then
    run webllm-single 150 "$node" "$proj/dist/tools/bench-webllm.js" --lib "$q4" --cache "$wcache" --prompts 1 --n 1 --tokens 256 --out "$out/loractor-webllm-single.json"
  elif [ -n "$quick" ] && [ -n "$q0" ]; then
    # SwiftShader has no shader-f16, so a q4f16_1 library cannot run here: rehearse the step on q0f32.
    run webllm-single $wsecs "$node" "$proj/dist/tools/bench-webllm.js" --lib "$q0" --cache "$wcache" --prompts 1 --n 1 --tokens 2 --out "$out/loractor-webllm-single.json"
  else
    echo "== webllm-single: no 1536x28-q4f16_1 library in the pack (tools/device/pack.sh LIB.wasm ...)" | tee "$out/webllm-single.log"
  fi
  # On SwiftShader this rehearses the plumbing and ends in the library's refusal (no shader-f16).
  if [ -n "$q4" ]; then
    run webllm-q4-check $wsecs "$node" "$proj/dist/tools/webllm-q4-check.js" --lib "$q4" --cache "$wcache" --out "$out/loractor-webllm-q4-check.json"
  fi
fi
if phase rollout || phase webllm; then
  "$node" "$proj/dist/tools/device-compare-rollout.js" "$out/loractor-rollout.json" "$out/transformers-rollout.json" "$out/loractor-tina-step.json" \
    --webllm-scaling "$out/loractor-webllm-scaling.json" --webllm-single "$out/loractor-webllm-single.json" \
    --webllm-q4-check "$out/loractor-webllm-q4-check.json" | tee "$out/comparison-rollout.txt"
fi
n=0
for f in comparison.txt comparison-rollout.txt loractor-rollout.json loractor-tina-step.json loractor-webllm-scaling.json \
  loractor-webllm-single.json loractor-webllm-q4-check.json loractor-learner.json loractor-kernels.json loractor-q4-sync.json; do
  if [ -f "$out/$f" ] && [ $n -lt 7 ]; then cp "$out/$f" "$final/"; n=$((n + 1)); fi
done
tar -C "$out" -czf "$final/results.tar.gz" .
echo "results in $final: $(ls "$final" | tr '\n' ' ')"
rm -rf "$work"
