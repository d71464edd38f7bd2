// DesiredConfigService against real Postgres and Redis: bulk upserts in batches, one envelope per
// agent on its inbound shard carrying the raw hash and the stored config map, quarantine flags,
// clears and resends, and the caller's transaction.
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BusPublisher,
  StreamKeys,
  connectRedis,
  createRedis,
  decodeInbound,
  envelopeBytes,
  type RawStreamEntry,
} from '@opamp/bus';
import { PrismaService } from '@opamp/database';
import type { InboundEnvelope } from '@opamp/proto';
import { uidToString } from '@opamp/protocol';
import { DATABASE_URL, REDIS_URL } from '../../../test/support/env.js';
import { cleanupRun, seedAgents as seedRows } from '../../../test/support/rollout-store-fixtures.js';
import { ConfigsService } from './configs.service.js';
import { DesiredConfigService } from './desired-config.service.js';

const RUN = randomBytes(4).toString('hex');
const CONFIG = `desired-${RUN}`;
const SHARDS = 4;
const STARTED_MS = Date.now();
/** Every agent this file seeds: their envelopes are removed from the shared streams afterwards. */
const seeded = new Set<string>();

let prisma: PrismaService;
let redis: Redis;
let desired: DesiredConfigService;
let v1: { id: bigint; hash: string };
let v2: { id: bigint; hash: string };

interface Sent {
  uid: string;
  envelope: InboundEnvelope;
  shard: number;
}

/** Envelopes of one command on all inbound shards. */
async function sentFor(commandId: string, sinceMs: number): Promise<Sent[]> {
  const out: Sent[] = [];
  for (let shard = 0; shard < SHARDS; shard++) {
    const entries = (await redis.xrangeBuffer(
      StreamKeys.inbound(shard),
      `${sinceMs}-0`,
      '+',
    )) as unknown as RawStreamEntry[];
    for (const [, fields] of entries) {
      const envelope = decodeInbound(envelopeBytes(fields)!);
      if (envelope.payload.case === 'control' && envelope.payload.value.commandId === commandId) {
        out.push({ uid: uidToString(envelope.instanceUid), envelope, shard });
      }
    }
  }
  return out;
}

async function seedAgents(...args: Parameters<typeof seedRows>): Promise<string[]> {
  const uids = await seedRows(...args);
  for (const u of uids) seeded.add(u);
  return uids;
}

function desiredOf(s: Sent): { hash: string; configMap: Buffer; clearQuarantine: boolean } {
  const p = s.envelope.payload;
  if (p.case !== 'control' || p.value.command.case !== 'desiredConfig') throw new Error('not a desired config command');
  const dc = p.value.command.value;
  return {
    hash: Buffer.from(dc.configHash).toString('hex'),
    configMap: Buffer.from(dc.configMap),
    clearQuarantine: dc.clearQuarantine,
  };
}

beforeAll(async () => {
  prisma = new PrismaService({ url: DATABASE_URL, poolSize: 4 });
  await prisma.onModuleInit();
  redis = createRedis(REDIS_URL, { name: 'desired-config-medium-spec' });
  await connectRedis(redis, REDIS_URL);
  desired = new DesiredConfigService({ prisma, publisher: new BusPublisher(redis, SHARDS), batchSize: 1000 });
  const configs = new ConfigsService({ prisma });
  await configs.create({ name: CONFIG, agentType: 'generic' });
  const file = (content: string) => [{ name: 'app.conf', contentType: 'text/plain', content }];
  v1 = (await configs.addVersion(CONFIG, file('one'))).version;
  v2 = (await configs.addVersion(CONFIG, file('two'))).version;
});

/** Deletes this file's envelopes, so tests that consume the inbound streams never see them. */
async function purgeEnvelopes(): Promise<void> {
  for (let shard = 0; shard < SHARDS; shard++) {
    const key = StreamKeys.inbound(shard);
    const entries = (await redis.xrangeBuffer(key, `${STARTED_MS}-0`, '+')) as unknown as RawStreamEntry[];
    const ours = entries
      .filter(([, fields]) => seeded.has(uidToString(decodeInbound(envelopeBytes(fields)!).instanceUid)))
      .map(([id]) => id);
    for (let i = 0; i < ours.length; i += 500) await redis.xdel(key, ...ours.slice(i, i + 500));
  }
}

afterAll(async () => {
  if (redis) await purgeEnvelopes();
  if (prisma) {
    await cleanupRun(prisma, RUN, [CONFIG]);
    await prisma.onApplicationShutdown();
  }
  redis?.disconnect();
});

