// The system under test for one measurement: N gateways and N fleet replicas from the compiled
// build, on the benchmark's own Postgres and Redis, plus the client workers that drive them.
import path from 'node:path';
import pg from 'pg';
import { existsSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { redisCommand, type RunningInfra } from '../../scripts/infra.js';
import type { AgentTarget, SpawnRequest, WorkerStatus } from './client-protocol.js';
import type { BenchOptions } from './options.js';
import { BenchChild, ClientWorker, assertPortFree, fileLimits, metricValue, scrape, waitReady } from './processes.js';
import { addressesNeeded, split } from './stats.js';

/** Sockets per source address: well below the ~28k ephemeral ports, leaving room for reconnects. */
const SOCKETS_PER_ADDRESS = 10_000;
/** File descriptors a process needs besides its sockets (stdio, Redis, epoll, libuv, logs...). */
const FD_RESERVE = 200;

export interface BenchContext {
  opts: BenchOptions;
  infra: RunningInfra;
  /** Compiled apps (scripts/build.ts output). */
  distDir: string;
  /** Node arguments the build under test asks for its gateways (apps/gateway/src/gateway.runtime.ts). */
  gatewayNodeArgs: readonly string[];
  logDir: string;
  log(message: string): void;
  /** Set by SIGINT: long waits give up early. */
  aborted(): boolean;
}

/**
 * The node arguments a build runs its gateways with, read from the build itself so that an older
 * build (--dist) is measured the way it was meant to run.
 */
export async function gatewayNodeArgsOf(distDir: string): Promise<readonly string[]> {
  const file = path.join(distDir, 'apps', 'gateway', 'src', 'gateway.runtime.js');
  if (!existsSync(file)) return [];
  const mod = (await import(pathToFileURL(file).href)) as { GATEWAY_NODE_ARGS?: readonly string[] };
  return mod.GATEWAY_NODE_ARGS ?? [];
}

/** Largest number of sockets one process can hold under the open-files limit. */
export function socketCeiling(): number {
  const { hard } = fileLimits();
  return Number.isFinite(hard) ? Math.max(100, hard - FD_RESERVE) : 1_000_000;
}

let addressCounter = 2;
/** Fresh loopback source addresses (127.0.0.2, 127.0.0.3, ...); never handed out twice in a run. */
export function nextAddresses(count: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    const n = addressCounter++;
    out.push(`127.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`);
  }
  return out;
}

export interface AppHandle {
  name: string;
  port: number;
  url: string;
  child: BenchChild;
}

let generation = 0;

export class Cluster {
  readonly gateways: AppHandle[] = [];
  readonly fleets: AppHandle[] = [];

  private constructor(
    private readonly ctx: BenchContext,
    readonly replicas: number,
    private gatewayEnv: Record<string, string>,
    private readonly fleetEnv: Record<string, string>,
  ) {}

  /** Wipes Redis and the agent tables, then starts `replicas` fleets and gateways and waits until ready. */
  static async start(
    ctx: BenchContext,
    replicas: number,
    env: { gateway?: Record<string, string>; fleet?: Record<string, string> } = {},
  ): Promise<Cluster> {
    await resetData(ctx.infra);
    const cluster = new Cluster(ctx, replicas, env.gateway ?? {}, env.fleet ?? {});
    try {
      for (let i = 0; i < replicas; i++) await cluster.startFleet(i);
      for (let i = 0; i < replicas; i++) await cluster.startGateway(i);
      await Promise.all(cluster.fleets.map((f) => waitReady(f.child, `${f.url}/readyz`)));
      // Leases settle: every fleet replica owns its share before agents arrive.
      await new Promise((r) => setTimeout(r, replicas > 1 ? 1_500 : 200));
    } catch (err) {
      await cluster.stop();
      throw err;
    }
    return cluster;
  }

  gatewayPort(i: number): number {
    return this.ctx.opts.basePort + i;
  }

  wsUrl(i: number): string {
    return `ws://127.0.0.1:${this.gatewayPort(i)}/v1/opamp`;
  }

  httpUrl(i: number): string {
    return `http://127.0.0.1:${this.gatewayPort(i)}/v1/opamp`;
  }

