#!/usr/bin/env bash
# Packs what a GPU machine needs to run loractor (it has no Node and no Vulkan loader) into
# .device-pack/loractor.tar.xz (git-ignored; carried by the device tool, 64 MiB at most):
#   node (this machine's /usr/bin/node), dist/ (built here), production node_modules with Dawn pruned
#   to linux-x64, and Debian's libvulkan1 .deb. See docs/gpu.md ("On a GPU machine").
#   tools/device/pack.sh [LIB.wasm ...]
# Compiled WebLLM model libraries given as arguments go in too (mlc/, under their own names), for
# run.sh's webllm phase: a Qwen2-0.5B q0f32 one (WebLLM against its number of actors) and the Qwen2-1.5B
# q4f16_1 one (WebLLM's single stream at the 1.5B shape). They are third-party binaries: carried to the
# GPU machine, never committed (docs/webllm.md says where they come from).
set -euo pipefail
for lib in "$@"; do
  case "$lib" in *.wasm) ;; *) echo "pack: $lib is not a compiled model library (.wasm)" >&2; exit 2 ;; esac
  [ -f "$lib" ] || { echo "pack: $lib: no such file" >&2; exit 2; }
done
cd "$(dirname "$0")/../.."
root=$(pwd)
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
npm run build >/dev/null
mkdir -p "$stage/pack/project" "$stage/pack/bin" "$stage/pack/debs" "$stage/pack/mlc"
# Named by what they were compiled for (read from their embedded metadata), e.g. 1536x28-q4f16_1.wasm.
for lib in "$@"; do
  name=$(node --input-type=module -e "
    import { readMlcLibMetadata } from '$root/dist/src/engines/webllm/mlc-artifacts.js';
    import { libraryShape } from '$root/dist/tools/convert-to-mlc/synthetic.js';
    const lib = process.argv[1], meta = readMlcLibMetadata(lib), s = libraryShape(lib, meta);
    console.log(s.hidden_size + 'x' + s.num_hidden_layers + '-' + meta.quantization);" "$lib")
  cp "$lib" "$stage/pack/mlc/$name.wasm"
  echo "pack: $lib → mlc/$name.wasm"
done
cp "$(command -v node)" "$stage/pack/bin/node"
cp -r dist package.json package-lock.json "$stage/pack/project/"
# Real tokenizer/model files are not needed: the benches make random weights of real shapes.
( cd "$stage/pack/project" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund >/dev/null 2>&1 )
# Dawn ships binaries for every platform; keep linux-x64.
find "$stage/pack/project/node_modules/webgpu/dist" -mindepth 1 -maxdepth 1 ! -name 'linux-x64*' -exec rm -rf {} +
( cd "$stage/pack/debs" && apt-get download libvulkan1 >/dev/null 2>&1 ) || { echo "pack: apt-get download libvulkan1 failed" >&2; exit 1; }
mkdir -p "$root/.device-pack"
tar -C "$stage/pack" -cf - . | xz -T2 -6 > "$root/.device-pack/loractor.tar.xz"
du -h "$root/.device-pack/loractor.tar.xz"
