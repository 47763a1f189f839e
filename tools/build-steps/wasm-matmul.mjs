// Build step: compile the WASM-SIMD matmul kernel (src/ops/wasm/matmul-kernel.as) with AssemblyScript
// into dist/src/ops/wasm/matmul-kernel.wasm, next to the compiled matmul.js that loads it.
// AssemblyScript is an npm dev dependency (compiler + Binaryen optimizer in JS/wasm): nothing is
// downloaded at build time, and the kernel source stays readable (loops, v128 intrinsics) rather
// than hand-written WAT.
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';

export default async function ({ root }) {
  const asc = await import('assemblyscript/asc');
  const srcFile = join(root, 'src', 'ops', 'wasm', 'matmul-kernel.as');
  const outDir = join(root, 'dist', 'src', 'ops', 'wasm');
  mkdirSync(outDir, { recursive: true });
  const source = readFileSync(srcFile, 'utf8');
  const outputs = new Map();
  const stderr = [];
  const { error } = await asc.main(
    [
      'matmul-kernel.ts',
      '--outFile',
      'matmul-kernel.wasm',
      '--textFile',
      'matmul-kernel.wat',
      '-O3',
      '--noAssert',
      '--runtime',
      'stub',
      // one linear memory shared by every thread that computes part of a product
      '--importMemory',
      '--sharedMemory',
      '--initialMemory',
      '1',
      '--maximumMemory',
      '65536',
      '--enable',
      'threads,simd',
    ],
    {
      // the entry is named .ts for asc; its text comes from the .as file (which tsc ignores)
      readFile: (name) => (name === 'matmul-kernel.ts' ? source : null),
      writeFile: (name, contents) => outputs.set(name, contents),
      listFiles: () => [],
      stdout: { write: () => true },
      stderr: {
        write: (s) => {
          stderr.push(String(s));
          return true;
        },
      },
    },
  );
  if (error) throw new Error(`wasm-matmul: AssemblyScript failed on ${srcFile}:\n${stderr.join('')}\n${error.message}`);
  const wasm = outputs.get('matmul-kernel.wasm');
  if (!wasm) throw new Error('wasm-matmul: compiler produced no matmul-kernel.wasm');
  writeFileSync(join(outDir, 'matmul-kernel.wasm'), wasm);
  writeFileSync(join(outDir, 'matmul-kernel.wat'), outputs.get('matmul-kernel.wat') ?? '');
}
