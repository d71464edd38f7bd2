// The rollout engine: executes one step of a rollout over Postgres (docs/rollouts.md "The worker's
// step"). A step locks the rollout row (FOR UPDATE SKIP LOCKED: a second worker skips instead of
// waiting, so two workers never run the same step), reconciles the targets with the agents'
// reports, asks the pure decideRolloutStep() what to do, applies that one action, bumps `step`,
// and commits. Progress events are published after the commit. Nest-free: the rollout worker
// drives it from BullMQ jobs, tests drive it directly with a fake clock.
import type { Redis } from 'ioredis';
import { Prisma, type PrismaClient } from '@opamp/database';
import {
  DISPATCH_SLICE_MS,
  decideRolloutStep,
  isActiveRolloutState,
  rolloutStages,
  skipReasonAtSend,
  waveSizes,
  type ForwardWaveView,
  type RollbackWaveView,
  type RolloutPlan,
  type RolloutSnapshot,
  type RolloutStateName,
  type RolloutStepAction,
  type RolloutStrategy,
  type TargetCounts,
  type TargetStateName,
  type WaveStateName,
} from '@opamp/domain';
import {
  MAX_DETAIL_LENGTH,
  reconciledAnything,
  reconcileTargets,
  REPORTS_REMOTE_CONFIG,
  RETRY_DETAIL,
  type ReconcileCounts,
} from './engine-reconcile.js';
import { followNewAgents, type FollowedRollout } from './engine-follow.js';
import type { DesiredConfigService } from './desired-config.service.js';
import { publishRolloutEvent, type RolloutEvent } from './rollout-events.js';

type Tx = Prisma.TransactionClient;

/**
 * What the engine needs of the DesiredConfigService (desired-config.service.ts): set or clear
 * agents' desired config inside the step's transaction (`{ db: tx }`), sending the fleet its
 * `control.desiredConfig` envelopes before the transaction commits.
 */
export type DesiredConfigWriter = Pick<DesiredConfigService, 'assign' | 'clear'>;

export interface RolloutEngineOptions {
  prisma: PrismaClient;
  desired: DesiredConfigWriter;
  /** Progress events go to StreamKeys.rolloutEvents. */
  redis: Redis;
  /** Most targets one step sends (bounds a transaction). Default 1000. */
  maxDispatchPerStep?: number;
  /** Interactive transaction timeout of one step (ms). Default 60 s. */
  transactionTimeoutMs?: number;
  /** The clock (ms since the epoch). Default Date.now. */
  now?: () => number;
  /** Failures that do not fail a step (publishing an event). */
  warn?: (message: string) => void;
}

export type StepOutcome =
  /** The step ran (possibly only reconciling, when the action is wait or idle). */
  | 'stepped'
  /** Another worker holds the rollout's row: it runs this step. */
  | 'locked'
  /** No such rollout (deleted). */
  | 'not_found';

export interface RolloutStepResult {
  rolloutId: string;
  outcome: StepOutcome;
  /** The action decided (absent unless stepped). */
  action?: RolloutStepAction;
  /** State and step after the step. */
  state?: RolloutStateName;
  step?: number;
  /** Targets sent a desired config by this step (forward or rollback). */
  dispatched: number;
  reconciled: ReconcileCounts;
  /**
   * When stepping again is useful: 0 at once (more to do), n ms (a soak, pacing), or null: the
   * rollout is finished and needs no more steps. `wait` actions without a hint give the caller's
   * usual tick (`undefined`).
   */
  nextStepInMs: number | null | undefined;
}

interface RolloutRow {
  id: string;
  state: RolloutStateName;
  stageIndex: number;
  step: number;
  strategy: RolloutStrategy;
  plan: RolloutPlan;
  failuresAcknowledged: number;
  resolvedAcknowledged: number;
  versionId: bigint;
  hash: string;
  /** The config's agent type (fluentbit | fluentd | otelcol | generic). */
  agentType: string;
}

interface WaveRow {
  index: number;
  stage: number;
  size: number;
  state: WaveStateName;
  resolvedAt: Date | null;
}

const TARGET_STATES: readonly TargetStateName[] = ['pending', 'applying', 'applied', 'failed', 'timed_out', 'skipped'];
const emptyCounts = (): TargetCounts => ({ pending: 0, applying: 0, applied: 0, failed: 0, timed_out: 0, skipped: 0 });

