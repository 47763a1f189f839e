// Synthetic reasoning tasks: seeded problem generators with worked solutions, a hash-fixed
// train / held-out split, supervised-mix helpers, exact scoring, and the tiny model's tokenizer.
export type { TaskItem, TaskFamily, TaskSplit } from './types.js';
export { workedAdditionSolution, additionFamily, addition3Family } from './addition.js';
export { problemHash, splitOf, DEFAULT_HELDOUT_FRACTION } from './split.js';
export {
  TASK_FAMILIES,
  DEFAULT_TASK_FAMILY,
  getTaskFamily,
  generateTaskItems,
  createTaskSampler,
} from './generate.js';
export type { TaskGenOptions, TaskSampler, TaskSamplerState } from './generate.js';
export { DEFAULT_MIX, completionFor, pickKind, createSupervisedMix } from './mix.js';
export type {
  CompletionKind,
  MixProportions,
  SupervisedExample,
  SupervisedMixSampler,
  SupervisedMixState,
} from './mix.js';
export { lastBoxed, isCorrectAnswer, isWorkedFormat } from './score.js';
export {
  TINY_VOCAB,
  TINY_SPECIAL_TOKENS,
  TINY_PAD_ID,
  TINY_BOS_ID,
  TINY_EOS_ID,
  TINY_CHAT_TEMPLATE,
  tinyTokenizerJson,
  tinyTokenizerConfig,
  tinyUnencodableChar,
} from './tiny-tokenizer.js';
