import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import { Injectable, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DATABASE_URL } from '../../../test/support/env.js';
import { DatabaseModule } from './database.module.js';
import { AgentConnectionState } from './generated/prisma/client.js';
import { DatabaseUnavailableError, PrismaService } from './prisma.service.js';

describe('PrismaService', () => {
  let prisma: PrismaService;

  beforeAll(async () => {
    prisma = new PrismaService({ url: DATABASE_URL });
    await prisma.onModuleInit();
  });

  afterAll(async () => {
    await prisma?.onApplicationShutdown();
  });

  it('round-trips an agent with its bigint, json, array and enum columns', async () => {
    const uid = randomUUID();
    const now = new Date();
    await prisma.agent.create({
      data: {
        uid,
        agentType: 'fluentbit',
        serviceName: 'fluent-bit',
        capabilities: 0xffff_ffff_ffffn,
        description: { identifying: { 'service.name': 'fluent-bit' }, nonIdentifying: { 'os.type': 'linux' } },
        customCapabilities: ['io.opamp.chatops'],
        labels: { env: 'prod' },
        firstSeenAt: now,
        lastSeenAt: now,
        events: { create: [{ type: 'connected', at: now, data: { transport: 'ws' } }] },
      },
    });

    const agent = await prisma.agent.findUniqueOrThrow({ where: { uid }, include: { events: true } });
    expect(agent.capabilities).toBe(0xffff_ffff_ffffn);
    expect(agent.connectionState).toBe(AgentConnectionState.connected);
    expect(agent.customCapabilities).toEqual(['io.opamp.chatops']);
    expect(agent.labels).toEqual({ env: 'prod' });
    expect(agent.updatedAt).toBeInstanceOf(Date);
    expect(agent.events).toMatchObject([{ agentUid: uid, type: 'connected', data: { transport: 'ws' } }]);
    expect(typeof agent.events[0]!.id).toBe('bigint');

    // Label selectors use the GIN (jsonb_path_ops) index through @>.
    const byLabel = await prisma.agent.findMany({ where: { labels: { path: ['env'], equals: 'prod' }, uid } });
    expect(byLabel.map((a) => a.uid)).toEqual([uid]);

    // Events go with their agent.
    await prisma.agent.delete({ where: { uid } });
    expect(await prisma.agentEvent.count({ where: { agentUid: uid } })).toBe(0);
  });

  it('reports itself healthy while Postgres answers', async () => {
    expect(await prisma.isHealthy()).toBe(true);
  });

  it('fails fast, with the URL (password hidden) in the message, when Postgres is unreachable', async () => {
    const unreachable = new PrismaService({
      url: 'postgresql://opamp:secret@127.0.0.1:1/opamp',
      connectTimeoutMs: 1_000,
    });
    const started = Date.now();

    const init = unreachable.onModuleInit();

    await expect(init).rejects.toBeInstanceOf(DatabaseUnavailableError);
    await expect(init).rejects.toThrow(/Cannot reach Postgres at postgresql:\/\/opamp:\*\*\*@127\.0\.0\.1:1\/opamp/);
    expect(Date.now() - started).toBeLessThan(10_000);
    await unreachable.$disconnect();
  });

  it('refuses to start without a URL', () => {
    const saved = process.env.DATABASE_URL;
    delete process.env.DATABASE_URL;
    try {
      expect(() => new PrismaService()).toThrow(/DATABASE_URL is not set/);
    } finally {
      if (saved !== undefined) process.env.DATABASE_URL = saved;
    }
  });

  it('is provided application-wide by DatabaseModule and closed with the application', async () => {
    @Injectable()
    class Consumer {
      constructor(readonly prisma: PrismaService) {}
    }
    @Module({ providers: [Consumer] })
    class FeatureModule {}
    @Module({ imports: [DatabaseModule.forRoot({ url: DATABASE_URL }), FeatureModule] })
    class AppModule {}

    const app = await NestFactory.createApplicationContext(AppModule, { logger: false });
    const service = app.get(Consumer).prisma;
    expect(service).toBe(app.get(PrismaService));
    expect(await service.agent.count()).toBeGreaterThanOrEqual(0);
    await app.close();
  });
});