/** Event `type` of each action (docs/rollouts.md "Events"). */
const EVENT_TYPE: Record<RolloutStepAction['type'], string> = {
  start: 'started',
  dispatch: 'dispatched',
  waveSent: 'wave_sent',
  waveResolved: 'wave_resolved',
  wavePassed: 'wave_passed',
  advanceStage: 'stage_started',
  holdForPromotion: 'waiting_for_promotion',
  complete: 'completed',
  pause: 'paused',
  startRollback: 'rollback_started',
  planRollback: 'rollback_planned',
  finishRollback: 'rolled_back',
  release: 'released',
  wait: 'wait',
  idle: 'idle',
};

export class RolloutEngine {
  private readonly prisma: PrismaClient;
  private readonly desired: DesiredConfigWriter;
  private readonly redis: Redis;
  private readonly maxDispatchPerStep: number;
  private readonly transactionTimeoutMs: number;
  private readonly now: () => number;
  private readonly warn: (message: string) => void;

  constructor(options: RolloutEngineOptions) {
    this.prisma = options.prisma;
    this.desired = options.desired;
    this.redis = options.redis;
    this.maxDispatchPerStep = options.maxDispatchPerStep ?? 1000;
    this.transactionTimeoutMs = options.transactionTimeoutMs ?? 60_000;
    this.now = options.now ?? Date.now;
    this.warn = options.warn ?? (() => undefined);
  }

  /** Ids of the rollouts the worker must keep stepping (planned, running, paused, rolling back). */
  async activeRolloutIds(): Promise<string[]> {
    const rows = await this.prisma.$queryRaw<Array<{ id: string }>>`
      SELECT id::text AS id FROM rollouts
      WHERE state IN ('planned', 'running', 'paused', 'rolling_back')
      ORDER BY created_at`;
    return rows.map((r) => r.id);
  }

  /**
   * Gives the version of completed rollouts with followNewAgents to matching agents that appeared
   * since, and to their targets skipped as `offline at send` that are connected again (see
   * engine-follow.ts); publishes an `agents_followed` event per rollout that assigned any.
   */
  async followNewAgents(nowMs: number = this.now()): Promise<FollowedRollout[]> {
    const followed = await followNewAgents({
      prisma: this.prisma,
      desired: this.desired,
      transactionTimeoutMs: this.transactionTimeoutMs,
    });
    for (const f of followed) {
      try {
        const [r] = await this.prisma.$queryRaw<Array<{ step: number; state: RolloutStateName; stage: number }>>`
          SELECT step, state::text AS state, stage_index AS stage FROM rollouts WHERE id = ${f.rolloutId}::uuid`;
        if (!r) continue;
        await publishRolloutEvent(this.redis, {
          rolloutId: f.rolloutId,
          step: r.step,
          at: new Date(nowMs).toISOString(),
          type: 'agents_followed',
          state: r.state,
          stage: r.stage,
          wave: null,
          reason:
            `${f.agents} agent(s) given the rollout's config (${f.newAgents} new, ` +
            `${f.returning} connected again after being offline at send)`,
        });
      } catch (err) {
        this.warn(`rollout ${f.rolloutId}: could not publish the agents_followed event: ${(err as Error).message}`);
      }
    }
    return followed;
  }

