// The cpu implementation of the operation interface.
import { matmulNN, matmulNT, matmulTN } from '../matmul.js';
import type { Ops } from '../types.js';
import { rmsnormBackward, rmsnormForward } from './rmsnorm.js';
import { ropeApply, ropeTable } from './rope.js';
import { attentionBackward, attentionForward } from './attention.js';
import { swigluBackward, swigluForward } from './swiglu.js';
import { loraLinearBackward, loraLinearForward } from './lora-linear.js';
import { logSoftmaxGatherBackward, logSoftmaxGatherForward } from './logsoftmax.js';
import { adamwStep } from './adamw.js';

export const cpuOps: Ops = {
  name: 'cpu',
  matmulNN, matmulNT, matmulTN,
  rmsnormForward, rmsnormBackward,
  ropeTable, ropeApply,
  attentionForward, attentionBackward,
  swigluForward, swigluBackward,
  loraLinearForward, loraLinearBackward,
  logSoftmaxGatherForward, logSoftmaxGatherBackward,
  adamwStep,
};
