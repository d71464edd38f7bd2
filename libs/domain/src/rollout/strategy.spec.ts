import { describe, expect, it } from 'vitest';
import {
  DEFAULT_ROLLOUT_STRATEGY,
  normaliseStrategy,
  resolveWaveSize,
  RolloutStrategyError,
  waveSizes,
} from './strategy.js';
import type { RolloutStrategy } from './types.js';

function problemsOf(input: unknown): Array<{ field: string; message: string }> {
  try {
    normaliseStrategy(input);
  } catch (err) {
    expect(err).toBeInstanceOf(RolloutStrategyError);
    return (err as RolloutStrategyError).problems;
  }
  throw new Error('expected a RolloutStrategyError');
}

describe('normaliseStrategy', () => {
  it('fills in every default for an empty or missing strategy', () => {
    const expected: RolloutStrategy = {
      firstWave: '1%',
      growthFactor: 2,
      maxWave: '25%',
      soakSeconds: 60,
      applyTimeoutSeconds: 300,
      maxFailurePercent: 5,
      onFailure: 'pause',
      stages: [],
      maxRestartsPerSecond: 100,
      followNewAgents: true,
    };
    expect(normaliseStrategy({})).toEqual(expected);
    expect(normaliseStrategy(undefined)).toEqual(expected);
    expect(normaliseStrategy(null)).toEqual(expected);
  });

  it('keeps what the client gave and defaults the rest, stage promotion included', () => {
    const s = normaliseStrategy({
      firstWave: 5,
      maxWave: '10.5%',
      growthFactor: 1.5,
      soakSeconds: 0,
      onFailure: 'rollback',
      stages: [
        { name: 'test', selector: 'env=test' },
        { name: 'prod', selector: 'env in (prod, prod-eu)', promotion: 'manual' },
      ],
      followNewAgents: false,
    });
    expect(s).toMatchObject({
      firstWave: 5,
      maxWave: '10.5%',
      growthFactor: 1.5,
      soakSeconds: 0,
      onFailure: 'rollback',
      followNewAgents: false,
      applyTimeoutSeconds: 300,
      stages: [
        { name: 'test', selector: 'env=test', promotion: 'auto' },
        { name: 'prod', selector: 'env in (prod, prod-eu)', promotion: 'manual' },
      ],
    });
  });

  it('does not share the defaults object between results', () => {
    const a = normaliseStrategy({});
    a.stages.push({ name: 'x', selector: '', promotion: 'auto' });
    expect(normaliseStrategy({}).stages).toEqual([]);
    expect(DEFAULT_ROLLOUT_STRATEGY.stages).toEqual([]);
  });

  it.each([
    [{ firstWave: 0 }, 'firstWave', /whole number of agents/],
    [{ firstWave: 2.5 }, 'firstWave', /whole number of agents/],
    [{ firstWave: '5' }, 'firstWave', /percent \(e\.g\. "5%"\), got "5"/],
    [{ firstWave: '0%' }, 'firstWave', /more than 0%/],
    [{ maxWave: '150%' }, 'maxWave', /at most 100%/],
    [{ growthFactor: 1 }, 'growthFactor', /more than 1 and at most 10, got 1/],
    [{ growthFactor: 11 }, 'growthFactor', /at most 10/],
    [{ growthFactor: '2' }, 'growthFactor', /must be a number, got "2"/],
    [{ soakSeconds: -1 }, 'soakSeconds', /from 0 to/],
    [{ soakSeconds: 1.5 }, 'soakSeconds', /whole number of seconds/],
    [{ applyTimeoutSeconds: 0 }, 'applyTimeoutSeconds', /from 1 to 86400/],
    [{ maxFailurePercent: 101 }, 'maxFailurePercent', /percent from 0 to 100/],
    [{ maxRestartsPerSecond: 0 }, 'maxRestartsPerSecond', /agents per second from 1 to 10000/],
    [{ onFailure: 'retry' }, 'onFailure', /"pause" or "rollback", got "retry"/],
    [{ followNewAgents: 'yes' }, 'followNewAgents', /true or false/],
    [{ soakSecond: 10 }, 'soakSecond', /unknown field/],
    [{ stages: 'test,prod' }, 'stages', /must be a list/],
    [{ stages: [{ name: 'Prod!', selector: '' }] }, 'stages[0].name', /a-z, 0-9/],
    [
      {
        stages: [
          { name: 'prod', selector: 'env=' },
          { name: 'prod', selector: '' },
        ],
      },
      'stages[1].name',
      /unique/,
    ],
    [{ stages: [{ name: 'prod', selector: 'env in (a' }] }, 'stages[0].selector', /at character \d+/],
    [{ stages: [{ name: 'prod', selector: 3 }] }, 'stages[0].selector', /label selector/],
    [{ stages: [{ name: 'prod', selector: '', promotion: 'later' }] }, 'stages[0].promotion', /"auto" or "manual"/],
    [{ stages: [{ name: 'prod', selector: '', gate: 1 }] }, 'stages[0].gate', /unknown field/],
    [{ stages: Array.from({ length: 11 }, (_, i) => ({ name: `s${i}`, selector: '' })) }, 'stages', /at most 10/],
  ])('refuses %j at %s', (input, field, message) => {
    const problems = problemsOf(input);
    expect(problems).toContainEqual({ field, message: expect.stringMatching(message) });
  });

  it('lists every problem at once, in a message a person can read', () => {
    let error: RolloutStrategyError | undefined;
    try {
      normaliseStrategy({ firstWave: -1, growthFactor: 0.5, onFailure: 'explode' });
    } catch (err) {
      error = err as RolloutStrategyError;
    }
    expect(error?.problems.map((p) => p.field)).toEqual(['firstWave', 'growthFactor', 'onFailure']);
    expect(error?.message).toMatch(/^invalid rollout strategy: firstWave: .*; growthFactor: .*; onFailure: /);
  });

  it('refuses a strategy that is not an object', () => {
    expect(problemsOf([1, 2])).toEqual([{ field: 'strategy', message: 'must be an object' }]);
    expect(problemsOf('fast')).toEqual([{ field: 'strategy', message: 'must be an object' }]);
  });
});

