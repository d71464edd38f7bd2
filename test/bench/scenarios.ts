// The measurements. Each scenario starts its own cluster per replica count, drives it with client
// workers, and returns plain data for the report (report.ts). Every wait is bounded.
import path from 'node:path';
import pg from 'pg';
import type { HttpRecord, LoopResult } from './client-protocol.js';
import { ClientPool, Cluster, socketCeiling, type BenchContext } from './cluster.js';
import {
  BenchChild,
  cpuSecondsOfTree,
  histogramBuckets,
  machineCpuSeconds,
  metricValue,
  redisUsedMemory,
  scrape,
  tsProcessArgs,
  waitReady,
} from './processes.js';
import { KiB, MiB, countBy, histogramQuantile, perConnectionBytes, summarize, type LatencySummary } from './stats.js';

function spread(values: number[]): number {
  return values.length === 0 ? 0 : Math.max(...values) - Math.min(...values);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Admission wide open: for scenarios that are not about admission control. */
const OPEN_ADMISSION = { GATEWAY_ADMISSION_RATE: '1000000', GATEWAY_ADMISSION_BURST: '1000000' };

/** Connect phases: time allowed per agent on top of a fixed minute. */
function connectTimeoutMs(agents: number, ramp: number): number {
  return 60_000 + (agents / ramp) * 3_000;
}

async function avgRss(children: BenchChild[], samples = 3): Promise<number[]> {
  const sums = children.map(() => 0);
  for (let s = 0; s < samples; s++) {
    children.forEach((c, i) => (sums[i]! += c.rssBytes()));
    if (s < samples - 1) await sleep(500);
  }
  return sums.map((v) => v / samples);
}

// ---------------------------------------------------------------------------------------------
// (a) idle WS agents: gateway RSS per connection

export interface MemoryResult {
  replicas: number;
  /** Agents asked for (--agents). */
  requested: number;
  /** Agents actually connected (capped by the open-files limit). */
  agents: number;
  /** Why fewer than requested, if so. */
  limitedBy?: string;
  connectSeconds: number;
  allReplied: boolean;
  perGateway: Array<{
    connections: number;
    rssBeforeMiB: number;
    rssAfterMiB: number;
    rssPerConnectionKiB: number;
    heapPerConnectionKiB: number;
  }>;
  /** Mean over the gateways. */
  rssPerConnectionKiB: number;
  heapPerConnectionKiB: number;
  fleetRssPerAgentKiB: number;
  /** Redis used_memory growth per agent (hot state, routing, stream entries not yet trimmed). */
  redisPerAgentKiB: number;
  clientRssMiB: number;
}

export async function scenarioMemory(ctx: BenchContext): Promise<MemoryResult[]> {
  const { opts } = ctx;
  const results: MemoryResult[] = [];
  const ceiling = socketCeiling();
  for (const replicas of opts.replicas) {
    const done = new Set<number>();
    for (const requested of opts.agents) {
      if (ctx.aborted()) break;
      const agents = Math.min(requested, ceiling * replicas);
      const limitedBy =
        agents < requested
          ? `open-files limit: ${ceiling} sockets per process (ulimit -n hard limit minus a reserve); ${requested} agents need ${Math.ceil(requested / replicas)} per gateway`
          : undefined;
      if (done.has(agents)) {
        ctx.log(`(a) ${replicas} replica(s): ${requested} agents capped at ${agents}, already measured`);
        continue;
      }
      done.add(agents);
      ctx.log(`(a) ${replicas} replica(s): ${agents} idle WS agents${limitedBy ? ` (asked for ${requested})` : ''}`);
      // A fresh cluster per level: "before" is a gateway and fleet that never held an agent.
      const cluster = await Cluster.start(ctx, replicas, { gateway: OPEN_ADMISSION });
      try {
        const result = await measureIdleAgents(ctx, cluster, agents);
        results.push({ ...result, replicas, requested, limitedBy });
        ctx.log(
          `  ${agents} agents connected in ${result.connectSeconds.toFixed(1)} s: gateway RSS ${result.rssPerConnectionKiB.toFixed(1)} KiB/connection (heap ${result.heapPerConnectionKiB.toFixed(1)} KiB), fleet ${result.fleetRssPerAgentKiB.toFixed(1)} KiB/agent, Redis ${result.redisPerAgentKiB.toFixed(1)} KiB/agent`,
        );
      } finally {
        await cluster.stop();
      }
    }
  }
  return results;
}

async function measureIdleAgents(
  ctx: BenchContext,
  cluster: Cluster,
  agents: number,
): Promise<Omit<MemoryResult, 'replicas' | 'requested' | 'limitedBy'>> {
  const { opts } = ctx;
  const heapUsed = (i: number): Promise<number> =>
    cluster.gatewayMetric(i, 'opamp_process_nodejs_heap_size_used_bytes');
  const fleetRss = async (): Promise<number> =>
    (await avgRss(cluster.fleets.map((f) => f.child))).reduce((a, b) => a + b, 0);
  await sleep(3_000);
  const gws = cluster.gateways.map((g) => g.child);
  const rssBefore = await avgRss(gws);
  const heapBefore = await Promise.all(gws.map((_, i) => heapUsed(i)));
  const fleetBefore = await fleetRss();
  const redisBefore = await redisUsedMemory(ctx.infra.redis.port);

  const pool = await ClientPool.start(ctx, `a${cluster.replicas}-${agents}`, agents);
  try {
    const t0 = Date.now();
    await pool.spawn(
      'idle',
      'ws',
      agents,
      cluster.gateways.map((_, i) => cluster.wsUrl(i)),
      { rampPerSecond: opts.ramp, heartbeatSeconds: opts.heartbeat },
    );
    const waited = await pool.waitFor('first replies', (s) => s.replied >= agents, connectTimeoutMs(agents, opts.ramp));
    const connectSeconds = (Date.now() - t0) / 1000;
    // Let the first-message garbage go and the write-behind settle.
    await sleep(5_000);
    const rssAfter = await avgRss(gws);
    const heapAfter = await Promise.all(gws.map((_, i) => heapUsed(i)));
    const connections = await Promise.all(gws.map((_, i) => cluster.gatewayMetric(i, 'opamp_gateway_ws_connections')));
    const fleetAfter = await fleetRss();
    const redisAfter = await redisUsedMemory(ctx.infra.redis.port);
    const status = await pool.status();
    const perGateway = gws.map((_, i) => ({
      connections: connections[i]!,
      rssBeforeMiB: rssBefore[i]! / MiB,
      rssAfterMiB: rssAfter[i]! / MiB,
      rssPerConnectionKiB: perConnectionBytes(rssBefore[i]!, rssAfter[i]!, connections[i]!) / KiB,
      heapPerConnectionKiB: perConnectionBytes(heapBefore[i]!, heapAfter[i]!, connections[i]!) / KiB,
    }));
    const mean = (k: 'rssPerConnectionKiB' | 'heapPerConnectionKiB'): number =>
      perGateway.reduce((a, g) => a + g[k], 0) / perGateway.length;
    return {
      agents,
      connectSeconds,
      allReplied: waited.ok,
      perGateway,
      rssPerConnectionKiB: mean('rssPerConnectionKiB'),
      heapPerConnectionKiB: mean('heapPerConnectionKiB'),
      fleetRssPerAgentKiB: perConnectionBytes(fleetBefore, fleetAfter, status.replied) / KiB,
      redisPerAgentKiB: perConnectionBytes(redisBefore, redisAfter, status.replied) / KiB,
      clientRssMiB: status.rssBytes / MiB,
    };
  } finally {
    await pool.close();
  }
}

// ---------------------------------------------------------------------------------------------
// (b) closed-loop throughput vs a bare ws baseline

export interface ThroughputResult {
  target: 'baseline' | 'ours';
  replicas: number;
  agents: number;
  messagesPerSecond: number;
  latencyMs: LatencySummary;
  /** CPU seconds per process kind during the measured window. */
  cpuSeconds: Record<string, number>;
  /** Busy CPU seconds of the whole machine in the window (all cores; includes other users' processes). */
  machineCpuSeconds: number;
  windowSeconds: number;
}

interface CpuSource {
  kind: string;
  pid: number;
}

/** CPU seconds per process (a Postgres server counts with its backends). */
function cpuSnapshot(sources: CpuSource[]): Map<number, number> {
  return new Map(sources.map((s) => [s.pid, cpuSecondsOfTree(s.pid)]));
}

function cpuDelta(
  sources: CpuSource[],
  before: Map<number, number>,
  after: Map<number, number>,
): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of sources) {
    const d = (after.get(s.pid) ?? NaN) - (before.get(s.pid) ?? NaN);
    // Backends that exit during the window take their time with them: never report less than 0.
    if (Number.isFinite(d)) out[s.kind] = (out[s.kind] ?? 0) + Math.max(0, d);
  }
  return out;
}

