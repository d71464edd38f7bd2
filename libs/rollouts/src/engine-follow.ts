// Follow new agents (docs/rollouts.md "Follow new agents"): a completed rollout with
// followNewAgents keeps its promise to the agents that appear later, and to its own targets that
// were offline when their wave was sent, once they are back. Run by the worker's sweep.
import { Prisma, selectorToSql, type PrismaClient } from '@opamp/database';
import {
  GENERIC_AGENT_TYPE,
  OFFLINE_AT_SEND,
  parseLabelSelector,
  rolloutStages,
  type RolloutStrategy,
} from '@opamp/domain';
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
  /** Agents given the rollout's version by this pass (newAgents + returning). */
  agents: number;
  /** Agents first seen after the rollout started. */
  newAgents: number;
  /** The rollout's own targets skipped as `offline at send`, connected again. */
  returning: number;
}

/** `detail` of an `offline at send` target once follow-new-agents gave it the config. */
export const FOLLOWED_AFTER_OFFLINE = `${OFFLINE_AT_SEND}; given the config when it was connected again`;

interface FollowRow {
  id: string;
  selector: string;
  strategy: RolloutStrategy;
  startedAt: Date | null;
  finishedAt: Date;
  versionId: bigint;
  hash: string;
  /** The config's agent type. */
  agentType: string;
}

/**
 * One pass over the completed rollouts that follow new agents, newest first (so where two overlap,
 * the newest wins: once it assigned an agent, that agent's desired config is newer than the older
 * rollout's completion). For each, two kinds of agents get the rollout's version as desired config
 * (source `follow`):
 *
 *   - returning: the rollout's own targets skipped as `offline at send` whose agent is connected
 *     again, whose desired config was not changed since the skip (someone else decided), and that
 *     still match the selector (and a stage) and the config's agent type, accept remote config,
 *     are in no active rollout and not quarantined for the hash. Their `detail` then says so
 *     (FOLLOWED_AFTER_OFFLINE), which also takes them out of the next passes;
 *   - new: agents first seen after the rollout started that match its selector (and one of its
 *     stages) and the config's agent type, accept remote config, are in no active rollout, not
 *     quarantined for the hash, were not one of the rollout's own targets (those were decided at
 *     creation), do not have this version as desired config already, and whose desired config was
 *     not set after the rollout completed (a later decision wins over following);
 *
 * at most maxRestartsPerSecond per rollout per pass (returning ones first). Each rollout is handled
 * under a transaction-scoped advisory lock, so two workers sweeping at once do not both assign.
 */
export async function followNewAgents(options: FollowOptions): Promise<FollowedRollout[]> {
  const { prisma } = options;
  const rollouts = await prisma.$queryRaw<FollowRow[]>`
    SELECT r.id::text AS id, r.selector, r.strategy, r.started_at AS "startedAt", r.finished_at AS "finishedAt",
           r.config_version_id AS "versionId", v.hash, c.agent_type AS "agentType"
    FROM rollouts r JOIN config_versions v ON v.id = r.config_version_id JOIN configs c ON c.id = r.config_id
    WHERE r.state = 'completed' AND r.follow_new_agents AND r.finished_at IS NOT NULL
    ORDER BY r.finished_at DESC, r.id DESC`;
  const out: FollowedRollout[] = [];
  for (const r of rollouts) {
    const n = await prisma.$transaction(
      async (tx) => {
        const [lock] = await tx.$queryRaw<Array<{ locked: boolean }>>`
          SELECT pg_try_advisory_xact_lock(hashtext(${`opamp:rollout-follow:${r.id}`})) AS locked`;
        if (!lock?.locked) return { newAgents: 0, returning: 0 };
        const limit = Math.max(1, r.strategy.maxRestartsPerSecond ?? 100);
        const match = agentMatch(r);
        const returning = await returningTargets(tx, r, match, limit);
        const fresh = returning.length < limit ? await newAgents(tx, r, match, limit - returning.length) : [];
        const uids = [...returning, ...fresh];
        if (uids.length > 0) await options.desired.assign(uids, r.versionId, 'follow', r.id, { db: tx });
        if (returning.length > 0) {
          await tx.$executeRaw`
            UPDATE rollout_targets SET detail = ${FOLLOWED_AFTER_OFFLINE}, dispatched_at = now()
            WHERE rollout_id = ${r.id}::uuid AND agent_uid = ANY(${returning}::uuid[])`;
        }
        return { newAgents: fresh.length, returning: returning.length };
      },
      { timeout: options.transactionTimeoutMs ?? 30_000, maxWait: 10_000 },
    );
    const agents = n.newAgents + n.returning;
    if (agents > 0) out.push({ rolloutId: r.id, agents, ...n });
  }
  return out;
}

