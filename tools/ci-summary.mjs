// Turns tap's closing "# { total: N, pass: P, fail: F, skip: S }" line into "P passed, F failed[, S skipped]".
// Before that line it lists every failed test point with the start of its diagnostic block, because CI keeps
// only the tail of the log and a failure deep in a 20,000-line log would otherwise never be seen.
import { readFileSync } from 'node:fs';

const MAX_FAILURES = 30;
const MAX_DIAGNOSTIC_LINES = 24;

const text = readFileSync(process.argv[2], 'utf8');
const m = [
  ...text.matchAll(/^# \{ total: (\d+)(?:, pass: (\d+))?(?:, fail: (\d+))?(?:, skip: (\d+))?(?:, todo: (\d+))?/gm),
].pop();
if (!m) {
  console.log('0 passed, 1 failed');
  console.error('ci-summary: no tap summary found (install, lint or build failed before tests ran)');
  process.exit(1);
}
const failures = failedPoints(text.split('\n'));
if (failures.length > 0) {
  console.log(`failed test points (${failures.length}; assertions first, then the subtests and files holding them):`);
  for (const f of failures.slice(0, MAX_FAILURES)) console.log(f);
  if (failures.length > MAX_FAILURES) console.log(`… and ${failures.length - MAX_FAILURES} more`);
}
const [, , pass = '0', fail = '0', skip = '0'] = m;
console.log(`${pass} passed, ${fail} failed` + (Number(skip) ? `, ${skip} skipped` : ''));

/** Every "not ok" line (any depth) with the first lines of the YAML block that follows it. */
function failedPoints(lines) {
  const out = [];
  for (let i = 0; i < lines.length; i++) {
    const point = /^(\s*)not ok \d+ - (.*)$/.exec(lines[i]);
    if (!point) continue;
    const indent = point[1].length;
    const diagnostic = [];
    if (lines[i + 1]?.trim() === '---') {
      let skipDeeperThan = -1; // inside the source excerpt, which repeats the test's code
      for (let j = i + 2; j < lines.length && diagnostic.length < MAX_DIAGNOSTIC_LINES; j++) {
        const line = lines[j];
        if (line.trim() === '...') break;
        const depth = line.length - line.trimStart().length;
        if (skipDeeperThan >= 0 && depth > skipDeeperThan) continue;
        skipDeeperThan = line.trimStart().startsWith('source:') ? depth : -1;
        if (skipDeeperThan < 0) diagnostic.push(`    ${line.slice(indent)}`);
      }
    }
    // A subtest or file ends in "# time=": one line is enough, its failed assertions come with details.
    const holder = / # time=[\d.]+m?s$/.test(point[2]);
    out.push([`  ${'  '.repeat(indent / 4)}not ok - ${point[2]}`, ...(holder ? [] : diagnostic)].join('\n'));
  }
  return out;
}
