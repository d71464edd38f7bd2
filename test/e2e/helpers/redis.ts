// A throw-away redis-server of a test's own, for failure injection (killing the shared test Redis
// would break every other process of the stack).
import { spawn, type ChildProcess } from 'node:child_process';
import { findExecutable, redisCommand } from '../../../scripts/infra.js';
import { freePort } from '../../support/processes.js';
import { waitFor } from '../../support/wait.js';

export interface PrivateRedis {
  port: number;
  url: string;
  /** SIGKILL: Redis is gone, as far as its clients can tell. */
  kill(): Promise<void>;
  /** Starts it again on the same port (empty data). */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export async function startPrivateRedis(): Promise<PrivateRedis> {
  const bin = findExecutable('redis-server');
  if (!bin) throw new Error('redis-server not found');
  const port = await freePort();
  let child: ChildProcess | undefined;

  const launch = async (): Promise<void> => {
    const c = spawn(bin, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
      stdio: 'ignore',
    });
    c.on('error', () => undefined);
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
  await launch();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    kill,
    restart: launch,
    stop: kill,
  };
}
