// The learner actor's state (actors/learner.ts owns the one instance; see its header) and the views of
// a request's shared tensors. The step's phases (learner-step.ts) take this state as an argument.
import { tensorView, isSharedTensor } from '../../protocols/shared-tensor.js';
import type { LearnerStepReply, Trajectory } from '../../protocols/training.js';
import type { Floats, Ids } from '../../protocols/messages.js';
import type { LearnerInit } from '../../protocols/role-config.js';
import type { Model } from '../model/weights.js';
import type { LoraAdapter } from '../model/lora.js';
import type { WeightStore } from '../runtime/weight-store.js';
import type { Rng } from '../util/rng.js';
import type { LearnerDevice } from './learner-device.js';
import type { AdamWState } from './optimizer.js';

export interface LearnerState {
  cfg: LearnerInit;
  model: Model<Float32Array>;
  adapter: LoraAdapter<Float32Array>;
  device: LearnerDevice;
  opt: AdamWState;
  store: WeightStore;
  dropoutRng: Rng;
  /** Optimizer steps taken (the published version equals it). */
  step: number;
  recovery: WeightStore | null;
  /** Packing buffer for recovery commits. */
  packed: Float32Array;
  /** A step is under way (set at its start, cleared at its commit): a retry must restore first. */
  dirty: boolean;
  /** The reply of the last committed step (for a retry whose reply was lost). */
  lastReply: LearnerStepReply | null;
}

// Views of the shared memory the descriptors point at (the protocol checked their dtypes); arrays as they are.
export const ints = (x: Ids): ArrayLike<number> => (isSharedTensor(x) ? tensorView(x) : x);
export const floats = (x: Floats): ArrayLike<number> => (isSharedTensor(x) ? tensorView(x) : x);
/** A trajectory's prompt (sent once per prompt, in the request's `prompts`) and completion ids. */
export const arrays = (prompts: readonly Ids[], t: Trajectory) => ({
  promptIds: ints(prompts[t.promptIndex]!),
  completionIds: ints(t.completionIds),
});
