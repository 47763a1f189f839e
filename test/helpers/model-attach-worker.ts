// Worker used by model-formats.test: attaches a model descriptor (SharedArrayBuffer, no copy) and
// returns log-probs computed on this thread, plus proof that it sees the creator's memory.
import { parentPort, workerData } from 'node:worker_threads';
import { attachModel, type ModelDescriptor } from '../../src/model/weights.js';
import { completionLogprobs } from '../../src/model/logprobs.js';

const { desc, items } = workerData as { desc: ModelDescriptor; items: { prompt: number[]; completion: number[] }[] };
const model = attachModel(desc);
const lps = completionLogprobs(model, null, 0, items);
model.weights.finalNorm[0] = 42; // visible to the parent iff memory is shared
parentPort!.postMessage(lps.map((a) => Array.from(a)));
