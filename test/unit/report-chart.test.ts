// Charts of report.html: a series that is flat up to rounding (a metric repeated across the steps of
// one generation batch, e.g. num_iterations 2) once sent the tick loop into an endless array growth
// (V8 "invalid size" after the last step, before the report was written).
import t from 'tap';
import { lineChart } from '../../src/report/svg-chart.js';

const ticksOf = (svg: string): string[] =>
  [...svg.matchAll(/<text class="tick"[^>]*>([^<]*)<\/text>/g)].map((m) => m[1]!);

t.test('a series equal up to one ulp draws a chart with a few ticks', (t) => {
  const a = 0.852;
  const b = 0.8520000000000001; // the next double after 0.852
  t.not(a, b);
  const svg = lineChart('flat', 'reward', [{ name: 'reward', xs: [1, 2, 3, 4], ys: [a, b, a, b], color: '#06c' }]);
  t.match(svg, /<svg/);
  const ticks = ticksOf(svg);
  t.ok(ticks.length > 2 && ticks.length < 40, `a bounded number of ticks (${ticks.length})`);
  t.end();
});

t.test('tiny but real spans and ordinary spans get ticks inside the range', (t) => {
  for (const ys of [
    [1e-20, 3e-20, 2e-20],
    [0.1, 0.5, 0.9],
    [-3, 7, 2],
    [5, 5, 5],
  ]) {
    const svg = lineChart('c', 'c', [{ name: 'c', xs: ys.map((_, i) => i + 1), ys, color: '#06c' }]);
    const ticks = ticksOf(svg);
    t.ok(ticks.length >= 2 && ticks.length < 40, `${ys.join(', ')}: ${ticks.length} ticks`);
  }
  t.end();
});
