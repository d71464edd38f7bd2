// Reconciliation of a rollout's targets with what agents report (docs/rollouts.md "The worker's
// step"). Runs at the start of every step, inside the step's transaction, as a few set-based
// statements over `rollout_targets` joined with `agents` (the fleet's write-behind): never a round
// trip per agent.
import { Prisma } from '@opamp/database';

/** ReportsRemoteConfig bit of AgentCapabilities: agents without it never report APPLIED/FAILED. */
export const REPORTS_REMOTE_CONFIG = 0x1000;
/** AcceptsRemoteConfig bit of AgentCapabilities. */
export const ACCEPTS_REMOTE_CONFIG = 0x2;

/** Longest agent error message kept in `rollout_targets.detail` and `config_quarantine`. */
export const MAX_DETAIL_LENGTH = 500;

/**
 * `detail` of a target sent while the agent still reported FAILED for the hash (a person lifted
 * the quarantine): that stale FAILED must not fail the new attempt, only a report written after the
 * send does.
 */
export const RETRY_DETAIL = 'sent again after its quarantine was lifted';

type Tx = Prisma.TransactionClient;

export interface ReconcileCounts {
  applied: number;
  failed: number;
  timedOut: number;
  /** Applied targets that turned unhealthy, or went offline after the send, while their wave soaked. */
  unhealthy: number;
  /** Targets whose agent row disappeared (forgotten through the api). */
  forgotten: number;
  /** Rollback sends that resolved (restored, failed or timed out). */
  restored: number;
}

export const emptyReconcileCounts = (): ReconcileCounts => ({
  applied: 0,
  failed: 0,
  timedOut: 0,
  unhealthy: 0,
  forgotten: 0,
  restored: 0,
});

export function reconciledAnything(c: ReconcileCounts): boolean {
  return Object.values(c).some((n) => n > 0);
}

export interface ReconcileInput {
  rolloutId: string;
  /** The rollout's target hash. */
  hash: string;
  applyTimeoutSeconds: number;
  now: Date;
  /** The current forward wave while it waits or soaks (its applied targets must stay healthy). */
  soakingWave: number | null;
  /** Whether rollback sends are in flight (rolling_back). */
  rollingBack: boolean;
}

/**
 * Resolves the rollout's `applying` targets from the agents' reports, times out the silent ones,
 * fails applied targets of the soaking wave that turned unhealthy or went offline after they were
 * sent the config, records every FAILED in `config_quarantine`, and (rolling back) resolves the
 * rollback sends the same way.
 */
export async function reconcileTargets(tx: Tx, r: ReconcileInput): Promise<ReconcileCounts> {
  const out = emptyReconcileCounts();
  const id = r.rolloutId;
  const deadline = new Date(r.now.getTime() - r.applyTimeoutSeconds * 1000);

  out.forgotten += await tx.$executeRaw`
    UPDATE rollout_targets t SET state = 'skipped', detail = 'agent forgotten', resolved_at = ${r.now}::timestamptz
    WHERE t.rollout_id = ${id}::uuid AND t.state = 'applying'
      AND NOT EXISTS (SELECT 1 FROM agents a WHERE a.uid = t.agent_uid)`;

  out.applied += await tx.$executeRaw`
    UPDATE rollout_targets t SET state = 'applied', resolved_at = ${r.now}::timestamptz, detail = NULL
    FROM agents a
    WHERE t.rollout_id = ${id}::uuid AND t.state = 'applying' AND a.uid = t.agent_uid
      AND a.remote_config_status ->> 'lastRemoteConfigHash' = ${r.hash}
      AND a.remote_config_status ->> 'status' = 'APPLIED'`;

  // FAILED for the target hash: the target fails and the hash is quarantined for the agent (a
  // quarantine a person lifted earlier comes back: the agent failed again).
  const failed = await tx.$queryRaw<Array<{ n: number }>>`
    WITH f AS (
      UPDATE rollout_targets t SET state = 'failed', resolved_at = ${r.now}::timestamptz,
        detail = left(COALESCE(NULLIF(a.remote_config_status ->> 'errorMessage', ''), 'the agent reported FAILED'), ${MAX_DETAIL_LENGTH}::int)
      FROM agents a
      WHERE t.rollout_id = ${id}::uuid AND t.state = 'applying' AND a.uid = t.agent_uid
        AND a.remote_config_status ->> 'lastRemoteConfigHash' = ${r.hash}
        AND a.remote_config_status ->> 'status' = 'FAILED'
        AND (t.detail IS DISTINCT FROM ${RETRY_DETAIL} OR a.updated_at > t.dispatched_at)
      RETURNING t.agent_uid, t.detail
    ), q AS (
      INSERT INTO config_quarantine AS c (agent_uid, hash, error_message, reported_at, rollout_id)
      SELECT f.agent_uid, ${r.hash}, f.detail, ${r.now}::timestamptz, ${id}::uuid FROM f
      ON CONFLICT (agent_uid, hash) DO UPDATE SET
        error_message = EXCLUDED.error_message, reported_at = EXCLUDED.reported_at,
        cleared_at = NULL, rollout_id = EXCLUDED.rollout_id
      RETURNING 1
    )
    SELECT (SELECT count(*) FROM f)::int AS n`;
  out.failed += failed[0]?.n ?? 0;

  out.timedOut += await tx.$executeRaw`
    UPDATE rollout_targets t SET state = 'timed_out', resolved_at = ${r.now}::timestamptz,
      detail = ${`no APPLIED or FAILED report within ${r.applyTimeoutSeconds} s`}::text
    WHERE t.rollout_id = ${id}::uuid AND t.state = 'applying' AND t.dispatched_at <= ${deadline}::timestamptz`;

  if (r.soakingWave !== null) {
    // Offline counts only when the agent went offline after it was sent the config (it was
    // connected then: the send checks): it applied the config and went away, maybe a crash the
    // config caused. An agent the fleet had already declared offline before the send (its row was
    // written a flush later) did not fail because of this config.
    out.unhealthy += await tx.$executeRaw`
      UPDATE rollout_targets t SET state = 'failed',
        detail = CASE WHEN a.connection_state = 'offline' AND a.disconnected_at >= t.dispatched_at
                      THEN 'offline during soak' ELSE 'unhealthy during soak' END
      FROM agents a
      WHERE t.rollout_id = ${id}::uuid AND t.wave_index = ${r.soakingWave} AND t.state = 'applied'
        AND a.uid = t.agent_uid
        AND (a.healthy = false OR (a.connection_state = 'offline' AND a.disconnected_at >= t.dispatched_at))`;
  }

  if (r.rollingBack) out.restored += await reconcileRollback(tx, r, deadline);
  return out;
}

