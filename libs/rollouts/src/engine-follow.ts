// Follow new agents (docs/rollouts.md "Follow new agents"): a completed rollout with
// followNewAgents keeps its promise to the agents that appear later. Run by the worker's sweep.
import { Prisma, selectorToSql, type PrismaClient } from '@opamp/database';
import { parseLabelSelector, rolloutStages, type RolloutStrategy } from '@opamp/domain';
import type { DesiredConfigWriter } from './engine.js';
import { ACCEPTS_REMOTE_CONFIG } from './engine-reconcile.js';

export interface FollowOptions {
  prisma: PrismaClient;
  desired: DesiredConfigWriter;
  /** Transaction timeout per rollout (ms). Default 30 s. */
  transactionTimeoutMs?: number;
}

export interface FollowedRollout {
  rolloutId: string;
  /** Agents given the rollout's version by this pass. */
  agents: number;
}

interface FollowRow {
  id: string;
  selector: string;
  strategy: RolloutStrategy;
  startedAt: Date | null;
  finishedAt: Date;
  versionId: bigint;
  hash: string;
}

/**
 * One pass over the completed rollouts that follow new agents, newest first (so where two overlap,
 * the newest wins: once it assigned an agent, that agent's desired config is newer than the older
 * rollout's completion). For each, the agents that:
 *
 *   - were first seen after the rollout started and match its selector (and one of its stages);
 *   - accept remote config, are in no active rollout and not quarantined for the hash;
 *   - do not have this version as their desired config already, and whose desired config was not
 *     set after the rollout completed (a later decision wins over following);
 *   - were not one of the rollout's own targets (those were decided at creation),
 *
 * get the rollout's version as desired config (source `follow`), at most maxRestartsPerSecond per
 * rollout per pass. Each rollout is handled under a transaction-scoped advisory lock, so two
 * workers sweeping at once do not both assign.
 */
export async function followNewAgents(options: FollowOptions): Promise<FollowedRollout[]> {
  const { prisma } = options;
  const rollouts = await prisma.$queryRaw<FollowRow[]>`
    SELECT r.id::text AS id, r.selector, r.strategy, r.started_at AS "startedAt", r.finished_at AS "finishedAt",
           r.config_version_id AS "versionId", v.hash
    FROM rollouts r JOIN config_versions v ON v.id = r.config_version_id
    WHERE r.state = 'completed' AND r.follow_new_agents AND r.finished_at IS NOT NULL
    ORDER BY r.finished_at DESC, r.id DESC`;
  const out: FollowedRollout[] = [];
  for (const r of rollouts) {
    const n = await prisma.$transaction(
      async (tx) => {
        const [lock] = await tx.$queryRaw<Array<{ locked: boolean }>>`
          SELECT pg_try_advisory_xact_lock(hashtext(${`opamp:rollout-follow:${r.id}`})) AS locked`;
        if (!lock?.locked) return 0;
        const uids = await candidates(tx, r);
        if (uids.length > 0) await options.desired.assign(uids, r.versionId, 'follow', r.id, { db: tx });
        return uids.length;
      },
      { timeout: options.transactionTimeoutMs ?? 30_000, maxWait: 10_000 },
    );
    if (n > 0) out.push({ rolloutId: r.id, agents: n });
  }
  return out;
}

async function candidates(tx: Prisma.TransactionClient, r: FollowRow): Promise<string[]> {
  const selector = selectorToSql(parseLabelSelector(r.selector));
  const stages = r.strategy.stages.length > 0 ? rolloutStages(r.strategy) : [];
  const inStage =
    stages.length > 0
      ? Prisma.sql`(${Prisma.join(
          stages.map((s) => Prisma.sql`(${selectorToSql(parseLabelSelector(s.selector))})`),
          ' OR ',
        )})`
      : Prisma.sql`TRUE`;
  const since = r.startedAt ?? r.finishedAt;
  const limit = Math.max(1, r.strategy.maxRestartsPerSecond ?? 100);
  const rows = await tx.$queryRaw<Array<{ uid: string }>>`
    SELECT a.uid::text AS uid FROM agents a
    WHERE a.replaced_by_uid IS NULL AND a.first_seen_at > ${since}::timestamptz
      AND ${selector} AND ${inStage}
      AND (a.capabilities & ${ACCEPTS_REMOTE_CONFIG}) <> 0
      AND NOT EXISTS (SELECT 1 FROM rollout_targets t WHERE t.agent_uid = a.uid AND (t.active OR t.rollout_id = ${r.id}::uuid))
      AND NOT EXISTS (SELECT 1 FROM config_quarantine q
                      WHERE q.agent_uid = a.uid AND q.hash = ${r.hash} AND q.cleared_at IS NULL)
      AND NOT EXISTS (SELECT 1 FROM agent_desired_configs d
                      WHERE d.agent_uid = a.uid
                        AND (d.config_version_id = ${r.versionId} OR d.assigned_at > ${r.finishedAt}::timestamptz))
    ORDER BY a.first_seen_at, a.uid
    LIMIT ${limit}`;
  return rows.map((x) => x.uid);
}
