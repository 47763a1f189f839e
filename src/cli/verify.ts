// `loractor verify --in FILE.jsonl [--out FILE] [--gold default|latex|expr] [--answer tina|lighteval]
//  [--precision N]`: check answers with the math verifier. Each input line is {"gold": ..., "answer": ...};
// each output line is {"line", "correct", "gold_parsed", "answer_parsed"} (or {"line", "error"} for a
// malformed line, which is reported on stderr too and does not stop the run). Exit code 0 when every
// line was well-formed, 1 when some were not, 2 on usage errors.
import { createWriteStream } from 'node:fs';
import { readUtf8Lines, type Utf8Line } from '../util/utf8.js';
import { parseArgs } from 'node:util';
import {
  ANSWER_CFG,
  GOLD_DEFAULT,
  GOLD_EXPR_ONLY,
  GOLD_LATEX_ONLY,
  LIGHTEVAL_PRED,
  parse,
  verifyParsed,
  type ParseOptions,
  type ParsedAnswer,
} from '../rewards/verifier/index.js';

export const USAGE = `usage: loractor verify --in FILE.jsonl [--out FILE] [--gold default|latex|expr] [--answer tina|lighteval] [--precision N]
  input lines: {"gold": "<solution or answer>", "answer": "<model output>"}
  output lines: {"line": N, "correct": bool, "gold_parsed": [...], "answer_parsed": [...]}`;

const GOLD_PRESETS: Record<string, ParseOptions> = {
  default: GOLD_DEFAULT,
  latex: GOLD_LATEX_ONLY,
  expr: GOLD_EXPR_ONLY,
};
const ANSWER_PRESETS: Record<string, ParseOptions> = { tina: ANSWER_CFG, lighteval: LIGHTEVAL_PRED };

/** A parsed answer as math_verify prints it: the CAS value (as LaTeX + MathJSON) or the raw string. */
function describe(p: ParsedAnswer[]): unknown[] {
  return p.map((x) => (x.kind === 'math' ? { latex: x.latex, mathjson: x.json } : x.text));
}

export async function run(argv: string[]): Promise<number> {
  const settings = verifySettings(argv);
  if (typeof settings === 'number') return settings;

  // Decoded strictly, line by line: invalid UTF-8 is a malformed line, not text with U+FFFD in it.
  let input: Utf8Line[];
  try {
    input = readUtf8Lines(settings.in);
  } catch (err) {
    console.error(`loractor verify: cannot read --in ${settings.in}: ${(err as Error).message}`);
    return 1;
  }
  const out = settings.out ? createWriteStream(settings.out, 'utf8') : null;
  const write = (obj: unknown): void => {
    const s = JSON.stringify(obj) + '\n';
    if (out) out.write(s);
    else process.stdout.write(s);
  };

  const tally: VerifyTally = { malformed: 0, correct: 0, total: 0 };
  let lineNo = 0;
  for (const { text: line } of input) {
    lineNo++;
    verifyLine(settings, tally, write, line, lineNo);
  }
  if (out)
    await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
  const { malformed, correct, total } = tally;
  console.error(`loractor verify: ${correct}/${total} correct${malformed ? `, ${malformed} malformed line(s)` : ''}`);
  return malformed > 0 ? 1 : 0;
}

interface VerifySettings {
  in: string;
  out: string | undefined;
  goldOpts: ParseOptions;
  answerOpts: ParseOptions;
  precision: number;
}

/** What the input lines came to so far. */
interface VerifyTally {
  malformed: number;
  correct: number;
  total: number;
}

/** The settings of a verify command line, or the exit code (2) after printing its usage error. */
function verifySettings(argv: string[]): VerifySettings | number {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        in: { type: 'string' },
        out: { type: 'string' },
        gold: { type: 'string', default: 'default' },
        answer: { type: 'string', default: 'tina' },
        precision: { type: 'string', default: '6' },
      },
      strict: true,
    }));
  } catch (err) {
    console.error(`loractor verify: ${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  const goldOpts = GOLD_PRESETS[values.gold!];
  const answerOpts = ANSWER_PRESETS[values.answer!];
  const precision = Number(values.precision);
  const usage = !values.in
    ? 'missing --in FILE.jsonl'
    : !goldOpts
      ? `--gold must be one of ${Object.keys(GOLD_PRESETS).join(', ')}, got '${values.gold}'`
      : !answerOpts
        ? `--answer must be one of ${Object.keys(ANSWER_PRESETS).join(', ')}, got '${values.answer}'`
        : !Number.isInteger(precision) || precision < 0 || precision > 15
          ? `--precision must be an integer in 0..15, got '${values.precision}'`
          : null;
  if (usage) {
    console.error(`loractor verify: ${usage}\n${USAGE}`);
    return 2;
  }
  return { in: values.in!, out: values.out, goldOpts: goldOpts!, answerOpts: answerOpts!, precision };
}

/** Verifies one input line (null: not UTF-8) and writes its output line; a malformed one is reported on stderr too. */
function verifyLine(
  settings: VerifySettings,
  tally: VerifyTally,
  write: (obj: unknown) => void,
  line: string | null,
  lineNo: number,
): void {
  if (line !== null && line.trim() === '') return;
  const rec = parseVerifyRecord(settings.in, line, lineNo);
  if (typeof rec === 'string') {
    tally.malformed++;
    console.error(`loractor verify: ${rec}`);
    write({ line: lineNo, error: rec });
    return;
  }
  const gold = parse(String(rec.gold), settings.goldOpts);
  const answer = parse(rec.answer, settings.answerOpts);
  const ok = verifyParsed(gold, answer, { precision: settings.precision });
  tally.total++;
  if (ok) tally.correct++;
  write({ line: lineNo, correct: ok, gold_parsed: describe(gold), answer_parsed: describe(answer) });
}

/** A line's {gold, answer}, or the error naming what makes it malformed. */
function parseVerifyRecord(
  file: string,
  line: string | null,
  lineNo: number,
): { gold: string | number; answer: string } | string {
  if (line === null) return `${file}:${lineNo}: not valid UTF-8 (the file must be UTF-8 encoded)`;
  let rec: unknown;
  try {
    rec = JSON.parse(line);
  } catch (err) {
    return `${file}:${lineNo}: not valid JSON (${(err as Error).message})`;
  }
  const r = rec as { gold?: unknown; answer?: unknown };
  const field =
    typeof rec !== 'object' || rec === null
      ? 'line'
      : typeof r.gold !== 'string' && typeof r.gold !== 'number'
        ? 'gold'
        : typeof r.answer !== 'string'
          ? 'answer'
          : null;
  if (field)
    return `${file}:${lineNo}: field '${field}' must be ${field === 'line' ? 'a JSON object' : field === 'gold' ? 'a string or number' : 'a string'}`;
  return r as { gold: string | number; answer: string };
}
