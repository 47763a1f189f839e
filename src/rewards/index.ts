// Public API of the rewards area (the verifier has its own entry, ./verifier/index.js).
export type { RewardContext, RewardFunc, RewardKwargs } from './types.js';
export { TINA_REWARD_KWARGS } from './types.js';
export {
  formatReward,
  formatRewardOpenR1,
  formatRewardOpenR1Strict,
  tagCountReward,
  tagCountRewardOpenR1,
} from './format.js';
export {
  reasoningStepsReward,
  makeRepetitionPenaltyReward,
  countReasoningSteps,
  repeatedNgramFraction,
} from './heuristics.js';
export { computeCosineReward, computeLengthRewards, type CosineParams } from './length.js';
export { countNonOverlapping, codePointLength, matchesOpenR1Format, matchesOpenR1StrictFormat } from './text-scan.js';
export {
  BUILTIN_REWARD_NAMES,
  resolveRewardFunc,
  resolveRewardFuncs,
  rewardFuncName,
  absolutizeSpec,
  nansumWeighted,
  isBuiltinRewardName,
  type BuiltinRewardName,
  type CustomRewardSpec,
  type RewardFuncSpec,
  type ResolvedRewardFunc,
} from './registry.js';
export {
  rewardsConfigSchema,
  parseRewardsConfig,
  rewardKwargsOf,
  rewardWeightsOf,
  type RewardsConfig,
  type RewardsConfigInput,
} from './config.js';
export {
  scoreBatch,
  rewardRoleSpec,
  rewardActorFile,
  rewardRunnerOnActorSystem,
  type AskingSystem,
  type RewardTaskRunner,
  type RewardItem,
  type RewardBatchScores,
  type RewardItemFailure,
  type ScoreBatchOptions,
} from './score-batch.js';
