// Reading a recipe: its top-level YAML keys with their line and trailing comment, and the value checks
// every section uses. Each check fails with the recipe name, the key and its line, so a refusal points
// at the line to change.
import { LineCounter, isMap, isScalar, parseDocument, type Pair } from 'yaml';
import { RecipeImportError } from './types.js';

/** One top-level key of a recipe. */
export interface RecipeEntry {
  /** The value as plain JSON (what TRL's argparse would receive). */
  value: unknown;
  /** 1-based line of the key, for messages; 0 when unknown. */
  line: number;
  /** The comment after the value (Tina writes its manual stop step there). */
  comment: string;
}

/** A parsed recipe and the checks that read its values. */
export interface RecipeReader {
  /** Name of the recipe in messages. */
  src: string;
  /** The keys in file order (the order notes and errors follow). */
  entries: Map<string, RecipeEntry>;
  /** "SRC:LINE: key 'KEY'", the start of every message about a key. */
  at(key: string): string;
  fail(key: string, why: string): never;
  num(key: string, v: unknown, int?: boolean): number;
  strList(key: string, v: unknown): string[];
}

export function readRecipe(yamlText: string, src: string): RecipeReader {
  const entries = parseEntries(yamlText, src);
  const at = (key: string) => `${src}:${entries.get(key)?.line ?? '?'}: key '${key}'`;
  const fail = (key: string, why: string): never => {
    throw new RecipeImportError(`${at(key)}: ${why}`, key);
  };
  const num = (key: string, v: unknown, int = false): number => {
    // PyYAML reads 1e-06 as a string and argparse converts it; accept numeric strings the same way.
    const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
    if (typeof n !== 'number' || !Number.isFinite(n) || (int && !Number.isInteger(n)))
      fail(key, `expected ${int ? 'an integer' : 'a number'}, got ${JSON.stringify(v)}`);
    return n as number;
  };
  const strList = (key: string, v: unknown): string[] => {
    // TRL's argparse also takes a comma-separated string for a list field.
    const list = typeof v === 'string' ? v.split(',').map((s) => s.trim()) : v;
    if (!Array.isArray(list) || !list.every((s) => typeof s === 'string'))
      fail(key, `expected a list of strings, got ${JSON.stringify(v)}`);
    return list as string[];
  };
  return { src, entries, at, fail, num, strList };
}

/** The recipe's top-level keys, in file order; refuses invalid YAML and anything but a mapping. */
function parseEntries(yamlText: string, src: string): Map<string, RecipeEntry> {
  const lc = new LineCounter();
  const doc = parseDocument(yamlText, { lineCounter: lc });
  if (doc.errors.length) throw new RecipeImportError(`${src}: invalid YAML: ${doc.errors[0]!.message}`, '');
  if (!isMap(doc.contents))
    throw new RecipeImportError(`${src}: a recipe must be a YAML mapping of keys to values`, '');
  const entries = new Map<string, RecipeEntry>();
  for (const p of doc.contents.items as Pair[]) {
    const key = isScalar(p.key) ? String(p.key.value) : String(p.key);
    const line = isScalar(p.key) && p.key.range ? lc.linePos(p.key.range[0]).line : 0;
    const value = (p.value as { toJSON?: () => unknown } | null)?.toJSON?.() ?? p.value;
    entries.set(key, { value, line, comment: trailingComment(p) });
  }
  return entries;
}

function trailingComment(p: Pair): string {
  const v = p.value;
  return (v && typeof v === 'object' && 'comment' in v ? (v as { comment?: string }).comment : undefined) ?? '';
}
