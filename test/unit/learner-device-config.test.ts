// learner.device "webgpu" scores under the full distribution only: a config asking the learner for
// top-p/top-k (truncated) log-probs is refused before any work, naming both knobs; the cpu learner
// takes the same config.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { planRun, RunConfigError } from '../../src/coordinator/setup.js';
import { repoRoot } from '../../src/util/paths.js';

const root = repoRoot();
const base = JSON.parse(readFileSync(join(root, 'configs/default.json'), 'utf8'));
const config = (device: 'cpu' | 'webgpu', grpo: Record<string, unknown>) => ({
  ...base,
  model: { ...base.model, path: join(root, 'models/tiny') },
  learner: { device },
  grpo: { ...base.grpo, ...grpo },
});

t.test('webgpu learner + top_p < 1 or top_k > 0: refused naming the knobs; the cpu learner accepts', async (t) => {
  for (const grpo of [{ top_p: 0.9 }, { top_k: 5 }]) {
    const err = await planRun(config('webgpu', grpo), {}).catch((e: unknown) => e);
    t.ok(err instanceof RunConfigError, `${JSON.stringify(grpo)}: a config error`);
    t.match(
      (err as Error).message,
      /learner\.device 'webgpu'.*grpo\.top_p .* top_k .*learner\.device "cpu"/,
      'names learner.device, top_p/top_k and the way out',
    );
    const ok = await planRun(config('cpu', grpo), {});
    t.equal(ok.learnerCfg.device, 'cpu', `${JSON.stringify(grpo)}: the cpu learner takes it`);
  }
  const plain = await planRun(config('webgpu', {}), {});
  t.equal(
    plain.learnerCfg.device,
    'webgpu',
    'full-distribution scoring on webgpu is accepted (nothing GPU-side runs in planRun)',
  );
});
