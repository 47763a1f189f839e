// Connecting to a NATS server, and the JetStream resources loractor uses on it. Credentials come from
// the URL (nats://user:password@host:port) or from a file (--nats-creds: a .creds file with a JWT and
// nkey seed, or an nkey seed file); `tls://` (or --nats-ca) turns TLS on. A refused connection is
// reported in one line naming the server and what was wrong (credentials, TLS, nothing listening).
import { readFileSync } from 'node:fs';
import {
  connect,
  credsAuthenticator,
  nkeyAuthenticator,
  type NatsConnection,
  type NodeConnectionOptions,
} from '@nats-io/transport-node';
import {
  AckPolicy,
  DiscardPolicy,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
  type JetStreamManager,
  type StreamConfig,
} from '@nats-io/jetstream';

export interface NatsOptions {
  /** nats://[user[:password]@]host[:port][,host2...] or tls://...  */
  url: string;
  /** A .creds file (JWT + nkey seed) or a file holding an nkey seed (SU...). */
  credsFile?: string;
  /** CA certificate (PEM) to verify the server's TLS certificate with. */
  caFile?: string;
  /** Name shown in the server's connection list. */
  name?: string;
}

/** Streams, subjects and buckets (one set per NATS server, shared by every run on it). */
export const NAMES = {
  work: 'LORACTOR_WORK',
  results: 'LORACTOR_RESULTS',
  runs: 'LORACTOR_RUNS',
  adapters: 'loractor-adapters',
  workSubject: (role: string, run: string) => `loractor.work.${role}.${run}`,
  resultSubject: (run: string) => `loractor.result.${run}`,
  runSubject: (run: string) => `loractor.runs.${run}`,
  heartbeatSubject: (run: string) => `loractor.heartbeat.${run}`,
  refusalSubject: (run: string) => `loractor.refusal.${run}`,
  startedSubject: (run: string) => `loractor.started.${run}`,
  consumer: (run: string, role: string) => `${run}-${role}`,
  adapterObject: (run: string, version: number) => `${run}/v${version}`,
} as const;

/** Split credentials out of the URL(s) and build the client's options. */
export function connectionOptions(o: NatsOptions): NodeConnectionOptions {
  const servers: string[] = [];
  let user: string | undefined;
  let pass: string | undefined;
  let tls = false;
  for (const raw of o.url
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const withScheme = /^[a-z]+:\/\//i.test(raw) ? raw : `nats://${raw}`;
    let u: URL;
    try {
      u = new URL(withScheme);
    } catch {
      throw new Error(`--nats: '${raw}' is not a NATS URL (nats://[user:password@]host[:port] or tls://...)`);
    }
    if (!['nats:', 'tls:'].includes(u.protocol))
      throw new Error(`--nats: '${raw}': scheme must be nats:// or tls:// (got ${u.protocol}//)`);
    if (u.protocol === 'tls:') tls = true;
    if (u.username) {
      user = decodeURIComponent(u.username);
      pass = u.password ? decodeURIComponent(u.password) : undefined;
    }
    servers.push(`${u.hostname}:${u.port || '4222'}`);
  }
  if (servers.length === 0) throw new Error('--nats: no server in the URL');
  const opts: NodeConnectionOptions = {
    servers,
    name: o.name ?? 'loractor',
    maxReconnectAttempts: -1,
    reconnectTimeWait: 500,
  };
  if (user !== undefined) Object.assign(opts, { user, ...(pass !== undefined ? { pass } : {}) });
  if (o.credsFile) {
    const text = readFileSync(o.credsFile);
    opts.authenticator = /BEGIN NATS USER JWT/.test(text.toString('utf8'))
      ? credsAuthenticator(new Uint8Array(text))
      : nkeyAuthenticator(new TextEncoder().encode(text.toString('utf8').trim()));
  }
  if (tls || o.caFile) opts.tls = o.caFile ? { caFile: o.caFile } : {};
  return opts;
}

/** The URL without its password, for messages and logs. */
export function redactUrl(url: string): string {
  return url.replace(/\/\/([^:@/]+):[^@/]*@/g, '//$1:***@');
}

/** Connect, turning the client's errors into one line that says what to fix. */
export async function connectNats(o: NatsOptions): Promise<NatsConnection> {
  const opts = connectionOptions(o);
  try {
    return await connect({ ...opts, maxReconnectAttempts: opts.maxReconnectAttempts, timeout: 10_000 });
  } catch (err) {
    const e = err as Error & { code?: string };
    const where = redactUrl(o.url);
    if (/authorization|authentication|auth/i.test(`${e.name} ${e.message}`)) {
      throw new Error(
        `NATS server ${where} refused the credentials (${e.message}): check the user/password in the URL or --nats-creds`,
        { cause: err },
      );
    }
    if (/tls/i.test(e.message))
      throw new Error(
        `NATS server ${where}: TLS failed (${e.message}): use tls:// only with a TLS-enabled server, give its CA with --nats-ca`,
        { cause: err },
      );
    throw new Error(
      `cannot connect to the NATS server ${where}: ${e.message}${/ECONNREFUSED|connection refused/i.test(e.message) ? ' (is nats-server running there, with -js?)' : ''}`,
      { cause: err },
    );
  }
}

const STREAMS: (Partial<StreamConfig> & { name: string })[] = [
  // Work items: one consumer per (run, role); an item is removed once a worker acknowledges it.
  {
    name: NAMES.work,
    subjects: ['loractor.work.>'],
    retention: RetentionPolicy.Workqueue,
    storage: StorageType.File,
    max_age: 24 * 3600e9,
    discard: DiscardPolicy.Old,
  },
  // Results wait here until the coordinator has read them (an item is acknowledged only after its result is stored).
  {
    name: NAMES.results,
    subjects: ['loractor.result.>'],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    max_age: 24 * 3600e9,
  },
  // The last announcement of each run (workers discover runs here).
  {
    name: NAMES.runs,
    subjects: ['loractor.runs.*'],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    max_msgs_per_subject: 1,
    max_age: 7 * 24 * 3600e9,
  },
];

/** Create loractor's streams if absent (coordinators and workers both call it; an existing stream is kept). */
export async function ensureStreams(nc: NatsConnection): Promise<JetStreamManager> {
  let jsm: JetStreamManager;
  try {
    jsm = await jetstreamManager(nc, { timeout: 10_000 });
  } catch (err) {
    throw new Error(`the NATS server has no JetStream (start it with -js): ${(err as Error).message}`, { cause: err });
  }
  for (const cfg of STREAMS) {
    try {
      await jsm.streams.info(cfg.name);
    } catch {
      await jsm.streams.add(cfg);
    }
  }
  return jsm;
}

/** The work consumer of one run's role: explicit acks, redelivery after ackWaitMs, at most maxDeliver deliveries. */
export async function ensureWorkConsumer(
  jsm: JetStreamManager,
  run: string,
  role: string,
  ackWaitMs: number,
  maxDeliver: number,
): Promise<void> {
  await jsm.consumers.add(NAMES.work, {
    durable_name: NAMES.consumer(run, role),
    filter_subject: NAMES.workSubject(role, run),
    ack_policy: AckPolicy.Explicit,
    ack_wait: Math.round(ackWaitMs * 1e6),
    max_deliver: maxDeliver,
    max_ack_pending: 1000,
  });
}