describe('resolveWaveSize', () => {
  it.each([
    [5, 100, 5],
    ['1%', 10, 1],
    ['1%', 100_000, 1000],
    ['10%', 30, 3],
    ['25%', 10, 3],
    ['0.5%', 1, 1],
    ['100%', 7, 7],
  ] as const)('%s of %i agents is %i', (size, population, expected) => {
    expect(resolveWaveSize(size, population)).toBe(expected);
  });
});

describe('waveSizes', () => {
  const defaults = DEFAULT_ROLLOUT_STRATEGY;
  const sum = (a: number[]): number => a.reduce((x, y) => x + y, 0);

  it.each([
    ['no agents', 0, defaults, []],
    ['one agent', 1, defaults, [1]],
    ['10 agents, defaults (max wave 25% = 3)', 10, defaults, [1, 2, 3, 3, 1]],
    ['100,000 agents, defaults', 100_000, defaults, [1000, 2000, 4000, 8000, 16_000, 25_000, 25_000, 19_000]],
    ['a count first wave', 20, { ...defaults, firstWave: 5, maxWave: 100 }, [5, 10, 5]],
    ['a first wave larger than the cap is capped', 20, { ...defaults, firstWave: 10, maxWave: 4 }, [4, 4, 4, 4, 4]],
    ['a first wave larger than the stage', 3, { ...defaults, firstWave: 10, maxWave: '100%' }, [3]],
    ['growth rounds up', 20, { ...defaults, firstWave: 1, growthFactor: 1.5, maxWave: '100%' }, [1, 2, 3, 5, 8, 1]],
  ] as const)('%s', (_name, population, strategy, expected) => {
    const sizes = waveSizes(population, strategy);
    expect(sizes).toEqual(expected);
    expect(sum(sizes)).toBe(population);
  });

  it('always sums to the population with every wave within the cap', () => {
    for (const population of [1, 2, 3, 7, 19, 20, 21, 99, 101, 997, 10_007]) {
      for (const growthFactor of [1.1, 2, 3, 10]) {
        for (const firstWave of [1, '1%', '3%', 50] as const) {
          const strategy = { firstWave, growthFactor, maxWave: '25%' as const };
          const sizes = waveSizes(population, strategy);
          const cap = resolveWaveSize('25%', population);
          expect(sum(sizes)).toBe(population);
          expect(sizes.every((s) => s >= 1 && s <= cap)).toBe(true);
        }
      }
    }
  });

  it('refuses a negative or fractional population', () => {
    expect(() => waveSizes(-1, defaults)).toThrow(RangeError);
    expect(() => waveSizes(1.5, defaults)).toThrow(RangeError);
  });
});
