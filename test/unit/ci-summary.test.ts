// tools/ci-summary.mjs, the last step of .ci/run: CI keeps only the tail of the log, so the summary must name
// every failed test point (with its diagnostic) right before the "N passed, N failed" line.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../../src/util/paths.js';

const script = join(repoRoot(), 'tools', 'ci-summary.mjs');

function summarize(log: string): { status: number | null; out: string } {
  const dir = mkdtempSync(join(tmpdir(), 'loractor-ci-summary-'));
  try {
    writeFileSync(join(dir, 'log'), log);
    const r = spawnSync(process.execPath, [script, join(dir, 'log')], { encoding: 'utf8' });
    return { status: r.status, out: r.stdout };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const FAILING = `# Subtest: dist/test/unit/a.test.js
    # Subtest: the pool
        ok 1 - fine
        not ok 2 - never stalled
          ---
          found: 5
          source: >
            t.equal(stalls, 0, 'never stalled');
            --^
          wanted: 0
          ...
        1..2
    not ok 1 - the pool # time=3ms
      ---
      at:
        fileName: test/unit/a.test.ts
      ...
    1..1
not ok 1 - dist/test/unit/a.test.js # time=5ms
ok 2 - dist/test/unit/b.test.js # time=1ms
# { total: 3, pass: 1, fail: 1, skip: 1 }
`;

t.test('failed assertions with diagnostics, then one line per failed point right above the count line', async (t) => {
  const { status, out } = summarize(FAILING);
  t.equal(status, 0);
  const lines = out.trimEnd().split('\n');
  t.equal(lines.at(-1), '1 passed, 1 failed, 1 skipped');
  t.match(
    out,
    /failed assertions, with their diagnostics \(1\):\n\s+not ok - never stalled\n\s+found: 5\n\s+wanted: 0\n/,
  );
  t.notMatch(out, /t\.equal\(stalls/, 'the source excerpt is left out');
  // The last lines: every failed point, innermost first, each on one line, with its file and line where known.
  t.same(
    lines.slice(-5, -1).map((l) => l.trim()),
    [
      "failed test points (3; each file's innermost first):",
      'not ok - never stalled',
      'not ok - the pool # time=3ms (test/unit/a.test.ts)',
      'not ok - dist/test/unit/a.test.js # time=5ms',
    ],
  );
  t.notMatch(out, /b\.test\.js/, 'passing files are not listed');
});

t.test('a passing log prints only the count line; a log without a summary counts as a failure', async (t) => {
  const pass = summarize('ok 1 - dist/test/unit/b.test.js\n# { total: 1, pass: 1 }\n');
  t.equal(pass.out, '1 passed, 0 failed\n');
  const none = summarize('npm ERR! build failed\n');
  t.equal(none.status, 1);
  t.equal(none.out, '0 passed, 1 failed\n');
});
