// Everything that crosses a thread boundary in loractor is declared in this folder.
export * from './shared-tensor.js';
export * from './messages.js';
export * from './codec.js';
export * from './envelope.js';