/**
 * What an agent `a` must be to be given the rollout's version by following: matched by its
 * selector and one of its stages, of the config's agent type (any for a generic config), accepting
 * remote config, in no active rollout, not quarantined for the hash.
 */
function agentMatch(r: FollowRow): Prisma.Sql {
  const selector = selectorToSql(parseLabelSelector(r.selector));
  const stages = r.strategy.stages.length > 0 ? rolloutStages(r.strategy) : [];
  const inStage =
    stages.length > 0
      ? Prisma.sql`(${Prisma.join(
          stages.map((s) => Prisma.sql`(${selectorToSql(parseLabelSelector(s.selector))})`),
          ' OR ',
        )})`
      : Prisma.sql`TRUE`;
  const ofType = r.agentType === GENERIC_AGENT_TYPE ? Prisma.sql`TRUE` : Prisma.sql`a.agent_type = ${r.agentType}`;
  return Prisma.sql`a.replaced_by_uid IS NULL AND ${selector} AND ${inStage} AND ${ofType}
      AND (a.capabilities & ${ACCEPTS_REMOTE_CONFIG}) <> 0
      AND NOT EXISTS (SELECT 1 FROM rollout_targets o WHERE o.agent_uid = a.uid AND o.active)
      AND NOT EXISTS (SELECT 1 FROM config_quarantine q
                      WHERE q.agent_uid = a.uid AND q.hash = ${r.hash} AND q.cleared_at IS NULL)`;
}

/**
 * The rollout's targets skipped as `offline at send` whose agent is connected again and whose
 * desired config nobody changed since the skip. Reads the rollout's skipped targets through
 * rollout_targets (rollout_id, wave_index, state), then each one's agent by primary key.
 */
async function returningTargets(
  tx: Prisma.TransactionClient,
  r: FollowRow,
  match: Prisma.Sql,
  limit: number,
): Promise<string[]> {
  const rows = await tx.$queryRaw<Array<{ uid: string }>>`
    SELECT a.uid::text AS uid
    FROM rollout_targets t JOIN agents a ON a.uid = t.agent_uid
    WHERE t.rollout_id = ${r.id}::uuid AND t.state = 'skipped' AND t.detail = ${OFFLINE_AT_SEND}
      AND a.connection_state = 'connected' AND ${match}
      AND NOT EXISTS (SELECT 1 FROM agent_desired_configs d
                      WHERE d.agent_uid = a.uid
                        AND (d.config_version_id = ${r.versionId} OR d.assigned_at > t.resolved_at))
    ORDER BY a.uid
    LIMIT ${limit}`;
  return rows.map((x) => x.uid);
}

/** Agents first seen after the rollout started (agents_first_seen_at_uid_idx walks them in order). */
async function newAgents(
  tx: Prisma.TransactionClient,
  r: FollowRow,
  match: Prisma.Sql,
  limit: number,
): Promise<string[]> {
  const since = r.startedAt ?? r.finishedAt;
  const rows = await tx.$queryRaw<Array<{ uid: string }>>`
    SELECT a.uid::text AS uid FROM agents a
    WHERE a.first_seen_at > ${since}::timestamptz AND ${match}
      AND NOT EXISTS (SELECT 1 FROM rollout_targets t WHERE t.agent_uid = a.uid AND t.rollout_id = ${r.id}::uuid)
      AND NOT EXISTS (SELECT 1 FROM agent_desired_configs d
                      WHERE d.agent_uid = a.uid
                        AND (d.config_version_id = ${r.versionId} OR d.assigned_at > ${r.finishedAt}::timestamptz))
    ORDER BY a.first_seen_at, a.uid
    LIMIT ${limit}`;
  return rows.map((x) => x.uid);
}
