// The rollout store: plans, creates, lists, reads and controls rollouts over Postgres
// (docs/rollouts.md). Nest-free; the api wraps it, the rollout worker reads what it writes.
//
// Everything that touches many agents is one set-based statement: the plan is a single aggregate
// over `agents`; creation materialises the candidate agents once (a temp table dropped at commit),
// checks overlap against it, and snapshots the targets with one INSERT … SELECT, so 100k targets
// cost a few statements, never a round trip per agent.
//
// Who does what: the store creates rollouts and flips their state on a control (pause, resume,
// promote, abort, rollback), bumping `step`; the worker's engine does everything else (dispatch,
// gates, completion, and the rollback waves themselves).
import type { Redis } from 'ioredis';
import { Prisma, selectorToSql, type PrismaClient } from '@opamp/database';
import {
  GENERIC_AGENT_TYPE,
  isFailureBudgetReason,
  LabelSelectorError,
  noExclusions,
  normaliseStrategy,
  parseLabelSelector,
  planRollout,
  rolloutStages,
  waveLayout,
  type LabelSelector,
  type RollbackCounts,
  type RolloutPlan,
  type RolloutStateName,
  type RolloutStrategy,
  type TargetCounts,
  type TargetStateName,
} from '@opamp/domain';
import { uidToString, uuidv7 } from '@opamp/protocol';
import { publishRolloutEvent, type RolloutEvent } from './rollout-events.js';
import {
  RolloutConflictError,
  RolloutNotFoundError,
  RolloutReferenceError,
  RolloutSelectorError,
  RolloutTransitionError,
  type ConflictingRollout,
  type RolloutAction,
} from './rollout-store.errors.js';

/** AcceptsRemoteConfig bit of AgentCapabilities (opamp.proto). */
const ACCEPTS_REMOTE_CONFIG = 2;

const NOTHING_TO_DO = 'nothing to do: no agent matched by the selector needs this version';

/** Longest operator-supplied reason / createdBy kept. */
export const MAX_REASON_LENGTH = 500;

/** At most this many conflicting rollouts are named in a 409. */
const MAX_CONFLICTS_NAMED = 20;

const CANONICAL_UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export const ROLLOUT_STATES: readonly RolloutStateName[] = [
  'planned',
  'running',
  'paused',
  'completed',
  'aborted',
  'rolling_back',
  'rolled_back',
];

/** States in which a rollout holds its targets (`rollout_targets.active`). */
export const ACTIVE_ROLLOUT_STATES: readonly RolloutStateName[] = ['planned', 'running', 'paused', 'rolling_back'];

const TARGET_STATES: readonly TargetStateName[] = ['pending', 'applying', 'applied', 'failed', 'timed_out', 'skipped'];

export interface RolloutPlanInput {
  /** Config name (or id). */
  config: string;
  /** Version number of that config (1, 2, …). */
  version: number;
  /** Kubernetes label selector text; the empty string selects every agent. */
  selector: string;
  /**
   * RolloutStrategyInput; validated by normaliseStrategy (defaults filled in), which throws
   * libs/domain's RolloutStrategyError listing every problem.
   */
  strategy?: unknown;
}

export interface CreateRolloutInput extends RolloutPlanInput {
  /** Who asked (free text, e.g. a user name); stored as is. */
  createdBy?: string;
}

export interface RolloutConfigRef {
  id: string;
  name: string;
  agentType: string;
}

export interface RolloutVersionRef {
  /** config_versions.id (bigint as decimal text). */
  id: string;
  number: number;
  hash: string;
}

/** A validated rollout request and its plan (what a dry run returns). */
export interface PlannedRollout {
  config: RolloutConfigRef;
  version: RolloutVersionRef;
  selector: string;
  strategy: RolloutStrategy;
  plan: RolloutPlan;
}

export interface CreatedRollout extends PlannedRollout {
  id: string;
  state: RolloutStateName;
  /** Set when the rollout was stored finished (nothing to do). */
  reason: string | null;
  step: number;
  createdAt: Date;
}

export interface WaveDetail {
  direction: 'forward' | 'rollback';
  index: number;
  stage: number;
  /** Planned number of targets. */
  size: number;
  /** pending | dispatching | waiting | soaking | passed | failed */
  state: string;
  startedAt: Date | null;
  resolvedAt: Date | null;
  finishedAt: Date | null;
  counts: TargetCounts;
}

export interface RollbackWaveDetail extends Omit<WaveDetail, 'counts'> {
  counts: RollbackCounts;
}

export interface StageDetail {
  index: number;
  name: string;
  selector: string;
  promotion: 'auto' | 'manual';
  /** Targets in this stage. */
  agents: number;
  counts: TargetCounts;
}

export interface RolloutSummary {
  id: string;
  config: { id: string; name: string };
  version: { number: number; hash: string };
  selector: string;
  state: RolloutStateName;
  reason: string | null;
  step: number;
  stageIndex: number;
  /** Agents targeted (from the plan). */
  targets: number;
  followNewAgents: boolean;
  createdBy: string | null;
  createdAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
  updatedAt: Date;
}

