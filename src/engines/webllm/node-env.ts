// What @mlc-ai/web-llm needs to run in plain Node (see shared/reference/webllm-node.md): WebGPU
// from the `webgpu` package (Dawn) as navigator.gpu plus the GPU* globals, an in-memory Cache
// Storage, `location`, and the loader hook that patches the bundle's Node detection. Everything is
// installed on the current thread (main or a worker_threads worker: each has its own globals).
import { register } from 'node:module';
import { isCpuAdapterName } from '../../ops/webgpu/cpu-adapter.js';
import { CPU_ADAPTER_PACING, GPU_PACING, paceDawnPolling } from '../../ops/webgpu/dawn-pacing.js';

/** The GPU object is held here for the life of the thread: Dawn crashes if it is collected. */
type CacheKey = string | URL | Request;

let gpuKeepAlive: unknown = null;
let installed = false;

/** Minimal Cache Storage (tvmjs's artifact cache uses caches.open / match / put / add / keys / delete). */
class MemoryCache {
  readonly entries = new Map<string, { body: ArrayBuffer; headers: [string, string][] }>();
  async match(req: CacheKey): Promise<Response | undefined> {
    const e = this.entries.get(keyOf(req));
    return e ? new Response(e.body.slice(0), { headers: e.headers }) : undefined;
  }
  async put(req: CacheKey, res: Response): Promise<void> {
    if (!res.ok) throw new Error(`cache.put: response ${res.status} for ${keyOf(req)}`);
    this.entries.set(keyOf(req), { body: await res.arrayBuffer(), headers: [...res.headers.entries()] });
  }
  async add(req: CacheKey): Promise<void> {
    const res = await fetch(keyOf(req));
    if (!res.ok) throw new Error(`cache.add: HTTP ${res.status} for ${keyOf(req)}`);
    await this.put(req, res);
  }
  async keys(): Promise<Request[]> {
    return [...this.entries.keys()].map((k) => new Request(k));
  }
  async delete(req: CacheKey): Promise<boolean> {
    return this.entries.delete(keyOf(req));
  }
}

function keyOf(req: CacheKey): string {
  return typeof req === 'string' ? req : req instanceof URL ? req.href : req.url;
}

const cacheStore = new Map<string, MemoryCache>();

/** Drop every cached artifact (after a model is on the GPU the CPU copies are dead weight). */
export function clearArtifactCaches(): void {
  for (const c of cacheStore.values()) c.entries.clear();
}

export interface WebGpuNodeEnv {
  adapterInfo: string;
}

/**
 * Dawn's polling paced for the adapter WebLLM will get (dawn-pacing.ts): N actors would otherwise
 * keep N cores spinning through every wait, and on a CPU adapter those cores do the GPU's work.
 */
async function paceForAdapter(gpu: GPU): Promise<void> {
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  const i = adapter?.info;
  const name = i ? [i.vendor, i.architecture, i.device, i.description].join(' / ') : '';
  paceDawnPolling(isCpuAdapterName(name) ? CPU_ADAPTER_PACING : GPU_PACING);
}

/** Install the WebGPU/Cache/location globals and the loader hook; idempotent per thread. */
export async function installWebLlmNodeEnv(): Promise<void> {
  if (installed) return;
  register(new URL('./loader-hook.js', import.meta.url));
  const webgpu = (await import('webgpu')) as { create: (o: string[]) => unknown; globals: object };
  Object.assign(globalThis, webgpu.globals);
  const gpu = webgpu.create([]) as GPU;
  gpuKeepAlive = gpu;
  await paceForAdapter(gpu);
  const g = globalThis as Record<string, unknown>;
  // Node 20 has no navigator; Node ≥ 21 has one without gpu (its property is a getter: redefine).
  if (typeof g.navigator === 'object' && g.navigator !== null) {
    Object.defineProperty(g.navigator, 'gpu', { value: gpu, configurable: true });
  } else {
    Object.defineProperty(g, 'navigator', { value: { gpu, userAgent: 'node' }, configurable: true, writable: true });
  }
  if (!g.location) g.location = { origin: 'http://127.0.0.1', href: 'http://127.0.0.1/' };
  if (!g.caches) {
    g.caches = {
      open: async (name: string) => {
        let c = cacheStore.get(name);
        if (!c) cacheStore.set(name, (c = new MemoryCache()));
        return c;
      },
      delete: async (name: string) => cacheStore.delete(name),
      has: async (name: string) => cacheStore.has(name),
      keys: async () => [...cacheStore.keys()],
    };
  }
  installed = true;
}

/** Whether the GPU object is alive (for diagnostics). */
export function gpuInstalled(): boolean {
  return gpuKeepAlive !== null;
}

/**
 * Why this thread's WebGPU adapter cannot run a library whose kernels use f16 (q0f16, q4f16_1: WGSL
 * `enable f16`), or null when it can. Dawn's SwiftShader adapter has no shader-f16; without this
 * check web-llm fails deep in the load with "extension 'f16' is not allowed in the current environment".
 */
export async function missingShaderF16(): Promise<string | null> {
  await installWebLlmNodeEnv();
  const adapter = await (gpuKeepAlive as GPU).requestAdapter();
  if (!adapter) return 'no WebGPU adapter (is a Vulkan driver installed? VK_ICD_FILENAMES)';
  if (adapter.features.has('shader-f16')) return null;
  const info = adapter.info;
  return `the WebGPU adapter (${[info.vendor, info.description].filter(Boolean).join(' ') || 'unknown'}) has no shader-f16 feature`;
}

/** Import web-llm after the environment (and the loader hook) is in place. */
export async function importWebLlm(): Promise<typeof import('@mlc-ai/web-llm')> {
  await installWebLlmNodeEnv();
  return import('@mlc-ai/web-llm');
}
