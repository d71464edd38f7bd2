// Scenario "rollout": a staged rollout of one config version to N simulated WS agents through the
// real stack (gateways, fleets, api and rollout worker from the compiled build, on the benchmark's
// Postgres and Redis). Measures how long the rollout takes against the soak times its strategy
// imposes, the config-apply rate the agents see against maxRestartsPerSecond, the Postgres rows
// written per targeted agent, and the worker's step durations. Every wait is bounded; everything
// started here is stopped in `finally` (and by the harness's exit hook).
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import pg from 'pg';
import type { WorkerRequest } from './client-protocol.js';
import { Cluster, nextAddresses, socketCeiling, type BenchContext } from './cluster.js';
import {
  BenchChild,
  ClientWorker,
  cpuSecondsOfTree,
  histogramBuckets,
  metricValue,
  scrape,
  tsProcessArgs,
  waitReady,
} from './processes.js';
import {
  metricByLabel,
  peakInWindow,
  peakPerBucket,
  perSecondSeries,
  secondsBetween,
  type RolloutResult,
  type RolloutTimeline,
  type RolloutWaveResult,
  type RolloutWorkerRequest,
  type RolloutWorkerStatus,
} from './rollout-stats.js';
import { addressesNeeded, histogramQuantile, split } from './stats.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Admission wide open: connecting the fleet is not what this scenario measures. */
const OPEN_ADMISSION = { GATEWAY_ADMISSION_RATE: '1000000', GATEWAY_ADMISSION_BURST: '1000000' };
const SOCKETS_PER_ADDRESS = 10_000;
/** Idle backends flush their table statistics within 10 s (PGSTAT_IDLE_INTERVAL). */
const PG_STATS_FLUSH_MS = 12_000;
const BACKGROUND_WINDOW_MS = 10_000;
const POLL_MS = 500;
const LABEL = 'rollout';
const CONFIG_NAME = 'bench-rollout';
const FINAL_STATES = ['completed', 'paused', 'aborted', 'rolled_back'];

/**
 * The strategy under test (docs/rollouts.md): waves of 1 %, doubling, capped at 25 % (10,000
 * agents: 100, 200, 400, 800, 1,600, 2,500, 2,500, 1,900), a short soak so the run takes a few
 * minutes, and sends paced at --rollout-rate.
 */
export function benchStrategy(soakSeconds: number, maxRestartsPerSecond: number): Record<string, unknown> {
  return { firstWave: '1%', growthFactor: 2, maxWave: '25%', soakSeconds, maxRestartsPerSecond };
}

const FLUENT_BIT_CONF = [
  '[SERVICE]',
  '    Flush 1',
  '',
  '[INPUT]',
  '    Name dummy',
  '    Tag  bench',
  '',
  '[OUTPUT]',
  '    Name  stdout',
  '    Match *',
  '',
].join('\n');

interface WaveView {
  direction?: string;
  index: number;
  size: number;
  state: string;
  startedAt: string | null;
  resolvedAt: string | null;
  finishedAt: string | null;
  counts: Record<string, number>;
}

interface RolloutView {
  id: string;
  state: string;
  reason: string | null;
  strategy: Record<string, unknown>;
  plan: { targets: number; stages: Array<{ waves: number[] }>; minimumDurationSeconds: number };
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  waves?: WaveView[];
  counts?: Record<string, number>;
}

/** The bench api's admin key (OPAMP_ADMIN_API_KEY), new for every run. */
const BENCH_ADMIN_KEY = `opk_bench_${randomBytes(24).toString('base64url')}`;