  private commonEnv(): NodeJS.ProcessEnv {
    return {
      ...process.env,
      REDIS_URL: this.ctx.infra.redisUrl,
      LOG_LEVEL: this.ctx.opts.verbose ? 'log' : 'warn',
      OTEL_SDK_DISABLED: 'true',
    };
  }

  private async startFleet(i: number): Promise<void> {
    const port = this.ctx.opts.basePort + 10 + i;
    await assertPortFree(port, `fleet ${i}`);
    const name = `fleet${i}`;
    const child = new BenchChild({
      name,
      args: [
        '--enable-source-maps',
        ...this.ctx.opts.fleetNodeArgs,
        path.join(this.ctx.distDir, 'apps', 'fleet', 'src', 'main.js'),
      ],
      env: {
        ...this.commonEnv(),
        DATABASE_URL: this.ctx.infra.databaseUrl,
        FLEET_PORT: String(port),
        FLEET_HOST: '127.0.0.1',
        FLEET_REPLICA_ID: `bench-${name}-${++generation}`,
        FLEET_HEARTBEAT_INTERVAL_SECONDS: String(this.ctx.opts.heartbeat),
        OPAMP_PUBLIC_URL: this.wsUrl(0),
        ...this.fleetEnv,
      },
      logFile: path.join(this.ctx.logDir, `${name}.log`),
      echo: this.ctx.opts.verbose,
    });
    this.fleets[i] = { name, port, url: `http://127.0.0.1:${port}`, child };
  }

  /** Starts gateway i (again, after a stop or kill) with the cluster's gateway env plus `extra`. */
  async startGateway(i: number, extra: Record<string, string> = {}): Promise<AppHandle> {
    const port = this.gatewayPort(i);
    await assertPortFree(port, `gateway ${i}`);
    const name = `gateway${i}`;
    const child = new BenchChild({
      name,
      args: [
        '--enable-source-maps',
        ...this.ctx.gatewayNodeArgs,
        ...this.ctx.opts.gatewayNodeArgs,
        path.join(this.ctx.distDir, 'apps', 'gateway', 'src', 'main.js'),
      ],
      env: {
        ...this.commonEnv(),
        GATEWAY_PORT: String(port),
        GATEWAY_HOST: '127.0.0.1',
        GATEWAY_ID: `bench-${name}-${++generation}`,
        ...this.gatewayEnv,
        ...extra,
      },
      logFile: path.join(this.ctx.logDir, `${name}.log`),
      echo: this.ctx.opts.verbose,
    });
    const app = { name, port, url: `http://127.0.0.1:${port}`, child };
    this.gateways[i] = app;
    await waitReady(child, `${app.url}/readyz`);
    return app;
  }

  setGatewayEnv(env: Record<string, string>): void {
    this.gatewayEnv = { ...this.gatewayEnv, ...env };
  }

  async gatewayMetric(i: number, name: string): Promise<number> {
    return metricValue(await scrape(this.gateways[i]!.url), name);
  }

  async stop(): Promise<void> {
    await Promise.all(this.gateways.map((g) => g?.child.stop()));
    await Promise.all(this.fleets.map((f) => f?.child.stop()));
  }
}

async function resetData(infra: RunningInfra): Promise<void> {
  const reply = await redisCommand(infra.redis.port, 'FLUSHALL');
  if (reply !== '+OK') throw new Error(`Redis FLUSHALL answered ${reply}`);
  const client = new pg.Client({ connectionString: infra.databaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ name: string }>(
      `SELECT quote_ident(tablename) AS name FROM pg_tables WHERE schemaname = 'public' AND tablename <> '_prisma_migrations'`,
    );
    if (rows.length > 0) await client.query(`TRUNCATE ${rows.map((r) => r.name).join(', ')} CASCADE`);
  } finally {
    await client.end();
  }
}

// ---------------------------------------------------------------------------------------------
// Client workers

/** Client worker processes plus the agents they run. */
export class ClientPool {
  private constructor(
    private readonly ctx: BenchContext,
    readonly workers: ClientWorker[],
  ) {}

