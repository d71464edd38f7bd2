// Rollouts: plan, start, list, read, control.
import type { RolloutPlan, RollbackCounts, StagePlan, TargetCounts } from '@opamp/domain';
import type {
  CreatedRollout,
  RollbackWaveDetail,
  RolloutAction,
  RolloutConfigRef,
  RolloutDetail,
  RolloutSummary,
  RolloutVersionRef,
  StageDetail,
  WaveDetail,
} from '@opamp/rollouts';
import type { Page } from '../../common/pagination.js';
import { parseControlBody, parseCreateRolloutBody, parseListRolloutsQuery } from '../../rollouts/rollouts.query.js';
import type { DryRunResult } from '../../rollouts/rollouts.service.js';
import { objectType, restBody, restQuery, type FieldResolver, type ObjectResolvers } from '../resolver-types.js';
import type { ResolverDeps } from './deps.js';

/** What createRollout answers: the created rollout, or (dryRun) its plan with a null id. */
export interface CreatedRolloutView {
  id: string | null;
  dryRun: boolean;
  state: string;
  reason: string | null;
  config: RolloutConfigRef;
  version: RolloutVersionRef;
  selector: string;
  strategy: unknown;
  plan: RolloutPlan;
  createdAt: Date | null;
}

export function createdRolloutView(r: CreatedRollout | DryRunResult): CreatedRolloutView {
  const common = { config: r.config, version: r.version, selector: r.selector, strategy: r.strategy, plan: r.plan };
  if (r.id === null) return { ...common, id: null, dryRun: true, state: r.state, reason: null, createdAt: null };
  const created = r as CreatedRollout;
  return {
    ...common,
    id: created.id,
    dryRun: false,
    state: created.state,
    reason: created.reason,
    createdAt: created.createdAt,
  };
}

const control =
  (d: ResolverDeps, action: RolloutAction): FieldResolver =>
  (_s, a) =>
    d.rollouts.control(
      String(a.id),
      action,
      parseControlBody(a.reason === undefined || a.reason === null ? {} : { reason: a.reason }),
    );

export function rolloutQueries(d: ResolverDeps): Record<string, FieldResolver> {
  return {
    rollouts: (_s, a) => d.rollouts.list(parseListRolloutsQuery(restQuery(a))),
    rollout: (_s, a) => d.rollouts.get(String(a.id)),
  };
}

export function rolloutMutations(d: ResolverDeps): Record<string, FieldResolver> {
  return {
    createRollout: async (_s, a, ctx) =>
      createdRolloutView(await d.rollouts.create(parseCreateRolloutBody(restBody(a.input)), ctx.principal.id)),
    pauseRollout: control(d, 'pause'),
    resumeRollout: control(d, 'resume'),
    promoteRollout: control(d, 'promote'),
    abortRollout: control(d, 'abort'),
    rollbackRollout: control(d, 'rollback'),
  };
}

const ROLLOUT_SUMMARY_FIELDS = [
  'id',
  'config',
  'version',
  'selector',
  'state',
  'reason',
  'step',
  'stageIndex',
  'targets',
  'followNewAgents',
  'createdBy',
  'createdAt',
  'startedAt',
  'finishedAt',
  'updatedAt',
] as const;

const WAVE_FIELDS = [
  'direction',
  'index',
  'stage',
  'size',
  'state',
  'startedAt',
  'resolvedAt',
  'finishedAt',
  'counts',
] as const;

export function rolloutTypes(d: ResolverDeps): Record<string, ObjectResolvers> {
  return {
    RolloutConfigRef: objectType<RolloutConfigRef>(['id', 'name', 'agentType']),
    RolloutVersionRef: objectType<RolloutVersionRef>(['id', 'number', 'hash']),
    TargetCounts: objectType<TargetCounts>(['pending', 'applying', 'applied', 'failed', 'timed_out', 'skipped']),
    RollbackCounts: objectType<RollbackCounts>(['pending', 'applying', 'done']),
    StagePlan: objectType<StagePlan>(['name', 'selector', 'promotion', 'agents', 'waves']),
    RolloutExclusions: objectType<RolloutPlan['excluded']>([
      'noStage',
      'wrongAgentType',
      'noAcceptsRemoteConfig',
      'quarantined',
      'alreadyAtTarget',
      'inOtherRollout',
    ]),
    RolloutPlan: objectType<RolloutPlan>(['targets', 'stages', 'excluded', 'minimumDurationSeconds']),
    RolloutStage: objectType<StageDetail>(['index', 'name', 'selector', 'promotion', 'agents', 'counts']),
    RolloutWave: objectType<WaveDetail>(WAVE_FIELDS),
    RollbackWave: objectType<RollbackWaveDetail>(WAVE_FIELDS),
    RolloutRollback: objectType<NonNullable<RolloutDetail['rollback']>>(['waves', 'counts']),
    RolloutSummary: objectType<RolloutSummary>(ROLLOUT_SUMMARY_FIELDS),
    RolloutConnection: objectType<Page<RolloutSummary>>(['items', 'nextCursor']),
    Rollout: objectType<RolloutDetail>([
      ...ROLLOUT_SUMMARY_FIELDS,
      'strategy',
      'plan',
      'failuresAcknowledged',
      'resolvedAcknowledged',
      'stage',
      'stages',
      'counts',
      'waves',
      'rollback',
      'currentWave',
      'pauseCause',
    ]),
    CreatedRollout: objectType<CreatedRolloutView>(
      ['id', 'dryRun', 'state', 'reason', 'config', 'version', 'selector', 'strategy', 'plan', 'createdAt'],
      { rollout: (s) => (s.id === null ? null : d.rollouts.get(s.id)) },
    ),
  };
}
