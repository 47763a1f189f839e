// Node module-loader hook (registered with module.register by node-env.ts): while loading
// @mlc-ai/web-llm's bundle, rewrite the emscripten Node detection to false. The bundle inlines
// emscripten modules that, on detecting Node, reach for CommonJS-only globals (__dirname,
// module.exports) and break under ESM. node_modules stays untouched; only the loaded text changes.
const NODE_DETECT =
  'var ENVIRONMENT_IS_NODE=typeof process=="object"&&typeof process.versions=="object"&&typeof process.versions.node=="string";';
const TARGET = /[\\/]@mlc-ai[\\/]web-llm[\\/]lib[\\/]index\.js$/;

interface LoadResult {
  format?: string;
  source?: string | ArrayBuffer | Uint8Array;
  shortCircuit?: boolean;
}
type NextLoad = (url: string, context?: unknown) => Promise<LoadResult>;

export async function load(url: string, context: unknown, nextLoad: NextLoad): Promise<LoadResult> {
  const result = await nextLoad(url, context);
  if (!TARGET.test(url) || result.source === undefined) return result;
  const text =
    typeof result.source === 'string' ? result.source : Buffer.from(result.source as Uint8Array).toString('utf8');
  // Hooks registered by several threads may chain: patch once, and keep the first count.
  if (text.includes('__loractorWebllmPatchedSites')) return result;
  const count = text.split(NODE_DETECT).length - 1;
  // Record how many sites were patched so private-access's self-check can fail loudly on a bump.
  const patched =
    text.split(NODE_DETECT).join('var ENVIRONMENT_IS_NODE=false;') +
    `\n;globalThis.__loractorWebllmPatchedSites = ${count};\n`;
  return { ...result, source: patched };
}
