// The rollout state machine: given what the database says now, what is the one next thing to do.
// The rollout worker (libs/rollouts engine) reads a snapshot under the rollout's row lock, asks
// decideRolloutStep, applies the action and commits; so every step is one transition, decided
// by this pure function and nothing else (docs/rollouts.md "The worker's step").
import type { PromotionMode, RolloutStateName, RolloutStrategy, TargetCounts } from './types.js';

export type WaveStateName = 'pending' | 'dispatching' | 'waiting' | 'soaking' | 'passed' | 'failed';
export type WaveDirection = 'forward' | 'rollback';

/** Rollback progress of the targets of one rollback wave (`rollout_targets.rollback_state`). */
export interface RollbackCounts {
  pending: number;
  applying: number;
  done: number;
}

export interface ForwardWaveView {
  index: number;
  stage: number;
  size: number;
  state: WaveStateName;
  /** When every target of the wave resolved: the soak runs from here. */
  resolvedAtMs: number | null;
  counts: TargetCounts;
}

export interface RollbackWaveView {
  index: number;
  size: number;
  state: WaveStateName;
  counts: RollbackCounts;
}

export interface RolloutSnapshot {
  state: RolloutStateName;
  /** The stage being rolled out (0-based). */
  stageIndex: number;
  /** The plan's stages (the implicit "all" stage when the strategy has none) and their target counts. */
  stages: ReadonlyArray<{ name: string; promotion: PromotionMode; agents: number }>;
  strategy: Pick<RolloutStrategy, 'soakSeconds' | 'maxFailurePercent' | 'onFailure' | 'maxRestartsPerSecond'>;
  /** Failed + timed-out targets a resume acknowledged. */
  failuresAcknowledged: number;
  /** Resolved (applied + failed + timed-out) targets at the last resume. */
  resolvedAcknowledged: number;
  /** Forward states of all the rollout's targets. */
  totals: TargetCounts;
  /** Targets still holding the rollout's claim on their agent (`rollout_targets.active`). */
  activeTargets: number;
  /** The first forward wave of the current stage that has not passed; null when the stage is done. */
  wave: ForwardWaveView | null;
  /** Rollback bookkeeping (meaningful while rolling back). */
  rollback: {
    /** Touched targets (applying, applied, failed, timed out) not yet given a rollback wave. */
    unplanned: number;
    /** The first rollback wave that has not passed; null when none is left. */
    wave: RollbackWaveView | null;
  };
  /** Sends of the current direction in the last second, and when the oldest of them leaves that window. */
  pacing: { dispatchedLastSecond: number; windowFreesAtMs: number | null };
  /** Most targets one step may send (bounds a transaction), whatever the pacing allows. */
  maxDispatchPerStep: number;
}

export type RolloutStepAction =
  /** planned → running (started_at = now). */
  | { type: 'start' }
  /** Send `count` more pending targets of the wave (a pending wave becomes dispatching). */
  | { type: 'dispatch'; direction: WaveDirection; wave: number; count: number }
  /** Every target of the wave was sent: dispatching → waiting. */
  | { type: 'waveSent'; direction: WaveDirection; wave: number }
  /** Every target of the wave resolved: → soaking, resolved_at = now (forward only). */
  | { type: 'waveResolved'; wave: number }
  /** The wave is done: → passed. */
  | { type: 'wavePassed'; direction: WaveDirection; wave: number }
  /** The stage passed and promotes itself: stage_index = stage. */
  | { type: 'advanceStage'; stage: number }
  /** The stage passed and waits for a person: state paused with the reason. */
  | { type: 'holdForPromotion'; stage: number; reason: string }
  /** Every stage passed: completed, targets released. */
  | { type: 'complete' }
  /** Over the failure budget with onFailure pause. */
  | { type: 'pause'; reason: string }
  /** Over the failure budget with onFailure rollback: running → rolling_back. */
  | { type: 'startRollback'; reason: string }
  /** Give every touched target a rollback wave (sized like forward waves) and create those waves. */
  | { type: 'planRollback' }
  /** Every rollback wave passed: rolled_back, targets released. */
  | { type: 'finishRollback' }
  /** A finished rollout (aborted through the api) still claims agents: release them. */
  | { type: 'release' }
  /** Nothing to do now; step again after retryAfterMs (null: at the worker's usual tick). */
  | { type: 'wait'; reason: string; retryAfterMs: number | null }
  /** Finished and released: no more steps needed. */
  | { type: 'idle' };

