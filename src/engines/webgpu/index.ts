export {
  createWebGpuEngine,
  type WebGpuEngine,
  type WebGpuEngineOptions,
  type WebGpuGenerationStats,
} from './engine.js';
export { AdapterVerificationError, type SyncReport } from './adapters.js';
