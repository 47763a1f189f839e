export { renderReport, type ReportInput } from './html.js';
export { ema, formatTurnStep, type StepMetrics, type EvalSummary } from './metrics.js';
export { createProgress, formatDuration } from './progress.js';
export { readRecordLines, readLatestRecords, readStepMetrics, recordKeys, RECORD_FILES } from './records.js';