async function call<T>(
  base: string,
  method: string,
  route: string,
  body?: unknown,
): Promise<{ status: number; body: T }> {
  const res = await fetch(`${base}${route}`, {
    method,
    headers: {
      authorization: `Bearer ${BENCH_ADMIN_KEY}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(60_000),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
}

async function expectStatus<T>(
  what: string,
  p: Promise<{ status: number; body: T }>,
  ok: number[] = [200, 201],
): Promise<T> {
  const res = await p;
  if (!ok.includes(res.status)) throw new Error(`${what}: HTTP ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

type Counters = Record<string, { ins: number; upd: number; del: number }>;

async function tableCounters(url: string): Promise<Counters> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ relname: string; ins: string; upd: string; del: string }>(
      'SELECT relname, n_tup_ins AS ins, n_tup_upd AS upd, n_tup_del AS del FROM pg_stat_user_tables',
    );
    return Object.fromEntries(
      rows.map((r) => [r.relname, { ins: Number(r.ins), upd: Number(r.upd), del: Number(r.del) }]),
    );
  } finally {
    await client.end();
  }
}

function counterDelta(
  before: Counters,
  after: Counters,
): { rows: number; tables: RolloutResult['postgres']['tables'] } {
  const tables: RolloutResult['postgres']['tables'] = {};
  let rows = 0;
  for (const [name, v] of Object.entries(after)) {
    const b = before[name] ?? { ins: 0, upd: 0, del: 0 };
    const t = { inserted: v.ins - b.ins, updated: v.upd - b.upd, deleted: v.del - b.del };
    if (t.inserted || t.updated || t.deleted) tables[name] = t;
    rows += t.inserted + t.updated + t.deleted;
  }
  return { rows, tables };
}

/** The rollout client workers (rollout-client-worker.ts), reusing the harness's IPC wrapper. */
class RolloutClients {
  private constructor(readonly workers: ClientWorker[]) {}

  static async start(ctx: BenchContext, agents: number): Promise<RolloutClients> {
    const count = Math.max(ctx.opts.workers, Math.ceil(agents / socketCeiling()));
    const workers: ClientWorker[] = [];
    try {
      for (let i = 0; i < count; i++) {
        const name = `clients-rollout-${i}`;
        const proc = new BenchChild({
          name,
          args: tsProcessArgs(path.join('test', 'bench', 'rollout-client-worker.ts')),
          logFile: path.join(ctx.logDir, `${name}.log`),
          ipc: true,
        });
        const worker = new ClientWorker(proc);
        workers.push(worker);
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([
          worker.ready,
          new Promise<never>((_, reject) => {
            timer = setTimeout(() => reject(new Error(`${name} did not start:\n${proc.lastOutput()}`)), 60_000);
          }),
          proc.exited.then(() => Promise.reject(new Error(`${name} exited:\n${proc.lastOutput()}`))),
        ]).finally(() => clearTimeout(timer));
      }
    } catch (err) {
      await Promise.all(workers.map((w) => w.proc.kill9()));
      throw err;
    }
    return new RolloutClients(workers);
  }

  ask<T>(w: ClientWorker, req: RolloutWorkerRequest, timeoutMs = 60_000): Promise<T> {
    return w.request<T>(req as unknown as WorkerRequest, timeoutMs);
  }

  /** `total` agents over the workers and the gateways, each worker's sockets on fresh source addresses. */
  async spawn(total: number, urls: string[], rampPerSecond: number, heartbeatSeconds: number): Promise<void> {
    const perWorker = split(total, this.workers.length);
    await Promise.all(
      this.workers.map((w, wi) => {
        const targets: Array<{ url: string; localAddress?: string; count: number }> = [];
        split(perWorker[wi]!, urls.length).forEach((count, ui) => {
          if (count === 0) return;
          const addrs = nextAddresses(addressesNeeded(count, SOCKETS_PER_ADDRESS));
          split(count, addrs.length).forEach((c, ai) =>
            targets.push({ url: urls[ui]!, localAddress: addrs[ai], count: c }),
          );
        });
        return this.ask(
          w,
          {
            cmd: 'rollout-spawn',
            targets,
            rampPerSecond: rampPerSecond / this.workers.length,
            heartbeatSeconds,
            label: LABEL,
            applyDelayMs: 100,
          },
          600_000,
        );
      }),
    );
  }

  async status(): Promise<RolloutWorkerStatus> {
    const all = await Promise.all(this.workers.map((w) => this.ask<RolloutWorkerStatus>(w, { cmd: 'rollout-status' })));
    const sum: RolloutWorkerStatus = {
      agents: 0,
      connected: 0,
      replied: 0,
      configsReceived: 0,
      applying: 0,
      applied: 0,
      failed: 0,
      problems: {},
      rssBytes: 0,
    };
    for (const s of all) {
      for (const k of Object.keys(sum) as Array<keyof RolloutWorkerStatus>) {
        if (k === 'problems') {
          for (const [p, n] of Object.entries(s.problems)) sum.problems[p] = (sum.problems[p] ?? 0) + n;
        } else {
          sum[k] += s[k];
        }
      }
    }
    return sum;
  }

  async timeline(): Promise<RolloutTimeline> {
    const all = await Promise.all(this.workers.map((w) => this.ask<RolloutTimeline>(w, { cmd: 'rollout-timeline' })));
    return {
      applyingAt: all.flatMap((t) => t.applyingAt),
      appliedAt: all.flatMap((t) => t.appliedAt),
      receivedAt: all.flatMap((t) => t.receivedAt),
    };
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.proc.kill9()));
  }
}

