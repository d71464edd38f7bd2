// Scenario "api": the Platform API's latency at fleet scale. N agents are seeded straight into
// the benchmark's Postgres (api-seed.ts), one api process runs from the build, and requests go
// one at a time over REST with the admin key: every page of a selector listing (with the same
// pages read directly with `pg` as the baseline), first pages of a free-text search and of sorted
// listings, the fleet summary, and the creation of a rollout over every agent. Everything started
// here is stopped in `finally` (and by the harness's exit hook).
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import pg from 'pg';
import { Prisma } from '../../libs/database/src/generated/prisma/client.js';
import { selectorConditions } from '../../libs/database/src/selector-sql.js';
import { parseLabelSelector } from '../../libs/domain/src/index.js';
import { BENCH_SELECTOR, SEARCH_NEEDLE, seedAgents } from './api-seed.js';
import type { ApiFirstPage, ApiResult } from './api-stats.js';
import type { BenchContext } from './cluster.js';
import { BenchChild, assertPortFree, waitReady } from './processes.js';
import { summarize } from './stats.js';

const PAGE_SIZE = 100;
const FIRST_PAGE_RUNS = 30;
const WARMUP_RUNS = 3;
const SUMMARY_RUNS = 10;
const CONFIG_NAME = 'bench-api';

/** The columns the api reads for a listing (apps/api agents.repository.ts AGENT_COLUMNS). */
const AGENT_COLUMNS = `
  a.uid::text AS "uid", a.agent_type AS "agentType", a.service_name AS "serviceName",
  a.service_version AS "serviceVersion", a.host_name AS "hostName", a.os_type AS "osType",
  a.description, a.capabilities, a.health, a.healthy, a.effective_config AS "effectiveConfig",
  a.remote_config_status AS "remoteConfigStatus", a.custom_capabilities AS "customCapabilities",
  a.labels, a.connection_state::text AS "connectionState", a.transport, a.sequence_num AS "sequenceNum",
  a.first_seen_at AS "firstSeenAt", a.last_seen_at AS "lastSeenAt", a.disconnected_at AS "disconnectedAt",
  a.replaced_by_uid::text AS "replacedByUid", a.updated_at AS "updatedAt"`;

interface Page {
  items: Array<{ uid: string }>;
  nextCursor: string | null;
}

class ApiClient {
  constructor(
    readonly base: string,
    private readonly key: string,
  ) {}