export interface RolloutDetail extends RolloutSummary {
  version: RolloutVersionRef;
  strategy: RolloutStrategy;
  plan: RolloutPlan;
  /** Failed + timed-out targets at the last resume (the failure budget counts those after it). */
  failuresAcknowledged: number;
  /** Resolved targets at the last resume. */
  resolvedAcknowledged: number;
  /** The stage being rolled out (null when the rollout has no stage, e.g. nothing to do). */
  stage: StageDetail | null;
  stages: StageDetail[];
  /** Target counts over the whole rollout (their sum is `targets`). */
  counts: TargetCounts;
  waves: WaveDetail[];
  /** Present once rollback waves exist. */
  rollback: { waves: RollbackWaveDetail[]; counts: RollbackCounts } | null;
  /** Index of the first forward wave not passed yet (null when none is left). */
  currentWave: number | null;
  /**
   * Why a paused rollout is paused (null unless `state` is `paused`): `promotion` (a manual stage
   * passed and holds until promoted), `budget` (the failure budget paused it) or `person` (a pause
   * through the api). Lets a client such as `opampctl --wait` tell a failure from a hold.
   */
  pauseCause: RolloutPauseCause | null;
}

export type RolloutPauseCause = 'person' | 'budget' | 'promotion';

export interface RolloutListQuery {
  /** Empty or absent: any state. */
  states?: readonly RolloutStateName[];
  /** Config name or id. */
  config?: string;
  limit: number;
  /** Keyset cursor: rows strictly older than this (created_at DESC, id DESC). */
  after?: { createdAt: Date; id: string };
}

export interface ControlOptions {
  /** Why (shown as the rollout's reason for pause / abort / rollback). */
  reason?: string;
}

export interface RolloutStoreOptions {
  prisma: PrismaClient;
  /** Progress events go to StreamKeys.rolloutEvents. */
  redis: Redis;
  /**
   * Enqueues an immediate `advance` job for a rollout (the worker's queue helper). Optional: without
   * it the worker's sweep picks the change up within a few seconds.
   */
  kick?: (rolloutId: string) => Promise<void>;
  /** Where failures to publish an event or kick the worker are reported (they never fail a call). */
  warn?: (message: string) => void;
  /** Interactive transaction timeout for create (ms). Default 120 s. */
  createTimeoutMs?: number;
  /**
   * Longest wait for publishing an event or kicking the worker after a committed change (ms),
   * so an unreachable Redis delays a request by at most this much. Default 2 s.
   */
  notifyTimeoutMs?: number;
}

type Bucket = keyof RolloutPlan['excluded'] | 'target';

interface ResolvedRequest {
  config: RolloutConfigRef;
  version: RolloutVersionRef & { idBig: bigint };
  selectorText: string;
  selector: LabelSelector;
  strategy: RolloutStrategy;
  /** One parsed selector per stage (one empty selector for the implicit stage). */
  stageSelectors: LabelSelector[];
}

const emptyCounts = (): TargetCounts => ({ pending: 0, applying: 0, applied: 0, failed: 0, timed_out: 0, skipped: 0 });

const asJson = (v: unknown): Prisma.InputJsonValue => v as Prisma.InputJsonValue;

export class RolloutStore {
  private readonly prisma: PrismaClient;
  private readonly redis: Redis;
  private readonly kick: ((rolloutId: string) => Promise<void>) | undefined;
  private readonly warn: (message: string) => void;
  private readonly createTimeoutMs: number;
  private readonly notifyTimeoutMs: number;

  constructor(options: RolloutStoreOptions) {
    this.prisma = options.prisma;
    this.redis = options.redis;
    this.kick = options.kick;
    this.warn = options.warn ?? (() => undefined);
    this.createTimeoutMs = options.createTimeoutMs ?? 120_000;
    this.notifyTimeoutMs = options.notifyTimeoutMs ?? 2_000;
  }

  // ---------------------------------------------------------------------------------------------
  // Plan and create

  /** Validates the request and computes its plan. Writes nothing. */
  async plan(input: RolloutPlanInput): Promise<PlannedRollout> {
    const req = await this.resolve(input);
    const rows = await this.prisma.$queryRaw<Array<{ bucket: Bucket; stage: number | null; n: number }>>`
      SELECT c.bucket, c.stage, count(*)::int AS n FROM (${candidatesSql(req)}) c GROUP BY 1, 2`;
    return this.planned(req, rows);
  }

  /**
   * Creates the rollout, its waves and its targets in one transaction. Throws RolloutConflictError
   * when an agent it would target is in another active rollout (also when that rollout is being
   * created at the same moment). A rollout with nothing to do is stored `completed`.
   */
  async create(input: CreateRolloutInput): Promise<CreatedRollout> {
    const req = await this.resolve(input);
    const id = uidToString(uuidv7());
    const createdBy = input.createdBy === undefined ? null : clip(input.createdBy);
    let created: CreatedRollout | undefined;
    for (let attempt = 1; !created; attempt++) {
      try {
        created = await this.createOnce(req, id, createdBy);
      } catch (err) {
        // Two creations raced: the loser's INSERT hit rollout_targets_one_active_per_agent.
        if (isPgError(err, '23505', 'rollout_targets_one_active_per_agent')) {
          throw new RolloutConflictError(await this.conflictsOf(req).catch(() => []));
        }
        // Targets are inserted in uid order, so racing creations queue on the index instead of
        // deadlocking; should Postgres still pick a victim, the retry finds the winner.
        if (isPgError(err, '40P01') && attempt < 3) continue;
        throw err;
      }
    }
    await this.afterTransition(created.id, 'created', created.reason);
    return created;
  }

