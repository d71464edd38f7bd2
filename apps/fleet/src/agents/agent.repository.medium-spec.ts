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

function row(uid: string, hostName: string, replaces: string | null = null, tokenId: string | null = null): AgentRow {
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
    enrollment_token_id: tokenId,
  };
}

const tokenIds: string[] = [];

/** An enrollment token row with these labels (the api would create it). */
async function token(labels: Record<string, string>): Promise<string> {
  const id = uidToString(uuidv7());
  tokenIds.push(id);
  await prisma.enrollmentToken.create({
    data: { id, name: 'repository test', secretHash: `test-${id}`, prefix: 'oet_test', labels },
  });
  return id;
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
    await prisma.enrollmentToken.deleteMany({ where: { id: { in: tokenIds } } });
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

describe('AgentRepository.flush and enrollment tokens', () => {
  it('a new agent takes the labels of the token it enrolled with; later flushes never touch them', async () => {
    const tokenId = await token({ env: 'prod', team: 'edge' });
    const uid = newUid();
    await repo.flush([row(uid, 'h1', null, tokenId)], []);
    let stored = await prisma.agent.findUniqueOrThrow({ where: { uid } });
    expect(stored.labels).toEqual({ env: 'prod', team: 'edge' });
    expect(stored.enrollmentTokenId).toBe(tokenId);

    // Labels changed through the API stay; the first token recorded stays too.
    await prisma.$executeRaw`UPDATE agents SET labels = ${JSON.stringify({ env: 'dev' })}::jsonb WHERE uid = ${uid}::uuid`;
    await repo.flush([row(uid, 'h2', null, await token({ other: 'x' }))], []);
    stored = await prisma.agent.findUniqueOrThrow({ where: { uid } });
    expect(stored.labels).toEqual({ env: 'dev' });
    expect(stored.enrollmentTokenId).toBe(tokenId);
  });

  it('an agent known before it presented a token keeps its labels but records the token', async () => {
    const uid = newUid();
    await repo.flush([row(uid, 'h1')], []);
    const tokenId = await token({ env: 'prod' });
    await repo.flush([row(uid, 'h1', null, tokenId)], []);
    const stored = await prisma.agent.findUniqueOrThrow({ where: { uid } });
    expect(stored.labels).toEqual({});
    expect(stored.enrollmentTokenId).toBe(tokenId);
  });

  it('a reassigned uid inherits the replaced row’s labels rather than the token’s', async () => {
    const tokenId = await token({ env: 'prod' });
    const old = newUid();
    await repo.flush([row(old, 'h1', null, tokenId)], []);
    await prisma.$executeRaw`UPDATE agents SET labels = ${JSON.stringify({ env: 'staging' })}::jsonb WHERE uid = ${old}::uuid`;
    const successor = newUid();
    await repo.flush([row(successor, 'h1', old, tokenId)], []);
    const stored = await prisma.agent.findUniqueOrThrow({ where: { uid: successor } });
    expect(stored.labels).toEqual({ env: 'staging' });
    expect(stored.enrollmentTokenId).toBe(tokenId);
  });

  it('a token id that names no token gives empty labels (the row is still written)', async () => {
    const uid = newUid();
    await repo.flush([row(uid, 'h1', null, uidToString(uuidv7()))], []);
    expect((await prisma.agent.findUniqueOrThrow({ where: { uid } })).labels).toEqual({});
  });
});
