import { describe, expect, it } from 'vitest';
import { ApiError, ExitCode, NetworkError } from './errors.js';
import { progressText, rolloutOutcome, waitForRollout, type WaitDeps } from './rollout-wait.js';
import type { RolloutView, TargetCounts } from './views.js';

const counts = (c: Partial<TargetCounts> = {}): TargetCounts => ({
  pending: 0,
  applying: 0,
  applied: 0,
  failed: 0,
  timed_out: 0,
  skipped: 0,
  ...c,
});

const rollout = (over: Partial<RolloutView> = {}): RolloutView => ({
  id: 'r1',
  state: 'running',
  reason: null,
  config: { name: 'cfg' },
  version: { number: 2, hash: 'ab'.repeat(32) },
  selector: 'env=prod',
  stage: { index: 0, name: 'canary', selector: 'canary=true', promotion: 'manual', agents: 2 },
  stages: [
    { index: 0, name: 'canary', selector: 'canary=true', promotion: 'manual', agents: 2 },
    { index: 1, name: 'rest', selector: '', promotion: 'auto', agents: 8 },
  ],
  waves: [
    { index: 0, stage: 0, size: 2, state: 'soaking', counts: counts({ applied: 2 }) },
    { index: 1, stage: 1, size: 8, state: 'pending', counts: counts({ pending: 8 }) },
  ],
  currentWave: 0,
  counts: counts({ applied: 2, pending: 8 }),
  pauseCause: null,
  ...over,
});

describe('rolloutOutcome: the fixed --wait exit codes', () => {
  it.each([
    [{ state: 'completed' }, ExitCode.ok],
    [{ state: 'paused', pauseCause: 'person' }, ExitCode.paused],
    [{ state: 'paused', pauseCause: 'promotion' }, ExitCode.paused],
    [{ state: 'paused', pauseCause: 'budget' }, ExitCode.failed],
    [{ state: 'aborted' }, ExitCode.failed],
    [{ state: 'rolling_back' }, ExitCode.rolledBack],
    [{ state: 'rolled_back' }, ExitCode.rolledBack],
  ] as const)('%o → %i', (r, code) => {
    expect(rolloutOutcome({ reason: null, ...r })?.code).toBe(code);
  });

  it('keeps waiting while planned or running, and while rolling back when a rollback was asked for', () => {
    expect(rolloutOutcome({ state: 'running' })).toBeUndefined();
    expect(rolloutOutcome({ state: 'planned' })).toBeUndefined();
    expect(rolloutOutcome({ state: 'rolling_back' }, 'rollback')).toBeUndefined();
    expect(rolloutOutcome({ state: 'rolled_back' }, 'rollback')?.code).toBe(ExitCode.rolledBack);
  });

  it('servers without pauseCause: the reason tells a budget pause and a promotion hold apart', () => {
    const budget = 'failure budget exceeded: 1 of 2 targets failed or timed out (maxFailurePercent 5% allows 0)';
    expect(rolloutOutcome({ state: 'paused', reason: budget })?.code).toBe(ExitCode.failed);
    expect(rolloutOutcome({ state: 'paused', reason: 'stage "a" passed; waiting for promotion to "b"' })?.code).toBe(
      ExitCode.paused,
    );
    expect(rolloutOutcome({ state: 'paused', reason: 'paused by an operator' })?.code).toBe(ExitCode.paused);
  });
});

describe('progressText', () => {
  it('state, stage, wave and counts (failed includes timed out, pending includes applying)', () => {
    expect(progressText(rollout())).toBe('running  stage 1/2 canary  wave 1/2 soaking  applied 2  failed 0  pending 8');
    expect(
      progressText(
        rollout({
          state: 'paused',
          reason: 'failure budget exceeded: …',
          counts: counts({ applied: 1, failed: 1, timed_out: 1, applying: 1, pending: 5, skipped: 1 }),
        }),
      ),
    ).toBe(
      'paused  stage 1/2 canary  wave 1/2 soaking  applied 1  failed 2  pending 6  skipped 1  (failure budget exceeded: …)',
    );
  });

  it('rollback progress', () => {
    const r = rollout({
      state: 'rolling_back',
      rollback: {
        waves: [
          { index: 0, stage: 0, size: 2, state: 'passed' },
          { index: 1, stage: 0, size: 3, state: 'waiting' },
        ],
        counts: { pending: 1, applying: 2, done: 2 },
      },
    });
    expect(progressText(r)).toBe('rolling_back  stage 1/2 canary  rollback wave 2/2  restored 2/5  restoring 2');
  });
});

/** A fake clock: sleep advances it; each poll returns the next scripted answer (the last repeats). */
function script(
  answers: Array<RolloutView | Error>,
): WaitDeps & { lines: string[]; warnings: string[]; polls: number } {
  let t = 0;
  const deps = {
    lines: [] as string[],
    warnings: [] as string[],
    polls: 0,
    fetchRollout: async () => {
      const a = answers[Math.min(deps.polls++, answers.length - 1)]!;
      if (a instanceof Error) throw a;
      return a;
    },
    progress: (l: string) => deps.lines.push(l),
    warn: (l: string) => deps.warnings.push(l),
    now: () => t,
    sleep: async (ms: number) => {
      t += ms;
    },
  };
  return deps;
}

describe('waitForRollout', () => {
  it('prints one line per change, not per poll, and ends with the outcome', async () => {
    const running = rollout();
    const deps = script([running, running, running, rollout({ state: 'completed', currentWave: null })]);
    const r = await waitForRollout('r1', { intervalMs: 2000 }, deps);
    expect(r.code).toBe(ExitCode.ok);
    expect(deps.polls).toBe(4);
    expect(deps.lines).toEqual([
      '[   0s] running  stage 1/2 canary  wave 1/2 soaking  applied 2  failed 0  pending 8',
      '[   6s] completed  stage 1/2 canary  waves 2/2  applied 2  failed 0  pending 8',
    ]);
  });

  it('gives up at --timeout with exit 6', async () => {
    const deps = script([rollout()]);
    const r = await waitForRollout('r1', { intervalMs: 2000, timeoutMs: 1000 }, deps);
    expect(r).toMatchObject({ code: ExitCode.timedOut, summary: 'timed out after 1s (still running)' });
    expect(deps.polls).toBe(2);
  });

  it('rides out a few failed polls (api restarting), but not a refused key', async () => {
    const down = new NetworkError('http://h/api/v1/rollouts/r1', new Error('ECONNREFUSED'));
    const deps = script([down, new ApiError(503, 'GET', 'u', undefined, ''), rollout({ state: 'rolled_back' })]);
    expect((await waitForRollout('r1', { intervalMs: 10 }, deps)).code).toBe(ExitCode.rolledBack);
    expect(deps.warnings).toHaveLength(2);

    const refused = script([new ApiError(401, 'GET', 'u', { title: 'Unauthenticated' }, '')]);
    await expect(waitForRollout('r1', { intervalMs: 10 }, refused)).rejects.toBeInstanceOf(ApiError);
  });

  it('uses the rollout a control call returned as the first state', async () => {
    const deps = script([rollout({ state: 'completed' })]);
    const r = await waitForRollout(
      'r1',
      { intervalMs: 10, initial: rollout({ state: 'paused', pauseCause: 'person' }) },
      deps,
    );
    expect(r.code).toBe(ExitCode.paused);
    expect(deps.polls).toBe(0);
  });
});