  private createOnce(req: ResolvedRequest, id: string, createdBy: string | null): Promise<CreatedRollout> {
    return this.prisma.$transaction(
      async (tx) => {
        await tx.$executeRaw`
          CREATE TEMP TABLE rollout_candidates ON COMMIT DROP AS ${candidatesSql(req)}`;
        const rows = await tx.$queryRaw<Array<{ bucket: Bucket; stage: number | null; n: number }>>`
          SELECT bucket, stage, count(*)::int AS n FROM rollout_candidates GROUP BY 1, 2`;
        const planned = this.planned(req, rows);
        if (planned.plan.excluded.inOtherRollout > 0) {
          throw new RolloutConflictError(await conflictsFrom(tx, Prisma.sql`rollout_candidates c0`));
        }
        const targets = planned.plan.targets;
        const state: RolloutStateName = targets > 0 ? 'running' : 'completed';
        const reason = targets > 0 ? null : NOTHING_TO_DO;
        const r = await tx.rollout.create({
          data: {
            id,
            configId: req.config.id,
            configVersionId: req.version.idBig,
            selector: req.selectorText,
            strategy: asJson(req.strategy),
            plan: asJson(planned.plan),
            state,
            reason,
            followNewAgents: req.strategy.followNewAgents,
            createdBy,
            startedAt: new Date(),
            finishedAt: targets > 0 ? null : new Date(),
          },
          select: { createdAt: true, step: true },
        });
        if (targets > 0) await insertWavesAndTargets(tx, id, planned.plan);
        return { ...planned, id, state, reason, step: r.step, createdAt: r.createdAt };
      },
      { timeout: this.createTimeoutMs, maxWait: 10_000 },
    );
  }

  // ---------------------------------------------------------------------------------------------
  // Reads

  /** Newest first. Returns up to `limit + 1` rows so the caller knows whether another page exists. */
  async list(q: RolloutListQuery): Promise<RolloutSummary[]> {
    const where: Prisma.Sql[] = [Prisma.sql`TRUE`];
    if (q.states && q.states.length > 0) {
      where.push(Prisma.sql`r.state::text IN (${Prisma.join(q.states.map((s) => Prisma.sql`${s}`))})`);
    }
    if (q.config !== undefined) where.push(configMatch(q.config));
    if (q.after) where.push(Prisma.sql`(r.created_at, r.id) < (${q.after.createdAt}, ${q.after.id}::uuid)`);
    const rows = await this.prisma.$queryRaw<SummaryRow[]>`
      SELECT ${SUMMARY_COLUMNS}
      FROM rollouts r JOIN configs c ON c.id = r.config_id JOIN config_versions v ON v.id = r.config_version_id
      WHERE ${Prisma.join(where, ' AND ')}
      ORDER BY r.created_at DESC, r.id DESC
      LIMIT ${q.limit + 1}`;
    return rows.map(summaryOf);
  }

  /** The rollout with its stages, waves and target counts. */
  async get(id: string): Promise<RolloutDetail> {
    if (!CANONICAL_UUID.test(id)) throw new RolloutNotFoundError(id);
    const [row] = await this.prisma.$queryRaw<DetailRow[]>`
      SELECT ${SUMMARY_COLUMNS}, r.strategy, r.plan, r.failures_acknowledged AS "failuresAcknowledged",
             r.resolved_acknowledged AS "resolvedAcknowledged", v.id::text AS "versionId", ${HOLD_SQL} AS hold
      FROM rollouts r JOIN configs c ON c.id = r.config_id JOIN config_versions v ON v.id = r.config_version_id
      WHERE r.id = ${id}::uuid`;
    if (!row) throw new RolloutNotFoundError(id);
    const [waves, counts] = await Promise.all([
      this.prisma.$queryRaw<WaveRow[]>`
        SELECT direction, index, stage, size, state, started_at AS "startedAt", resolved_at AS "resolvedAt",
               finished_at AS "finishedAt"
        FROM rollout_waves WHERE rollout_id = ${id}::uuid ORDER BY direction, index`,
      this.prisma.$queryRaw<Array<{ wave: number; state: TargetStateName; n: number }>>`
        SELECT wave_index AS wave, state::text AS state, count(*)::int AS n
        FROM rollout_targets WHERE rollout_id = ${id}::uuid GROUP BY 1, 2`,
    ]);
    const rollbackWaves = waves.filter((w) => w.direction === 'rollback');
    const rollbackCounts =
      rollbackWaves.length > 0
        ? await this.prisma.$queryRaw<Array<{ wave: number | null; state: string; n: number }>>`
            SELECT rollback_wave AS wave, rollback_state AS state, count(*)::int AS n
            FROM rollout_targets WHERE rollout_id = ${id}::uuid AND rollback_state IS NOT NULL GROUP BY 1, 2`
        : [];
    return detailOf(row, waves, counts, rollbackWaves, rollbackCounts);
  }

