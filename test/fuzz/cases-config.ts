// Malformed run configs, generated from configs/default.json with a seeded Rng: wrong types,
// unknown keys, out-of-range numbers, missing required fields, wrong enum strings, nested garbage,
// broken JSON text, odd files; plus configs that parse but point at things that are not there
// (judged by `loractor check`). Every generated config is invalid by construction.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Rng } from '../../src/util/rng.js';
import { repoRoot } from '../../src/util/paths.js';
import type { FuzzCase } from './types.js';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Obj = { [k: string]: Json };

const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

function setPath(o: Obj, path: string[], v: Json | undefined): void {
  let cur = o as Obj;
  for (const k of path.slice(0, -1)) cur = cur[k] as Obj;
  if (v === undefined) delete cur[path.at(-1)!];
  else cur[path.at(-1)!] = v;
}

/** Fields and values they can never take (schema ranges from the zod sections). */
const OUT_OF_RANGE: [string, Json[]][] = [
  ['run.seed', [-1, 2 ** 32, 1.5]],
  ['run.max_steps', [0, -3, 2.5]],
  ['run.checkpoint_every', [-1, 0.5]],
  ['model.rollout_max_batch', [0, -8]],
  ['model.rollout_actors', [0, 65]],
  ['lora.lora_r', [0, -16, 2.5]],
  ['lora.lora_alpha', [0, -1]],
  ['lora.lora_dropout', [1, -0.1, 7]],
  ['grpo.learning_rate', [0, -5e-4]],
  ['grpo.warmup_ratio', [1.5, -0.1]],
  ['grpo.adam_beta1', [1, -0.5]],
  ['grpo.adam_beta2', [1.2]],
  ['grpo.weight_decay', [-0.01]],
  ['grpo.max_grad_norm', [-1]],
  ['grpo.num_generations', [1, 0, -8, 2.5]],
  ['grpo.beta', [-0.04]],
  ['grpo.temperature', [0, -1]],
  ['grpo.top_p', [0, 1.5]],
  ['grpo.lr_scheduler_kwargs.min_lr_rate', [2, -1]],
  ['rewards.reward_num_workers', [0, -2]],
  ['eval.max_new_tokens', [0, -48]],
  ['eval.batch_size', [0]],
  ['eval.top_p', [0, 2]],
  ['eval.eval_steps', [-10]],
];
const BAD_ENUMS: [string, Json[]][] = [
  ['model.engine', ['gpu', 'Builtin', '']],
  ['grpo.lr_scheduler_type', ['cosine_with_max_lr', 'COSINE']],
  ['grpo.loss_type', ['ppo', 'dr-grpo']],
  ['grpo.scale_rewards', ['groups', 'yes']],
  ['lora.lora_target_modules', [['q_proj', 'qkv'], [], ['Q_PROJ']]],
  ['rewards.reward_funcs', [['accuracy', 'acuracy'], [], [{ custom: '' }]]],
  ['data.source', ['hub', 'tasks']],
];
const REQUIRED = [
  ['model', 'path'],
  ['data', 'source'],
];
const NON_NULLABLE = [
  'model.path',
  'run.seed',
  'lora.lora_r',
  'data.source',
  'grpo.num_generations',
  'grpo.learning_rate',
  'eval.benchmarks',
  'rewards.reward_funcs',
];

function leaves(v: Json, path: string[] = []): { path: string[]; value: Json }[] {
  if (v !== null && typeof v === 'object' && !Array.isArray(v))
    return Object.entries(v).flatMap(([k, x]) => leaves(x, [...path, k]));
  return [{ path, value: v }];
}

/** A value of another JSON type than `v` (never null: several fields are nullable). */
function wrongType(rng: Rng, v: Json): Json {
  const pool: Json[] =
    typeof v === 'number'
      ? [String(v), true, [v], { v }]
      : typeof v === 'string'
        ? [7, false, [v], { v }]
        : typeof v === 'boolean'
          ? [String(v), 1, [v]]
          : Array.isArray(v)
            ? [JSON.stringify(v), 3, { 0: v[0] ?? null }]
            : [1, 'x'];
  return pool[rng.int(pool.length)]!;
}