async function closedLoop(
  ctx: BenchContext,
  pool: ClientPool,
  sources: CpuSource[],
): Promise<{ loop: LoopResult; cpu: Record<string, number>; machine: number }> {
  const warmupMs = 2_000;
  const durationMs = ctx.opts.loopSeconds * 1000;
  const all = [...sources, ...pool.workers.map((w) => ({ kind: 'clients', pid: w.proc.pid }))];
  let cpu0 = new Map<number, number>();
  let cpu1 = new Map<number, number>();
  let machine0 = NaN;
  let machine1 = NaN;
  const t0 = setTimeout(() => {
    cpu0 = cpuSnapshot(all);
    machine0 = machineCpuSeconds();
  }, warmupMs);
  const t1 = setTimeout(() => {
    cpu1 = cpuSnapshot(all);
    machine1 = machineCpuSeconds();
  }, warmupMs + durationMs);
  const parts = await Promise.all(
    pool.workers.map((w) =>
      w.request<LoopResult>({ cmd: 'loop', warmupMs, durationMs }, warmupMs + durationMs + 60_000),
    ),
  );
  clearTimeout(t0);
  clearTimeout(t1);
  const loop: LoopResult = {
    replies: parts.reduce((a, p) => a + p.replies, 0),
    windowMs: durationMs,
    latenciesMs: parts.flatMap((p) => p.latenciesMs),
    agents: parts.reduce((a, p) => a + p.agents, 0),
  };
  return { loop, cpu: cpuDelta(all, cpu0, cpu1), machine: machine1 - machine0 };
}

