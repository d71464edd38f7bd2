// GET /api/v1/agents beyond label selectors: health, agent type, version, capability and free-text
// filters, every sort in both directions with keyset pages, and the refusals (400 problems naming
// the parameter). Rows are inserted directly into the real Postgres; every row carries a per-run
// label and every query selects it, so other tests' agents never show up.
import { randomBytes } from 'node:crypto';
import type { INestApplication } from '@nestjs/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PrismaService, type Prisma } from '@opamp/database';
import { uidToString, uuidv7 } from '@opamp/protocol';
import { loadApiConfig } from '../api.config.js';
import { createApiApp } from '../bootstrap.js';
import { expectProblem, httpClient, type Reply } from '../testing/http.js';

const RUN = randomBytes(4).toString('hex');
const SELECTOR = encodeURIComponent(`testrun=${RUN}`);

let app: INestApplication;
let base: string;
let prisma: PrismaService;
const { get } = httpClient(() => base);

interface Seed {
  name: string;
  agentType: string;
  serviceName: string | null;
  serviceVersion: string | null;
  hostName: string | null;
  healthy: boolean | null;
  capabilities: bigint;
  custom: string[];
  /** Seconds before T0. */
  seenAgo: number;
  firstAgo: number;
}

const T0 = Date.parse('2026-11-20T12:00:00.000Z');
const seeds: Seed[] = [
  {
    name: 'a',
    agentType: 'fluentbit',
    serviceName: 'fluent-bit',
    serviceVersion: '3.2.4',
    hostName: 'web-01',
    healthy: true,
    capabilities: 0x3d07n,
    custom: [],
    seenAgo: 10,
    firstAgo: 900,
  },
  {
    name: 'b',
    agentType: 'fluentbit',
    serviceName: 'fluent-bit',
    serviceVersion: '3.1.0',
    hostName: 'web-02',
    healthy: false,
    capabilities: 0x1003n,
    custom: ['io.opampcp.simulator.echo'],
    seenAgo: 20,
    firstAgo: 800,
  },
  {
    name: 'c',
    agentType: 'otelcol',
    serviceName: 'otelcol-contrib',
    serviceVersion: '0.110.0',
    hostName: 'DB_Main',
    healthy: null,
    capabilities: 0x1n,
    custom: [],
    seenAgo: 20,
    firstAgo: 700,
  },
  {
    name: 'd',
    agentType: 'otelcol',
    serviceName: 'otelcol-contrib',
    serviceVersion: null,
    hostName: null,
    healthy: true,
    capabilities: 0x401n,
    custom: ['io.opampcp.simulator.echo', 'com.example.x'],
    seenAgo: 30,
    firstAgo: 600,
  },
  {
    name: 'e',
    agentType: 'fluentd',
    serviceName: null,
    serviceVersion: '1.16.2',
    hostName: 'dbxmain',
    healthy: true,
    capabilities: 0x1n,
    custom: [],
    seenAgo: 5,
    firstAgo: 600,
  },
  {
    name: 'f',
    agentType: 'generic',
    serviceName: 'Custom Agent',
    serviceVersion: '3.2.4',
    hostName: null,
    healthy: false,
    capabilities: 0x403n,
    custom: [],
    seenAgo: 40,
    firstAgo: 500,
  },
  {
    name: 'g',
    agentType: 'fluentbit',
    serviceName: 'fluent-bit',
    serviceVersion: '3.2.4',
    hostName: 'web-01',
    healthy: null,
    capabilities: 0x3d07n,
    custom: [],
    seenAgo: 10,
    firstAgo: 400,
  },
  {
    name: 'h',
    agentType: 'generic',
    serviceName: null,
    serviceVersion: null,
    hostName: 'edge-9',
    healthy: true,
    capabilities: 0n,
    custom: [],
    seenAgo: 50,
    firstAgo: 300,
  },
];
const byName = new Map<string, { seed: Seed; uid: string }>();
const nameOf = new Map<string, string>();

beforeAll(async () => {
  const config = loadApiConfig({ ...process.env, API_PORT: '0', LOG_LEVEL: 'error' });
  app = await createApiApp(config, { logger: false });
  await app.listen(0, '127.0.0.1');
  base = `http://127.0.0.1:${(app.getHttpServer().address() as { port: number }).port}`;
  prisma = app.get(PrismaService);
  const rows: Prisma.AgentCreateManyInput[] = seeds.map((s) => {
    const uid = uidToString(uuidv7());
    byName.set(s.name, { seed: s, uid });
    nameOf.set(uid, s.name);
    return {
      uid,
      agentType: s.agentType,
      serviceName: s.serviceName,
      serviceVersion: s.serviceVersion,
      hostName: s.hostName,
      healthy: s.healthy,
      capabilities: s.capabilities,
      customCapabilities: s.custom,
      description: { identifying: {}, nonIdentifying: {} },
      labels: { testrun: RUN, name: s.name },
      firstSeenAt: new Date(T0 - s.firstAgo * 1000),
      lastSeenAt: new Date(T0 - s.seenAgo * 1000),
    };
  });
  await prisma.agent.createMany({ data: rows });
});

