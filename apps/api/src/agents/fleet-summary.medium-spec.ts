// GET /api/v1/fleet/summary against real Postgres: agents and desired configs inserted directly,
// in every drift category, counted through a selector of this run's label (other tests' agents
// stay out of the figures).
import { randomBytes } from 'node:crypto';
import type { INestApplication } from '@nestjs/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PrismaService, type Prisma } from '@opamp/database';
import { uidToString, uuidv7 } from '@opamp/protocol';
import { loadApiConfig } from '../api.config.js';
import { createApiApp } from '../bootstrap.js';
import { expectProblem, httpClient } from '../testing/http.js';

const RUN = randomBytes(4).toString('hex');
const CONFIG = `summary-${RUN}`;
const D = 'd1'.repeat(32);
const E = 'e2'.repeat(32);

let app: INestApplication;
let base: string;
let prisma: PrismaService;
const { get } = httpClient(() => base);

interface Seed {
  state: 'connected' | 'disconnected' | 'offline';
  healthy: boolean | null;
  agentType: string;
  serviceName: string | null;
  serviceVersion: string | null;
  effective: string | null;
  reported: { hash: string; status: string } | null;
  desired: string | null;
  replaced?: boolean;
}

// The drift category each one is in is in the comment.
const seeds: Seed[] = [
  // inSync: APPLIED for the desired hash, effective = desired
  {
    state: 'connected',
    healthy: true,
    agentType: 'fluentbit',
    serviceName: 'fluent-bit',
    serviceVersion: '3.2.4',
    effective: D,
    reported: { hash: D, status: 'APPLIED' },
    desired: D,
  },
  // effectiveDiffers: APPLIED for the desired hash, effective is another config
  {
    state: 'connected',
    healthy: false,
    agentType: 'fluentbit',
    serviceName: 'fluent-bit',
    serviceVersion: '3.2.4',
    effective: E,
    reported: { hash: D, status: 'APPLIED' },
    desired: D,
  },
  // applyFailed: FAILED for the desired hash
  {
    state: 'disconnected',
    healthy: true,
    agentType: 'fluentbit',
    serviceName: 'fluent-bit',
    serviceVersion: '3.1.0',
    effective: E,
    reported: { hash: D, status: 'FAILED' },
    desired: D,
  },
  // pendingApply: last reported about another hash
  {
    state: 'offline',
    healthy: null,
    agentType: 'otelcol',
    serviceName: 'otelcol-contrib',
    serviceVersion: '0.110.0',
    effective: E,
    reported: { hash: E, status: 'APPLIED' },
    desired: D,
  },
  // pendingApply: APPLYING the desired hash
  {
    state: 'connected',
    healthy: true,
    agentType: 'otelcol',
    serviceName: 'otelcol-contrib',
    serviceVersion: '0.110.0',
    effective: null,
    reported: { hash: D, status: 'APPLYING' },
    desired: D,
  },
  // inSync: reports no remote config status, but runs the desired config
  {
    state: 'connected',
    healthy: true,
    agentType: 'generic',
    serviceName: null,
    serviceVersion: null,
    effective: D,
    reported: null,
    desired: D,
  },
  // pendingApply: no remote config status, effective is another config
  {
    state: 'connected',
    healthy: true,
    agentType: 'generic',
    serviceName: null,
    serviceVersion: null,
    effective: E,
    reported: null,
    desired: D,
  },
  // noDesired
  {
    state: 'connected',
    healthy: true,
    agentType: 'fluentbit',
    serviceName: 'fluent-bit',
    serviceVersion: '3.2.4',
    effective: E,
    reported: { hash: E, status: 'APPLIED' },
    desired: null,
  },
  // superseded by a new uid: never counted
  {
    state: 'connected',
    healthy: true,
    agentType: 'fluentd',
    serviceName: 'fluentd',
    serviceVersion: '1.0',
    effective: D,
    reported: null,
    desired: D,
    replaced: true,
  },
];

