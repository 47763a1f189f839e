export { createBuiltinEngine, type BuiltinEngine, type BuiltinEngineOptions, type TextDecoder } from './engine.js';
export { sampleToken, createSamplerScratch, type SampleOptions } from './sampling.js';
