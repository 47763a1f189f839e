// loractor library entry. Each area re-exports its public API here.
export { Rng } from './util/rng.js';
export type { RngState } from './util/rng.js';
