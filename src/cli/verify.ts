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

  // Decoded strictly, line by line: invalid UTF-8 is a malformed line, not text with U+FFFD in it.
  let input: Utf8Line[];
  try {
    input = readUtf8Lines(values.in!);
  } catch (err) {
    console.error(`loractor verify: cannot read --in ${values.in}: ${(err as Error).message}`);
    return 1;
  }
  const out = values.out ? createWriteStream(values.out, 'utf8') : null;
  const write = (obj: unknown): void => {
    const s = JSON.stringify(obj) + '\n';
    if (out) out.write(s);
    else process.stdout.write(s);
  };

  let lineNo = 0;
  let malformed = 0;
  let correct = 0;
  let total = 0;
  for (const { text: line } of input) {
    lineNo++;
    if (line === null) {
      malformed++;
      const error = `${values.in}:${lineNo}: not valid UTF-8 (the file must be UTF-8 encoded)`;
      console.error(`loractor verify: ${error}`);
      write({ line: lineNo, error });
      continue;
    }
    if (line.trim() === '') continue;
    let rec: unknown;
    try {
      rec = JSON.parse(line);
    } catch (err) {
      malformed++;
      const error = `${values.in}:${lineNo}: not valid JSON (${(err as Error).message})`;
      console.error(`loractor verify: ${error}`);
      write({ line: lineNo, error });
      continue;
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
    if (field) {
      malformed++;
      const error = `${values.in}:${lineNo}: field '${field}' must be ${field === 'line' ? 'a JSON object' : field === 'gold' ? 'a string or number' : 'a string'}`;
      console.error(`loractor verify: ${error}`);
      write({ line: lineNo, error });
      continue;
    }
    const gold = parse(String(r.gold), goldOpts);
    const answer = parse(r.answer as string, answerOpts);
    const ok = verifyParsed(gold, answer, { precision });
    total++;
    if (ok) correct++;
    write({ line: lineNo, correct: ok, gold_parsed: describe(gold), answer_parsed: describe(answer) });
  }
  if (out)
    await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
  console.error(`loractor verify: ${correct}/${total} correct${malformed ? `, ${malformed} malformed line(s)` : ''}`);
  return malformed > 0 ? 1 : 0;
}
