// RL library: advantages, the GRPO-family loss, AdamW + clipping + accumulation, LR schedules, config.
export * from './advantages.js';
export * from './loss.js';
export * from './optimizer.js';
export * from './schedule.js';
export * from './config.js';