afterAll(async () => {
  if (prisma) await prisma.$executeRaw`DELETE FROM agents WHERE labels @> ${JSON.stringify({ testrun: RUN })}::jsonb`;
  await app?.close();
});

function names(r: Reply): string[] {
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return (r.body.items as Array<{ uid: string }>).map((i) => nameOf.get(i.uid)!);
}

async function list(params: string): Promise<string[]> {
  return names(await get(`/api/v1/agents?selector=${SELECTOR}&limit=500&${params}`));
}

describe('GET /api/v1/agents: filters', () => {
  it.each([
    ['health=healthy', ['a', 'd', 'e', 'h']],
    ['health=unhealthy', ['b', 'f']],
    ['health=unknown', ['c', 'g']],
    ['health=unhealthy,unknown', ['b', 'c', 'f', 'g']],
    ['health=unknown&health=unhealthy', ['b', 'c', 'f', 'g']],
    ['agentType=otelcol', ['c', 'd']],
    ['agentType=generic,fluentd', ['e', 'f', 'h']],
    ['version=3.2.4', ['a', 'f', 'g']],
    ['version=3.1.0,1.16.2', ['b', 'e']],
    ['capability=AcceptsRestartCommand', ['a', 'd', 'f', 'g']],
    ['capability=AcceptsRestartCommand,AcceptsRemoteConfig', ['a', 'f', 'g']],
    ['capability=ReportsStatus&capability=ReportsHealth', ['a', 'g']],
    ['capability=io.opampcp.simulator.echo', ['b', 'd']],
    ['capability=io.opampcp.simulator.echo,com.example.x', ['d']],
    ['capability=io.opampcp.simulator.echo,AcceptsRestartCommand', ['d']],
    ['agentType=fluentbit&health=healthy&version=3.2.4', ['a']],
  ])('%s', async (params, want) => {
    expect((await list(params)).sort()).toEqual(want);
  });

  it('q: case-insensitive substring of host name, service name or uid; LIKE wildcards are literal', async () => {
    expect((await list('q=WEB-0')).sort()).toEqual(['a', 'b', 'g']);
    expect((await list('q=db_main')).sort()).toEqual(['c']); // "_" is not a wildcard: dbxmain stays out
    expect((await list('q=main')).sort()).toEqual(['c', 'e']);
    expect((await list('q=custom%20agent')).sort()).toEqual(['f']);
    expect((await list('q=otelcol')).sort()).toEqual(['c', 'd']);
    expect(await list('q=%25')).toEqual([]); // "%"
    const uid = byName.get('h')!.uid;
    expect(await list(`q=${uid.slice(19).toUpperCase()}`)).toEqual(['h']);
    expect(await list(`q=${uid}`)).toEqual(['h']);
    expect((await list('q=%20%20')).length).toBe(seeds.length); // blank: no filter
  });

  it('refuses unknown values with a problem naming the parameter and the allowed values', async () => {
    const health = await get('/api/v1/agents?health=sick');
    expectProblem(health, 400, /health: unknown health "sick"; use healthy, unhealthy, unknown/);
    expect(health.body.invalidParams).toEqual([
      { name: 'health', reason: expect.stringMatching(/healthy, unhealthy/) },
    ]);
    expectProblem(
      await get('/api/v1/agents?agentType=fluentbit,vector'),
      400,
      /agentType: unknown agent type "vector"; use fluentbit, fluentd, otelcol, generic/,
    );
    expectProblem(
      await get('/api/v1/agents?capability=AcceptsRestart'),
      400,
      /capability: unknown capability "AcceptsRestart"; use an AgentCapabilities name \(ReportsStatus, AcceptsRemoteConfig, .*AcceptsRestartCommand.*\) or a custom capability in reverse-DNS form/,
    );
    expectProblem(await get('/api/v1/agents?capability=toString'), 400, /capability/);
    expectProblem(await get(`/api/v1/agents?q=${'x'.repeat(257)}`), 400, /q: must be at most 256 characters/);
    expectProblem(await get('/api/v1/agents?q=a&q=b'), 400, /q: must be given at most once/);
    expectProblem(await get(`/api/v1/agents?version=${'1'.repeat(257)}`), 400, /version/);
    expectProblem(
      await get('/api/v1/agents?sort=name'),
      400,
      /sort: unknown sort "name"; use one of uid, lastSeenAt, firstSeenAt, hostName, serviceName, agentType, serviceVersion, with a "-" prefix/,
    );
    expectProblem(await get('/api/v1/agents?sort=--uid'), 400, /sort/);
  });
});