function infraSources(ctx: BenchContext): CpuSource[] {
  return [
    { kind: 'redis', pid: ctx.infra.redis.pid },
    { kind: 'postgres', pid: ctx.infra.postgres.pid },
  ];
}

export async function scenarioThroughput(ctx: BenchContext): Promise<ThroughputResult[]> {
  const { opts } = ctx;
  const results: ThroughputResult[] = [];
  const n = opts.loopAgents;
  const report = (r: ThroughputResult): void => {
    results.push(r);
    ctx.log(
      `  ${r.messagesPerSecond.toFixed(0)} msg/s, p50 ${r.latencyMs.p50.toFixed(2)} ms, p99 ${r.latencyMs.p99.toFixed(2)} ms (${r.latencyMs.count} round trips); CPU µs/msg: ${Object.entries(
        r.cpuSeconds,
      )
        .map(([k, v]) => `${k} ${((v / (r.messagesPerSecond * r.windowSeconds)) * 1e6).toFixed(0)}`)
        .join(', ')}`,
    );
  };

  // Baseline: same clients, bare ws server.
  {
    ctx.log(`(b) baseline: bare ws server, ${n} agents in a closed loop for ${opts.loopSeconds} s`);
    const port = opts.basePort + 20;
    const baseline = new BenchChild({
      name: 'baseline',
      args: tsProcessArgs(path.join('test', 'bench', 'baseline-server.ts'), String(port)),
      logFile: path.join(ctx.logDir, 'baseline.log'),
    });
    try {
      await waitReady(baseline, `http://127.0.0.1:${port}/readyz`);
      const pool = await ClientPool.start(ctx, 'b-baseline', n);
      try {
        await pool.spawn('loop', 'ws', n, [`ws://127.0.0.1:${port}/v1/opamp`], {
          rampPerSecond: opts.ramp,
          heartbeatSeconds: 3600,
        });
        await pool.waitFor('first replies', (s) => s.replied >= n, connectTimeoutMs(n, opts.ramp));
        const { loop, cpu, machine } = await closedLoop(ctx, pool, [{ kind: 'baseline', pid: baseline.pid }]);
        report({
          target: 'baseline',
          replicas: 1,
          agents: loop.agents,
          messagesPerSecond: loop.replies / (loop.windowMs / 1000),
          latencyMs: summarize(loop.latenciesMs),
          cpuSeconds: cpu,
          machineCpuSeconds: machine,
          windowSeconds: loop.windowMs / 1000,
        });
      } finally {
        await pool.close();
      }
    } finally {
      await baseline.stop();
    }
  }

  for (const replicas of opts.replicas) {
    if (ctx.aborted()) break;
    ctx.log(`(b) ours, ${replicas} replica(s): ${n} agents in a closed loop for ${opts.loopSeconds} s`);
    const cluster = await Cluster.start(ctx, replicas, { gateway: OPEN_ADMISSION });
    try {
      const pool = await ClientPool.start(ctx, `b${replicas}`, n);
      try {
        await pool.spawn(
          'loop',
          'ws',
          n,
          cluster.gateways.map((_, i) => cluster.wsUrl(i)),
          { rampPerSecond: opts.ramp, heartbeatSeconds: 3600 },
        );
        await pool.waitFor('first replies', (s) => s.replied >= n, connectTimeoutMs(n, opts.ramp));
        await sleep(1_000);
        const sources: CpuSource[] = [
          ...cluster.gateways.map((g) => ({ kind: 'gateway', pid: g.child.pid })),
          ...cluster.fleets.map((f) => ({ kind: 'fleet', pid: f.child.pid })),
          ...infraSources(ctx),
        ];
        const { loop, cpu, machine } = await closedLoop(ctx, pool, sources);
        report({
          target: 'ours',
          replicas,
          agents: loop.agents,
          messagesPerSecond: loop.replies / (loop.windowMs / 1000),
          latencyMs: summarize(loop.latenciesMs),
          cpuSeconds: cpu,
          machineCpuSeconds: machine,
          windowSeconds: loop.windowMs / 1000,
        });
      } finally {
        await pool.close();
      }
    } finally {
      await cluster.stop();
    }
  }
  return results;
}

