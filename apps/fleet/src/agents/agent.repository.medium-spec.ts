// The fleet's write-behind upsert against real Postgres: it owns the reported columns but never
// the API-owned `labels` (PUT /api/v1/agents/{uid}/labels), except that a reassigned uid inherits
// the labels of the row it replaces.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PrismaService } from '@opamp/database';
import type { AgentRow } from '@opamp/domain';
import { uidToString, uuidv7 } from '@opamp/protocol';
import { DATABASE_URL } from '../../../../test/support/env.js';
import { AgentRepository } from './agent.repository.js';

let prisma: PrismaService;
let repo: AgentRepository;
const uids: string[] = [];

function row(uid: string, hostName: string, replaces: string | null = null): AgentRow {
  const now = new Date().toISOString();
  return {
    uid,
    agent_type: 'fluentbit',
    service_name: 'fluent-bit',
    service_version: '3.2.0',
    host_name: hostName,
    os_type: 'linux',
    description: { identifying: { 'service.name': 'fluent-bit' }, nonIdentifying: { 'host.name': hostName } },
    capabilities: '3',
    health: null,
    healthy: true,
    effective_config: null,
    remote_config_status: null,
    custom_capabilities: [],
    connection_state: 'connected',
    transport: 'ws',
    sequence_num: '1',
    first_seen_at: now,
    last_seen_at: now,
    disconnected_at: null,
    replaced_by_uid: null,
    replaces_uid: replaces,
  };
}

const newUid = (): string => {
  const uid = uidToString(uuidv7());
  uids.push(uid);
  return uid;
};

beforeAll(async () => {
  prisma = new PrismaService({ url: DATABASE_URL, poolSize: 2 });
  await prisma.onModuleInit();
  repo = new AgentRepository(prisma);
});

afterAll(async () => {
  if (prisma) {
    await prisma.agent.deleteMany({ where: { uid: { in: uids } } });
    await prisma.onApplicationShutdown();
  }
});

describe('AgentRepository.flush and labels', () => {
  it('never overwrites labels set through the API', async () => {
    const uid = newUid();
    await repo.flush([row(uid, 'h1')], []);
    expect((await prisma.agent.findUniqueOrThrow({ where: { uid } })).labels).toEqual({});
    await prisma.$executeRaw`UPDATE agents SET labels = ${JSON.stringify({ env: 'prod' })}::jsonb WHERE uid = ${uid}::uuid`;
    await repo.flush([row(uid, 'h2')], []);
    const after = await prisma.agent.findUniqueOrThrow({ where: { uid } });
    expect(after.hostName).toBe('h2');
    expect(after.labels).toEqual({ env: 'prod' });
  });

  it('gives a reassigned uid the labels of the row it replaces', async () => {
    const old = newUid();
    await repo.flush([row(old, 'h1')], []);
    await prisma.$executeRaw`UPDATE agents SET labels = ${JSON.stringify({ tier: 'edge' })}::jsonb WHERE uid = ${old}::uuid`;
    const successor = newUid();
    await repo.flush([row(successor, 'h1', old)], []);
    expect((await prisma.agent.findUniqueOrThrow({ where: { uid: successor } })).labels).toEqual({ tier: 'edge' });
  });
});
