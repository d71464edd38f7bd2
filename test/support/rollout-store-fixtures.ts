// Rows for rollout tests, written straight to Postgres: configs with versions, and agents with
// the columns the rollout store reads. Every agent carries `testrun=<run>` so a test's selectors
// never see another test's agents.
import { createHash, randomBytes } from 'node:crypto';
import type { Prisma, PrismaClient } from '@opamp/database';
import { uidToString, uuidv7 } from '@opamp/protocol';

export const ACCEPTS_REMOTE_CONFIG = 0x2n;
/** ReportsStatus | AcceptsRemoteConfig | ReportsRemoteConfig (0x1000). */
export const REMOTE_CONFIG_CAPS = 0x1n | 0x2n | 0x1000n;

export interface SeededConfig {
  id: string;
  name: string;
  versions: Array<{ id: bigint; version: number; hash: string }>;
}

/** A config with `versions` versions (fake content; hashes are random 64-hex strings). */
export async function seedConfig(
  prisma: PrismaClient,
  name: string,
  versions = 2,
  agentType = 'fluentbit',
): Promise<SeededConfig> {
  const config = await prisma.config.create({ data: { name, agentType }, select: { id: true } });
  const out: SeededConfig = { id: config.id, name, versions: [] };
  for (let v = 1; v <= versions; v++) {
    const hash = createHash('sha256').update(randomBytes(16)).digest('hex');
    const row = await prisma.configVersion.create({
      data: {
        configId: config.id,
        version: v,
        hash,
        configMap: Buffer.from(`fake config ${name} v${v}`),
        files: [],
        sizeBytes: 0,
      },
      select: { id: true },
    });
    out.versions.push({ id: row.id, version: v, hash });
  }
  return out;
}

export interface AgentSeed {
  labels?: Record<string, string>;
  /** Default fluentbit. */
  agentType?: string;
  capabilities?: bigint;
  /** Default connected. */
  connectionState?: 'connected' | 'disconnected' | 'offline';
  remoteConfigStatus?: { lastRemoteConfigHash: string; status: string } | null;
}

/** Inserts agents (createMany in chunks); returns their uids in order. */
export async function seedAgents(
  prisma: PrismaClient,
  run: string,
  seeds: readonly AgentSeed[],
  chunk = 5_000,
): Promise<string[]> {
  const now = new Date();
  const rows: Prisma.AgentCreateManyInput[] = seeds.map((s) => ({
    uid: uidToString(uuidv7()),
    agentType: s.agentType ?? 'fluentbit',
    description: { identifying: { 'service.name': 'fluent-bit' }, nonIdentifying: {} },
    labels: { testrun: run, ...s.labels },
    capabilities: s.capabilities ?? REMOTE_CONFIG_CAPS,
    remoteConfigStatus: (s.remoteConfigStatus ?? undefined) as Prisma.InputJsonValue | undefined,
    connectionState: s.connectionState ?? 'connected',
    disconnectedAt: (s.connectionState ?? 'connected') === 'connected' ? null : now,
    firstSeenAt: now,
    lastSeenAt: now,
  }));
  for (let i = 0; i < rows.length; i += chunk) {
    await prisma.agent.createMany({ data: rows.slice(i, i + chunk) });
  }
  return rows.map((r) => r.uid);
}

/** Deletes what a run wrote: its rollouts (targets and waves cascade), configs, agents. */
export async function cleanupRun(prisma: PrismaClient, run: string, configNames: readonly string[]): Promise<void> {
  const ids = (await prisma.config.findMany({ where: { name: { in: [...configNames] } }, select: { id: true } })).map(
    (c) => c.id,
  );
  const agents = JSON.stringify({ testrun: run });
  await prisma.$executeRaw`DELETE FROM agent_desired_configs d USING agents a WHERE d.agent_uid = a.uid AND a.labels @> ${agents}::jsonb`;
  await prisma.$executeRaw`DELETE FROM config_quarantine q USING agents a WHERE q.agent_uid = a.uid AND a.labels @> ${agents}::jsonb`;
  if (ids.length > 0) {
    await prisma.rollout.deleteMany({ where: { configId: { in: ids } } });
    await prisma.agentDesiredConfig.deleteMany({ where: { configVersion: { configId: { in: ids } } } });
    await prisma.configVersion.deleteMany({ where: { configId: { in: ids } } });
    await prisma.config.deleteMany({ where: { id: { in: ids } } });
  }
  await prisma.$executeRaw`DELETE FROM agents WHERE labels @> ${agents}::jsonb`;
}
