// Public API of the data area (synthetic tasks live in ./tasks).
export { readJsonl, type Row, type RowError, type ReadJsonlOptions, type ReadResult } from './jsonl.js';
export { readParquet } from './parquet.js';
export { loadDataset, datasetFiles, type LoadDatasetOptions, type LoadedDataset } from './hf-dataset.js';
export { mapTinaRow, mapTinaColumns, type TinaRow } from './tina-columns.js';
export {
  OPEN_R1_SYSTEM_PROMPT,
  OPEN_RS_SYSTEM_PROMPT,
  SYSTEM_PROMPTS,
  systemPromptFor,
  REASON_CHAT_TEMPLATE,
  CHAT_TEMPLATES,
  DEEPSEEK_BOS,
  DEEPSEEK_EOS,
  renderChat,
  buildTinaPrompt,
  truncatePromptIds,
  type ChatMessage,
  type RenderChatOptions,
  type SystemPromptName,
} from './prompts.js';
export {
  createRepeatSampler,
  type RepeatSampler,
  type RepeatSamplerState,
  type RepeatSamplerOptions,
} from './sampler.js';