  /** Enough workers for `sockets` (open-files limit per process), and at least `minimum`. */
  static async start(
    ctx: BenchContext,
    label: string,
    sockets: number,
    minimum = ctx.opts.workers,
  ): Promise<ClientPool> {
    const count = Math.max(minimum, Math.ceil(sockets / socketCeiling()));
    const workers: ClientWorker[] = [];
    try {
      for (let i = 0; i < count; i++) {
        workers.push(
          await ClientWorker.start(`clients-${label}-${i}`, path.join(ctx.logDir, `clients-${label}-${i}.log`)),
        );
      }
    } catch (err) {
      await Promise.all(workers.map((w) => w.proc.kill9()));
      throw err;
    }
    return new ClientPool(ctx, workers);
  }

  /**
   * Starts `total` agents spread over the workers and over `urls` (round robin), each worker's WS
   * sockets on fresh source addresses. Resolves once every agent was started (not connected).
   */
  async spawn(
    group: string,
    transport: 'ws' | 'http',
    total: number,
    urls: string[],
    opts: { rampPerSecond: number; heartbeatSeconds: number; timed?: boolean },
  ): Promise<void> {
    const perWorker = split(total, this.workers.length);
    await Promise.all(
      this.workers.map((w, wi) => {
        const n = perWorker[wi]!;
        const perUrl = split(n, urls.length);
        const targets: AgentTarget[] = [];
        urls.forEach((url, ui) => {
          const count = perUrl[ui]!;
          if (count === 0) return;
          if (transport === 'http') return void targets.push({ url, count });
          const addrs = nextAddresses(addressesNeeded(count, SOCKETS_PER_ADDRESS));
          split(count, addrs.length).forEach((c, ai) => targets.push({ url, localAddress: addrs[ai], count: c }));
        });
        const req: SpawnRequest = {
          cmd: 'spawn',
          group,
          transport,
          targets,
          rampPerSecond: opts.rampPerSecond / this.workers.length,
          heartbeatSeconds: opts.heartbeatSeconds,
          timed: opts.timed,
        };
        return w.request(req);
      }),
    );
  }

  async status(group?: string): Promise<WorkerStatus> {
    const all = await Promise.all(this.workers.map((w) => w.request<WorkerStatus>({ cmd: 'status', group }, 30_000)));
    const sum: WorkerStatus = {
      agents: 0,
      started: 0,
      connected: 0,
      replied: 0,
      messagesSent: 0,
      repliesReceived: 0,
      errors: 0,
      throttled: 0,
      connects: 0,
      reconnectAttempts: 0,
      problems: {},
      rssBytes: 0,
    };
    for (const s of all) {
      for (const k of Object.keys(sum) as Array<keyof WorkerStatus>) {
        if (k === 'problems') {
          for (const [p, n] of Object.entries(s.problems)) sum.problems[p] = (sum.problems[p] ?? 0) + n;
        } else {
          sum[k] += s[k];
        }
      }
    }
    return sum;
  }

  /**
   * Polls until `done(status)` or the deadline; returns the last status and whether done held.
   * Logs progress every few seconds.
   */
  async waitFor(
    what: string,
    done: (s: WorkerStatus) => boolean,
    timeoutMs: number,
    pollMs = 500,
  ): Promise<{ status: WorkerStatus; ok: boolean; elapsedMs: number }> {
    const t0 = Date.now();
    let lastLog = t0;
    for (;;) {
      const status = await this.status();
      const elapsedMs = Date.now() - t0;
      if (done(status)) return { status, ok: true, elapsedMs };
      if (elapsedMs > timeoutMs || this.ctx.aborted()) {
        const problems = Object.entries(status.problems)
          .sort((a, b) => b[1] - a[1])
          .slice(0, 3)
          .map(([p, n]) => `${n}× ${p}`)
          .join('; ');
        this.ctx.log(
          `  gave up waiting for ${what} after ${(elapsedMs / 1000).toFixed(0)} s: ${status.connected} connected, ${status.replied} replied of ${status.agents}${problems ? ` (${problems})` : ''}`,
        );
        return { status, ok: false, elapsedMs };
      }
      if (Date.now() - lastLog >= 5_000) {
        lastLog = Date.now();
        this.ctx.log(
          `  … ${what}: ${status.connected} connected, ${status.replied} replied of ${status.agents} (${(elapsedMs / 1000).toFixed(0)} s)`,
        );
      }
      await new Promise((r) => setTimeout(r, pollMs));
    }
  }

  /** Kills the client processes: the kernel closes every socket at once (no agent_disconnect). */
  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.proc.kill9()));
  }
}
