// A private nats-server (Debian's package; .ci/run installs it) for the remote-role tests and
// bench:nats: on 127.0.0.1, a free port, JetStream in a temporary folder, optionally with a user and
// password; stopped and its folder removed afterwards. Without nats-server the caller gets an error
// naming the package to install (a test that needs it fails; it never skips).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface NatsServer {
  url: string;
  port: number;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

const canConnect = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const c = connect(port, '127.0.0.1');
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });

export async function startNatsServer(auth?: { user: string; pass: string }): Promise<NatsServer> {
  const dir = mkdtempSync(join(tmpdir(), 'loractor-nats-'));
  const port = await freePort();
  const args = [
    '-a',
    '127.0.0.1',
    '-p',
    String(port),
    '-js',
    '-sd',
    dir,
    ...(auth ? ['--user', auth.user, '--pass', auth.pass] : []),
  ];
  const bin = process.env.NATS_SERVER ?? 'nats-server';
  const p: ChildProcess = spawn(bin, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  p.stderr!.on('data', (d) => (stderr += d));
  const exited = new Promise<void>((resolve) => p.once('exit', () => resolve()));
  const failed = new Promise<never>((_, reject) => {
    p.once('error', (err) =>
      reject(
        new Error(
          (err as NodeJS.ErrnoException).code === 'ENOENT'
            ? `${bin} is not installed: the remote-role tests need Debian's nats-server (apt-get install -y nats-server; .ci/run installs it)`
            : `cannot start ${bin}: ${err.message}`,
        ),
      ),
    );
    p.once('exit', (code) =>
      reject(
        new Error(
          `${bin} exited with code ${code} before accepting connections: ${stderr.trim().split('\n').slice(-3).join(' | ')}`,
        ),
      ),
    );
  });
  const ready = (async () => {
    for (let i = 0; i < 200; i++) {
      if (await canConnect(port)) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`${bin} did not accept connections on 127.0.0.1:${port} within 10 s`);
  })();
  try {
    await Promise.race([ready, failed]);
  } catch (err) {
    p.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  failed.catch(() => {});
  const cred = auth ? `${auth.user}:${auth.pass}@` : '';
  return {
    url: `nats://${cred}127.0.0.1:${port}`,
    port,
    async stop() {
      if (p.exitCode === null && p.signalCode === null) {
        p.kill('SIGTERM');
        await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
        if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