// ---------------------------------------------------------------------------------------------
// (c) HTTP polling plus a burst of new agents

export interface HttpGroupResult {
  requests: number;
  byStatus: Record<string, number>;
  /** Latency of the admitted (200) requests. */
  admittedMs: LatencySummary;
  refusedWithRetryAfter: number;
  /** 5xx answers without Retry-After, plus requests without any answer. */
  failedWithoutRetryAfter: number;
}

export interface HttpResult {
  replicas: number;
  agents: number;
  burst: number;
  intervalSeconds: number;
  windowSeconds: number;
  admission: { rate: number; burst: number; retryAfterSeconds: number };
  rampSeconds: number;
  allPolling: boolean;
  steady: HttpGroupResult;
  burstGroup: HttpGroupResult;
  all: HttpGroupResult;
  /** Seconds between the first and the last request of the burst agents (the clients' own pace). */
  burstSpreadSeconds: number;
  /**
   * The gateways' own view (opamp_gateway_http_round_trip_seconds, body read to fleet reply) in
   * the window: bucket upper bounds, so without the clients' event-loop delays.
   */
  gatewayRoundTripMs: { count: number; p50: number; p99: number };
}

async function roundTripBuckets(cluster: Cluster): Promise<Map<number, number>> {
  const sum = new Map<number, number>();
  for (const g of cluster.gateways) {
    for (const [le, n] of histogramBuckets(await scrape(g.url), 'opamp_gateway_http_round_trip_seconds')) {
      sum.set(le, (sum.get(le) ?? 0) + n);
    }
  }
  return sum;
}

export function httpGroup(records: HttpRecord[]): HttpGroupResult {
  return {
    requests: records.length,
    byStatus: countBy(records, (r) => (r.status === 0 ? 'no response' : String(r.status))),
    admittedMs: summarize(records.filter((r) => r.status === 200).map((r) => r.ms)),
    refusedWithRetryAfter: records.filter((r) => (r.status === 429 || r.status === 503) && r.retryAfter).length,
    failedWithoutRetryAfter: records.filter((r) => (r.status >= 500 || r.status === 0) && !r.retryAfter).length,
  };
}

