// A dataset row as every reader (JSONL, Parquet, JSON arrays) yields it: one plain object per record.
export type Row = Record<string, unknown>;
