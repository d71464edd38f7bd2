import { describe, expect, it } from 'vitest';
import {
  decideRolloutStep,
  failureBudget,
  isActiveRolloutState,
  type ForwardWaveView,
  type RollbackWaveView,
  type RolloutSnapshot,
  type RolloutStepAction,
} from './decide.js';
import type { TargetCounts } from './types.js';

const NOW = 1_000_000;

function counts(c: Partial<TargetCounts> = {}): TargetCounts {
  return { pending: 0, applying: 0, applied: 0, failed: 0, timed_out: 0, skipped: 0, ...c };
}

function wave(w: Partial<Omit<ForwardWaveView, 'counts'>> & { counts?: Partial<TargetCounts> } = {}): ForwardWaveView {
  return { index: 0, stage: 0, size: 10, state: 'dispatching', resolvedAtMs: null, ...w, counts: counts(w.counts) };
}

function rbWave(w: Partial<RollbackWaveView> = {}): RollbackWaveView {
  return { index: 0, size: 4, state: 'pending', counts: { pending: 0, applying: 0, done: 0 }, ...w };
}

type SnapshotPatch = Partial<Omit<RolloutSnapshot, 'strategy' | 'totals'>> & {
  strategy?: Partial<RolloutSnapshot['strategy']>;
  totals?: Partial<TargetCounts>;
};

function snap(p: SnapshotPatch = {}): RolloutSnapshot {
  return {
    state: 'running',
    stageIndex: 0,
    stages: [{ name: 'all', promotion: 'auto', agents: 10 }],
    failuresAcknowledged: 0,
    resolvedAcknowledged: 0,
    activeTargets: 10,
    wave: null,
    rollback: { unplanned: 0, wave: null },
    pacing: { dispatchedLastSecond: 0, windowFreesAtMs: null },
    maxDispatchPerStep: 1000,
    ...p,
    strategy: { soakSeconds: 60, maxFailurePercent: 5, onFailure: 'pause', maxRestartsPerSecond: 100, ...p.strategy },
    totals: counts(p.totals),
  };
}

const threeStages = [
  { name: 'test', promotion: 'auto' as const, agents: 3 },
  { name: 'stage', promotion: 'manual' as const, agents: 5 },
  { name: 'prod', promotion: 'auto' as const, agents: 20 },
];