/** The api and the rollout worker from the build, on the cluster's Redis and Postgres. */
async function startControlApps(ctx: BenchContext, replicas: number): Promise<{ api: BenchChild; worker: BenchChild }> {
  const env = {
    ...process.env,
    REDIS_URL: ctx.infra.redisUrl,
    DATABASE_URL: ctx.infra.databaseUrl,
    LOG_LEVEL: ctx.opts.verbose ? 'log' : 'warn',
    OTEL_SDK_DISABLED: 'true',
  };
  const apiPort = ctx.opts.basePort + 30;
  const workerPort = ctx.opts.basePort + 31;
  const main = (app: string): string => path.join(ctx.distDir, 'apps', app, 'src', 'main.js');
  const api = new BenchChild({
    name: `api-r${replicas}`,
    args: ['--enable-source-maps', main('api')],
    env: {
      ...env,
      API_PORT: String(apiPort),
      API_HOST: '127.0.0.1',
      OPAMP_ADMIN_API_KEY: BENCH_ADMIN_KEY,
      API_RATE_LIMIT_PER_MINUTE: '0',
    },
    logFile: path.join(ctx.logDir, 'api.log'),
    echo: ctx.opts.verbose,
  });
  const worker = new BenchChild({
    name: `rollout-worker-r${replicas}`,
    args: ['--enable-source-maps', main('rollout-worker')],
    env: {
      ...env,
      ROLLOUT_WORKER_PORT: String(workerPort),
      ROLLOUT_WORKER_HOST: '127.0.0.1',
      ROLLOUT_WORKER_ID: `bench-rollout-worker-r${replicas}`,
    },
    logFile: path.join(ctx.logDir, 'rollout-worker.log'),
    echo: ctx.opts.verbose,
  });
  try {
    await Promise.all([
      waitReady(api, `http://127.0.0.1:${apiPort}/readyz`),
      waitReady(worker, `http://127.0.0.1:${workerPort}/readyz`),
    ]);
  } catch (err) {
    await Promise.all([api.stop(), worker.stop()]);
    throw err;
  }
  return { api, worker };
}

