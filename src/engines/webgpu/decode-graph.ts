// Recorded decode steps of the webgpu engine (engine.ts is the entry; see its header): vLLM captures
// a CUDA graph per decode batch size; this records the step's dispatches (context-record.ts) and
// replays them while nothing that shapes them has changed. A decode step's dispatches depend on the
// call (model, adapter version, sampling settings: one recording per call at most), on the number of
// rows, and on the longest sequence only through the attention's key split (decodeAttentionPlan):
// those make the key. Everything else a step varies is data in five input buffers (each row's slot,
// position, page-table row and length, cache destination, and the sampler's row, slot and uniform),
// rewritten before each replay.
//
// A recording is made by running a step normally, so it costs nothing but its bookkeeping; a key
// that changes (a sequence retired, the key split grown) records again at its next step.
import {
  dropRecording,
  replayRecording,
  startRecording,
  stopRecording,
  writeTensor,
  type DispatchRecording,
  type GpuContext,
} from '../../ops/webgpu/context.js';
import type { GpuTensor } from '../../ops/webgpu/tensor.js';

/** The step's inputs on the GPU, in the roles the recording binds them. */
export interface DecodeInputs {
  slots: GpuTensor;
  positions: GpuTensor;
  seqs: GpuTensor;
  dest: GpuTensor;
  meta: GpuTensor;
}

/** The same inputs on the host, for one step. */
export interface DecodeHostInputs {
  slots: Int32Array;
  positions: Int32Array;
  seqs: Int32Array;
  dest: Int32Array;
  meta: Int32Array;
}

interface DecodeGraph {
  key: string;
  rec: DispatchRecording;
  inputs: DecodeInputs;
}

/** One call's recorded decode step (at most one kept), and how its steps ran. */
export interface DecodeGraphs {
  current: DecodeGraph | null;
  /** Steps recorded and kept (each also ran), and steps replayed. A refused recording is not counted. */
  recorded: number;
  replayed: number;
}

export function newDecodeGraphs(): DecodeGraphs {
  return { current: null, recorded: 0, replayed: 0 };
}

/**
 * One decode step: replayed when the kept recording has this key (its inputs rewritten from `host`),
 * otherwise run by `encode` (which uploads `host` and enqueues the step) and recorded for the next.
 */
export function decodeGraphStep(
  ctx: GpuContext,
  graphs: DecodeGraphs,
  key: string,
  host: DecodeHostInputs,
  encode: () => DecodeInputs,
): void {
  const g = graphs.current;
  if (g && g.key === key && !g.rec.invalid) {
    const t = g.inputs;
    writeTensor(ctx, t.slots, host.slots, 'decode slots');
    writeTensor(ctx, t.positions, host.positions, 'decode positions');
    writeTensor(ctx, t.seqs, host.seqs, 'decode sequences');
    writeTensor(ctx, t.dest, host.dest, 'decode cache rows');
    writeTensor(ctx, t.meta, host.meta, 'sampler rows');
    replayRecording(ctx, g.rec);
    graphs.replayed++;
    return;
  }
  dropDecodeGraph(ctx, graphs);
  startRecording(ctx);
  let inputs: DecodeInputs;
  try {
    inputs = encode();
  } catch (err) {
    dropRecording(ctx, stopRecording(ctx, []));
    throw err;
  }
  const rec = stopRecording(ctx, [inputs.slots, inputs.positions, inputs.seqs, inputs.dest, inputs.meta]);
  if (rec.invalid) {
    dropRecording(ctx, rec);
    return;
  }
  graphs.recorded++;
  graphs.current = { key, rec, inputs };
}

/** Gives back what the kept recording holds (at the end of a call, or when its key is replaced). */
export function dropDecodeGraph(ctx: GpuContext, graphs: DecodeGraphs): void {
  if (!graphs.current) return;
  dropRecording(ctx, graphs.current.rec);
  graphs.current = null;
}