export async function scenarioHttp(ctx: BenchContext): Promise<HttpResult[]> {
  const { opts } = ctx;
  const results: HttpResult[] = [];
  for (const replicas of opts.replicas) {
    if (ctx.aborted()) break;
    ctx.log(
      `(c) ${replicas} replica(s): ${opts.httpAgents} HTTP agents polling every ${opts.httpInterval} s, then ${opts.httpBurst} new within 1 s`,
    );
    const cluster = await Cluster.start(ctx, replicas, {
      gateway: {
        GATEWAY_ADMISSION_RATE: String(opts.admissionRate),
        GATEWAY_ADMISSION_BURST: String(opts.admissionBurst),
        GATEWAY_RETRY_AFTER_SECONDS: String(opts.retryAfter),
      },
      fleet: { FLEET_HEARTBEAT_INTERVAL_SECONDS: String(opts.httpInterval) },
    });
    try {
      const pool = await ClientPool.start(ctx, `c${replicas}`, 0);
      try {
        const urls = cluster.gateways.map((_, i) => cluster.httpUrl(i));
        // Below the admission rate, so the steady agents are all admitted on first contact.
        const ramp = Math.min(opts.ramp, Math.floor(0.8 * opts.admissionRate * replicas));
        const t0 = Date.now();
        await pool.spawn('steady', 'http', opts.httpAgents, urls, {
          rampPerSecond: ramp,
          heartbeatSeconds: opts.httpInterval,
          timed: true,
        });
        const waited = await pool.waitFor(
          'first polls',
          (s) => s.replied >= opts.httpAgents,
          connectTimeoutMs(opts.httpAgents, ramp) + opts.retryAfter * 2_000,
        );
        const rampSeconds = (Date.now() - t0) / 1000;
        // The token bucket refills; the steady agents' polls are spread over the interval by the ramp.
        await sleep(Math.max(3_000, (opts.admissionBurst / opts.admissionRate) * 1000 + 1_000));
        await Promise.all(pool.workers.map((w) => w.request<HttpRecord[]>({ cmd: 'records' })));
        const bucketsBefore = await roundTripBuckets(cluster);
        const windowStart = Date.now();
        await pool.spawn('burst', 'http', opts.httpBurst, urls, {
          rampPerSecond: opts.httpBurst,
          heartbeatSeconds: opts.httpInterval,
          timed: true,
        });
        const left = windowStart + opts.httpWindow * 1000 - Date.now();
        if (left > 0) await sleep(left);
        const windowEnd = windowStart + opts.httpWindow * 1000;
        const bucketsAfter = await roundTripBuckets(cluster);
        const window: Array<[number, number]> = [...bucketsAfter].map(([le, n]) => [
          le,
          n - (bucketsBefore.get(le) ?? 0),
        ]);
        const records = (await Promise.all(pool.workers.map((w) => w.request<HttpRecord[]>({ cmd: 'records' }))))
          .flat()
          .filter((r) => r.startedAt >= windowStart && r.startedAt < windowEnd);
        const result: HttpResult = {
          replicas,
          agents: opts.httpAgents,
          burst: opts.httpBurst,
          intervalSeconds: opts.httpInterval,
          windowSeconds: opts.httpWindow,
          admission: { rate: opts.admissionRate, burst: opts.admissionBurst, retryAfterSeconds: opts.retryAfter },
          rampSeconds,
          allPolling: waited.ok,
          steady: httpGroup(records.filter((r) => r.group === 'steady')),
          burstGroup: httpGroup(records.filter((r) => r.group === 'burst')),
          all: httpGroup(records),
          burstSpreadSeconds: spread(records.filter((r) => r.group === 'burst').map((r) => r.startedAt)) / 1000,
          gatewayRoundTripMs: {
            count: window.find(([le]) => le === Infinity)?.[1] ?? 0,
            p50: histogramQuantile(window, 0.5) * 1000,
            p99: histogramQuantile(window, 0.99) * 1000,
          },
        };
        ctx.log(
          `  window ${opts.httpWindow} s: ${JSON.stringify(result.all.byStatus)}; admitted p50 ${result.all.admittedMs.p50.toFixed(1)} ms, p99 ${result.all.admittedMs.p99.toFixed(1)} ms (gateway ≤ ${result.gatewayRoundTripMs.p99} ms); burst spread over ${result.burstSpreadSeconds.toFixed(1)} s; 5xx/no answer without Retry-After: ${result.all.failedWithoutRetryAfter}`,
        );
        results.push(result);
      } finally {
        await pool.close();
      }
    } finally {
      await cluster.stop();
    }
  }
  return results;
}

