// `loractor worker --nats URL --role rollout|reward [--engine E] [--threads N] [--model DIR]`: serve one
// role for every run on a NATS server (src/transport/nats/worker.ts). Runs until SIGINT/SIGTERM, then
// finishes the items in flight, leaves its runs and exits 0. A refused connection (bad credentials,
// no server, no JetStream) is one line on stderr, exit 1.
import { parseArgs } from 'node:util';
import { resolve } from 'node:path';
import { reportFailure, UsageError } from './standard-flags.js';
import type { NatsOptions } from '../transport/nats/connect.js';

export const USAGE = `usage: loractor worker --nats URL --role rollout|reward [--engine builtin|webgpu|webllm] [--threads N] [--model DIR]
                      [--nats-creds FILE] [--nats-ca FILE] [--allow-reward-modules]
  --nats URL        NATS server with JetStream: nats://[user:password@]host[:port] (tls://... for TLS)
  --role ROLE       the role this process serves: rollout (generation) or reward (scoring)
  --engine E        rollout engine (default: the run's model.engine)
  --threads N       rollout engines / reward scoring threads in this process (default 1)
  --model DIR       this host's copy of the base model (default: the path the run names); its config.json must match the run's
  --nats-creds FILE NATS credentials: a .creds file (JWT + nkey seed) or an nkey seed file
  --nats-ca FILE    CA certificate to verify the server's TLS certificate
  --allow-reward-modules  reward: import the custom reward modules a run names (they are code; by default
                    a run naming one is refused: anyone who can publish on the server could name one)`;

/** --nats, --nats-creds and --nats-ca as connection options (shared with the training command). */
export function natsOptionsFrom(v: {
  nats?: string;
  'nats-creds'?: string;
  'nats-ca'?: string;
}): NatsOptions | undefined {
  if (v.nats === undefined) {
    if (v['nats-creds'] !== undefined || v['nats-ca'] !== undefined)
      throw new UsageError('--nats-creds / --nats-ca need --nats URL');
    return undefined;
  }
  return {
    url: v.nats,
    ...(v['nats-creds'] !== undefined ? { credsFile: resolve(v['nats-creds']) } : {}),
    ...(v['nats-ca'] !== undefined ? { caFile: resolve(v['nats-ca']) } : {}),
  };
}

export async function run(argv: string[]): Promise<number> {
  let o: Parameters<typeof import('../transport/nats/worker.js').startWorker>[0];
  try {
    const { values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        nats: { type: 'string' },
        role: { type: 'string' },
        engine: { type: 'string' },
        threads: { type: 'string' },
        model: { type: 'string' },
        'nats-creds': { type: 'string' },
        'nats-ca': { type: 'string' },
        'allow-reward-modules': { type: 'boolean' },
      },
    });
    const nats = natsOptionsFrom(values);
    if (!nats) throw new UsageError('missing --nats URL');
    if (values.role !== 'rollout' && values.role !== 'reward')
      throw new UsageError(
        `--role: expected rollout or reward, got ${values.role === undefined ? 'nothing' : `'${values.role}'`}`,
      );
    if (values.engine !== undefined && !['builtin', 'webgpu', 'webllm'].includes(values.engine))
      throw new UsageError(`--engine: expected builtin, webgpu or webllm, got '${values.engine}'`);
    if (values.engine !== undefined && values.role !== 'rollout')
      throw new UsageError('--engine applies to --role rollout');
    const threads = values.threads === undefined ? 1 : Number(values.threads);
    if (!Number.isInteger(threads) || threads < 1 || threads > 256)
      throw new UsageError(`--threads: expected an integer in 1..256, got '${values.threads}'`);
    o = {
      nats,
      role: values.role,
      threads,
      ...(values['allow-reward-modules'] ? { allowRewardModules: true } : {}),
      log: (line) => console.error(`loractor worker: ${line}`),
      ...(values.engine !== undefined ? { engine: values.engine as 'builtin' | 'webgpu' | 'webllm' } : {}),
      ...(values.model !== undefined ? { modelDir: resolve(values.model) } : {}),
    };
  } catch (err) {
    return reportFailure('loractor worker', err);
  }
  const { startWorker } = await import('../transport/nats/worker.js');
  let w;
  try {
    w = await startWorker(o);
  } catch (err) {
    console.error(`loractor worker: ${(err as Error).message}`);
    return 1;
  }
  const worker = w;
  const onSignal = (sig: NodeJS.Signals): void => {
    o.log(`${sig}: finishing the items in flight, then leaving`);
    void worker.stop();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  await worker.done;
  return 0;
}
