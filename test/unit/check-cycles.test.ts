// The import-cycle check that `npm run lint` runs (tools/check-cycles.mjs) fails on a cycle, whatever
// kind of import closes it, and passes on the same modules once the cycle is broken by a type file.
// (`npm run lint` runs it over this repository.)
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../../src/util/paths.js';

const script = join(repoRoot(), 'tools', 'check-cycles.mjs');

function check(files: Record<string, string>): { status: number | null; out: string } {
  const dir = mkdtempSync(join(tmpdir(), 'loractor-cycles-'));
  try {
    for (const [path, text] of Object.entries(files)) {
      mkdirSync(join(dir, path, '..'), { recursive: true });
      writeFileSync(join(dir, path), text);
    }
    const r = spawnSync(process.execPath, [script, dir], { encoding: 'utf8' });
    return { status: r.status, out: r.stdout + r.stderr };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// One tree holds a pair of modules per kind of import closing the cycle (one spawn of the checker).
const KINDS = {
  static: "import { a } from './a.js';\nexport const b = 2;\nexport const c = () => a;\n",
  'type-only': "import type { A } from './a.js';\nexport const b = 2;\nexport type B = A;\n",
  dynamic: "export const b = 2;\nexport const load = () => import('./a.js');\n",
  're-export': "export { a } from './a.js';\nexport const b = 2;\n",
};

t.test(
  'a static, type-only, dynamic or re-export import closing a cycle fails the check, naming the modules',
  async (t) => {
    const files: Record<string, string> = {};
    for (const [kind, back] of Object.entries(KINDS)) {
      files[`src/${kind}/a.ts`] = "import { b } from './b.js';\nexport const a = b + 1;\nexport type A = number;\n";
      files[`src/${kind}/b.ts`] = back;
    }
    const r = check(files);
    t.equal(r.status, 1, r.out);
    t.match(r.out, /4 import cycle\(s\) in 8 modules/);
    for (const kind of Object.keys(KINDS)) {
      t.match(r.out, `src/${kind}/a.ts → src/${kind}/b.ts`, `${kind}: a → b`);
      t.match(r.out, `src/${kind}/b.ts → src/${kind}/a.ts`, `${kind}: b → a`);
    }
  },
);

t.test('a longer cycle across folders is found; a module importing itself too', async (t) => {
  const r = check({
    'src/x/a.ts': "import './../y/b.js';\n",
    'src/y/b.ts': "import '../../actors/c.js';\n",
    'actors/c.ts': "import type {} from '../src/x/a.js';\n",
    'tools/self.ts': "export const s = 1;\nexport const me = () => import('./self.js');\n",
  });
  t.equal(r.status, 1, r.out);
  t.match(r.out, /import cycle among 3 module\(s\)/);
  t.match(r.out, /import cycle among 1 module\(s\)/);
  t.match(r.out, /2 import cycle\(s\)/);
});

t.test('the same modules with the shared type moved to a type file pass', async (t) => {
  const r = check({
    'src/types.ts': 'export type A = number;\n',
    'src/a.ts': "import { b } from './b.js';\nexport const a = b + 1;\nexport type { A } from './types.js';\n",
    'src/b.ts': "import type { A } from './types.js';\nexport const b: A = 2;\n",
  });
  t.equal(r.status, 0, r.out);
  t.match(r.out, /no import cycles in 3 modules/);
});
