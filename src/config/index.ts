export { loadConfig, validateConfig, ConfigError } from './load.js';
export { rootConfigSchema } from './schema.js';
export type { LoractorConfig } from './schema.js';
export { actorRoleSchema, actorsSchema, runSchema } from './sections.js';
export { actorSpecsFromConfig } from './actors.js';
