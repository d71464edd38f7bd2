// A throw-away redis-server of a test's own, for failure injection (killing the shared test Redis
// would break every other process of the stack).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { findExecutable, redisCommand } from '../../../scripts/infra.js';
import { freePort } from '../../support/processes.js';
import { waitFor } from '../../support/wait.js';

// A test that fails half-way must not leave its redis-server running after the worker is gone.
const children = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

export interface PrivateRedis {
  port: number;
  url: string;
  /** SIGKILL: Redis is gone, as far as its clients can tell. */
  kill(): Promise<void>;
  /** Starts it again on the same port (empty data, unless started with `persistent`). */
  restart(): Promise<void>;
  /** Persistent only: deletes the data files, so the next restart comes back empty. */
  wipe(): void;
  stop(): Promise<void>;
}

export interface PrivateRedisOptions {
  /**
   * Keep the data across kill/restart, as production should (append-only file, fsync on every
   * write: whatever Redis acknowledged survives a kill -9). Default: no persistence.
   */
  persistent?: boolean;
}

export async function startPrivateRedis(opts: PrivateRedisOptions = {}): Promise<PrivateRedis> {
  const bin = findExecutable('redis-server');
  if (!bin) throw new Error('redis-server not found');
  const port = await freePort();
  let child: ChildProcess | undefined;
  const dir = opts.persistent ? mkdtempSync(path.join(tmpdir(), 'opamp-e2e-redis-')) : undefined;
  const persistence = dir ? ['--dir', dir, '--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no'];

  const launch = async (): Promise<void> => {
    const c = spawn(bin, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', ...persistence], {
      stdio: 'ignore',
    });
    c.on('error', () => undefined);
    children.add(c);
    c.once('exit', () => children.delete(c));
    child = c;
    await waitFor(async () => (await redisCommand(port, 'PING', 500).catch(() => undefined)) === '+PONG', {
      timeoutMs: 10_000,
      description: `redis-server on ${port}`,
    });
  };
  const kill = async (): Promise<void> => {
    const c = child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const gone = new Promise<void>((r) => c.once('exit', () => r()));
    c.kill('SIGKILL');
    await gone;
  };
  const wipe = (): void => {
    if (!dir) return;
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir);
  };
  await launch();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    kill,
    restart: launch,
    wipe,
    stop: async () => {
      await kill();
      if (dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}