  // ---------------------------------------------------------------------------------------------
  // Controls

  /** running → paused: the worker stops sending; targets already sent keep resolving. */
  pause(id: string, opts: ControlOptions = {}): Promise<RolloutDetail> {
    return this.control(id, 'pause', opts);
  }

  /** paused → running; failures so far are acknowledged (the budget counts those after now). */
  resume(id: string, opts: ControlOptions = {}): Promise<RolloutDetail> {
    return this.control(id, 'resume', opts);
  }

  /** A manual stage that passed and holds → the next stage starts (running). */
  promote(id: string, opts: ControlOptions = {}): Promise<RolloutDetail> {
    return this.control(id, 'promote', opts);
  }

  /** Stop for good: agents keep what they have; unsent targets are skipped; targets are released. */
  abort(id: string, opts: ControlOptions = {}): Promise<RolloutDetail> {
    return this.control(id, 'abort', opts);
  }

  /** running | paused → rolling_back. The worker plans and runs the rollback waves. */
  rollback(id: string, opts: ControlOptions = {}): Promise<RolloutDetail> {
    return this.control(id, 'rollback', opts);
  }

  async control(id: string, action: RolloutAction, opts: ControlOptions = {}): Promise<RolloutDetail> {
    if (!CANONICAL_UUID.test(id)) throw new RolloutNotFoundError(id);
    const t = TRANSITIONS[action];
    const reason = opts.reason === undefined ? t.defaultReason : clip(opts.reason);
    const updated = await this.prisma.$transaction(async (tx) => {
      const rows = await tx.$queryRaw<Array<{ step: number; state: RolloutStateName; reason: string | null }>>`
        UPDATE rollouts r SET
          state = ${t.to}::rollout_state,
          step = r.step + 1,
          reason = ${reason},
          updated_at = now()
          ${t.extraSet}
        WHERE r.id = ${id}::uuid AND r.state::text IN (${Prisma.join(t.from.map((s) => Prisma.sql`${s}`))})
          ${t.extraWhere}
        RETURNING r.step, r.state::text AS state, r.reason`;
      const row = rows[0];
      if (!row) return undefined;
      if (action === 'abort') {
        // Every target is free for another rollout; unsent ones will never be sent (one pass).
        await tx.$executeRaw`
          UPDATE rollout_targets SET
            active = false,
            state = CASE WHEN state = 'pending' THEN 'skipped' ELSE state END,
            detail = CASE WHEN state = 'pending' THEN 'rollout aborted' ELSE detail END,
            resolved_at = CASE WHEN state = 'pending' THEN now() ELSE resolved_at END
          WHERE rollout_id = ${id}::uuid AND (active OR state = 'pending')`;
      }
      return row;
    });
    if (!updated) throw await this.transitionError(id, action);
    await this.afterTransition(id, EVENT_TYPES[action], updated.reason);
    return this.get(id);
  }

  // ---------------------------------------------------------------------------------------------
  // Internals

  private async transitionError(id: string, action: RolloutAction): Promise<Error> {
    const [row] = await this.prisma.$queryRaw<Array<{ state: RolloutStateName; reason: string | null; hold: boolean }>>`
      SELECT r.state::text AS state, r.reason, ${HOLD_SQL} AS hold FROM rollouts r WHERE r.id = ${id}::uuid`;
    if (!row) return new RolloutNotFoundError(id);
    return new RolloutTransitionError(id, action, row.state, hintFor(action, row.state, row.hold));
  }

  /** Publishes the event of a committed transition and kicks the worker; failures are only logged. */
  private async afterTransition(id: string, type: string, reason: string | null): Promise<void> {
    try {
      const [r] = await this.prisma.$queryRaw<Array<{ step: number; state: RolloutStateName; stage: number }>>`
        SELECT step, state::text AS state, stage_index AS stage FROM rollouts WHERE id = ${id}::uuid`;
      if (r) {
        const [counts, [wave]] = await Promise.all([
          this.prisma.$queryRaw<Array<{ state: TargetStateName; n: number }>>`
            SELECT state::text AS state, count(*)::int AS n FROM rollout_targets
            WHERE rollout_id = ${id}::uuid GROUP BY 1`,
          this.prisma.$queryRaw<Array<{ index: number | null }>>`
            SELECT min(index) AS index FROM rollout_waves
            WHERE rollout_id = ${id}::uuid AND direction = 'forward' AND state <> 'passed'`,
        ]);
        const event: RolloutEvent = {
          rolloutId: id,
          step: r.step,
          at: new Date().toISOString(),
          type,
          state: r.state,
          stage: r.stage,
          wave: wave?.index ?? null,
          counts: countsOf(counts),
          reason,
        };
        await bounded(publishRolloutEvent(this.redis, event), this.notifyTimeoutMs);
      }
    } catch (err) {
      this.warn(`rollout ${id}: could not publish the ${type} event: ${(err as Error).message}`);
    }
    if (!this.kick) return;
    try {
      // Let the worker act on the change now instead of at its next sweep.
      await bounded(this.kick(id), this.notifyTimeoutMs);
    } catch (err) {
      this.warn(`rollout ${id}: could not enqueue an advance job: ${(err as Error).message}`);
    }
  }

