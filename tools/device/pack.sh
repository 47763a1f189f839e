#!/usr/bin/env bash
# Packs what a GPU machine needs to run loractor (it has no Node and no Vulkan loader) into
# .device-pack/loractor.tar.xz (git-ignored; carried by the device tool, 64 MiB at most):
#   node (this machine's /usr/bin/node), dist/ (built here), production node_modules with Dawn pruned
#   to linux-x64, and Debian's libvulkan1 .deb. See docs/gpu.md ("On a GPU machine").
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
npm run build >/dev/null
mkdir -p "$stage/pack/project" "$stage/pack/bin" "$stage/pack/debs"
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