export interface FailureBudget {
  /** Failed + timed-out targets since the last resume. */
  failures: number;
  /** Targets the budget is a percent of: resolved since the last resume plus the current wave's unresolved ones. */
  counted: number;
  /** floor(maxFailurePercent × counted / 100). */
  allowed: number;
  over: boolean;
}

/**
 * The failure budget (docs/rollouts.md "Failure budget"): over when
 * `failures > floor(maxFailurePercent / 100 × counted)`, where `failures` are the failed and
 * timed-out targets since the last resume and `counted` is every target resolved since the last
 * resume plus the current wave's targets still pending or applying. Counting the whole current
 * wave means a wave is stopped as soon as it can no longer end within budget, and never earlier:
 * the first failure of a 1,000-agent wave does not pause it, 51 failures at 5 % do, even before
 * the wave's other agents report.
 */
export function failureBudget(
  s: Pick<RolloutSnapshot, 'strategy' | 'failuresAcknowledged' | 'resolvedAcknowledged' | 'totals' | 'wave'>,
): FailureBudget {
  const t = s.totals;
  const failures = Math.max(0, t.failed + t.timed_out - s.failuresAcknowledged);
  const inFlight = s.wave ? s.wave.counts.pending + s.wave.counts.applying : 0;
  const counted = Math.max(0, t.applied + t.failed + t.timed_out + inFlight - s.resolvedAcknowledged);
  // The epsilon keeps 5 % of 20 at 1 despite binary floating point.
  const allowed = Math.floor((s.strategy.maxFailurePercent * counted) / 100 + 1e-9);
  return { failures, counted, allowed, over: failures > allowed };
}

/** How the reason of a pause (or rollback) the failure budget caused begins. */
export const FAILURE_BUDGET_REASON_PREFIX = 'failure budget exceeded:';

/** True when a rollout's reason is the failure budget's (not a person's pause or a promotion hold). */
export function isFailureBudgetReason(reason: string | null | undefined): boolean {
  return typeof reason === 'string' && reason.startsWith(FAILURE_BUDGET_REASON_PREFIX);
}

function budgetReason(b: FailureBudget, s: Pick<RolloutSnapshot, 'strategy' | 'failuresAcknowledged'>): string {
  const since = s.failuresAcknowledged > 0 ? ' since the last resume' : '';
  return (
    `${FAILURE_BUDGET_REASON_PREFIX} ${b.failures} of ${b.counted} targets failed or timed out${since} ` +
    `(maxFailurePercent ${s.strategy.maxFailurePercent}% allows ${b.allowed})`
  );
}

/**
 * A second's sending allowance goes out in this many slices, one per step (the worker steps again
 * DISPATCH_SLICE_MS after a send). Sending the whole allowance in one step let two bursts land
 * within a fraction of a second when a step ran long (the bench measured 2× maxRestartsPerSecond
 * over one second); with slices the overshoot is at most one slice.
 */
export const DISPATCH_SLICES_PER_SECOND = 10;
export const DISPATCH_SLICE_MS = 1000 / DISPATCH_SLICES_PER_SECOND;

/** How many targets may be sent now (0: pacing says wait). */
function dispatchAllowance(s: RolloutSnapshot, pending: number): number {
  const rate = Math.max(0, s.strategy.maxRestartsPerSecond - s.pacing.dispatchedLastSecond);
  const slice = Math.ceil(s.strategy.maxRestartsPerSecond / DISPATCH_SLICES_PER_SECOND);
  return Math.max(0, Math.min(pending, rate, slice, s.maxDispatchPerStep));
}

function pacingWait(s: RolloutSnapshot, nowMs: number): RolloutStepAction {
  const freeIn = s.pacing.windowFreesAtMs === null ? 100 : Math.max(10, s.pacing.windowFreesAtMs - nowMs);
  return {
    type: 'wait',
    reason: `pacing: ${s.pacing.dispatchedLastSecond} sent in the last second (maxRestartsPerSecond ${s.strategy.maxRestartsPerSecond})`,
    retryAfterMs: freeIn,
  };
}