// ---------------------------------------------------------------------------------------------
// (d) reconnect storm

export interface StormResult {
  replicas: number;
  agents: number;
  admission: { rate: number; burst: number; retryAfterSeconds: number };
  /** Gateways killed (-9) until all answered /readyz again. */
  restartSeconds: number;
  /** Seconds from the kill until that share of the agents was connected again. */
  backAfterSeconds: Record<'50' | '90' | '99' | '100', number | undefined>;
  allBack: boolean;
  /** Refused upgrades (429/503) and reconnect attempts counted by the agents during the storm. */
  refused: number;
  reconnectAttempts: number;
}

export async function scenarioStorm(ctx: BenchContext): Promise<StormResult[]> {
  const { opts } = ctx;
  const n = opts.stormAgents;
  const results: StormResult[] = [];
  for (const replicas of opts.replicas) {
    if (ctx.aborted()) break;
    ctx.log(`(d) ${replicas} replica(s): ${n} WS agents, every gateway killed with SIGKILL and restarted`);
    // The first connect is not the measurement: admission wide open. The restarted gateways get
    // the configured limit.
    const cluster = await Cluster.start(ctx, replicas, { gateway: OPEN_ADMISSION });
    try {
      const pool = await ClientPool.start(ctx, `d${replicas}`, n);
      try {
        await pool.spawn(
          'storm',
          'ws',
          n,
          cluster.gateways.map((_, i) => cluster.wsUrl(i)),
          { rampPerSecond: opts.ramp, heartbeatSeconds: opts.heartbeat },
        );
        const first = await pool.waitFor('first replies', (s) => s.replied >= n, connectTimeoutMs(n, opts.ramp));
        if (!first.ok) throw new Error(`(d) only ${first.status.replied} of ${n} agents connected before the storm`);
        await sleep(2_000);
        const before = await pool.status();
        cluster.setGatewayEnv({
          GATEWAY_ADMISSION_RATE: String(opts.admissionRate),
          GATEWAY_ADMISSION_BURST: String(opts.admissionBurst),
          GATEWAY_RETRY_AFTER_SECONDS: String(opts.retryAfter),
        });
        const t0 = Date.now();
        await Promise.all(cluster.gateways.map((g) => g.child.kill9()));
        await Promise.all(cluster.gateways.map((_, i) => cluster.startGateway(i)));
        const restartSeconds = (Date.now() - t0) / 1000;
        const back: StormResult['backAfterSeconds'] = {
          '50': undefined,
          '90': undefined,
          '99': undefined,
          '100': undefined,
        };
        const deadline = t0 + opts.stormTimeout * 1000;
        let last = before;
        let lastLog = Date.now();
        while (Date.now() < deadline && !ctx.aborted()) {
          last = await pool.status();
          const secs = (Date.now() - t0) / 1000;
          for (const share of ['50', '90', '99', '100'] as const) {
            if (back[share] === undefined && last.connected >= Math.ceil((n * Number(share)) / 100)) back[share] = secs;
          }
          if (back['100'] !== undefined) break;
          if (Date.now() - lastLog > 5_000) {
            lastLog = Date.now();
            ctx.log(
              `  … ${last.connected}/${n} back after ${secs.toFixed(0)} s (refused ${last.throttled - before.throttled})`,
            );
          }
          await sleep(250);
        }
        const result: StormResult = {
          replicas,
          agents: n,
          admission: { rate: opts.admissionRate, burst: opts.admissionBurst, retryAfterSeconds: opts.retryAfter },
          restartSeconds,
          backAfterSeconds: back,
          allBack: back['100'] !== undefined,
          refused: last.throttled - before.throttled,
          reconnectAttempts: last.reconnectAttempts - before.reconnectAttempts,
        };
        ctx.log(
          `  gateways back in ${restartSeconds.toFixed(1)} s; agents: 50 % after ${back['50']?.toFixed(1) ?? '—'} s, 99 % after ${back['99']?.toFixed(1) ?? '—'} s, all after ${back['100']?.toFixed(1) ?? '— (timeout)'} s; ${result.refused} refused upgrades`,
        );
        results.push(result);
      } finally {
        await pool.close();
      }
    } finally {
      await cluster.stop();
    }
  }
  return results;
}