  /** Runs one step of the rollout. Never runs concurrently with another step of the same rollout. */
  async step(rolloutId: string, nowMs: number = this.now()): Promise<RolloutStepResult> {
    const now = new Date(nowMs);
    const events: RolloutEvent[] = [];
    const result = await this.prisma.$transaction(
      async (tx): Promise<RolloutStepResult> => {
        const [row] = await tx.$queryRaw<RolloutRow[]>`
          SELECT r.id::text AS id, r.state::text AS state, r.stage_index AS "stageIndex", r.step,
                 r.strategy, r.plan, r.failures_acknowledged AS "failuresAcknowledged",
                 r.resolved_acknowledged AS "resolvedAcknowledged", r.config_version_id AS "versionId", v.hash,
                 c.agent_type AS "agentType"
          FROM rollouts r JOIN config_versions v ON v.id = r.config_version_id JOIN configs c ON c.id = r.config_id
          WHERE r.id = ${rolloutId}::uuid
          FOR UPDATE OF r SKIP LOCKED`;
        const base = { rolloutId, dispatched: 0, reconciled: reconcileZero() };
        if (!row) {
          const [exists] = await tx.$queryRaw<Array<{ one: number }>>`
            SELECT 1 AS one FROM rollouts WHERE id = ${rolloutId}::uuid`;
          return exists
            ? { ...base, outcome: 'locked', nextStepInMs: undefined }
            : { ...base, outcome: 'not_found', nextStepInMs: null };
        }

        const wave = isActiveRolloutState(row.state) ? await currentForwardWave(tx, row) : null;
        let reconciled = reconcileZero();
        if (isActiveRolloutState(row.state)) {
          reconciled = await reconcileTargets(tx, {
            rolloutId,
            hash: row.hash,
            applyTimeoutSeconds: row.strategy.applyTimeoutSeconds,
            now,
            soakingWave:
              (row.state === 'running' || row.state === 'paused') &&
              wave !== null &&
              (wave.state === 'waiting' || wave.state === 'soaking')
                ? wave.index
                : null,
            rollingBack: row.state === 'rolling_back',
          });
        }

        const snapshot = await this.snapshot(tx, row, wave, nowMs);
        const action = decideRolloutStep(snapshot, nowMs);
        const applied = await this.apply(tx, row, action, now);
        const acted = action.type !== 'wait' && action.type !== 'idle';
        const [after] = await tx.$queryRaw<Array<{ step: number; state: RolloutStateName; stage: number }>>`
          UPDATE rollouts SET step = step + ${acted ? 1 : 0},
            updated_at = CASE WHEN ${acted} THEN ${now}::timestamptz ELSE updated_at END
          WHERE id = ${rolloutId}::uuid
          RETURNING step, state::text AS state, stage_index AS stage`;

        if (acted || reconciledAnything(reconciled)) {
          const counts = await targetCounts(tx, rolloutId);
          const waveIndex =
            applied.waveIndex !== undefined
              ? applied.waveIndex
              : ((await currentForwardWave(tx, { ...row, stageIndex: after!.stage }))?.index ?? null);
          const event = (type: string, reason?: string | null): RolloutEvent => ({
            rolloutId,
            step: after!.step,
            at: now.toISOString(),
            type,
            state: after!.state,
            stage: after!.stage,
            wave: waveIndex,
            counts,
            ...(reason !== undefined ? { reason } : {}),
          });
          if (reconciledAnything(reconciled)) events.push(event('targets_resolved'));
          if (acted) events.push(event(EVENT_TYPE[action.type], 'reason' in action ? action.reason : undefined));
        }

        return {
          ...base,
          outcome: 'stepped',
          action,
          state: after!.state,
          step: after!.step,
          dispatched: applied.dispatched,
          reconciled,
          nextStepInMs: nextStepIn(action),
        };
      },
      { timeout: this.transactionTimeoutMs, maxWait: 10_000 },
    );
    for (const e of events) {
      try {
        await publishRolloutEvent(this.redis, e);
      } catch (err) {
        this.warn(`rollout ${rolloutId}: could not publish the ${e.type} event: ${(err as Error).message}`);
      }
    }
    return result;
  }

  // -----------------------------------------------------------------------------------------------
  // Snapshot