  /** One request; the time is taken until the whole body is read. */
  async timed<T>(method: string, route: string, body?: unknown): Promise<{ ms: number; status: number; body: T }> {
    const t0 = performance.now();
    const res = await fetch(`${this.base}${route}`, {
      method,
      headers: {
        authorization: `Bearer ${this.key}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(300_000),
    });
    const text = await res.text();
    const ms = performance.now() - t0;
    return { ms, status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
  }

  async expect<T>(method: string, route: string, body?: unknown, ok: number[] = [200]) {
    const r = await this.timed<T>(method, route, body);
    if (!ok.includes(r.status)) throw new Error(`${method} ${route}: HTTP ${r.status} ${JSON.stringify(r.body)}`);
    return r;
  }
}

/** The SQL of one page of the default (uid) order, as the api builds it, for the `pg` baseline. */
function pageSql(selector: string, afterUid: string | undefined, limit: number): { text: string; values: unknown[] } {
  const where = [Prisma.sql`a.replaced_by_uid IS NULL`, ...selectorConditions(parseLabelSelector(selector))];
  if (afterUid !== undefined) where.push(Prisma.sql`a.uid > ${afterUid}::uuid`);
  const sql = Prisma.sql`SELECT ${Prisma.raw(AGENT_COLUMNS)} FROM agents a WHERE ${Prisma.join(where, ' AND ')}
    ORDER BY a.uid ASC LIMIT ${limit + 1}::int`;
  return { text: sql.text, values: sql.values };
}

function selectorSql(selector: string): { text: string; values: unknown[] } {
  const where = [Prisma.sql`a.replaced_by_uid IS NULL`, ...selectorConditions(parseLabelSelector(selector))];
  const sql = Prisma.sql`${Prisma.join(where, ' AND ')}`;
  return { text: sql.text, values: sql.values };
}

async function startApi(ctx: BenchContext, port: number, key: string): Promise<BenchChild> {
  await assertPortFree(port, 'api');
  const api = new BenchChild({
    name: 'api-bench',
    args: ['--enable-source-maps', path.join(ctx.distDir, 'apps', 'api', 'src', 'main.js')],
    env: {
      ...process.env,
      REDIS_URL: ctx.infra.redisUrl,
      DATABASE_URL: ctx.infra.databaseUrl,
      API_PORT: String(port),
      API_HOST: '127.0.0.1',
      OPAMP_ADMIN_API_KEY: key,
      // One client walking hundreds of pages is not what the rate limit is for.
      API_RATE_LIMIT_PER_MINUTE: '0',
      LOG_LEVEL: ctx.opts.verbose ? 'log' : 'warn',
      OTEL_SDK_DISABLED: 'true',
    },
    logFile: path.join(ctx.logDir, 'api-bench.log'),
    echo: ctx.opts.verbose,
  });
  try {
    await waitReady(api, `http://127.0.0.1:${port}/readyz`);
  } catch (err) {
    await api.stop();
    throw err;
  }
  return api;
}

export async function scenarioApi(ctx: BenchContext): Promise<ApiResult[]> {
  const n = ctx.opts.apiAgents;
  ctx.log(`(api) seeding ${n} agents into Postgres`);
  const seedSeconds = await seedAgents(ctx.infra.databaseUrl, n);
  ctx.log(`  seeded in ${seedSeconds.toFixed(1)} s; starting the api`);
  const key = `opk_bench_${randomBytes(24).toString('base64url')}`;
  const port = ctx.opts.basePort + 40;
  const api = await startApi(ctx, port, key);
  const db = new pg.Client({ connectionString: ctx.infra.databaseUrl });
  await db.connect();
  try {
    return [await measure(ctx, new ApiClient(`http://127.0.0.1:${port}`, key), db, n, seedSeconds)];
  } finally {
    await db.end().catch(() => undefined);
    await api.stop();
  }
}

async function measure(
  ctx: BenchContext,
  api: ApiClient,
  db: pg.Client,
  n: number,
  seedSeconds: number,
): Promise<ApiResult> {
  const selector = BENCH_SELECTOR;
  const listing = `/api/v1/agents?selector=${encodeURIComponent(selector)}&limit=${PAGE_SIZE}`;
  const where = selectorSql(selector);
  const matching = Number(
    (await db.query<{ n: string }>(`SELECT count(*) AS n FROM agents a WHERE ${where.text}`, where.values)).rows[0]!.n,
  );

  // Warm both paths (JIT, plan caches, connection pools) before anything is timed.
  for (let i = 0; i < WARMUP_RUNS; i++) {
    await api.expect<Page>('GET', listing);
    const q = pageSql(selector, undefined, PAGE_SIZE);
    await db.query(q.text, q.values);
  }

  // 1. Every page of the selector listing, each page also read with pg right after (same cursor position).
  ctx.log(`  walking every page of ?selector=${selector}&limit=${PAGE_SIZE} (${matching} matching agents)`);
  const apiMs: number[] = [];
  const pgMs: number[] = [];
  const seen = new Set<string>();
  let cursor: string | null = null;
  let afterUid: string | undefined;
  const walkStart = Date.now();
  for (let page = 0; ; page++) {
    if (ctx.aborted()) throw new Error('aborted');
    if (page > n / PAGE_SIZE + 10) throw new Error('the walk does not end');
    const r: { ms: number; body: Page } = await api.expect<Page>(
      'GET',
      cursor ? `${listing}&cursor=${encodeURIComponent(cursor)}` : listing,
    );
    apiMs.push(r.ms);
    const q = pageSql(selector, afterUid, PAGE_SIZE);
    const t0 = performance.now();
    await db.query(q.text, q.values);
    pgMs.push(performance.now() - t0);
    for (const item of r.body.items) seen.add(item.uid);
    afterUid = r.body.items[r.body.items.length - 1]?.uid;
    cursor = r.body.nextCursor;
    if (!cursor) break;
  }
  const walkSeconds = (Date.now() - walkStart) / 1000;
  if (seen.size !== matching) throw new Error(`the walk returned ${seen.size} agents, ${matching} match`);

  // 2. First pages of a search and of sorted listings.
  const firstPages: ApiFirstPage[] = [];
  for (const query of [
    `q=${SEARCH_NEEDLE}&limit=${PAGE_SIZE}`,
    `q=node-4242&limit=${PAGE_SIZE}`,
    `sort=-lastSeenAt&limit=${PAGE_SIZE}`,
    `selector=${encodeURIComponent(selector)}&sort=-lastSeenAt&limit=${PAGE_SIZE}`,
    `sort=hostName&limit=${PAGE_SIZE}`,
  ]) {
    const times: number[] = [];
    let items = 0;
    for (let i = 0; i < WARMUP_RUNS + FIRST_PAGE_RUNS; i++) {
      const r = await api.expect<Page>('GET', `/api/v1/agents?${query}`);
      if (i >= WARMUP_RUNS) times.push(r.ms);
      items = r.body.items.length;
    }
    firstPages.push({ query: decodeURIComponent(query), runs: FIRST_PAGE_RUNS, items, apiMs: summarize(times) });
  }

  // 3. The fleet summary.
  const summaryTimes: number[] = [];
  for (let i = 0; i < 1 + SUMMARY_RUNS; i++) {
    const r = await api.expect<{ total: number }>('GET', '/api/v1/fleet/summary');
    // Earlier scenarios of the same run may have left agents behind: at least the seeded ones.
    if (r.body.total < n) throw new Error(`the summary counts ${r.body.total} agents, fewer than the ${n} seeded`);
    if (i > 0) summaryTimes.push(r.ms);
  }

  // 4. A rollout over every agent: config, version, then the timed POST.
  ctx.log('  creating a rollout over every agent');
  await api.expect(
    'POST',
    '/api/v1/configs',
    { name: CONFIG_NAME, agentType: 'generic', description: 'npm run bench (api)' },
    [200, 201],
  );
  const version = await api.expect<{ version: number }>(
    'POST',
    `/api/v1/configs/${CONFIG_NAME}/versions`,
    { files: [{ name: 'settings.json', contentType: 'application/json', content: '{"bench":"api"}' }] },
    [200, 201],
  );
  const all = 'bench=api';
  const allWhere = selectorSql(all);
  const b0 = performance.now();
  await db.query(`SELECT a.uid FROM agents a WHERE ${allWhere.text}`, allWhere.values);
  const baselineSeconds = (performance.now() - b0) / 1000;
  const created = await api.expect<{ state: string; plan: { targets: number } }>(
    'POST',
    '/api/v1/rollouts',
    { config: CONFIG_NAME, version: version.body.version, selector: all },
    [201],
  );

  const result: ApiResult = {
    agents: n,
    seedSeconds,
    selector,
    pageSize: PAGE_SIZE,
    walked: seen.size,
    matching,
    pages: apiMs.length,
    apiMs: summarize(apiMs),
    pgMs: summarize(pgMs),
    walkSeconds,
    firstPages,
    summaryMs: summarize(summaryTimes),
    rollout: {
      targets: created.body.plan.targets,
      state: created.body.state,
      createSeconds: created.ms / 1000,
      baselineSeconds,
    },
  };
  ctx.log(
    `  pages: p50 ${result.apiMs.p50.toFixed(1)} ms, p99 ${result.apiMs.p99.toFixed(1)} ms over REST; ` +
      `pg p50 ${result.pgMs.p50.toFixed(1)} ms, p99 ${result.pgMs.p99.toFixed(1)} ms`,
  );
  for (const p of firstPages) {
    ctx.log(`  ?${p.query}: ${p.items} items, p50 ${p.apiMs.p50.toFixed(1)} ms, p99 ${p.apiMs.p99.toFixed(1)} ms`);
  }
  ctx.log(`  summary p50 ${result.summaryMs.p50.toFixed(1)} ms; p99 ${result.summaryMs.p99.toFixed(1)} ms`);
  ctx.log(
    `  rollout over ${result.rollout.targets} targets created in ${result.rollout.createSeconds.toFixed(2)} s ` +
      `(pg read of the targets: ${baselineSeconds.toFixed(2)} s)`,
  );
  return result;
}