beforeAll(async () => {
  const config = loadApiConfig({ ...process.env, API_PORT: '0', LOG_LEVEL: 'error' });
  app = await createApiApp(config, { logger: false });
  await app.listen(0, '127.0.0.1');
  base = `http://127.0.0.1:${(app.getHttpServer().address() as { port: number }).port}`;
  prisma = app.get(PrismaService);
  const cfg = await prisma.config.create({ data: { name: CONFIG, agentType: 'generic' } });
  const version = await prisma.configVersion.create({
    data: { configId: cfg.id, version: 1, hash: D, configMap: Buffer.alloc(0), files: [], sizeBytes: 0 },
  });
  const now = new Date();
  for (const s of seeds) {
    const uid = uidToString(uuidv7());
    await prisma.agent.create({
      data: {
        uid,
        agentType: s.agentType,
        serviceName: s.serviceName,
        serviceVersion: s.serviceVersion,
        healthy: s.healthy,
        connectionState: s.state,
        effectiveConfig: s.effective ? { hash: s.effective, configMap: {} } : undefined,
        remoteConfigStatus: s.reported
          ? ({
              lastRemoteConfigHash: s.reported.hash,
              status: s.reported.status,
              errorMessage: '',
            } as Prisma.InputJsonObject)
          : undefined,
        labels: { testrun: RUN },
        replacedByUid: s.replaced ? uidToString(uuidv7()) : null,
        firstSeenAt: now,
        lastSeenAt: now,
      },
    });
    if (s.desired) {
      await prisma.agentDesiredConfig.create({
        data: { agentUid: uid, configVersionId: version.id, hash: s.desired, source: 'assignment' },
      });
    }
  }
});

afterAll(async () => {
  if (prisma) {
    await prisma.$executeRaw`DELETE FROM agent_desired_configs d USING agents a
      WHERE d.agent_uid = a.uid AND a.labels @> ${JSON.stringify({ testrun: RUN })}::jsonb`;
    await prisma.$executeRaw`DELETE FROM agents WHERE labels @> ${JSON.stringify({ testrun: RUN })}::jsonb`;
    await prisma.configVersion.deleteMany({ where: { config: { name: CONFIG } } });
    await prisma.config.deleteMany({ where: { name: CONFIG } });
  }
  await app?.close();
});

describe('GET /api/v1/fleet/summary', () => {
  it('counts by status, health, type, version, effective config hash and drift category', async () => {
    const r = await get(`/api/v1/fleet/summary?selector=${encodeURIComponent(`testrun=${RUN}`)}&top=2`);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body).toEqual({
      total: 8,
      status: { connected: 6, disconnected: 1, offline: 1 },
      health: { healthy: 6, unhealthy: 1, unknown: 1 },
      agentTypes: { fluentbit: 4, otelcol: 2, generic: 2 },
      versions: {
        top: [
          { serviceName: 'fluent-bit', serviceVersion: '3.2.4', count: 3 },
          { serviceName: 'otelcol-contrib', serviceVersion: '0.110.0', count: 2 },
        ],
        other: 3,
        distinct: 4,
      },
      configHashes: {
        top: [
          { hash: E, count: 5 },
          { hash: D, count: 2 },
        ],
        other: 0,
        none: 1,
        distinct: 2,
      },
      drift: { inSync: 2, pendingApply: 3, applyFailed: 1, effectiveDiffers: 1, noDesired: 1 },
      generatedAt: expect.stringMatching(/Z$/),
    });
  });

  it('lists at most `top` versions and hashes; the rest is "other"', async () => {
    const r = await get(`/api/v1/fleet/summary?selector=${encodeURIComponent(`testrun=${RUN}`)}&top=1`);
    expect(r.body.versions).toEqual({
      top: [{ serviceName: 'fluent-bit', serviceVersion: '3.2.4', count: 3 }],
      other: 5,
      distinct: 4,
    });
    expect(r.body.configHashes).toEqual({ top: [{ hash: E, count: 5 }], other: 2, none: 1, distinct: 2 });
  });

  it('narrows to a selector; an empty match is all zeros', async () => {
    const r = await get(`/api/v1/fleet/summary?selector=${encodeURIComponent(`testrun=${RUN},nothing=here`)}`);
    expect(r.body).toMatchObject({
      total: 0,
      status: { connected: 0, disconnected: 0, offline: 0 },
      drift: { inSync: 0, pendingApply: 0, applyFailed: 0, effectiveDiffers: 0, noDesired: 0 },
      versions: { top: [], other: 0, distinct: 0 },
      configHashes: { top: [], other: 0, none: 0, distinct: 0 },
    });
  });

  it('covers the whole fleet without a selector, each dimension adding up to the total', async () => {
    const r = await get('/api/v1/fleet/summary');
    expect(r.status).toBe(200);
    const total = r.body.total as number;
    expect(total).toBeGreaterThanOrEqual(8);
    const sum = (o: unknown): number => Object.values(o as Record<string, number>).reduce((a, b) => a + b, 0);
    expect(sum(r.body.status)).toBe(total);
    expect(sum(r.body.health)).toBe(total);
    expect(sum(r.body.agentTypes)).toBe(total);
    expect(sum(r.body.drift)).toBe(total);
  });

  it('refuses a bad selector or top', async () => {
    expectProblem(await get('/api/v1/fleet/summary?selector=a%20b'), 400, /selector/);
    for (const bad of ['0', '101', 'x', '1.5']) {
      expectProblem(await get(`/api/v1/fleet/summary?top=${bad}`), 400, /top: must be an integer between 1 and 100/);
    }
  });
});
