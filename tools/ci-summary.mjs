// Turns tap's closing "# { total: N, pass: P, fail: F, skip: S }" line into "P passed, F failed[, S skipped]".
import { readFileSync } from 'node:fs';
const text = readFileSync(process.argv[2], 'utf8');
const m = [
  ...text.matchAll(/^# \{ total: (\d+)(?:, pass: (\d+))?(?:, fail: (\d+))?(?:, skip: (\d+))?(?:, todo: (\d+))?/gm),
].pop();
if (!m) {
  console.log('0 passed, 1 failed');
  console.error('ci-summary: no tap summary found (install, lint or build failed before tests ran)');
  process.exit(1);
}
const [, , pass = '0', fail = '0', skip = '0'] = m;
console.log(`${pass} passed, ${fail} failed` + (Number(skip) ? `, ${skip} skipped` : ''));
