// Greedy held-out evaluation of a model on the synthetic task: pass@1, how often it answers in the
// worked format, and per level the accuracy of worked vs bare answers (the calibration note's way
// to choose where supervised training stops: RL helps where the worked path is the more accurate).
import type { GenerationEngine } from '../engines/types.js';
import type { ModelTokenizer } from '../model/tokenizer.js';
import { isCorrectAnswer, isWorkedFormat } from '../data/tasks/index.js';
import type { TaskItem } from '../data/tasks/index.js';

export interface LevelStats {
  n: number;
  correct: number;
  worked: number;
  workedCorrect: number;
  bareCorrect: number;
}
export interface HeldoutReport {
  passAt1: number;
  format: number;
  perLevel: Record<number, LevelStats & { acc: number; formatRate: number; workedAcc: number; bareAcc: number }>;
}

export function promptIds(tok: ModelTokenizer, problemPrompt: string): number[] {
  return tok.encode(tok.applyChatTemplate([{ role: 'user', content: problemPrompt }], { addGenerationPrompt: true }));
}

export async function evaluateHeldout(
  engine: GenerationEngine,
  tok: ModelTokenizer,
  items: TaskItem[],
  maxTokens: number,
): Promise<HeldoutReport> {
  const prompts = items.map((it) => ({ ids: Int32Array.from(promptIds(tok, it.prompt)), text: it.prompt }));
  const out = await engine.generate(prompts, 1, { temperature: 0, top_p: 1, top_k: 0, max_tokens: maxTokens, seed: 0 });
  const levels: Record<number, LevelStats> = {};
  let correct = 0,
    worked = 0;
  for (const c of out) {
    const item = items[c.promptIndex]!;
    const ok = isCorrectAnswer(c.text, item.answer);
    const w = isWorkedFormat(c.text);
    const s = (levels[item.level] ??= { n: 0, correct: 0, worked: 0, workedCorrect: 0, bareCorrect: 0 });
    s.n++;
    if (ok) {
      s.correct++;
      correct++;
    }
    if (w) {
      s.worked++;
      worked++;
      if (ok) s.workedCorrect++;
    } else if (ok) s.bareCorrect++;
  }
  const perLevel: HeldoutReport['perLevel'] = {};
  for (const [l, s] of Object.entries(levels)) {
    perLevel[Number(l)] = {
      ...s,
      acc: s.correct / s.n,
      formatRate: s.worked / s.n,
      workedAcc: s.worked ? s.workedCorrect / s.worked : NaN,
      bareAcc: s.n - s.worked ? s.bareCorrect / (s.n - s.worked) : NaN,
    };
  }
  return { passAt1: correct / out.length, format: worked / out.length, perLevel };
}

export function formatHeldout(r: HeldoutReport): string {
  const lv = Object.entries(r.perLevel).map(
    ([l, s]) =>
      `L${l} acc ${s.acc.toFixed(2)} fmt ${s.formatRate.toFixed(2)} (worked ${Number.isNaN(s.workedAcc) ? '–' : s.workedAcc.toFixed(2)} / bare ${Number.isNaN(s.bareAcc) ? '–' : s.bareAcc.toFixed(2)})`,
  );
  return `pass@1 ${r.passAt1.toFixed(3)} format ${r.format.toFixed(3)} | ${lv.join(' | ')}`;
}