// ---------------------------------------------------------------------------------------------
// (pg) Postgres rows written per agent per minute

export interface PgResult {
  replicas: number;
  agents: number;
  heartbeatSeconds: number;
  windowSeconds: number;
  /** Row changes per table in the window. */
  tables: Record<string, { inserted: number; updated: number; deleted: number }>;
  rows: number;
  rowsPerAgentPerMinute: number;
  /** The fleets' own count (opamp_fleet_postgres_rows_written_total) over the same window, as a cross-check. */
  fleetRowsWritten?: number;
  messagesPerAgentPerMinute: number;
}

async function tableCounters(url: string): Promise<Record<string, { ins: number; upd: number; del: number }>> {
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

export async function scenarioPostgres(ctx: BenchContext): Promise<PgResult[]> {
  const { opts } = ctx;
  const n = opts.pgAgents;
  const results: PgResult[] = [];
  for (const replicas of opts.pgReplicas) {
    if (ctx.aborted()) break;
    ctx.log(
      `(pg) ${replicas} replica(s): ${n} WS agents heartbeating every ${opts.heartbeat} s; counting row writes for ${opts.pgWindow} s`,
    );
    const cluster = await Cluster.start(ctx, replicas, { gateway: OPEN_ADMISSION });
    try {
      const pool = await ClientPool.start(ctx, `pg${replicas}`, n);
      try {
        await pool.spawn(
          'pg',
          'ws',
          n,
          cluster.gateways.map((_, i) => cluster.wsUrl(i)),
          { rampPerSecond: opts.ramp, heartbeatSeconds: opts.heartbeat },
        );
        await pool.waitFor('first replies', (s) => s.replied >= n, connectTimeoutMs(n, opts.ramp));
        // The first reports' rows must be written before the window opens: wait until the
        // write-behind has gone quiet, then for Postgres' statistics (idle backends report
        // within ~10 s).
        const fleetRows = async (): Promise<number> => {
          let sum = 0;
          for (const f of cluster.fleets)
            sum += metricValue(await scrape(f.url), 'opamp_fleet_postgres_rows_written_total');
          return sum;
        };
        const quietDeadline = Date.now() + 180_000;
        for (let last = NaN, stable = 0; stable < 5 && Date.now() < quietDeadline && !ctx.aborted();) {
          await sleep(1_000);
          const now = await fleetRows();
          stable = now === last ? stable + 1 : 0;
          last = now;
        }
        await sleep(11_000);
        const f0 = await fleetRows();
        const c0 = await tableCounters(ctx.infra.databaseUrl);
        const m0 = (await pool.status()).messagesSent;
        const t0 = Date.now();
        await sleep(opts.pgWindow * 1000);
        const c1 = await tableCounters(ctx.infra.databaseUrl);
        const f1 = await fleetRows();
        const m1 = (await pool.status()).messagesSent;
        const minutes = (Date.now() - t0) / 60_000;
        const tables: PgResult['tables'] = {};
        let rows = 0;
        for (const [name, v] of Object.entries(c1)) {
          const b = c0[name] ?? { ins: 0, upd: 0, del: 0 };
          const t = { inserted: v.ins - b.ins, updated: v.upd - b.upd, deleted: v.del - b.del };
          if (t.inserted || t.updated || t.deleted) tables[name] = t;
          rows += t.inserted + t.updated + t.deleted;
        }
        const result: PgResult = {
          replicas,
          agents: n,
          heartbeatSeconds: opts.heartbeat,
          windowSeconds: opts.pgWindow,
          tables,
          rows,
          rowsPerAgentPerMinute: rows / n / minutes,
          fleetRowsWritten: f1 - f0,
          messagesPerAgentPerMinute: (m1 - m0) / n / minutes,
        };
        ctx.log(
          `  ${rows} rows written in ${opts.pgWindow} s: ${result.rowsPerAgentPerMinute.toFixed(3)} rows/agent/min (${result.messagesPerAgentPerMinute.toFixed(2)} messages/agent/min) ${JSON.stringify(tables)}`,
        );
        results.push(result);
      } finally {
        await pool.close();
      }
    } finally {
      await cluster.stop();
    }
  }
  return results;
}