export async function scenarioRollout(ctx: BenchContext): Promise<RolloutResult[]> {
  const { opts } = ctx;
  const results: RolloutResult[] = [];
  for (const replicas of opts.rolloutReplicas) {
    if (ctx.aborted()) break;
    const strategy = benchStrategy(opts.rolloutSoak, opts.rolloutRate);
    ctx.log(`(rollout) ${replicas} replica(s): ${opts.rolloutAgents} WS agents, strategy ${JSON.stringify(strategy)}`);
    const cluster = await Cluster.start(ctx, replicas, { gateway: OPEN_ADMISSION });
    let apps: { api: BenchChild; worker: BenchChild } | undefined;
    let clients: RolloutClients | undefined;
    try {
      apps = await startControlApps(ctx, replicas);
      clients = await RolloutClients.start(ctx, opts.rolloutAgents);
      const result = await runRollout(ctx, cluster, apps, clients, replicas, strategy);
      results.push(result);
      ctx.log(
        `  ${result.state} in ${result.timeToCompleteSeconds.toFixed(1)} s vs ${result.soakSumSeconds} s of soak (ratio ${result.overheadRatio.toFixed(2)}; ` +
          `${result.pacedMinimumSeconds.toFixed(0)} s with the sends at the max rate); peak ${result.peakAppliesPerSecond} applies/s ` +
          `(sliding ${result.peakAppliesSliding}) vs ${result.maxRestartsPerSecond}/s (ratio ${result.rateRatio.toFixed(2)}); ` +
          `${result.postgres.rowsPerAgent.toFixed(2)} PG rows per agent (${result.postgres.netRowsPerAgent.toFixed(2)} net); ` +
          `worker steps mean ${result.workerSteps.meanMs.toFixed(1)} ms, p99 ≤ ${result.workerSteps.p99Ms} ms`,
      );
      ctx.log(`  applies per second from the POST on: ${result.appliesPerSecond.join(' ')}`);
    } finally {
      await clients?.close();
      await Promise.all([apps?.api.stop(), apps?.worker.stop()]);
      await cluster.stop();
    }
  }
  return results;
}

