// Strict UTF-8 decoding with the line of the first bad byte. readFileSync(file, 'utf8') turns invalid
// bytes into U+FFFD silently, so a command would work on text that is not what the file holds; training
// already refuses such lines (src/data/jsonl.ts), and `verify`, `eval`, `logprobs` and `generate` do too.
import { readFileSync } from 'node:fs';

const fatal = new TextDecoder('utf-8', { fatal: true });

/** One line's bytes as text, or null when they are not valid UTF-8. */
export function decodeUtf8(bytes: Uint8Array): string | null {
  try {
    return fatal.decode(bytes);
  } catch {
    return null;
  }
}

export interface Utf8Line {
  /** 1-based line number. */
  line: number;
  /** The line's text (without the newline or a trailing CR), or null when its bytes are not valid UTF-8. */
  text: string | null;
}

/** The lines of a file, each decoded strictly (a leading byte-order mark is dropped). */
export function readUtf8Lines(path: string): Utf8Line[] {
  const bytes = readFileSync(path);
  const out: Utf8Line[] = [];
  for (let start = 0, n = 1; start <= bytes.length; n++) {
    let end = bytes.indexOf(0x0a, start);
    if (end < 0) end = bytes.length;
    let text = decodeUtf8(bytes.subarray(start, end));
    if (text !== null) {
      if (n === 1 && text.charCodeAt(0) === 0xfeff) text = text.slice(1);
      if (text.endsWith('\r')) text = text.slice(0, -1);
    }
    out.push({ line: n, text });
    start = end + 1;
  }
  return out;
}

export const INVALID_UTF8 = 'not valid UTF-8 (the file must be UTF-8 encoded)';