  /** Active rollouts that hold agents this request would target (outside any transaction). */
  private async conflictsOf(req: ResolvedRequest): Promise<ConflictingRollout[]> {
    return conflictsFrom(this.prisma, Prisma.sql`(${candidatesSql(req)}) c0`);
  }

  private planned(
    req: ResolvedRequest,
    rows: ReadonlyArray<{ bucket: Bucket; stage: number | null; n: number }>,
  ): PlannedRollout {
    const populations = req.stageSelectors.map(() => 0);
    const excluded = noExclusions();
    for (const r of rows) {
      if (r.bucket === 'target') populations[r.stage!] = (populations[r.stage!] ?? 0) + r.n;
      else excluded[r.bucket] += r.n;
    }
    const plan = planRollout({ strategy: req.strategy, stagePopulations: populations, excluded });
    return {
      config: req.config,
      version: { id: req.version.id, number: req.version.number, hash: req.version.hash },
      selector: req.selectorText,
      strategy: req.strategy,
      plan,
    };
  }

  /**
   * Validates a request: selector (RolloutSelectorError), config and version
   * (RolloutReferenceError), strategy and its stage selectors (libs/domain RolloutStrategyError).
   */
  private async resolve(input: RolloutPlanInput): Promise<ResolvedRequest> {
    const selector = parseSelector('selector', input.selector);
    const [row] = await this.prisma.$queryRaw<
      Array<{ id: string; name: string; agentType: string; versionId: bigint | null; hash: string | null }>
    >`
      SELECT c.id::text AS id, c.name, c.agent_type AS "agentType", v.id AS "versionId", v.hash
      FROM configs c LEFT JOIN config_versions v ON v.config_id = c.id AND v.version = ${input.version}
      WHERE ${configMatch(input.config, 'c')}
      LIMIT 1`;
    if (!row) {
      throw new RolloutReferenceError('config', `No config named ${JSON.stringify(input.config)} exists.`);
    }
    if (row.versionId === null || row.hash === null) {
      throw new RolloutReferenceError('version', `Config "${row.name}" has no version ${input.version}.`);
    }
    const strategy = normaliseStrategy(input.strategy);
    // normaliseStrategy checked that every stage selector parses.
    const stageSelectors = rolloutStages(strategy).map((s) => parseLabelSelector(s.selector));
    return {
      config: { id: row.id, name: row.name, agentType: row.agentType },
      version: { id: row.versionId.toString(), idBig: row.versionId, number: input.version, hash: row.hash },
      selectorText: input.selector,
      selector,
      strategy,
      stageSelectors,
    };
  }
}

// -----------------------------------------------------------------------------------------------
// Transitions

interface Transition {
  from: readonly RolloutStateName[];
  to: RolloutStateName;
  defaultReason: string | null;
  extraSet: Prisma.Sql;
  extraWhere: Prisma.Sql;
}

/**
 * True when the rollout holds after a manual stage (the engine's holdForPromotion): the current
 * stage is `manual`, every forward wave of it passed, and a later stage has agents (has waves).
 * Promote moves stage_index on by one; the engine takes it from there.
 */
const HOLD_SQL = Prisma.sql`COALESCE(
  r.plan -> 'stages' -> r.stage_index ->> 'promotion' = 'manual'
  AND NOT EXISTS (SELECT 1 FROM rollout_waves w WHERE w.rollout_id = r.id AND w.direction = 'forward'
                  AND w.stage = r.stage_index AND w.state <> 'passed')
  AND EXISTS (SELECT 1 FROM rollout_waves w WHERE w.rollout_id = r.id AND w.direction = 'forward'
              AND w.stage > r.stage_index), false)`;

const TRANSITIONS: Record<RolloutAction, Transition> = {
  pause: {
    from: ['planned', 'running'],
    to: 'paused',
    defaultReason: 'paused by an operator',
    extraSet: Prisma.empty,
    extraWhere: Prisma.empty,
  },
  resume: {
    from: ['paused'],
    to: 'running',
    defaultReason: null,
    // Failures so far are acknowledged: the budget counts only what resolves after the resume.
    extraSet: Prisma.sql`,
      failures_acknowledged = (SELECT count(*)::int FROM rollout_targets t
                               WHERE t.rollout_id = r.id AND t.state IN ('failed', 'timed_out')),
      resolved_acknowledged = (SELECT count(*)::int FROM rollout_targets t
                               WHERE t.rollout_id = r.id AND t.state IN ('applied', 'failed', 'timed_out'))`,
    extraWhere: Prisma.sql`AND NOT ${HOLD_SQL}`,
  },
  promote: {
    from: ['paused'],
    to: 'running',
    defaultReason: null,
    extraSet: Prisma.sql`, stage_index = r.stage_index + 1`,
    extraWhere: Prisma.sql`AND ${HOLD_SQL}`,
  },
  abort: {
    from: ['planned', 'running', 'paused', 'rolling_back'],
    to: 'aborted',
    defaultReason: 'aborted by an operator',
    extraSet: Prisma.sql`, finished_at = now()`,
    extraWhere: Prisma.empty,
  },
  rollback: {
    from: ['running', 'paused'],
    to: 'rolling_back',
    defaultReason: 'rollback requested by an operator',
    extraSet: Prisma.empty,
    extraWhere: Prisma.empty,
  },
};