async function runRollout(
  ctx: BenchContext,
  cluster: Cluster,
  apps: { api: BenchChild; worker: BenchChild },
  clients: RolloutClients,
  replicas: number,
  strategy: Record<string, unknown>,
): Promise<RolloutResult> {
  const { opts } = ctx;
  const n = opts.rolloutAgents;
  const api = `http://127.0.0.1:${opts.basePort + 30}`;
  const workerUrl = `http://127.0.0.1:${opts.basePort + 31}`;

  // 1. The fleet: N agents connected and stored (the rollout snapshots its targets from Postgres).
  await clients.spawn(
    n,
    cluster.gateways.map((_, i) => cluster.wsUrl(i)),
    opts.ramp,
    opts.heartbeat,
  );
  const connectDeadline = Date.now() + 60_000 + (n / opts.ramp) * 3_000;
  let lastLog = Date.now();
  for (;;) {
    const s = await clients.status();
    if (s.replied >= n) break;
    if (Date.now() > connectDeadline || ctx.aborted()) {
      throw new Error(`(rollout) only ${s.replied} of ${n} agents got a first reply: ${JSON.stringify(s.problems)}`);
    }
    if (Date.now() - lastLog > 5_000) {
      lastLog = Date.now();
      ctx.log(`  … ${s.connected} connected, ${s.replied} replied of ${n}`);
    }
    await sleep(POLL_MS);
  }
  ctx.log(`  ${n} agents connected; creating the config and waiting until the api sees them`);

  await expectStatus(
    'POST /api/v1/configs',
    call(api, 'POST', '/api/v1/configs', { name: CONFIG_NAME, agentType: 'fluentbit', description: 'npm run bench' }),
  );
  const version = await expectStatus<{ version: number; hash: string }>(
    'POST version',
    call(api, 'POST', `/api/v1/configs/${CONFIG_NAME}/versions`, {
      files: [{ name: 'fluent-bit.conf', contentType: 'text/plain', content: FLUENT_BIT_CONF }],
    }),
  );
  const body = { config: CONFIG_NAME, version: version.version, selector: `bench=${LABEL}`, strategy };
  const storedDeadline = Date.now() + 120_000;
  for (;;) {
    const dry = await expectStatus<RolloutView>(
      'dry run',
      call(api, 'POST', '/api/v1/rollouts', { ...body, dryRun: true }),
    );
    if (dry.plan.targets >= n) break;
    if (Date.now() > storedDeadline || ctx.aborted()) {
      throw new Error(`(rollout) the api plans for ${dry.plan.targets} of ${n} agents after 120 s`);
    }
    await sleep(1_000);
  }

  // 2. Background writes of the idle fleet, then the rollout.
  await sleep(PG_STATS_FLUSH_MS);
  const c0 = await tableCounters(ctx.infra.databaseUrl);
  const b0 = Date.now();
  await sleep(BACKGROUND_WINDOW_MS);
  const c1 = await tableCounters(ctx.infra.databaseUrl);
  const background = counterDelta(c0, c1);
  const backgroundRowsPerSecond = background.rows / ((Date.now() - b0) / 1000);

  const cpuSources = [
    ...cluster.gateways.map((g) => ({ kind: 'gateway', pid: g.child.pid })),
    ...cluster.fleets.map((f) => ({ kind: 'fleet', pid: f.child.pid })),
    { kind: 'api', pid: apps.api.pid },
    { kind: 'rollout-worker', pid: apps.worker.pid },
    { kind: 'postgres', pid: ctx.infra.postgres.pid },
    { kind: 'redis', pid: ctx.infra.redis.pid },
    ...clients.workers.map((w) => ({ kind: 'clients', pid: w.proc.pid })),
  ];
  const cpu0 = cpuSources.map((s) => cpuSecondsOfTree(s.pid));
  const before = await clients.status();
  const t0 = Date.now();
  const created = await expectStatus<RolloutView>(
    'POST /api/v1/rollouts',
    call(api, 'POST', '/api/v1/rollouts', body),
    [201],
  );
  const createSeconds = (Date.now() - t0) / 1000;
  const waves = created.plan.stages.flatMap((s) => s.waves);
  ctx.log(
    `  rollout ${created.id} created in ${createSeconds.toFixed(1)} s: ${created.plan.targets} targets, waves ${waves.join(', ')}, ` +
      `${created.plan.minimumDurationSeconds} s of soak`,
  );

  // 3. Until completed (or paused, aborted, ...), bounded.
  const deadline = t0 + opts.rolloutTimeout * 1000;
  let view = created;
  lastLog = Date.now();
  while (!FINAL_STATES.includes(view.state)) {
    if (Date.now() > deadline || ctx.aborted()) break;
    await sleep(POLL_MS);
    view = await expectStatus<RolloutView>('GET rollout', call(api, 'GET', `/api/v1/rollouts/${created.id}`));
    if (Date.now() - lastLog > 5_000) {
      lastLog = Date.now();
      const current = view.waves?.find((w) => w.state !== 'passed' && w.state !== 'pending');
      ctx.log(
        `  … ${view.state} after ${((Date.now() - t0) / 1000).toFixed(0)} s: ${JSON.stringify(view.counts)}` +
          (current ? `; wave ${current.index} (${current.size}) ${current.state}` : ''),
      );
    }
  }
  const observedCompleteSeconds = (Date.now() - t0) / 1000;
  const cpu1 = cpuSources.map((s) => cpuSecondsOfTree(s.pid));
  if (!FINAL_STATES.includes(view.state)) {
    ctx.log(`  gave up after ${opts.rolloutTimeout} s in state ${view.state}`);
  }

  // 4. Figures.
  await sleep(PG_STATS_FLUSH_MS);
  const c2 = await tableCounters(ctx.infra.databaseUrl);
  const windowSeconds = (Date.now() - t0) / 1000;
  const written = counterDelta(c1, c2);
  const after = await clients.status();
  const timeline = await clients.timeline();
  const metrics = await scrape(workerUrl);

  const rate = Number(view.strategy.maxRestartsPerSecond ?? opts.rolloutRate);
  const soakSumSeconds = view.plan.minimumDurationSeconds;
  const pacedMinimumSeconds = soakSumSeconds + view.plan.targets / rate;
  const timeToCompleteSeconds = view.state === 'completed' ? secondsBetween(view.createdAt, view.finishedAt) : NaN;
  const applyingAt = timeline.applyingAt.filter((t) => t >= t0);
  const peak = peakPerBucket(applyingAt);
  const buckets = histogramBuckets(metrics, 'opamp_rollout_worker_step_duration_seconds');
  const stepCount = metricValue(metrics, 'opamp_rollout_worker_step_duration_seconds_count');
  const stepSum = metricValue(metrics, 'opamp_rollout_worker_step_duration_seconds_sum');

  const forward = (view.waves ?? [])
    .filter((w) => (w.direction ?? 'forward') === 'forward')
    .sort((a, b) => a.index - b.index);
  const perWave: RolloutWaveResult[] = forward.map((w, i) => ({
    index: w.index,
    size: w.size,
    state: w.state,
    applied: w.counts.applied ?? 0,
    gapSeconds: secondsBetween(i === 0 ? view.startedAt : forward[i - 1]!.finishedAt, w.startedAt),
    resolveSeconds: secondsBetween(w.startedAt, w.resolvedAt),
    soakSeconds: secondsBetween(w.resolvedAt, w.finishedAt),
  }));

  const cpuSeconds: Record<string, number> = {};
  cpuSources.forEach((s, i) => {
    const d = cpu1[i]! - cpu0[i]!;
    if (Number.isFinite(d)) cpuSeconds[s.kind] = (cpuSeconds[s.kind] ?? 0) + Math.max(0, d);
  });

  return {
    replicas,
    agents: n,
    targets: view.plan.targets,
    strategy: view.strategy,
    waves,
    soakSumSeconds,
    pacedMinimumSeconds,
    state: view.state,
    reason: view.reason,
    createSeconds,
    timeToCompleteSeconds,
    observedCompleteSeconds,
    overheadRatio: timeToCompleteSeconds / soakSumSeconds,
    overheadVsPaced: timeToCompleteSeconds / pacedMinimumSeconds,
    lastAppliedSeconds:
      timeline.appliedAt.length > 0 ? (timeline.appliedAt.reduce((a, b) => Math.max(a, b)) - t0) / 1000 : NaN,
    applies: {
      applying: after.applying - before.applying,
      applied: after.applied - before.applied,
      failed: after.failed - before.failed,
      configsReceived: after.configsReceived - before.configsReceived,
    },
    maxRestartsPerSecond: rate,
    peakAppliesPerSecond: peak,
    peakAppliesSliding: peakInWindow(applyingAt),
    peakAppliesPerSecond5s: peakInWindow(applyingAt, 5_000) / 5,
    rateRatio: peak / rate,
    peakReceiptsPerSecond: peakPerBucket(timeline.receivedAt.filter((t) => t >= t0)),
    appliesPerSecond: perSecondSeries(applyingAt, t0),
    perWave,
    postgres: {
      windowSeconds,
      rows: written.rows,
      rowsPerAgent: written.rows / view.plan.targets,
      tables: written.tables,
      backgroundRowsPerSecond,
      netRowsPerAgent: (written.rows - backgroundRowsPerSecond * windowSeconds) / view.plan.targets,
    },
    workerSteps: {
      count: stepCount,
      meanMs: (stepSum / stepCount) * 1000,
      p50Ms: histogramQuantile([...buckets], 0.5) * 1000,
      p99Ms: histogramQuantile([...buckets], 0.99) * 1000,
      byAction: metricByLabel(metrics, 'opamp_rollout_worker_steps_total', 'action'),
      dispatched: metricValue(metrics, 'opamp_rollout_worker_dispatched_targets_total'),
    },
    cpuSeconds,
  };
}