describe('DesiredConfigService', () => {
  it('assigns 2,500 agents in batches: one row and one envelope per agent, on its shard', async () => {
    const uids = await seedAgents(
      prisma,
      RUN,
      Array.from({ length: 2500 }, () => ({})),
    );
    const since = Date.now() - 1;
    const publisher = new BusPublisher(redis, SHARDS);
    // Duplicates in the input are assigned once.
    const result = await desired.assign([...uids, uids[0]!.toUpperCase()], v1.id, 'rollout', null);
    expect(result).toMatchObject({ agents: 2500, hash: v1.hash, quarantineCleared: 0 });

    const rows = await prisma.agentDesiredConfig.findMany({ where: { agentUid: { in: uids } } });
    expect(rows).toHaveLength(2500);
    expect(new Set(rows.map((r) => `${r.configVersionId}/${r.hash}/${r.source}`))).toEqual(
      new Set([`${v1.id}/${v1.hash}/rollout`]),
    );

    const sent = await sentFor(result.commandId, since);
    expect(sent).toHaveLength(2500);
    expect(new Set(sent.map((s) => s.uid))).toEqual(new Set(uids));
    const stored = await prisma.configVersion.findUniqueOrThrow({ where: { id: v1.id } });
    for (const s of sent) {
      expect(s.shard).toBe(publisher.shardFor(s.envelope.instanceUid));
      const d = desiredOf(s);
      expect(d.hash).toBe(v1.hash);
      expect(
        s.envelope.payload.case === 'control' &&
          s.envelope.payload.value.command.case === 'desiredConfig' &&
          s.envelope.payload.value.command.value.configHash.length,
      ).toBe(32);
      expect(d.configMap.equals(Buffer.from(stored.configMap))).toBe(true);
      expect(d.clearQuarantine).toBe(false);
    }

    // A second assignment replaces the row (upsert) and records the rollout.
    const rolloutId = '01900000-0000-7000-8000-000000000001';
    await desired.assign(uids.slice(0, 3), v2.id, 'rollback', rolloutId);
    const updated = await prisma.agentDesiredConfig.findMany({ where: { agentUid: { in: uids.slice(0, 3) } } });
    expect(updated.map((r) => [r.hash, r.source, r.rolloutId])).toEqual(
      Array(3).fill([v2.hash, 'rollback', rolloutId]),
    );
  });

  it('sends clear_quarantine when asked (marking the entries cleared) and for hashes a person cleared before', async () => {
    const [a, b, c] = await seedAgents(prisma, RUN, [{}, {}, {}]);
    await prisma.configQuarantine.createMany({
      data: [
        { agentUid: a!, hash: v2.hash, errorMessage: 'bad' },
        { agentUid: b!, hash: v2.hash, errorMessage: 'bad', clearedAt: new Date() },
      ],
    });
    const since = Date.now() - 1;
    const plain = await desired.assign([a!, b!, c!], v2.id, 'assignment');
    const flags = new Map((await sentFor(plain.commandId, since)).map((s) => [s.uid, desiredOf(s).clearQuarantine]));
    expect(Object.fromEntries(flags)).toEqual({ [a!]: false, [b!]: true, [c!]: false });
    expect(plain.quarantineCleared).toBe(1);

    const lifted = await desired.assign([a!], v2.id, 'assignment', null, { clearQuarantine: true });
    expect(lifted.quarantineCleared).toBe(1);
    expect((await sentFor(lifted.commandId, since)).map((s) => desiredOf(s).clearQuarantine)).toEqual([true]);
    const q = await prisma.configQuarantine.findUniqueOrThrow({
      where: { agentUid_hash: { agentUid: a!, hash: v2.hash } },
    });
    expect(q.clearedAt).not.toBeNull();
  });

  it('clears (empty hash) and resends the current desired config unchanged', async () => {
    const [a, b] = await seedAgents(prisma, RUN, [{}, {}]);
    await desired.assign([a!], v1.id, 'assignment');
    const before = await prisma.agentDesiredConfig.findUniqueOrThrow({ where: { agentUid: a! } });
    const since = Date.now() - 1;

    const resent = await desired.resend([a!, b!], { clearQuarantine: true });
    expect(resent.agents).toBe(1);
    const r = await sentFor(resent.commandId, since);
    expect(r.map((s) => [s.uid, desiredOf(s).hash, desiredOf(s).clearQuarantine])).toEqual([[a!, v1.hash, true]]);
    expect((await prisma.agentDesiredConfig.findUniqueOrThrow({ where: { agentUid: a! } })).assignedAt).toEqual(
      before.assignedAt,
    );

    const cleared = await desired.clear([a!, b!]);
    expect(cleared).toMatchObject({ agents: 2, removed: 1 });
    const c = await sentFor(cleared.commandId, since);
    expect(c.map((s) => [desiredOf(s).hash, desiredOf(s).configMap.length]).sort()).toEqual([
      ['', 0],
      ['', 0],
    ]);
    expect(await prisma.agentDesiredConfig.count({ where: { agentUid: { in: [a!, b!] } } })).toBe(0);
  });

  it("runs in the caller's transaction: a rollback undoes the rows", async () => {
    const [a] = await seedAgents(prisma, RUN, [{}]);
    await expect(
      prisma.$transaction(async (tx) => {
        await desired.assign([a!], v1.id, 'rollout', null, { db: tx });
        expect(await tx.agentDesiredConfig.count({ where: { agentUid: a! } })).toBe(1);
        throw new Error('step failed');
      }),
    ).rejects.toThrow('step failed');
    expect(await prisma.agentDesiredConfig.count({ where: { agentUid: a! } })).toBe(0);
  });

  it('refuses what is not an agent uid and an unknown version', async () => {
    await expect(desired.assign(['nope'], v1.id, 'assignment')).rejects.toThrow(/not an agent uid/);
    await expect(desired.assign([], 999_999_999n, 'assignment')).rejects.toThrow(/does not exist/);
  });
});
