// Turns tap's closing "# { total: N, pass: P, fail: F, skip: S }" line into "P passed, F failed[, S skipped]".
// Before that line it prints each failed assertion's diagnostic, then one line per failed test point, because CI
// keeps only the tail of the log and a failure deep in a 20,000-line log would otherwise never be seen.
import { readFileSync } from 'node:fs';

const MAX_DETAILED = 20;
const MAX_LISTED = 40;
const MAX_DIAGNOSTIC_LINES = 16;

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
const assertions = failures.filter((f) => !f.holder);
if (assertions.length > 0) {
  console.log(`failed assertions, with their diagnostics (${assertions.length}):`);
  for (const f of assertions.slice(0, MAX_DETAILED)) console.log([`  not ok - ${f.name}`, ...f.diagnostic].join('\n'));
  if (assertions.length > MAX_DETAILED) console.log(`  … and ${assertions.length - MAX_DETAILED} more`);
}
// The one-line list comes last, right above the count, so the shortest tail still shows every failure.
if (failures.length > 0) {
  console.log(`failed test points (${failures.length}; each file's innermost first):`);
  for (const f of failures.slice(0, MAX_LISTED))
    console.log(`  ${'  '.repeat(f.depth)}not ok - ${f.name}${f.where ? ` (${f.where})` : ''}`);
  if (failures.length > MAX_LISTED) console.log(`  … and ${failures.length - MAX_LISTED} more`);
}
const [, , pass = '0', fail = '0', skip = '0'] = m;
console.log(`${pass} passed, ${fail} failed` + (Number(skip) ? `, ${skip} skipped` : ''));

/** Every "not ok" line (any depth): its name, depth, whether it is a subtest or file, and its diagnostic. */
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
    const file = diagnostic.find((l) => /^\s+fileName: /.test(l))?.split('fileName: ')[1];
    const line = diagnostic.find((l) => /^\s+lineNumber: /.test(l))?.split('lineNumber: ')[1];
    out.push({
      name: point[2],
      depth: indent / 4,
      // A subtest or file ends in "# time=": it holds failed assertions, which carry the details.
      holder: / # time=[\d.]+m?s$/.test(point[2]),
      diagnostic,
      where: file ? `${file}${line ? `:${line}` : ''}` : null,
    });
  }
  return out;
}