  private async snapshot(tx: Tx, row: RolloutRow, wave: WaveRow | null, nowMs: number): Promise<RolloutSnapshot> {
    const rollingBack = row.state === 'rolling_back';
    const windowStart = new Date(nowMs - 1000);
    const rows = await tx.$queryRaw<Array<{ state: TargetStateName; current: boolean; n: number; active: number }>>`
      SELECT state::text AS state, (wave_index = ${wave?.index ?? -1}) AS current,
             count(*)::int AS n, count(*) FILTER (WHERE active)::int AS active
      FROM rollout_targets WHERE rollout_id = ${row.id}::uuid GROUP BY 1, 2`;
    const totals = emptyCounts();
    const waveCounts = emptyCounts();
    let activeTargets = 0;
    for (const r of rows) {
      totals[r.state] += r.n;
      if (r.current) waveCounts[r.state] += r.n;
      activeTargets += r.active;
    }
    const [pacing] = await tx.$queryRaw<Array<{ n: number; oldest: Date | null }>>`
      SELECT count(*)::int AS n, min(dispatched_at) AS oldest FROM rollout_targets
      WHERE rollout_id = ${row.id}::uuid AND dispatched_at > ${windowStart}::timestamptz
        AND (${!rollingBack} OR rollback_state IN ('applying', 'done'))`;

    let rollback: RolloutSnapshot['rollback'] = { unplanned: 0, wave: null };
    if (rollingBack) rollback = await rollbackView(tx, row.id);

    const forward: ForwardWaveView | null = wave
      ? {
          index: wave.index,
          stage: wave.stage,
          size: wave.size,
          state: wave.state,
          resolvedAtMs: wave.resolvedAt ? wave.resolvedAt.getTime() : null,
          counts: waveCounts,
        }
      : null;
    const stages =
      row.plan.stages.length > 0 ? row.plan.stages : rolloutStages(row.strategy).map((s) => ({ ...s, agents: 0 }));
    return {
      state: row.state,
      stageIndex: row.stageIndex,
      stages: stages.map((s) => ({ name: s.name, promotion: s.promotion, agents: s.agents })),
      strategy: row.strategy,
      failuresAcknowledged: row.failuresAcknowledged,
      resolvedAcknowledged: row.resolvedAcknowledged,
      totals,
      activeTargets,
      wave: forward,
      rollback,
      pacing: {
        dispatchedLastSecond: pacing?.n ?? 0,
        windowFreesAtMs: pacing?.oldest ? pacing.oldest.getTime() + 1000 : null,
      },
      maxDispatchPerStep: this.maxDispatchPerStep,
    };
  }

  // -----------------------------------------------------------------------------------------------
  // Actions

  private async apply(
    tx: Tx,
    row: RolloutRow,
    action: RolloutStepAction,
    now: Date,
  ): Promise<{ dispatched: number; waveIndex?: number | null }> {
    const id = row.id;
    switch (action.type) {
      case 'wait':
      case 'idle':
        return { dispatched: 0 };
      case 'start':
        await tx.$executeRaw`
          UPDATE rollouts SET state = 'running', started_at = COALESCE(started_at, ${now}::timestamptz), reason = NULL
          WHERE id = ${id}::uuid`;
        return { dispatched: 0 };
      case 'dispatch':
        if (action.direction === 'forward') {
          return {
            dispatched: await this.dispatchForward(tx, row, action.wave, action.count, now),
            waveIndex: action.wave,
          };
        }
        return {
          dispatched: await this.dispatchRollback(tx, row, action.wave, action.count, now),
          waveIndex: action.wave,
        };
      case 'waveSent':
        await tx.$executeRaw`
          UPDATE rollout_waves SET state = 'waiting', started_at = COALESCE(started_at, ${now}::timestamptz)
          WHERE rollout_id = ${id}::uuid AND direction = ${action.direction} AND index = ${action.wave}`;
        return { dispatched: 0, waveIndex: action.wave };
      case 'waveResolved':
        await tx.$executeRaw`
          UPDATE rollout_waves SET state = 'soaking', resolved_at = ${now}::timestamptz,
            started_at = COALESCE(started_at, ${now}::timestamptz)
          WHERE rollout_id = ${id}::uuid AND direction = 'forward' AND index = ${action.wave}`;
        return { dispatched: 0, waveIndex: action.wave };
      case 'wavePassed':
        await tx.$executeRaw`
          UPDATE rollout_waves SET state = 'passed', finished_at = ${now}::timestamptz,
            resolved_at = COALESCE(resolved_at, ${now}::timestamptz), started_at = COALESCE(started_at, ${now}::timestamptz)
          WHERE rollout_id = ${id}::uuid AND direction = ${action.direction} AND index = ${action.wave}`;
        return { dispatched: 0, waveIndex: action.wave };
      case 'advanceStage':
        await tx.$executeRaw`UPDATE rollouts SET stage_index = ${action.stage} WHERE id = ${id}::uuid`;
        return { dispatched: 0 };
      case 'holdForPromotion':
      case 'pause':
        await tx.$executeRaw`UPDATE rollouts SET state = 'paused', reason = ${action.reason} WHERE id = ${id}::uuid`;
        return { dispatched: 0 };
      case 'startRollback':
        await tx.$executeRaw`UPDATE rollouts SET state = 'rolling_back', reason = ${action.reason} WHERE id = ${id}::uuid`;
        return { dispatched: 0 };
      case 'planRollback':
        return { dispatched: 0, waveIndex: await this.planRollback(tx, row, now) };
      case 'complete':
        await tx.$executeRaw`
          UPDATE rollouts SET state = 'completed', finished_at = ${now}::timestamptz WHERE id = ${id}::uuid`;
        await releaseTargets(tx, id, 'rollout completed', now);
        return { dispatched: 0, waveIndex: null };
      case 'finishRollback':
        await tx.$executeRaw`
          UPDATE rollouts SET state = 'rolled_back', finished_at = ${now}::timestamptz WHERE id = ${id}::uuid`;
        await releaseTargets(tx, id, 'rollout rolled back', now);
        return { dispatched: 0, waveIndex: null };
      case 'release':
        await releaseTargets(tx, id, `rollout ${row.state.replace('_', ' ')}`, now);
        return { dispatched: 0, waveIndex: null };
    }
  }