type Field = 'uid' | 'lastSeenAt' | 'firstSeenAt' | 'hostName' | 'serviceName' | 'agentType' | 'serviceVersion';

/** The order the API promises: by value (missing values highest), then uid; all reversed for "-". */
function expectedOrder(field: Field, descending: boolean): string[] {
  const value = (s: Seed, uid: string): string | number | null => {
    switch (field) {
      case 'uid':
        return uid;
      case 'lastSeenAt':
        return -s.seenAgo;
      case 'firstSeenAt':
        return -s.firstAgo;
      default:
        return s[field];
    }
  };
  const cmp = (x: string | number | null, y: string | number | null): number => {
    if (x === y) return 0;
    if (x === null) return 1;
    if (y === null) return -1;
    return x < y ? -1 : 1; // the test database collates "C": code point order, like JS
  };
  const all = [...byName.values()];
  all.sort((p, q) => cmp(value(p.seed, p.uid), value(q.seed, q.uid)) || cmp(p.uid, q.uid));
  if (descending) all.reverse();
  return all.map((x) => x.seed.name);
}

async function walk(params: string, limit: number): Promise<{ seen: string[]; pages: number }> {
  const seen: string[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const r = await get(
      `/api/v1/agents?selector=${SELECTOR}&limit=${limit}&${params}${cursor ? `&cursor=${cursor}` : ''}`,
    );
    seen.push(...names(r));
    cursor = r.body.nextCursor as string | null;
    pages++;
    expect(pages).toBeLessThan(50);
  } while (cursor);
  return { seen, pages };
}

describe('GET /api/v1/agents: sort and keyset pages', () => {
  const fields: Field[] = [
    'uid',
    'lastSeenAt',
    'firstSeenAt',
    'hostName',
    'serviceName',
    'agentType',
    'serviceVersion',
  ];

  it.each(fields.flatMap((f) => [[f], [`-${f}`]]))(
    'sort=%s returns every agent once, in order, at any page size',
    async (sort) => {
      const descending = sort.startsWith('-');
      const want = expectedOrder(sort.replace(/^-/, '') as Field, descending);
      for (const limit of [1, 2, 3, 8, 50]) {
        const { seen, pages } = await walk(`sort=${sort}`, limit);
        expect(seen, `limit ${limit}`).toEqual(want);
        expect(pages).toBe(Math.ceil(seeds.length / limit));
      }
    },
  );

  it('sorts and pages a filtered listing', async () => {
    const { seen } = await walk('sort=-hostName&health=healthy,unknown', 2);
    expect(seen).toEqual(expectedOrder('hostName', true).filter((n) => ['a', 'c', 'd', 'e', 'g', 'h'].includes(n)));
  });

  it('refuses a cursor used with another sort or other filters, and forged cursors', async () => {
    const first = await get(`/api/v1/agents?selector=${SELECTOR}&limit=2&sort=-lastSeenAt`);
    const cursor = first.body.nextCursor as string;
    expect(typeof cursor).toBe('string');
    expect((await get(`/api/v1/agents?selector=${SELECTOR}&limit=2&sort=-lastSeenAt&cursor=${cursor}`)).status).toBe(
      200,
    );
    expectProblem(
      await get(`/api/v1/agents?selector=${SELECTOR}&limit=2&sort=lastSeenAt&cursor=${cursor}`),
      400,
      /the cursor belongs to sort=-lastSeenAt, not sort=lastSeenAt/,
      'urn:opampcp:problem:invalid-cursor',
    );
    expectProblem(
      await get(`/api/v1/agents?selector=${SELECTOR}&limit=2&cursor=${cursor}`),
      400,
      /belongs to sort=-lastSeenAt, not sort=uid/,
    );
    expectProblem(
      await get(`/api/v1/agents?selector=${SELECTOR}&limit=2&sort=-lastSeenAt&q=web&cursor=${cursor}`),
      400,
      /different filters/,
    );
    // A well-formed cursor whose timestamp is not one the API wrote.
    const payload = JSON.parse(Buffer.from(cursor, 'base64url').toString()) as { k: string; q: string };
    const key = JSON.parse(payload.k) as { s: string; v: string; u: string };
    const forged = Buffer.from(JSON.stringify({ ...payload, k: JSON.stringify({ ...key, v: 'yesterday' }) })).toString(
      'base64url',
    );
    expectProblem(
      await get(`/api/v1/agents?selector=${SELECTOR}&limit=2&sort=-lastSeenAt&cursor=${forged}`),
      400,
      /not one this API issued/,
    );
  });
});
