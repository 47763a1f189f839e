// Shared by the WebGPU tests: a device (SwiftShader in CI), and comparisons against the cpu ops.
// There is no skip: a machine that runs the test suite must offer a WebGPU adapter (README: Debian's
// chromium + libvulkan1), and a test that finds none fails with the reason.
import { existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createGpuContext, type GpuContext } from '../../src/ops/webgpu/context.js';
import type { DeviceRequest } from '../../src/ops/webgpu/device.js';
import { Rng } from '../../src/util/rng.js';

const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';

/** Points Dawn at SwiftShader when no Vulkan driver is configured (before the first device). */
export function useSwiftShaderIfNoDriver(): void {
  if (!process.env.VK_ICD_FILENAMES && existsSync(SWIFTSHADER_ICD)) process.env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
  if (!process.env.XDG_RUNTIME_DIR) {
    const dir = join(tmpdir(), 'loractor-xdg');
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    process.env.XDG_RUNTIME_DIR = dir;
  }
}

let shared: Promise<GpuContext> | null = null;

/** One context per test process (creating Dawn devices is slow on SwiftShader). */
export function testGpu(req?: DeviceRequest): Promise<GpuContext> {
  useSwiftShaderIfNoDriver();
  if (req) return createGpuContext(req);
  return (shared ??= createGpuContext());
}

export function randomArray(rng: Rng, n: number, scale = 1): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = (2 * rng.next() - 1) * scale;
  return a;
}

/** max |a−b| / max(max|b|, floor): a relative error that ignores elements that are near zero. */
export function relError(a: ArrayLike<number>, b: ArrayLike<number>, floor = 1e-6): number {
  if (a.length !== b.length) throw new Error(`relError: lengths ${a.length} and ${b.length}`);
  let diff = 0,
    mag = floor;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    if (!(d <= diff)) diff = d; // NaN propagates
    mag = Math.max(mag, Math.abs(b[i]!));
  }
  return diff / mag;
}

export { Rng };