  /**
   * Sends the next `count` pending targets of a forward wave (in agent uid order). Targets whose
   * agent is gone, of another agent type, no longer accepts remote config, is quarantined for the
   * hash, or is not connected (`offline at send`: not a failure) are skipped (skipReasonAtSend);
   * the others get the desired config (one envelope each, through the DesiredConfigWriter) and
   * become `applying`, or `applied` at once for agents that never report remote config status.
   * The target's previous desired config is refreshed from what it is right before the send, so a
   * rollback restores what the agent really had.
   */
  private async dispatchForward(tx: Tx, row: RolloutRow, wave: number, count: number, now: Date): Promise<number> {
    const id = row.id;
    const picked = await tx.$queryRaw<
      Array<{
        uid: string;
        exists: boolean;
        agentType: string | null;
        capabilities: bigint | null;
        connectionState: string | null;
        quarantined: boolean;
        reportedHash: string | null;
        reportedStatus: string | null;
        prevVersionId: bigint | null;
        prevHash: string | null;
        prevRolloutId: string | null;
      }>
    >`
      SELECT t.agent_uid::text AS uid, a.uid IS NOT NULL AS exists, a.agent_type AS "agentType", a.capabilities,
             a.connection_state::text AS "connectionState",
             EXISTS (SELECT 1 FROM config_quarantine q
                     WHERE q.agent_uid = t.agent_uid AND q.hash = ${row.hash} AND q.cleared_at IS NULL) AS quarantined,
             a.remote_config_status ->> 'lastRemoteConfigHash' AS "reportedHash",
             a.remote_config_status ->> 'status' AS "reportedStatus",
             d.config_version_id AS "prevVersionId", d.hash AS "prevHash", d.rollout_id::text AS "prevRolloutId"
      FROM (SELECT agent_uid FROM rollout_targets
            WHERE rollout_id = ${id}::uuid AND wave_index = ${wave} AND state = 'pending'
            ORDER BY agent_uid LIMIT ${count}) t
      LEFT JOIN agents a ON a.uid = t.agent_uid
      LEFT JOIN agent_desired_configs d ON d.agent_uid = t.agent_uid`;

    const skipUids: string[] = [];
    const skipDetails: string[] = [];
    const send: typeof picked = [];
    for (const p of picked) {
      const why = skipReasonAtSend(
        p.exists
          ? {
              agentType: p.agentType ?? '',
              capabilities: p.capabilities ?? 0n,
              connectionState: p.connectionState ?? '',
              quarantined: p.quarantined,
            }
          : null,
        row.agentType,
      );
      if (why) {
        skipUids.push(p.uid);
        skipDetails.push(why);
      } else {
        send.push(p);
      }
    }
    if (skipUids.length > 0) {
      await tx.$executeRaw`
        UPDATE rollout_targets t SET state = 'skipped', detail = s.detail, resolved_at = ${now}::timestamptz
        FROM unnest(${skipUids}::uuid[], ${skipDetails}::text[]) AS s(uid, detail)
        WHERE t.rollout_id = ${id}::uuid AND t.agent_uid = s.uid`;
    }
    if (send.length > 0) {
      const uids = send.map((p) => p.uid);
      await this.desired.assign(uids, row.versionId, 'rollout', id, { db: tx });
      const reports = send.map((p) => (Number((p.capabilities ?? 0n) & 0xffffffffn) & REPORTS_REMOTE_CONFIG) !== 0);
      // A desired config this rollout set itself is not "previous"; keep the creation-time snapshot then.
      const refresh = send.map((p) => p.prevRolloutId !== id);
      const prevVersion = send.map((p) => (p.prevVersionId === null ? null : p.prevVersionId.toString()));
      const prevHash = send.map((p) => p.prevHash);
      const retry = send.map((p) => p.reportedHash === row.hash && p.reportedStatus === 'FAILED');
      await tx.$executeRaw`
        UPDATE rollout_targets t SET
          state = (CASE WHEN s.reports THEN 'applying' ELSE 'applied' END)::rollout_target_state,
          dispatched_at = ${now}::timestamptz,
          resolved_at = CASE WHEN s.reports THEN NULL ELSE ${now}::timestamptz END,
          detail = CASE WHEN s.reports AND s.retry THEN ${RETRY_DETAIL}
                        WHEN s.reports THEN NULL ELSE 'applied when sent (the agent does not report remote config status)' END,
          previous_version_id = CASE WHEN s.refresh THEN s.prev_version ELSE t.previous_version_id END,
          previous_hash = CASE WHEN s.refresh THEN s.prev_hash ELSE t.previous_hash END
        FROM unnest(${uids}::uuid[], ${reports}::boolean[], ${refresh}::boolean[], ${prevVersion}::bigint[],
                    ${prevHash}::text[], ${retry}::boolean[])
             AS s(uid, reports, refresh, prev_version, prev_hash, retry)
        WHERE t.rollout_id = ${id}::uuid AND t.agent_uid = s.uid`;
    }
    await tx.$executeRaw`
      UPDATE rollout_waves SET state = 'dispatching', started_at = COALESCE(started_at, ${now}::timestamptz)
      WHERE rollout_id = ${id}::uuid AND direction = 'forward' AND index = ${wave} AND state = 'pending'`;
    return send.length;
  }

