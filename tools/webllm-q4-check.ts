// node dist/tools/webllm-q4-check.js --lib Qwen2-1.5B-Instruct-q4f16_1-ctx4k_cs1k-webgpu.wasm [--cache DIR] [--out FILE]
// The end-to-end check of WebLLM on a q4f16_1 library (src/engines/webllm/q4-engine-check.ts, the
// body of the webllm-q4-engine test) where tap is not installed: the GPU machine, which has the
// shader-f16 such a library needs. On a synthetic checkpoint in the library's shape, WebLLM's greedy
// tokens and log-probs are compared with the CPU on the same q4 weights, before and after a q4 sync.
// Prints one line per assertion; exit 0 when all pass, 1 when any fails or the check cannot run.
import { mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { checkQ4Engine, type CheckReporter } from '../src/engines/webllm/q4-engine-check.js';
import { isMainScript, scriptOptions, UsageError } from '../src/cli/standard-flags.js';
import { syntheticMlcModelFor } from './convert-to-mlc/synthetic.js';

const USAGE = `usage: node dist/tools/webllm-q4-check.js --lib FILE.wasm [--cache DIR] [--out FILE]
  WebLLM on a q4f16_1 library (0.5B or 1.5B Qwen2; needs a GPU with shader-f16) against the CPU on the
  same q4 weights, before and after a q4 LoRA sync. One line per assertion; --out FILE writes them as JSON.`;

interface Assertion {
  ok: boolean;
  message: string;
  found?: unknown;
  wanted?: unknown;
}

/** A CheckReporter that prints TAP-like lines and keeps every assertion. */
function lineReporter(log: (line: string) => void): CheckReporter & { assertions: Assertion[] } {
  const assertions: Assertion[] = [];
  const record = (a: Assertion): boolean => {
    assertions.push(a);
    const detail =
      a.ok || !('wanted' in a) ? '' : ` (found ${JSON.stringify(a.found)}, wanted ${JSON.stringify(a.wanted)})`;
    log(`${a.ok ? 'ok' : 'not ok'} ${assertions.length} - ${a.message}${detail}`);
    return a.ok;
  };
  return {
    assertions,
    equal: (found, wanted, message) => record({ ok: Object.is(found, wanted), message, found, wanted }),
    ok: (value, message) => record({ ok: !!value, message }),
    comment: (message) => log(`# ${message}`),
  };
}

if (isMainScript(import.meta.url)) {
  const { values: v } = scriptOptions({
    name: 'webllm-q4-check',
    help: USAGE,
    options: { lib: { type: 'string' }, cache: { type: 'string' }, out: { type: 'string' } },
  });
  if (!v.lib) throw new UsageError('--lib is required: a compiled q4f16_1 model library');
  const t = lineReporter((line) => console.log(line));
  const t0 = performance.now();
  let error: string | undefined;
  try {
    const m = syntheticMlcModelFor(v.lib, v.cache ?? join(tmpdir(), 'loractor-webllm-cache'));
    if (m.quantization !== 'q4f16_1') throw new Error(`${v.lib} is a ${m.quantization} library, not q4f16_1`);
    t.comment(`model ${m.tag}, checkpoint + conversion ready in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    await checkQ4Engine(t, { lib: v.lib, hf: m.hf, mlcDir: m.mlcDir });
  } catch (e) {
    error = (e as Error).message;
    console.log(`not ok - the check could not finish: ${error}`);
  }
  const failed = t.assertions.filter((a) => !a.ok).length;
  const seconds = (performance.now() - t0) / 1000;
  console.log(
    `# ${t.assertions.length - failed} passed, ${failed} failed${error ? ', stopped by an error' : ''} in ${seconds.toFixed(1)} s`,
  );
  if (v.out) {
    const out = resolve(v.out);
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(
      out,
      JSON.stringify(
        { time: new Date().toISOString(), lib: v.lib, seconds, error, assertions: t.assertions },
        null,
        2,
      ) + '\n',
    );
  }
  process.exit(failed || error ? 1 : 0);
}