function decideForward(s: RolloutSnapshot, nowMs: number): RolloutStepAction {
  const budget = failureBudget(s);
  if (budget.over) {
    const reason = budgetReason(budget, s);
    return s.strategy.onFailure === 'rollback' ? { type: 'startRollback', reason } : { type: 'pause', reason };
  }

  const w = s.wave;
  if (!w) {
    // The stage passed. Later stages without agents have nothing to gate: when no later stage has
    // any, the rollout is complete. Otherwise a manual stage holds (even an empty one: the person
    // asked to decide before what follows), an auto stage moves on to the next stage.
    const rest = s.stages.slice(s.stageIndex + 1);
    if (!rest.some((st) => st.agents > 0)) return { type: 'complete' };
    const stage = s.stages[s.stageIndex]!;
    if (stage.promotion === 'manual') {
      const next = rest.find((st) => st.agents > 0)!;
      return {
        type: 'holdForPromotion',
        stage: s.stageIndex,
        reason: `stage "${stage.name}" passed; waiting for promotion to "${next.name}"`,
      };
    }
    return { type: 'advanceStage', stage: s.stageIndex + 1 };
  }

  const c = w.counts;
  if (c.pending > 0) {
    const count = dispatchAllowance(s, c.pending);
    if (count === 0) return pacingWait(s, nowMs);
    return { type: 'dispatch', direction: 'forward', wave: w.index, count };
  }
  if (c.applying > 0) {
    if (w.state === 'pending' || w.state === 'dispatching')
      return { type: 'waveSent', direction: 'forward', wave: w.index };
    return { type: 'wait', reason: `wave ${w.index}: ${c.applying} agent(s) still applying`, retryAfterMs: null };
  }
  // Every target resolved (or was skipped).
  if (w.state !== 'soaking') {
    const sent = c.applied + c.failed + c.timed_out;
    if (sent === 0) return { type: 'wavePassed', direction: 'forward', wave: w.index };
    return { type: 'waveResolved', wave: w.index };
  }
  const soakEndsAt = (w.resolvedAtMs ?? nowMs) + s.strategy.soakSeconds * 1000;
  if (nowMs >= soakEndsAt) return { type: 'wavePassed', direction: 'forward', wave: w.index };
  return { type: 'wait', reason: `wave ${w.index}: soaking`, retryAfterMs: soakEndsAt - nowMs };
}

function decideRollback(s: RolloutSnapshot, nowMs: number): RolloutStepAction {
  if (s.rollback.unplanned > 0) return { type: 'planRollback' };
  const w = s.rollback.wave;
  if (!w) return { type: 'finishRollback' };
  const c = w.counts;
  if (c.pending > 0) {
    const count = dispatchAllowance(s, c.pending);
    if (count === 0) return pacingWait(s, nowMs);
    return { type: 'dispatch', direction: 'rollback', wave: w.index, count };
  }
  if (c.applying > 0) {
    if (w.state === 'pending' || w.state === 'dispatching')
      return { type: 'waveSent', direction: 'rollback', wave: w.index };
    return {
      type: 'wait',
      reason: `rollback wave ${w.index}: ${c.applying} agent(s) still restoring`,
      retryAfterMs: null,
    };
  }
  return { type: 'wavePassed', direction: 'rollback', wave: w.index };
}

/** The one next step of a rollout; see {@link RolloutStepAction} for what each answer means. */
export function decideRolloutStep(s: RolloutSnapshot, nowMs: number): RolloutStepAction {
  switch (s.state) {
    case 'completed':
    case 'aborted':
    case 'rolled_back':
      return s.activeTargets > 0 ? { type: 'release' } : { type: 'idle' };
    case 'planned':
      return { type: 'start' };
    case 'paused':
      // Stop sending; targets already sent keep resolving (the engine reconciles them every step).
      return { type: 'wait', reason: 'paused', retryAfterMs: null };
    case 'rolling_back':
      return decideRollback(s, nowMs);
    case 'running':
      return decideForward(s, nowMs);
  }
}

/** True for the states in which the worker keeps stepping a rollout. */
export function isActiveRolloutState(state: RolloutStateName): boolean {
  return state === 'planned' || state === 'running' || state === 'paused' || state === 'rolling_back';
}
