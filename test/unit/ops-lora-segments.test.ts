// The cpu LoRA linear layer with column segments (LoraOperand.segments): projections that read one
// input run as one (layer.ts: q,k,v and gate,up), each member's columns taking its own B and its r
// columns of the stacked A product (LinearShape.usGiven). Equal to one call per member; the refusals.
import t from 'tap';
import { loraLinearBackward, loraLinearForward } from '../../src/ops/cpu/lora-linear.js';
import type { LoraOperand } from '../../src/ops/types.js';
import { Rng, randomArray, relError } from '../helpers/gpu-helpers.js';

const rng = new Rng(31);
const rows = 4,
  inF = 5,
  r = 3,
  scale = 1.5;

interface Member {
  outF: number;
  w: Float32Array;
  bias: Float32Array;
  a: Float32Array;
  b: Float32Array;
}

function member(outF: number): Member {
  const arr = (n: number): Float32Array => randomArray(rng, n, 0.5);
  return { outF, w: arr(outF * inF), bias: arr(outF), a: arr(r * inF), b: arr(outF * r) };
}

/** Concatenated rows (row i of each part in turn), as one projection's output or weights. */
function byRows(parts: Float32Array[], widths: number[], n: number): Float32Array {
  const ld = widths.reduce((s, w) => s + w, 0);
  const out = new Float32Array(n * ld);
  for (let i = 0; i < n; i++) {
    let o = i * ld;
    parts.forEach((p, j) => {
      out.set(p.subarray(i * widths[j]!, (i + 1) * widths[j]!), o);
      o += widths[j]!;
    });
  }
  return out;
}

for (const widths of [
  [6, 2, 2],
  [4, 4],
]) {
  t.test(`${widths.length} members (${widths.join(' | ')}) as one: equal to one call each`, async (t) => {
    const x = randomArray(rng, rows * inF);
    const ms = widths.map(member);
    const ys: Float32Array[] = [],
      uss: Float32Array[] = [];
    for (const m of ms) {
      const y = new Float32Array(rows * m.outF),
        us = new Float32Array(rows * r);
      loraLinearForward(y, x, m.w, m.bias, { rows, inF, outF: m.outF }, { a: m.a, b: m.b, r, scale }, x, us);
      ys.push(y);
      uss.push(us);
    }
    const want = byRows(ys, widths, rows);
    // us given as the stacked A product, at a row stride wider than its columns.
    const ld = widths.length * r + 2;
    const wide = byRows([...uss, randomArray(rng, rows * 2)], [...widths.map(() => r), 2], rows);
    const outF = want.length / rows;
    const w = byRows(
      ms.map((m) => m.w),
      widths.map((n) => n * inF),
      1,
    );
    const bias = byRows(
      ms.map((m) => m.bias),
      widths,
      1,
    );
    let start = 0;
    const segments = ms.slice(1).map((m, i) => ({ start: (start += widths[i]!), b: m.b }));
    const lora: LoraOperand = { a: ms[0]!.a, b: ms[0]!.b, r, scale, segments };
    const y = new Float32Array(rows * outF);
    loraLinearForward(y, x, w, bias, { rows, inF, outF, usGiven: { ld } }, lora, x, wide);
    t.ok(relError(y, want) < 1e-6, `rel error ${relError(y, want).toExponential(2)}`);
    // Segments ignored (every member's B in one [outF, r] block, us's first r columns): not equal.
    const noSeg = {
      ...lora,
      b: byRows(
        ms.map((m) => m.b),
        widths.map((n) => n * r),
        1,
      ),
      segments: undefined,
    };
    const yWrong = new Float32Array(rows * outF);
    loraLinearForward(yWrong, x, w, bias, { rows, inF, outF, usGiven: { ld } }, noSeg, x, wide);
    t.ok(relError(yWrong, want) > 1e-3, "with the first member's us columns for all: not equal");
  });
}

t.test('refusals', async (t) => {
  const m = member(4),
    x = randomArray(rng, rows * inF),
    y = new Float32Array(rows * 8),
    us = new Float32Array(rows * 3 * r);
  const w = randomArray(rng, 8 * inF);
  const lora = (starts: number[]): LoraOperand => ({
    a: m.a,
    b: m.b,
    r,
    scale,
    segments: starts.map((start) => ({ start, b: m.b })),
  });
  const shape = { rows, inF, outF: 8, usGiven: { ld: 3 * r } };
  t.throws(() => loraLinearForward(y, x, w, null, { rows, inF, outF: 8 }, lora([4]), x, us), /usGiven/);
  t.throws(() => loraLinearForward(y, x, w, null, shape, lora([2, 4, 6]), x, us), /at most 2/);
  t.throws(() => loraLinearForward(y, x, w, null, shape, lora([4, 3]), x, us), /segments\[1\]\.start/);
  t.throws(() => loraLinearForward(y, x, w, null, shape, lora([8]), x, us), /segments\[0\]\.start/);
  t.throws(
    () => loraLinearForward(y, x, w, null, { ...shape, usGiven: { ld: 2 * r - 1 } }, lora([4]), x, us),
    /usGiven\.ld/,
  );
  const grads = { dx: new Float32Array(rows * inF), dW: null, dBias: null, dA: null, dB: null };
  const scratch = new Float32Array(rows * inF);
  t.throws(() => loraLinearBackward(grads, y, x, w, shape, lora([4]), x, us, null, scratch, scratch), /forward-only/);
});