  /**
   * Gives every touched target (sent: applying, applied, failed, timed out) a rollback wave, sized
   * like the forward waves (waveSizes over all touched targets, stages ignored), in forward order.
   * Unsent targets will never be sent: skipped. The interrupted forward wave is marked failed.
   */
  private async planRollback(tx: Tx, row: RolloutRow, now: Date): Promise<number | null> {
    const id = row.id;
    const [{ touched, next }] = await tx.$queryRaw<Array<{ touched: number; next: number }>>`
      SELECT (SELECT count(*)::int FROM rollout_targets
              WHERE rollout_id = ${id}::uuid AND rollback_state IS NULL
                AND state IN ('applying', 'applied', 'failed', 'timed_out')) AS touched,
             (SELECT COALESCE(max(index) + 1, 0)::int FROM rollout_waves
              WHERE rollout_id = ${id}::uuid AND direction = 'rollback') AS next`;
    await tx.$executeRaw`
      UPDATE rollout_targets SET state = 'skipped', detail = 'not sent: the rollout is rolling back',
        resolved_at = ${now}::timestamptz
      WHERE rollout_id = ${id}::uuid AND state = 'pending'`;
    await tx.$executeRaw`
      UPDATE rollout_waves SET state = 'failed', finished_at = ${now}::timestamptz
      WHERE rollout_id = ${id}::uuid AND direction = 'forward' AND state NOT IN ('passed', 'failed')`;
    const sizes = waveSizes(touched, row.strategy);
    if (sizes.length === 0) return null;
    const indexes = sizes.map((_, i) => next + i);
    const lower: number[] = [];
    const upper: number[] = [];
    let position = 0;
    for (const size of sizes) {
      lower.push(position);
      upper.push(position + size);
      position += size;
    }
    await tx.$executeRaw`
      INSERT INTO rollout_waves (rollout_id, direction, index, stage, size)
      SELECT ${id}::uuid, 'rollback', w.i, ${row.stageIndex}, w.n
      FROM unnest(${indexes}::int[], ${sizes}::int[]) AS w(i, n)`;
    await tx.$executeRaw`
      UPDATE rollout_targets t SET rollback_state = 'pending', rollback_wave = w.i
      FROM (
        SELECT agent_uid, row_number() OVER (ORDER BY wave_index, agent_uid) AS rn
        FROM rollout_targets
        WHERE rollout_id = ${id}::uuid AND rollback_state IS NULL
          AND state IN ('applying', 'applied', 'failed', 'timed_out')
      ) o
      JOIN unnest(${indexes}::int[], ${lower}::int[], ${upper}::int[]) AS w(i, lo, hi) ON o.rn > w.lo AND o.rn <= w.hi
      WHERE t.rollout_id = ${id}::uuid AND t.agent_uid = o.agent_uid`;
    return indexes[0]!;
  }