const EVENT_TYPES: Record<RolloutAction, string> = {
  pause: 'paused',
  resume: 'resumed',
  promote: 'promoted',
  abort: 'aborted',
  rollback: 'rollback_requested',
};

function hintFor(action: RolloutAction, state: RolloutStateName, hold: boolean): string {
  const finished = state === 'completed' || state === 'aborted' || state === 'rolled_back';
  if (finished) {
    return action === 'rollback' && state === 'completed'
      ? 'A completed rollout no longer holds its agents; create a rollout of the previous version instead.'
      : 'The rollout is finished; create a new rollout instead.';
  }
  switch (action) {
    case 'pause':
      return state === 'paused' ? 'It is already paused.' : 'Only a running rollout can be paused.';
    case 'resume':
      if (state === 'paused' && hold) return 'It is waiting for promotion of the next stage: use promote.';
      return state === 'running' ? 'It is already running.' : 'Only a paused rollout can be resumed.';
    case 'promote':
      if (state === 'paused') return 'It is not waiting for promotion of a stage: use resume.';
      return 'Only a rollout holding after a manual stage can be promoted.';
    case 'abort':
      return 'Only a rollout that is not finished can be aborted.';
    case 'rollback':
      return state === 'rolling_back'
        ? 'It is already rolling back.'
        : 'Only a running or paused rollout can be rolled back.';
  }
}

// -----------------------------------------------------------------------------------------------
// SQL

/** `configs` row condition for a config name or id. */
function configMatch(ref: string, alias = 'c'): Prisma.Sql {
  const c = Prisma.raw(alias);
  return CANONICAL_UUID.test(ref)
    ? Prisma.sql`(${c}.name = ${ref} OR ${c}.id = ${ref}::uuid)`
    : Prisma.sql`${c}.name = ${ref}`;
}

/**
 * One row per agent matched by the rollout selector: (uid, stage, bucket). `stage` is the first
 * stage whose selector the agent matches (null: none); `bucket` is `target` or the first reason it
 * is excluded, in the order of RolloutPlan.excluded. CASE evaluates lazily, so the EXISTS probes
 * run only for agents still in the running.
 */
function candidatesSql(req: ResolvedRequest): Prisma.Sql {
  const stageCase = Prisma.sql`CASE ${Prisma.join(
    req.stageSelectors.map((s, i) => Prisma.sql`WHEN ${selectorToSql(s)} THEN ${i}::int`),
    ' ',
  )} END`;
  const hash = req.version.hash;
  // A generic config fits every agent; the others only agents of their own type.
  const wrongType =
    req.config.agentType === GENERIC_AGENT_TYPE
      ? Prisma.empty
      : Prisma.sql`WHEN m.agent_type <> ${req.config.agentType} THEN 'wrongAgentType'`;
  return Prisma.sql`
    SELECT m.uid, m.stage,
      CASE
        WHEN m.stage IS NULL THEN 'noStage'
        ${wrongType}
        WHEN (m.capabilities & ${ACCEPTS_REMOTE_CONFIG}) = 0 THEN 'noAcceptsRemoteConfig'
        WHEN EXISTS (SELECT 1 FROM config_quarantine q
                     WHERE q.agent_uid = m.uid AND q.hash = ${hash} AND q.cleared_at IS NULL) THEN 'quarantined'
        WHEN m.reported_hash = ${hash} AND m.reported_status = 'APPLIED'
             AND EXISTS (SELECT 1 FROM agent_desired_configs d
                         WHERE d.agent_uid = m.uid AND d.config_version_id = ${req.version.idBig}) THEN 'alreadyAtTarget'
        WHEN EXISTS (SELECT 1 FROM rollout_targets t WHERE t.agent_uid = m.uid AND t.active) THEN 'inOtherRollout'
        ELSE 'target'
      END AS bucket
    FROM (
      SELECT a.uid, a.agent_type, a.capabilities, ${stageCase} AS stage,
             a.remote_config_status ->> 'lastRemoteConfigHash' AS reported_hash,
             a.remote_config_status ->> 'status' AS reported_status
      FROM agents a
      WHERE a.replaced_by_uid IS NULL AND ${selectorToSql(req.selector)}
    ) m`;
}

type Queryable = Pick<PrismaClient, '$queryRaw'>;

/**
 * Active rollouts holding agents of `source` (candidates aliased c0) that would otherwise be
 * targeted, biggest overlap first.
 */
