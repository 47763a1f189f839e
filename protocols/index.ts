// Everything that crosses a thread boundary in loractor is declared in this folder.
export * from './shared-tensor.js';
export * from './messages.js';
export * from './training.js';
export * from './advantage.js';
export * from './reward.js';
export * from './handlers.js';
export * from './codec.js';
export * from './envelope.js';