  /**
   * Returns the next `count` targets of a rollback wave to the desired config they had before the
   * rollout (or clears it when they had none). A target whose desired config someone else changed
   * since this rollout set it is left alone: it is no longer this rollout's to undo.
   */
  private async dispatchRollback(tx: Tx, row: RolloutRow, wave: number, count: number, now: Date): Promise<number> {
    const id = row.id;
    const picked = await tx.$queryRaw<
      Array<{
        uid: string;
        exists: boolean;
        capabilities: bigint | null;
        prevVersionId: bigint | null;
        ours: boolean;
      }>
    >`
      SELECT t.agent_uid::text AS uid, a.uid IS NOT NULL AS exists, a.capabilities,
             t.previous_version_id AS "prevVersionId",
             (d.agent_uid IS NOT NULL AND d.rollout_id = ${id}::uuid AND d.config_version_id = ${row.versionId}) AS ours
      FROM (SELECT agent_uid, previous_version_id FROM rollout_targets
            WHERE rollout_id = ${id}::uuid AND rollback_wave = ${wave} AND rollback_state = 'pending'
            ORDER BY agent_uid LIMIT ${count}) t
      LEFT JOIN agents a ON a.uid = t.agent_uid
      LEFT JOIN agent_desired_configs d ON d.agent_uid = t.agent_uid`;

    const doneUids: string[] = [];
    const doneDetails: Array<string | null> = [];
    const clearUids: string[] = [];
    const byVersion = new Map<bigint, string[]>();
    const applyingUids: string[] = [];
    for (const p of picked) {
      if (!p.exists) {
        doneUids.push(p.uid);
        doneDetails.push('rollback: agent forgotten');
        continue;
      }
      if (!p.ours) {
        doneUids.push(p.uid);
        doneDetails.push('rollback: left as is (its desired config was changed after this rollout set it)');
        continue;
      }
      if (p.prevVersionId === null) {
        clearUids.push(p.uid);
        doneUids.push(p.uid);
        doneDetails.push(null);
        continue;
      }
      const list = byVersion.get(p.prevVersionId) ?? [];
      list.push(p.uid);
      byVersion.set(p.prevVersionId, list);
      const reports = (Number((p.capabilities ?? 0n) & 0xffffffffn) & REPORTS_REMOTE_CONFIG) !== 0;
      if (reports) applyingUids.push(p.uid);
      else {
        doneUids.push(p.uid);
        doneDetails.push(null);
      }
    }
    if (clearUids.length > 0) await this.desired.clear(clearUids, { db: tx });
    for (const [versionId, uids] of byVersion) await this.desired.assign(uids, versionId, 'rollback', id, { db: tx });
    const sent = clearUids.length + [...byVersion.values()].reduce((n, l) => n + l.length, 0);
    if (applyingUids.length > 0) {
      await tx.$executeRaw`
        UPDATE rollout_targets SET rollback_state = 'applying', dispatched_at = ${now}::timestamptz
        WHERE rollout_id = ${id}::uuid AND agent_uid = ANY(${applyingUids}::uuid[])`;
    }
    if (doneUids.length > 0) {
      await tx.$executeRaw`
        UPDATE rollout_targets t SET rollback_state = 'done', dispatched_at = ${now}::timestamptz,
          detail = CASE WHEN s.detail IS NULL THEN t.detail
                        ELSE left(concat_ws('; ', t.detail, s.detail), ${MAX_DETAIL_LENGTH}::int) END
        FROM unnest(${doneUids}::uuid[], ${doneDetails}::text[]) AS s(uid, detail)
        WHERE t.rollout_id = ${id}::uuid AND t.agent_uid = s.uid`;
    }
    await tx.$executeRaw`
      UPDATE rollout_waves SET state = 'dispatching', started_at = COALESCE(started_at, ${now}::timestamptz)
      WHERE rollout_id = ${id}::uuid AND direction = 'rollback' AND index = ${wave} AND state = 'pending'`;
    return sent;
  }
}

