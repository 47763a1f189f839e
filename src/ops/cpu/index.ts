// The cpu implementation of the operation interface.
import { matmulNN, matmulNT, matmulTN, type FloatArray } from '../matmul.js';
import type { Ops } from '../types.js';
import { rmsnormBackward, rmsnormForward } from './rmsnorm.js';
import { ropeApply, ropeTable } from './rope.js';
import { swigluBackward, swigluForward, swigluPackedForward } from './swiglu.js';
import { loraLinearBackward, loraLinearForward } from './lora-linear.js';
import { adamwStep } from './adamw.js';
import {
  addInPlace,
  alloc,
  attentionBackward,
  attentionForward,
  copy,
  dropout,
  gatherRows,
  lmHeadBackward,
  lmHeadForward,
  read,
  scatterAddRows,
  upload,
  view,
} from './tensor-ops.js';

const noop = (): void => {};

export const cpuOps: Ops<FloatArray> = {
  name: 'cpu',
  alloc,
  view,
  read,
  upload,
  beginScope: noop,
  endScope: noop,
  copy,
  addInPlace,
  gatherRows,
  scatterAddRows,
  matmulNN,
  matmulNT,
  matmulTN,
  rmsnormForward,
  rmsnormBackward,
  rmsnormMatmulNT: (xn, rstd, c, x, w, b, rows, dim, n, eps) => {
    rmsnormForward(xn, rstd, x, w, rows, dim, eps);
    matmulNT(c, xn, b, rows, dim, n, false);
  },
  ropeTable,
  ropeApply,
  attentionForward,
  attentionBackward,
  swigluForward,
  swigluPackedForward,
  swigluBackward,
  dropout,
  loraLinearForward,
  loraLinearBackward,
  lmHeadForward,
  lmHeadBackward,
  adamwStep: (param, grad, m, v, lr, b1, b2, eps, wd, step, gradScale = 1) => {
    if (gradScale !== 1) for (let i = 0; i < grad.length; i++) grad[i] = grad[i]! * gradScale;
    adamwStep(
      param as Float32Array,
      grad as Float32Array,
      m as Float32Array,
      v as Float32Array,
      lr,
      b1,
      b2,
      eps,
      wd,
      step,
    );
  },
};
