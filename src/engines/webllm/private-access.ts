// The ONE place that touches @mlc-ai/web-llm / tvmjs internals that are not public API. Pinned to
// web-llm 0.2.79; checkWebLlmInternals() runs at engine start and fails loudly (naming the missing
// piece) if a version bump moved any of them, instead of letting weight sync silently do nothing.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

export const SUPPORTED_WEBLLM_VERSION = '0.2.79';
/** Sites of emscripten Node detection the loader hook rewrites in 0.2.79's bundle. */
export const EXPECTED_PATCHED_SITES = 3;

/** Opaque handles: callers never look inside, only pass them back here. */
export type Pipeline = { readonly __brand: 'webllm-pipeline' };
// biome-ignore lint/suspicious/noExplicitAny: web-llm's private internals are untyped; every access is checked at runtime here
type Any = any;

export class WebLlmInternalsError extends Error {
  constructor(what: string) {
    super(
      `web-llm internals check failed: ${what}. loractor's WebLLM engine is pinned to @mlc-ai/web-llm@${SUPPORTED_WEBLLM_VERSION}; ` +
        'update src/engines/webllm/private-access.ts for the installed version.',
    );
    this.name = 'WebLlmInternalsError';
  }
}

export function installedWebLlmVersion(): string {
  const req = createRequire(import.meta.url);
  const main = req.resolve('@mlc-ai/web-llm');
  const pkg = JSON.parse(readFileSync(join(dirname(main), '..', 'package.json'), 'utf8')) as { version: string };
  return pkg.version;
}

/** Checks that need no loaded model: version, loader-hook patch count. */
export function checkWebLlmModule(
  version = installedWebLlmVersion(),
  patchedSites = (globalThis as Any).__loractorWebllmPatchedSites,
): void {
  if (version !== SUPPORTED_WEBLLM_VERSION)
    throw new WebLlmInternalsError(`installed version ${version} ≠ ${SUPPORTED_WEBLLM_VERSION}`);
  if (patchedSites !== EXPECTED_PATCHED_SITES) {
    throw new WebLlmInternalsError(
      `loader hook patched ${String(patchedSites)} ENVIRONMENT_IS_NODE sites, expected ${EXPECTED_PATCHED_SITES}`,
    );
  }
}

/** Checks on a loaded engine: every private member this module uses exists with the right kind. */
export function checkWebLlmInternals(engine: unknown, modelId: string): Pipeline {
  const e = engine as Any;
  if (!(e?.loadedModelIdToPipeline instanceof Map))
    throw new WebLlmInternalsError('engine.loadedModelIdToPipeline is not a Map');
  const p = e.loadedModelIdToPipeline.get(modelId);
  if (!p) throw new WebLlmInternalsError(`no pipeline for model ${modelId} in engine.loadedModelIdToPipeline`);
  const need: [string, unknown][] = [
    ['pipeline.outputIds (array)', Array.isArray(p.outputIds)],
    ['pipeline.stopTokens (array)', Array.isArray(p.stopTokens)],
    ['pipeline.params', p.params !== undefined],
    ['pipeline.tvm', typeof p.tvm === 'object'],
    ['pipeline.tvm.ndarrayCacheGet', typeof p.tvm?.ndarrayCacheGet === 'function'],
    [
      'pipeline.tvm.beginScope/endScope',
      typeof p.tvm?.beginScope === 'function' && typeof p.tvm?.endScope === 'function',
    ],
    ['pipeline.tvm.empty', typeof p.tvm?.empty === 'function'],
    ['pipeline.tvm.cpu', typeof p.tvm?.cpu === 'function'],
    ['pipeline.tvm.webgpu().sync', typeof p.tvm?.webgpu?.()?.sync === 'function'],
    [
      'pipeline.tvm.lib.webGPUContext.device / gpuBufferFromPtr',
      typeof p.tvm?.lib?.webGPUContext?.gpuBufferFromPtr === 'function' &&
        typeof p.tvm?.lib?.webGPUContext?.device === 'object',
    ],
    [
      'pipeline.tokenizer.encode/decode',
      typeof p.tokenizer?.encode === 'function' && typeof p.tokenizer?.decode === 'function',
    ],
    ['pipeline.resetChat', typeof p.resetChat === 'function'],
    ['pipeline.getTokenLogprobArray', typeof p.getTokenLogprobArray === 'function'],
  ];
  for (const [what, ok] of need) if (!ok) throw new WebLlmInternalsError(`missing ${what}`);
  return p as Pipeline;
}

/** Token ids sampled in the last request (EOS/stop tokens are not appended by web-llm). */
export function lastOutputIds(p: Pipeline): number[] {
  return [...(p as Any).outputIds];
}

export function stopTokenIds(p: Pipeline): number[] {
  return [...(p as Any).stopTokens];
}

export function tokenize(p: Pipeline, text: string): Int32Array {
  return Int32Array.from((p as Any).tokenizer.encode(text));
}