function deepGarbage(rng: Rng, depth: number): Json {
  if (depth === 0) return [rng.int(2) ? 'x' : 1];
  const k = 'g' + rng.int(1000);
  return rng.int(2) ? [deepGarbage(rng, depth - 1)] : { [k]: deepGarbage(rng, depth - 1) };
}

export function configCases(dir: string, seed: number, nextId: () => number): FuzzCase[] {
  mkdirSync(dir, { recursive: true });
  const rng = Rng.derive(seed, 'fuzz-config');
  const basePath = join(repoRoot(), 'configs/default.json');
  const base = JSON.parse(readFileSync(basePath, 'utf8')) as Obj;
  delete base.$schema;
  base.model = { ...(base.model as Obj), path: join(repoRoot(), 'models/tiny') };
  const cases: FuzzCase[] = [];
  const add = (
    name: string,
    content: string | Buffer | null,
    mustName: string[],
    extra: Partial<FuzzCase> = {},
  ): void => {
    const id = nextId();
    const file = join(dir, `c${id}.json`);
    if (content !== null) writeFileSync(file, content);
    cases.push({
      id,
      category: 'config',
      name,
      target: 'config',
      input: file,
      expect: 'error',
      mustName: [file, ...mustName],
      ...extra,
    });
  };
  const addObj = (name: string, o: Json, field: string): void => add(name, JSON.stringify(o, null, 2), [field]);

  // Wrong types at random leaves (leaves whose schema is z.unknown / records are left out).
  const typed = leaves(base).filter((l) => !l.path.includes('actors') && l.path[0] !== 'description');
  for (let i = 0; i < 12; i++) {
    const l = typed[rng.int(typed.length)]!;
    const o = clone(base);
    const v = l.path.at(-1) === 'scale_rewards' ? 7 : wrongType(rng, l.value); // scale_rewards also takes a boolean
    setPath(o, l.path, v);
    addObj(`wrong type ${l.path.join('.')} = ${JSON.stringify(v)}`, o, l.path.join('.'));
  }
  for (const f of NON_NULLABLE) {
    const o = clone(base);
    setPath(o, f.split('.'), null);
    addObj(`null ${f}`, o, f);
  }
  // Unknown keys in random sections (a typo of a real key, as Tina's lost Dr.GRPO flag).
  const sections = ['', 'run', 'model', 'lora', 'data', 'grpo', 'rewards', 'eval'];
  for (let i = 0; i < 8; i++) {
    const s = sections[rng.int(sections.length)]!;
    const o = clone(base);
    const target = (s ? o[s] : o) as Obj;
    const real = Object.keys(target);
    const key = rng.int(2) ? real[rng.int(real.length)]!.toUpperCase() + '_' : `unknown_${rng.int(1e6)}`;
    target[key] = rng.int(2) ? 1 : 'x';
    addObj(`unknown key ${s ? s + '.' : ''}${key}`, o, key);
  }
  for (const [f, vals] of OUT_OF_RANGE) {
    if (rng.next() < 0.45) continue; // a seeded sample of the range errors
    const v = vals[rng.int(vals.length)]!;
    const o = clone(base);
    setPath(o, f.split('.'), v);
    addObj(`out of range ${f} = ${JSON.stringify(v)}`, o, f);
  }
  for (const [f, vals] of BAD_ENUMS) {
    const v = vals[rng.int(vals.length)]!;
    const o = clone(base);
    setPath(o, f.split('.'), v);
    addObj(`bad enum ${f} = ${JSON.stringify(v)}`, o, f);
  }
  for (const p of REQUIRED) {
    const o = clone(base);
    setPath(o, p, undefined);
    addObj(`missing ${p.join('.')}`, o, p.join('.'));
  }
  {
    const o = clone(base);
    (o.data as Obj) = { source: 'dataset' };
    addObj('data.source dataset without data.path', o, 'data.path');
  }
  for (const s of ['grpo', 'lora', 'run']) {
    const o = clone(base);
    o[s] = deepGarbage(rng, 3 + rng.int(20));
    addObj(`nested garbage in ${s}`, o, s);
  }
  {
    const o = clone(base);
    o.rewards = { reward_funcs: ['accuracy'], reward_weights: [1, 2, 3] };
    addObj('reward_weights length ≠ reward_funcs', o, 'reward_weights');
  }

  // Text-level damage.
  const text = JSON.stringify(base, null, 2);
  for (let i = 0; i < 4; i++) {
    const cut = 1 + rng.int(text.length - 2);
    add(`truncated JSON at ${cut}/${text.length}`, text.slice(0, cut), []);
  }
  add('NaN literal', text.replace(/"beta": [^,]+/, '"beta": NaN'), []);
  add('Infinity literal', text.replace(/"temperature": [^,]+/, '"temperature": Infinity'), []);
  add('huge number 1e400', text.replace(/"learning_rate": [^,]+/, '"learning_rate": 1e400'), ['grpo.learning_rate']);
  add('trailing comma', text.replace(/\n}$/, ',\n}'), []);
  add('comment line', '// my config\n' + text, []);
  add('single quotes', text.replace(/"/g, "'"), []);
  add(
    'BOM + truncated',
    Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(text.slice(0, text.length / 2))]),
    [],
  );
  add('BOM before valid JSON', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(text)]), [], {
    expect: 'tolerated',
  });
  add('empty file', '', ['empty']);
  add('whitespace only', ' \n\t\n', ['empty']);
  add('JSON array root', '[1, 2, 3]', ['(root)']);
  add('JSON string root', '"configs/default.json"', ['(root)']);
  add('random bytes', Buffer.from(Array.from({ length: 64 }, () => rng.int(256))), []);
  add('deeply nested arrays (100k)', '['.repeat(100_000) + ']'.repeat(100_000), ['(root)']);
  add('UTF-16LE encoded', Buffer.from('\ufeff' + text, 'utf16le'), []);
  {
    const id = nextId();
    const d = join(dir, `c${id}.json`);
    mkdirSync(d, { recursive: true });
    cases.push({
      id,
      category: 'config',
      name: 'a directory instead of a file',
      target: 'config',
      input: d,
      expect: 'error',
      mustName: ['directory'],
    });
  }
  {
    const id = nextId();
    cases.push({
      id,
      category: 'config',
      name: 'nonexistent config file',
      target: 'config',
      input: join(dir, 'nope', 'missing.json'),
      expect: 'error',
      mustName: ['missing.json'],
    });
  }

  // Valid JSON and schema, wrong world: judged by `loractor check`.
  const checkCase = (name: string, o: Obj, mustName: string[]): void => {
    const id = nextId();
    const file = join(dir, `k${id}.json`);
    writeFileSync(file, JSON.stringify(o, null, 2));
    cases.push({ id, category: 'config-semantic', name, target: 'check', input: file, expect: 'error', mustName });
  };
  {
    const o = clone(base);
    (o.model as Obj).path = join(dir, 'no-such-model');
    checkCase('model.path does not exist', o, ['no-such-model']);
  }
  {
    const o = clone(base);
    (o.model as Obj).path = basePath;
    checkCase('model.path is a file', o, ['model.path']);
  }
  {
    const o = clone(base);
    o.data = { source: 'dataset', path: join(dir, 'no-such-data.jsonl') };
    checkCase('data.path does not exist', o, ['no-such-data.jsonl']);
  }
  {
    const o = clone(base);
    const f = join(dir, 'garbage-data.jsonl');
    writeFileSync(f, '\u0000\u0001 not json\n{{{\n');
    o.data = { source: 'dataset', path: f };
    checkCase('data.path is garbage', o, ['garbage-data.jsonl']);
  }
  {
    const o = clone(base);
    o.data = { source: 'task', task: 'multiplication-of-unicorns' };
    checkCase('unknown task family', o, ['multiplication-of-unicorns']);
  }
  {
    const o = clone(base);
    (o.eval as Obj).benchmarks = ['aime99'];
    checkCase('unknown benchmark', o, ['aime99']);
  }
  {
    const o = clone(base);
    (o.model as Obj).engine = 'webllm';
    checkCase('webllm engine without mlc_dir/mlc_lib', o, ['mlc_dir']);
  }
  return cases;
}