describe('decideRolloutStep', () => {
  const cases: Array<[string, RolloutSnapshot, RolloutStepAction]> = [
    // Lifecycle ends.
    ['planned starts', snap({ state: 'planned' }), { type: 'start' }],
    [
      'paused waits (targets keep resolving)',
      snap({ state: 'paused' }),
      { type: 'wait', reason: 'paused', retryAfterMs: null },
    ],
    ['completed with released targets is idle', snap({ state: 'completed', activeTargets: 0 }), { type: 'idle' }],
    ['aborted still claiming agents releases them', snap({ state: 'aborted', activeTargets: 3 }), { type: 'release' }],
    ['rolled back and released is idle', snap({ state: 'rolled_back', activeTargets: 0 }), { type: 'idle' }],

    // Sending a wave.
    [
      'a pending wave is dispatched one pacing slice at a time (a tenth of maxRestartsPerSecond)',
      snap({
        wave: wave({ index: 2, state: 'pending', size: 500, counts: { pending: 500 } }),
        totals: { pending: 900 },
      }),
      { type: 'dispatch', direction: 'forward', wave: 2, count: 10 },
    ],
    [
      'the rest of a small wave is dispatched at once',
      snap({ wave: wave({ counts: { pending: 7, applying: 3 } }), totals: { pending: 7, applying: 3 } }),
      { type: 'dispatch', direction: 'forward', wave: 0, count: 7 },
    ],
    [
      'pacing: only what is left of this second',
      snap({
        strategy: { maxRestartsPerSecond: 1000 },
        wave: wave({ counts: { pending: 200, applying: 960 } }),
        pacing: { dispatchedLastSecond: 960, windowFreesAtMs: NOW + 300 },
      }),
      { type: 'dispatch', direction: 'forward', wave: 0, count: 40 },
    ],
    [
      'pacing: a step sends one tenth of the per-second allowance (no burst of a whole second)',
      snap({
        wave: wave({ counts: { pending: 200, applying: 60 } }),
        pacing: { dispatchedLastSecond: 60, windowFreesAtMs: NOW + 300 },
      }),
      { type: 'dispatch', direction: 'forward', wave: 0, count: 10 },
    ],
    [
      'pacing: the second is used up, wait until the window frees',
      snap({
        wave: wave({ counts: { pending: 200, applying: 100 } }),
        pacing: { dispatchedLastSecond: 100, windowFreesAtMs: NOW + 300 },
      }),
      {
        type: 'wait',
        reason: 'pacing: 100 sent in the last second (maxRestartsPerSecond 100)',
        retryAfterMs: 300,
      },
    ],
    [
      'a step never sends more than maxDispatchPerStep',
      snap({
        strategy: { maxRestartsPerSecond: 50000 },
        maxDispatchPerStep: 1000,
        wave: wave({ counts: { pending: 40000 } }),
      }),
      { type: 'dispatch', direction: 'forward', wave: 0, count: 1000 },
    ],
    [
      'all sent, some applying: the wave waits',
      snap({
        wave: wave({ state: 'dispatching', counts: { applying: 4, applied: 6 } }),
        totals: { applying: 4, applied: 6 },
      }),
      { type: 'waveSent', direction: 'forward', wave: 0 },
    ],
    [
      'waiting for reports',
      snap({
        wave: wave({ state: 'waiting', counts: { applying: 4, applied: 6 } }),
        totals: { applying: 4, applied: 6 },
      }),
      { type: 'wait', reason: 'wave 0: 4 agent(s) still applying', retryAfterMs: null },
    ],

    // Gate: resolution and soak.
    [
      'every target resolved: the soak starts',
      snap({ wave: wave({ state: 'waiting', counts: { applied: 10 } }), totals: { applied: 10 } }),
      { type: 'waveResolved', wave: 0 },
    ],
    [
      'resolved within budget (1 of 20 failed at 5%): the soak starts',
      snap({
        wave: wave({ state: 'waiting', size: 20, counts: { applied: 19, failed: 1 } }),
        totals: { applied: 19, failed: 1 },
      }),
      { type: 'waveResolved', wave: 0 },
    ],
    [
      'resolved straight from dispatching (agents without ReportsRemoteConfig)',
      snap({ wave: wave({ state: 'dispatching', counts: { applied: 10 } }), totals: { applied: 10 } }),
      { type: 'waveResolved', wave: 0 },
    ],
    [
      'a wave whose every target was skipped passes without a soak',
      snap({ wave: wave({ state: 'dispatching', counts: { skipped: 10 } }), totals: { skipped: 10 } }),
      { type: 'wavePassed', direction: 'forward', wave: 0 },
    ],
    [
      'soaking',
      snap({
        wave: wave({ state: 'soaking', resolvedAtMs: NOW - 20_000, counts: { applied: 10 } }),
        totals: { applied: 10 },
      }),
      { type: 'wait', reason: 'wave 0: soaking', retryAfterMs: 40_000 },
    ],
    [
      'the soak is over: the wave passes',
      snap({
        wave: wave({ state: 'soaking', resolvedAtMs: NOW - 60_000, counts: { applied: 10 } }),
        totals: { applied: 10 },
      }),
      { type: 'wavePassed', direction: 'forward', wave: 0 },
    ],
    [
      'a zero soak passes at once',
      snap({
        strategy: { soakSeconds: 0 },
        wave: wave({ state: 'soaking', resolvedAtMs: NOW, counts: { applied: 10 } }),
        totals: { applied: 10 },
      }),
      { type: 'wavePassed', direction: 'forward', wave: 0 },
    ],

    // Stages.
    ['the only stage passed: complete', snap({ wave: null, totals: { applied: 10 } }), { type: 'complete' }],
    [
      'an auto stage passed: the next stage starts',
      snap({ stages: threeStages, stageIndex: 0, wave: null, totals: { applied: 3, pending: 20 } }),
      { type: 'advanceStage', stage: 1 },
    ],
    [
      'a manual stage passed: hold for promotion',
      snap({ stages: threeStages, stageIndex: 1, wave: null, totals: { applied: 8, pending: 20 } }),
      { type: 'holdForPromotion', stage: 1, reason: 'stage "stage" passed; waiting for promotion to "prod"' },
    ],
    [
      'the last stage passed: complete, whatever its promotion mode',
      snap({ stages: threeStages, stageIndex: 2, wave: null, totals: { applied: 28 } }),
      { type: 'complete' },
    ],
    ['a rollout with no targets completes', snap({ wave: null, activeTargets: 0 }), { type: 'complete' }],
    [
      'later stages without agents are not waited for',
      snap({
        stages: [threeStages[0]!, { ...threeStages[1]!, agents: 0 }, { ...threeStages[2]!, agents: 0 }],
        wave: null,
        totals: { applied: 3 },
      }),
      { type: 'complete' },
    ],
    [
      'an empty auto stage is passed through',
      snap({ stages: [{ ...threeStages[0]!, agents: 0 }, threeStages[1]!, threeStages[2]!], wave: null }),
      { type: 'advanceStage', stage: 1 },
    ],
    [
      'a manual stage holds even when empty, naming the next stage that has agents',
      snap({
        stages: [
          threeStages[0]!,
          { ...threeStages[1]!, agents: 0 },
          { name: 'eu', promotion: 'auto', agents: 0 },
          threeStages[2]!,
        ],
        stageIndex: 1,
        wave: null,
      }),
      { type: 'holdForPromotion', stage: 1, reason: 'stage "stage" passed; waiting for promotion to "prod"' },
    ],

    // Failure budget.
    [
      'a failed canary of one pauses',
      snap({ wave: wave({ size: 1, state: 'waiting', counts: { failed: 1 } }), totals: { failed: 1, pending: 99 } }),
      {
        type: 'pause',
        reason: 'failure budget exceeded: 1 of 1 targets failed or timed out (maxFailurePercent 5% allows 0)',
      },
    ],
    [
      'a timed-out canary counts like a failed one',
      snap({
        wave: wave({ size: 1, state: 'waiting', counts: { timed_out: 1 } }),
        totals: { timed_out: 1, pending: 99 },
      }),
      {
        type: 'pause',
        reason: 'failure budget exceeded: 1 of 1 targets failed or timed out (maxFailurePercent 5% allows 0)',
      },
    ],
    [
      'one early failure in a wave of 100 does not stop it (the wave can still pass)',
      snap({
        wave: wave({ size: 100, counts: { pending: 80, applying: 15, applied: 4, failed: 1 } }),
        totals: { pending: 80, applying: 15, applied: 4, failed: 1 },
      }),
      { type: 'dispatch', direction: 'forward', wave: 0, count: 10 },
    ],
    [
      '6 failures in a wave of 100 stop it before the rest report',
      snap({
        wave: wave({ size: 100, counts: { applying: 90, applied: 4, failed: 6 } }),
        totals: { applying: 90, applied: 4, failed: 6 },
      }),
      {
        type: 'pause',
        reason: 'failure budget exceeded: 6 of 100 targets failed or timed out (maxFailurePercent 5% allows 5)',
      },
    ],
    [
      'onFailure rollback starts the rollback instead of pausing',
      snap({
        strategy: { onFailure: 'rollback' },
        wave: wave({ size: 1, state: 'waiting', counts: { failed: 1 } }),
        totals: { failed: 1 },
      }),
      {
        type: 'startRollback',
        reason: 'failure budget exceeded: 1 of 1 targets failed or timed out (maxFailurePercent 5% allows 0)',
      },
    ],
    [
      'a soak failure (unhealthy) that breaks the budget pauses a soaking wave',
      snap({
        wave: wave({ state: 'soaking', size: 4, resolvedAtMs: NOW - 1000, counts: { applied: 3, failed: 1 } }),
        totals: { applied: 3, failed: 1 },
      }),
      {
        type: 'pause',
        reason: 'failure budget exceeded: 1 of 4 targets failed or timed out (maxFailurePercent 5% allows 0)',
      },
    ],
    [
      'after a resume, acknowledged failures no longer count',
      snap({
        failuresAcknowledged: 1,
        resolvedAcknowledged: 1,
        wave: wave({ index: 1, size: 2, state: 'pending', counts: { pending: 2 } }),
        totals: { failed: 1, pending: 2 },
      }),
      { type: 'dispatch', direction: 'forward', wave: 1, count: 2 },
    ],
    [
      'after a resume, new failures count against the targets resolved since',
      snap({
        failuresAcknowledged: 1,
        resolvedAcknowledged: 1,
        wave: wave({ index: 1, size: 2, state: 'waiting', counts: { applying: 1, failed: 1 } }),
        totals: { failed: 2, applying: 1 },
      }),
      {
        type: 'pause',
        reason:
          'failure budget exceeded: 1 of 2 targets failed or timed out since the last resume (maxFailurePercent 5% allows 0)',
      },
    ],
    [
      'maxFailurePercent 100 never pauses',
      snap({
        strategy: { maxFailurePercent: 100 },
        wave: wave({ state: 'waiting', counts: { failed: 10 } }),
        totals: { failed: 10 },
      }),
      { type: 'waveResolved', wave: 0 },
    ],
    [
      'a paused rollout over budget stays paused (no second decision while paused)',
      snap({ state: 'paused', wave: wave({ counts: { failed: 10 } }), totals: { failed: 10 } }),
      { type: 'wait', reason: 'paused', retryAfterMs: null },
    ],

    // Rollback.
    [
      'rolling back: touched targets get rollback waves first',
      snap({ state: 'rolling_back', rollback: { unplanned: 12, wave: null } }),
      { type: 'planRollback' },
    ],
    [
      'rolling back: a rollback wave is dispatched, paced',
      snap({
        state: 'rolling_back',
        pacing: { dispatchedLastSecond: 30, windowFreesAtMs: NOW + 500 },
        rollback: {
          unplanned: 0,
          wave: rbWave({ index: 1, size: 500, counts: { pending: 500, applying: 0, done: 0 } }),
        },
      }),
      { type: 'dispatch', direction: 'rollback', wave: 1, count: 10 },
    ],
    [
      'rolling back: all sent',
      snap({
        state: 'rolling_back',
        rollback: {
          unplanned: 0,
          wave: rbWave({ state: 'dispatching', counts: { pending: 0, applying: 3, done: 1 } }),
        },
      }),
      { type: 'waveSent', direction: 'rollback', wave: 0 },
    ],
    [
      'rolling back: waiting for the previous config to be applied',
      snap({
        state: 'rolling_back',
        rollback: { unplanned: 0, wave: rbWave({ state: 'waiting', counts: { pending: 0, applying: 3, done: 1 } }) },
      }),
      { type: 'wait', reason: 'rollback wave 0: 3 agent(s) still restoring', retryAfterMs: null },
    ],
    [
      'rolling back: a restored wave passes (no soak, no budget)',
      snap({
        state: 'rolling_back',
        totals: { failed: 10 },
        rollback: { unplanned: 0, wave: rbWave({ state: 'waiting', counts: { pending: 0, applying: 0, done: 4 } }) },
      }),
      { type: 'wavePassed', direction: 'rollback', wave: 0 },
    ],
    [
      'rolling back: every rollback wave passed',
      snap({ state: 'rolling_back', rollback: { unplanned: 0, wave: null } }),
      { type: 'finishRollback' },
    ],
  ];

  it.each(cases)('%s', (_name, snapshot, expected) => {
    expect(decideRolloutStep(snapshot, NOW)).toEqual(expected);
  });

  it('walks a whole rollout of 10 agents through its waves to completion', () => {
    // A tiny simulator around the pure function: every sent agent applies at once.
    const sizes = [1, 2, 3, 3, 1];
    const waves = sizes.map((size, index) => ({
      index,
      size,
      state: 'pending' as ForwardWaveView['state'],
      resolvedAtMs: null as number | null,
      pending: size,
      applied: 0,
    }));
    let state: RolloutSnapshot['state'] = 'planned';
    let now = NOW;
    const log: string[] = [];
    for (let i = 0; i < 100 && state !== 'completed'; i++) {
      const current = waves.find((w) => w.state !== 'passed') ?? null;
      const action = decideRolloutStep(
        snap({
          state,
          wave: current && wave({ ...current, counts: { pending: current.pending, applied: current.applied } }),
          totals: {
            applied: waves.reduce((n, w) => n + w.applied, 0),
            pending: waves.reduce((n, w) => n + w.pending, 0),
          },
        }),
        now,
      );
      log.push(action.type === 'dispatch' ? `dispatch ${action.wave}:${action.count}` : action.type);
      switch (action.type) {
        case 'start':
          state = 'running';
          break;
        case 'dispatch':
          current!.state = 'dispatching';
          current!.pending -= action.count;
          current!.applied += action.count;
          break;
        case 'waveResolved':
          current!.state = 'soaking';
          current!.resolvedAtMs = now;
          break;
        case 'wavePassed':
          current!.state = 'passed';
          break;
        case 'complete':
          state = 'completed';
          break;
        case 'wait':
          now += action.retryAfterMs ?? 1000;
          break;
        default:
          throw new Error(`unexpected ${action.type}`);
      }
    }
    expect(state).toBe('completed');
    expect(log.filter((l) => l.startsWith('dispatch'))).toEqual([
      'dispatch 0:1',
      'dispatch 1:2',
      'dispatch 2:3',
      'dispatch 3:3',
      'dispatch 4:1',
    ]);
    expect(now - NOW).toBe(5 * 60_000);
  });
});