/**
 * Rollback sends resolve when the agent reports APPLIED or FAILED for the hash it is returned to
 * (FAILED is quarantined too), when its row is gone, or after applyTimeoutSeconds. A rollback is
 * never gated on a budget: it only waits so that its waves stay ramped.
 */
async function reconcileRollback(tx: Tx, r: ReconcileInput, deadline: Date): Promise<number> {
  const id = r.rolloutId;
  let n = 0;
  n += await tx.$executeRaw`
    UPDATE rollout_targets t SET rollback_state = 'done'
    WHERE t.rollout_id = ${id}::uuid AND t.rollback_state = 'applying'
      AND NOT EXISTS (SELECT 1 FROM agents a WHERE a.uid = t.agent_uid)`;
  n += await tx.$executeRaw`
    UPDATE rollout_targets t SET rollback_state = 'done'
    FROM agents a
    WHERE t.rollout_id = ${id}::uuid AND t.rollback_state = 'applying' AND a.uid = t.agent_uid
      AND a.remote_config_status ->> 'lastRemoteConfigHash' = t.previous_hash
      AND a.remote_config_status ->> 'status' = 'APPLIED'`;
  const failed = await tx.$queryRaw<Array<{ n: number }>>`
    WITH f AS (
      UPDATE rollout_targets t SET rollback_state = 'done',
        detail = left(concat_ws('; ', t.detail, 'rollback: ' || COALESCE(NULLIF(a.remote_config_status ->> 'errorMessage', ''), 'the agent reported FAILED for its previous config')), ${MAX_DETAIL_LENGTH}::int)
      FROM agents a
      WHERE t.rollout_id = ${id}::uuid AND t.rollback_state = 'applying' AND a.uid = t.agent_uid
        AND a.remote_config_status ->> 'lastRemoteConfigHash' = t.previous_hash
        AND a.remote_config_status ->> 'status' = 'FAILED'
      RETURNING t.agent_uid, t.previous_hash, a.remote_config_status ->> 'errorMessage' AS message
    ), q AS (
      INSERT INTO config_quarantine AS c (agent_uid, hash, error_message, reported_at, rollout_id)
      SELECT f.agent_uid, f.previous_hash, left(f.message, ${MAX_DETAIL_LENGTH}::int), ${r.now}::timestamptz, ${id}::uuid FROM f
      ON CONFLICT (agent_uid, hash) DO UPDATE SET
        error_message = EXCLUDED.error_message, reported_at = EXCLUDED.reported_at,
        cleared_at = NULL, rollout_id = EXCLUDED.rollout_id
      RETURNING 1
    )
    SELECT (SELECT count(*) FROM f)::int AS n`;
  n += failed[0]?.n ?? 0;
  n += await tx.$executeRaw`
    UPDATE rollout_targets t SET rollback_state = 'done',
      detail = left(concat_ws('; ', t.detail, ${`rollback: no report within ${r.applyTimeoutSeconds} s`}::text), ${MAX_DETAIL_LENGTH}::int)
    WHERE t.rollout_id = ${id}::uuid AND t.rollback_state = 'applying' AND t.dispatched_at <= ${deadline}::timestamptz`;
  return n;
}