// -------------------------------------------------------------------------------------------------
// Helpers

function reconcileZero(): ReconcileCounts {
  return { applied: 0, failed: 0, timedOut: 0, unhealthy: 0, forgotten: 0, restored: 0 };
}

function nextStepIn(action: RolloutStepAction): number | null | undefined {
  switch (action.type) {
    case 'idle':
      return null;
    case 'wait':
      return action.retryAfterMs ?? undefined;
    case 'dispatch':
      // The next slice of this second's allowance (see DISPATCH_SLICES_PER_SECOND).
      return DISPATCH_SLICE_MS;
    default:
      return 0;
  }
}

/** The first forward wave of the rollout's current stage that has not passed. */
async function currentForwardWave(tx: Tx, row: Pick<RolloutRow, 'id' | 'stageIndex'>): Promise<WaveRow | null> {
  const [w] = await tx.$queryRaw<WaveRow[]>`
    SELECT index, stage, size, state, resolved_at AS "resolvedAt" FROM rollout_waves
    WHERE rollout_id = ${row.id}::uuid AND direction = 'forward' AND stage = ${row.stageIndex} AND state <> 'passed'
    ORDER BY index LIMIT 1`;
  return w ?? null;
}

async function rollbackView(tx: Tx, id: string): Promise<RolloutSnapshot['rollback']> {
  const [{ unplanned }] = await tx.$queryRaw<Array<{ unplanned: number }>>`
    SELECT count(*)::int AS unplanned FROM rollout_targets
    WHERE rollout_id = ${id}::uuid AND rollback_state IS NULL AND state IN ('applying', 'applied', 'failed', 'timed_out')`;
  const [w] = await tx.$queryRaw<Array<{ index: number; size: number; state: WaveStateName }>>`
    SELECT index, size, state FROM rollout_waves
    WHERE rollout_id = ${id}::uuid AND direction = 'rollback' AND state <> 'passed'
    ORDER BY index LIMIT 1`;
  let wave: RollbackWaveView | null = null;
  if (w) {
    const rows = await tx.$queryRaw<Array<{ state: string; n: number }>>`
      SELECT rollback_state AS state, count(*)::int AS n FROM rollout_targets
      WHERE rollout_id = ${id}::uuid AND rollback_wave = ${w.index} GROUP BY 1`;
    const counts = { pending: 0, applying: 0, done: 0 };
    for (const r of rows)
      if (r.state === 'pending' || r.state === 'applying' || r.state === 'done') counts[r.state] += r.n;
    wave = { index: w.index, size: w.size, state: w.state, counts };
  }
  return { unplanned, wave };
}

async function targetCounts(tx: Tx, id: string): Promise<TargetCounts> {
  const rows = await tx.$queryRaw<Array<{ state: TargetStateName; n: number }>>`
    SELECT state::text AS state, count(*)::int AS n FROM rollout_targets WHERE rollout_id = ${id}::uuid GROUP BY 1`;
  const c = emptyCounts();
  for (const r of rows) if ((TARGET_STATES as readonly string[]).includes(r.state)) c[r.state] += r.n;
  return c;
}

/** A finished rollout lets go of its agents: unsent targets are skipped, every target inactive. */
async function releaseTargets(tx: Tx, id: string, detail: string, now: Date): Promise<void> {
  await tx.$executeRaw`
    UPDATE rollout_targets SET state = 'skipped', detail = ${`not sent: ${detail}`}, resolved_at = ${now}::timestamptz
    WHERE rollout_id = ${id}::uuid AND state = 'pending'`;
  await tx.$executeRaw`UPDATE rollout_targets SET active = false WHERE rollout_id = ${id}::uuid AND active`;
}