describe('failureBudget', () => {
  it.each([
    // [failed+timed out, resolved, in flight, percent, over]
    [0, 0, 1, 5, false],
    [1, 1, 0, 5, true],
    [1, 19, 0, 5, true],
    [1, 20, 0, 5, false],
    [1, 1, 19, 5, false],
    [2, 20, 0, 5, true],
    [50, 50, 950, 5, false],
    [51, 51, 949, 5, true],
    [1, 1000, 0, 0, true],
    [1000, 1000, 0, 100, false],
  ])('%i failures, %i resolved, %i in flight at %i%%: over=%s', (failures, resolved, inFlight, pct, over) => {
    const b = failureBudget({
      strategy: { maxFailurePercent: pct, soakSeconds: 0, onFailure: 'pause', maxRestartsPerSecond: 1 },
      failuresAcknowledged: 0,
      resolvedAcknowledged: 0,
      totals: counts({ failed: failures, applied: resolved - failures, applying: inFlight }),
      wave: wave({ counts: { applying: inFlight } }),
    });
    expect(b.over).toBe(over);
    expect(b.counted).toBe(resolved + inFlight);
  });

  it('counts skipped targets (offline at send) neither as failures nor as counted targets', () => {
    // A wave of 20 at 0 %: 3 agents were offline when it was sent, the 17 others applied.
    const s = snap({
      strategy: { maxFailurePercent: 0 },
      wave: wave({ state: 'waiting', size: 20, counts: { applied: 17, skipped: 3 } }),
      totals: { applied: 17, skipped: 3 },
    });
    expect(failureBudget(s)).toEqual({ failures: 0, counted: 17, allowed: 0, over: false });
    expect(decideRolloutStep(s, NOW)).toEqual({ type: 'waveResolved', wave: 0 });
  });
});

describe('isActiveRolloutState', () => {
  it('is true while the worker has work to do', () => {
    expect(['planned', 'running', 'paused', 'rolling_back'].every((s) => isActiveRolloutState(s as never))).toBe(true);
    expect(['completed', 'aborted', 'rolled_back'].some((s) => isActiveRolloutState(s as never))).toBe(false);
  });
});