async function conflictsFrom(db: Queryable, source: Prisma.Sql): Promise<ConflictingRollout[]> {
  const rows = await db.$queryRaw<Array<{ rolloutId: string; agents: number }>>`
    SELECT t.rollout_id::text AS "rolloutId", count(*)::int AS agents
    FROM ${source} JOIN rollout_targets t ON t.agent_uid = c0.uid AND t.active
    WHERE c0.bucket = 'inOtherRollout'
    GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT ${MAX_CONFLICTS_NAMED}`;
  return rows;
}

/**
 * Inserts the forward waves and snapshots the targets. Within a stage agents are ordered by
 * md5(rollout id ‖ uid) (a stable, fair sample), then cut at the planned wave boundaries.
 */
async function insertWavesAndTargets(tx: Prisma.TransactionClient, id: string, plan: RolloutPlan): Promise<void> {
  const layout = waveLayout(plan);
  const waveIndex = layout.map((w) => w.index);
  const waveStage = layout.map((w) => w.stage);
  const waveSize = layout.map((w) => w.size);
  // row_number() is 1-based: the wave holds positions (firstPosition, firstPosition + size].
  const lower = layout.map((w) => w.firstPosition);
  const upper = layout.map((w) => w.firstPosition + w.size);
  await tx.$executeRaw`
    INSERT INTO rollout_waves (rollout_id, direction, index, stage, size)
    SELECT ${id}::uuid, 'forward', w.i, w.s, w.n
    FROM unnest(${waveIndex}::int[], ${waveStage}::int[], ${waveSize}::int[]) AS w(i, s, n)`;
  const inserted = await tx.$executeRaw`
    INSERT INTO rollout_targets (rollout_id, agent_uid, stage, wave_index, previous_version_id, previous_hash)
    SELECT ${id}::uuid, c.uid, c.stage, w.i, d.config_version_id, d.hash
    FROM (
      SELECT uid, stage,
             row_number() OVER (PARTITION BY stage ORDER BY md5(${id} || uid::text), uid) AS rn
      FROM rollout_candidates WHERE bucket = 'target'
    ) c
    JOIN unnest(${waveIndex}::int[], ${waveStage}::int[], ${lower}::int[], ${upper}::int[]) AS w(i, s, lo, hi)
      ON w.s = c.stage AND c.rn > w.lo AND c.rn <= w.hi
    LEFT JOIN agent_desired_configs d ON d.agent_uid = c.uid
    ORDER BY c.uid`;
  if (inserted !== plan.targets) {
    throw new Error(`rollout ${id}: planned ${plan.targets} targets but inserted ${inserted}`);
  }
}

/**
 * True when `err` (a Prisma / driver error, possibly wrapping the pg error) carries the Postgres
 * SQLSTATE `code`, and mentions `constraint` when given.
 */
function isPgError(err: unknown, code: string, constraint?: string): boolean {
  const seen = new Set<unknown>();
  let e: unknown = err;
  for (let i = 0; i < 5 && e && typeof e === 'object' && !seen.has(e); i++) {
    seen.add(e);
    const o = e as { code?: unknown; message?: unknown; meta?: Record<string, unknown>; cause?: unknown };
    const text = `${String(o.message ?? '')} ${JSON.stringify(o.meta ?? {})}`;
    const matches =
      o.code === code ||
      o.meta?.code === code ||
      text.includes(code) ||
      (code === '40P01' && /deadlock detected/i.test(text));
    if (matches && (!constraint || text.includes(constraint))) {
      return true;
    }
    e = o.cause;
  }
  return false;
}

// -----------------------------------------------------------------------------------------------
// Validation helpers

function parseSelector(field: string, text: string): LabelSelector {
  try {
    return parseLabelSelector(text);
  } catch (err) {
    if (err instanceof LabelSelectorError) {
      throw new RolloutSelectorError(field, `${err.message} (at character ${err.position + 1})`);
    }
    throw err;
  }
}

/** Rejects when `promise` has not settled within `ms`. */
async function bounded<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer from Redis within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

function clip(text: string): string {
  return text.length > MAX_REASON_LENGTH ? `${text.slice(0, MAX_REASON_LENGTH - 1)}…` : text;
}

// -----------------------------------------------------------------------------------------------
// Row mapping

const SUMMARY_COLUMNS = Prisma.sql`
  r.id::text AS id, c.id::text AS "configId", c.name AS "configName", v.version AS "versionNumber",
  v.hash AS "versionHash", r.selector, r.state::text AS state, r.reason, r.step, r.stage_index AS "stageIndex",
  COALESCE((r.plan ->> 'targets')::int, 0) AS targets, r.follow_new_agents AS "followNewAgents",
  r.created_by AS "createdBy", r.created_at AS "createdAt", r.started_at AS "startedAt",
  r.finished_at AS "finishedAt", r.updated_at AS "updatedAt"`;

interface SummaryRow {
  id: string;
  configId: string;
  configName: string;
  versionNumber: number;
  versionHash: string;
  selector: string;
  state: RolloutStateName;
  reason: string | null;
  step: number;
  stageIndex: number;
  targets: number;
  followNewAgents: boolean;
  createdBy: string | null;
  createdAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
  updatedAt: Date;
}

