// Runs the real apps as child processes for end-to-end tests:
//
//   const gateway = await startApp('gateway', { OPAMP_ENROLLMENT_SECRET: 's3cret' });
//   await fetch(`${gateway.url}/v1/opamp`, ...);
//   expect(await gateway.stop()).toBe(0);          // SIGTERM, graceful
//
// Each app gets the test DATABASE_URL / REDIS_URL and a free port (unless env names one) and
// must answer GET /readyz with 200 within the timeout; otherwise startApp fails with its logs.
// Set OPAMP_TEST_APP_LOGS=1 to also stream the apps' output to the console.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { REPO_ROOT } from '../../scripts/infra.js';
import { DATABASE_URL, REDIS_URL } from './env.js';

export type AppName = 'gateway' | 'fleet' | 'api' | 'rollout-worker';

/** The environment variable each app reads its listening port from. */
export const APP_PORT_ENV: Record<AppName, string> = {
  gateway: 'GATEWAY_PORT',
  fleet: 'FLEET_PORT',
  api: 'API_PORT',
  'rollout-worker': 'ROLLOUT_WORKER_PORT',
};

export interface StartAppOptions {
  /** How long to wait for /readyz. Default 30 s. */
  timeoutMs?: number;
  /** Path polled for readiness. Default `/readyz`. */
  readyPath?: string;
  /** Do not wait for readiness (for tests of failing boots). Default false. */
  noWait?: boolean;
  /** Stream the app's output to this process's stdout/stderr (default: OPAMP_TEST_APP_LOGS=1). */
  echo?: boolean;
}

export interface RunningApp {
  name: AppName;
  /** http://127.0.0.1:<port> */
  url: string;
  port: number;
  pid: number;
  /** Sends signal (default SIGTERM), waits for the exit (SIGKILL after timeoutMs, default 20 s); resolves the exit code. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<number | null>;
  /** SIGKILL: a crash, as far as the app can tell. Resolves once the process is gone. */
  kill9(): Promise<number | null>;
  /** Everything the app wrote to stdout and stderr so far. */
  logs(): string;
  /** Resolves when output matching pattern appears (rejects after timeoutMs or when the app exits). */
  waitForLog(pattern: RegExp | string, timeoutMs?: number): Promise<string>;
  /** Exit code when the process ends (null when a signal ended it). */
  exited: Promise<number | null>;
  /** The signal that ended the process, if one did (Nest re-raises SIGTERM after a graceful shutdown). */
  exitSignal(): NodeJS.Signals | null;
}

/** A TCP port free on 127.0.0.1 right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ port: 0, host: '127.0.0.1' }, () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

const MAX_LOG_CHARS = 4 * 1024 * 1024;
const live = new Set<{ pid: number; done: boolean }>();
process.once('exit', () => {
  // A test that forgot to stop an app must not leave it running after the worker is gone.
  for (const p of live)
    if (!p.done)
      try {
        process.kill(p.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
});

function nodeBinary(): string {
  const local = path.join(REPO_ROOT, 'node_modules', '.bin', 'node');
  return existsSync(local) ? local : process.execPath;
}

export async function startApp(
  name: AppName,
  env: Record<string, string> = {},
  opts: StartAppOptions = {},
): Promise<RunningApp> {
  const entry = path.join('apps', name, 'src', 'main.ts');
  if (!existsSync(path.join(REPO_ROOT, entry))) throw new Error(`startApp(${name}): ${entry} does not exist`);
  const portVar = APP_PORT_ENV[name];
  const port = env[portVar] && env[portVar] !== '0' ? Number(env[portVar]) : await freePort();
  const url = `http://127.0.0.1:${port}`;
  const echo = opts.echo ?? process.env.OPAMP_TEST_APP_LOGS === '1';

  const child = spawn(nodeBinary(), ['--import', '@swc-node/register/esm-register', entry], {
    cwd: REPO_ROOT,
    env: { ...process.env, DATABASE_URL, REDIS_URL, ...env, [portVar]: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error(`startApp(${name}): spawn failed`);
  const tracked = { pid, done: false };
  live.add(tracked);

  let output = '';
  const listeners = new Set<() => void>();
  const onData = (stream: NodeJS.WritableStream) => (chunk: Buffer) => {
    const text = chunk.toString();
    output += text;
    if (output.length > MAX_LOG_CHARS) output = output.slice(-MAX_LOG_CHARS / 2);
    if (echo) stream.write(text.replace(/^(?=.)/gm, `[${name}] `));
    for (const l of listeners) l();
  };
  child.stdout.on('data', onData(process.stdout));
  child.stderr.on('data', onData(process.stderr));

  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => {
      tracked.done = true;
      live.delete(tracked);
      for (const l of listeners) l();
      resolve(code);
    });
  });
  let hasExited = false;
  void exited.then(() => (hasExited = true));

  const withTimeout = <T>(p: Promise<T>, ms: number): Promise<T | 'timeout'> =>
    Promise.race([p, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), ms).unref())]);

  const kill9 = async (): Promise<number | null> => {
    if (!hasExited) child.kill('SIGKILL');
    return exited;
  };
  const stop = async (signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 20_000): Promise<number | null> => {
    if (hasExited) return exited;
    child.kill(signal);
    const result = await withTimeout(exited, timeoutMs);
    return result === 'timeout' ? kill9() : result;
  };
  const logs = (): string => output;
  const waitForLog = (pattern: RegExp | string, timeoutMs = 10_000): Promise<string> =>
    new Promise((resolve, reject) => {
      const matches = (): string | undefined => {
        if (typeof pattern === 'string') return output.includes(pattern) ? pattern : undefined;
        return output.match(pattern)?.[0];
      };
      const check = (): void => {
        const m = matches();
        if (m !== undefined) return finish(() => resolve(m));
        if (hasExited || child.exitCode !== null || child.signalCode !== null) {
          finish(() => reject(new Error(`${name} exited before logging ${String(pattern)}. Logs:\n${output}`)));
        }
      };
      const timer = setTimeout(
        () =>
          finish(() =>
            reject(new Error(`${name} did not log ${String(pattern)} within ${timeoutMs} ms. Logs:\n${output}`)),
          ),
        timeoutMs,
      );
      const finish = (f: () => void): void => {
        clearTimeout(timer);
        listeners.delete(check);
        f();
      };
      listeners.add(check);
      check();
    });

  const exitSignal = (): NodeJS.Signals | null => child.signalCode;
  const app: RunningApp = { name, url, port, pid, stop, kill9, logs, waitForLog, exited, exitSignal };
  if (opts.noWait) return app;

  const timeoutMs = opts.timeoutMs ?? 30_000;
  const readyUrl = `${url}${opts.readyPath ?? '/readyz'}`;
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer';
  while (Date.now() < deadline) {
    if (hasExited || child.exitCode !== null) {
      throw new Error(
        `${name} exited with code ${child.exitCode ?? (await exited)} before it was ready (${readyUrl}). Logs:\n${output}`,
      );
    }
    try {
      const res = await fetch(readyUrl, { signal: AbortSignal.timeout(1_000) });
      if (res.status === 200) return app;
      last = `HTTP ${res.status}`;
      await res.body?.cancel();
    } catch (err) {
      last = (err as Error).message;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  await kill9();
  throw new Error(`${name} was not ready at ${readyUrl} within ${timeoutMs} ms (last: ${last}). Logs:\n${output}`);
}