export function detokenize(p: Pipeline, ids: ArrayLike<number>): string {
  return (p as Any).tokenizer.decode(Int32Array.from(ids));
}

/** Shape and dtype of a loaded parameter (throws naming the parameter when absent). */
export function paramInfo(p: Pipeline, name: string): { shape: number[]; dtype: string } {
  const tvm = (p as Any).tvm;
  tvm.beginScope();
  try {
    const nd = tvm.ndarrayCacheGet(name);
    if (!nd) throw new Error(`WebLLM model has no parameter ${name}`);
    return { shape: [...nd.shape], dtype: String(nd.dtype) };
  } finally {
    tvm.endScope();
  }
}

/** Overwrite a parameter's GPU buffer in place (the same buffer prefill/decode read). */
export async function writeParam(p: Pipeline, name: string, bytes: Uint8Array): Promise<void> {
  const tvm = (p as Any).tvm;
  tvm.beginScope();
  try {
    const nd = tvm.ndarrayCacheGet(name);
    if (!nd) throw new Error(`WebLLM model has no parameter ${name}`);
    nd.copyFromRawBytes(bytes);
  } finally {
    tvm.endScope();
  }
  await tvm.webgpu().sync();
}

/** Overwrite several parameters, then one device sync (a sync per tensor costs a GPU round trip each). */
export async function writeParams(p: Pipeline, entries: [string, Uint8Array][]): Promise<void> {
  const tvm = (p as Any).tvm;
  tvm.beginScope();
  try {
    for (const [name, bytes] of entries) {
      const nd = tvm.ndarrayCacheGet(name);
      if (!nd) throw new Error(`WebLLM model has no parameter ${name}`);
      nd.copyFromRawBytes(bytes);
    }
  } finally {
    tvm.endScope();
  }
  await tvm.webgpu().sync();
}

/** Read several parameters back with one device sync (the CPU copies live in the 2 GiB wasm heap: batch callers). */
export async function readParams(p: Pipeline, names: string[]): Promise<Uint8Array[]> {
  const tvm = (p as Any).tvm;
  const cpus: Any[] = [];
  tvm.beginScope();
  try {
    for (const name of names) {
      const nd = tvm.ndarrayCacheGet(name);
      if (!nd) throw new Error(`WebLLM model has no parameter ${name}`);
      const cpu = tvm.detachFromCurrentScope(tvm.empty(nd.shape, nd.dtype, tvm.cpu()));
      cpus.push(cpu);
      cpu.copyFrom(nd);
    }
  } finally {
    tvm.endScope();
  }
  try {
    await tvm.webgpu().sync();
    return cpus.map((c) => new Uint8Array(c.toRawBytes()));
  } finally {
    for (const c of cpus) c.dispose();
  }
}

/** Read a parameter back from the GPU (copy into a CPU NDArray, sync, raw bytes). */
export async function readParam(p: Pipeline, name: string): Promise<Uint8Array> {
  const tvm = (p as Any).tvm;
  tvm.beginScope();
  let cpu: Any;
  try {
    const nd = tvm.ndarrayCacheGet(name);
    if (!nd) throw new Error(`WebLLM model has no parameter ${name}`);
    cpu = tvm.detachFromCurrentScope(tvm.empty(nd.shape, nd.dtype, tvm.cpu()));
    cpu.copyFrom(nd);
  } finally {
    tvm.endScope();
  }
  try {
    await tvm.webgpu().sync();
    return new Uint8Array(cpu.toRawBytes());
  } finally {
    cpu.dispose();
  }
}

/** The GPUDevice web-llm runs on (kernels that write its parameters in place must run on it). */
export function pipelineGpuDevice(p: Pipeline): GPUDevice {
  return (p as Any).tvm.lib.webGPUContext.device as GPUDevice;
}

/**
 * The GPU buffer behind a parameter (the same buffer prefill/decode read), with its shape and dtype.
 * tvmjs keeps WebGPU buffers in a table indexed by the NDArray's data pointer; parameters start at
 * byte 0 of their own buffer (checked: a non-zero byte offset is refused).
 */
export function paramGpuBuffer(p: Pipeline, name: string): { buffer: GPUBuffer; shape: number[]; dtype: string } {
  const tvm = (p as Any).tvm;
  tvm.beginScope();
  try {
    const nd = tvm.ndarrayCacheGet(name);
    if (!nd) throw new Error(`WebLLM model has no parameter ${name}`);
    if (Number(nd.byteOffset ?? 0) !== 0)
      throw new WebLlmInternalsError(`parameter ${name} has byte offset ${String(nd.byteOffset)}`);
    const buffer = tvm.lib.webGPUContext.gpuBufferFromPtr(nd.getDataPtr()) as GPUBuffer;
    return { buffer, shape: [...nd.shape], dtype: String(nd.dtype) };
  } finally {
    tvm.endScope();
  }
}

/** Clear the KV cache and conversation state so no state computed under old weights survives. */
export function resetKvCache(p: Pipeline): void {
  (p as Any).resetChat(false);
}