interface DetailRow extends SummaryRow {
  strategy: RolloutStrategy;
  plan: RolloutPlan;
  failuresAcknowledged: number;
  resolvedAcknowledged: number;
  versionId: string;
  /** HOLD_SQL: held after a manual stage, waiting for promotion. */
  hold: boolean;
}

interface WaveRow {
  direction: 'forward' | 'rollback';
  index: number;
  stage: number;
  size: number;
  state: string;
  startedAt: Date | null;
  resolvedAt: Date | null;
  finishedAt: Date | null;
}

function summaryOf(r: SummaryRow): RolloutSummary {
  return {
    id: r.id,
    config: { id: r.configId, name: r.configName },
    version: { number: r.versionNumber, hash: r.versionHash },
    selector: r.selector,
    state: r.state,
    reason: r.reason,
    step: r.step,
    stageIndex: r.stageIndex,
    targets: r.targets,
    followNewAgents: r.followNewAgents,
    createdBy: r.createdBy,
    createdAt: r.createdAt,
    startedAt: r.startedAt,
    finishedAt: r.finishedAt,
    updatedAt: r.updatedAt,
  };
}

function countsOf(rows: ReadonlyArray<{ state: TargetStateName; n: number }>): TargetCounts {
  const c = emptyCounts();
  for (const r of rows) if ((TARGET_STATES as readonly string[]).includes(r.state)) c[r.state] += r.n;
  return c;
}

function addCounts(into: TargetCounts, from: TargetCounts): void {
  for (const s of TARGET_STATES) into[s] += from[s];
}

function detailOf(
  row: DetailRow,
  waveRows: readonly WaveRow[],
  counts: ReadonlyArray<{ wave: number; state: TargetStateName; n: number }>,
  rollbackWaveRows: readonly WaveRow[],
  rollbackCounts: ReadonlyArray<{ wave: number | null; state: string; n: number }>,
): RolloutDetail {
  const perWave = new Map<number, TargetCounts>();
  for (const c of counts) {
    const wc = perWave.get(c.wave) ?? emptyCounts();
    if ((TARGET_STATES as readonly string[]).includes(c.state)) wc[c.state] += c.n;
    perWave.set(c.wave, wc);
  }
  const waves: WaveDetail[] = waveRows
    .filter((w) => w.direction === 'forward')
    .map((w) => ({ ...waveBase(w), counts: perWave.get(w.index) ?? emptyCounts() }));

  const totals = emptyCounts();
  for (const wc of perWave.values()) addCounts(totals, wc);

  const stages: StageDetail[] = (row.plan.stages ?? []).map((s, index) => {
    const sc = emptyCounts();
    for (const w of waves) if (w.stage === index) addCounts(sc, w.counts);
    return { index, name: s.name, selector: s.selector, promotion: s.promotion, agents: s.agents, counts: sc };
  });

  let rollback: RolloutDetail['rollback'] = null;
  if (rollbackWaveRows.length > 0) {
    const perRbWave = new Map<number, RollbackCounts>();
    const rbTotal: RollbackCounts = { pending: 0, applying: 0, done: 0 };
    for (const c of rollbackCounts) {
      if (c.state !== 'pending' && c.state !== 'applying' && c.state !== 'done') continue;
      rbTotal[c.state] += c.n;
      if (c.wave === null) continue;
      const wc = perRbWave.get(c.wave) ?? { pending: 0, applying: 0, done: 0 };
      wc[c.state] += c.n;
      perRbWave.set(c.wave, wc);
    }
    rollback = {
      waves: rollbackWaveRows.map((w) => ({
        ...waveBase(w),
        counts: perRbWave.get(w.index) ?? { pending: 0, applying: 0, done: 0 },
      })),
      counts: rbTotal,
    };
  }

  const current = waves.find((w) => w.state !== 'passed');
  return {
    ...summaryOf(row),
    version: { id: row.versionId, number: row.versionNumber, hash: row.versionHash },
    strategy: row.strategy,
    // Plans stored before a reason existed lack it: 0.
    plan: { ...row.plan, excluded: { ...noExclusions(), ...row.plan.excluded } },
    failuresAcknowledged: row.failuresAcknowledged,
    resolvedAcknowledged: row.resolvedAcknowledged,
    stage: stages[row.stageIndex] ?? null,
    stages,
    counts: totals,
    waves,
    rollback,
    currentWave: current?.index ?? null,
    pauseCause: pauseCauseOf(row),
  };
}

function pauseCauseOf(row: DetailRow): RolloutPauseCause | null {
  if (row.state !== 'paused') return null;
  if (row.hold) return 'promotion';
  return isFailureBudgetReason(row.reason) ? 'budget' : 'person';
}

function waveBase(w: WaveRow): Omit<WaveDetail, 'counts'> {
  return {
    direction: w.direction,
    index: w.index,
    stage: w.stage,
    size: w.size,
    state: w.state,
    startedAt: w.startedAt,
    resolvedAt: w.resolvedAt,
    finishedAt: w.finishedAt,
  };
}
