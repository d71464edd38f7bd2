import { describe, expect, it } from 'vitest';
import { planRollout, rolloutStages, stageIndexFor, waveIndexFor, waveLayout } from './plan.js';
import { normaliseStrategy } from './strategy.js';

describe('planRollout', () => {
  it('plans the implicit single stage when the strategy has none', () => {
    const strategy = normaliseStrategy({ soakSeconds: 30 });
    const plan = planRollout({ strategy, stagePopulations: [10], excluded: { quarantined: 2 } });
    expect(plan).toEqual({
      targets: 10,
      stages: [{ name: 'all', selector: '', promotion: 'auto', agents: 10, waves: [1, 2, 3, 3, 1] }],
      excluded: {
        noStage: 0,
        wrongAgentType: 0,
        noAcceptsRemoteConfig: 0,
        quarantined: 2,
        alreadyAtTarget: 0,
        inOtherRollout: 0,
      },
      minimumDurationSeconds: 150,
    });
  });

  it('ramps each stage on its own population, an empty stage having no waves', () => {
    const strategy = normaliseStrategy({
      firstWave: '10%',
      maxWave: '50%',
      soakSeconds: 10,
      stages: [
        { name: 'test', selector: 'env=test' },
        { name: 'stage', selector: 'env=stage', promotion: 'manual' },
        { name: 'prod', selector: 'env=prod' },
      ],
    });
    const plan = planRollout({ strategy, stagePopulations: [4, 0, 40], excluded: { noStage: 3 } });
    expect(plan.stages.map((s) => [s.name, s.promotion, s.agents, s.waves])).toEqual([
      ['test', 'auto', 4, [1, 2, 1]],
      ['stage', 'manual', 0, []],
      ['prod', 'auto', 40, [4, 8, 16, 12]],
    ]);
    expect(plan.targets).toBe(44);
    expect(plan.excluded.noStage).toBe(3);
    expect(plan.minimumDurationSeconds).toBe(70);
  });

  it('refuses populations that do not match the stages', () => {
    const strategy = normaliseStrategy({ stages: [{ name: 'a', selector: '' }] });
    expect(() => planRollout({ strategy, stagePopulations: [1, 2] })).toThrow(/expected 1 stage population/);
  });
});

describe('waveLayout', () => {
  it('numbers waves across stages in execution order and maps positions to waves', () => {
    const strategy = normaliseStrategy({
      firstWave: 1,
      maxWave: '100%',
      stages: [
        { name: 'a', selector: '' },
        { name: 'b', selector: '' },
      ],
    });
    const plan = planRollout({ strategy, stagePopulations: [3, 4] });
    const layout = waveLayout(plan);
    expect(layout).toEqual([
      { index: 0, stage: 0, size: 1, firstPosition: 0 },
      { index: 1, stage: 0, size: 2, firstPosition: 1 },
      { index: 2, stage: 1, size: 1, firstPosition: 0 },
      { index: 3, stage: 1, size: 2, firstPosition: 1 },
      { index: 4, stage: 1, size: 1, firstPosition: 3 },
    ]);
    expect([0, 1, 2].map((p) => waveIndexFor(layout, 0, p))).toEqual([0, 1, 1]);
    expect([0, 1, 2, 3].map((p) => waveIndexFor(layout, 1, p))).toEqual([2, 3, 3, 4]);
    expect(waveIndexFor(layout, 1, 4)).toBeUndefined();
  });
});

describe('stageIndexFor', () => {
  const strategy = normaliseStrategy({
    stages: [
      { name: 'canary', selector: 'canary' },
      { name: 'eu', selector: 'region=eu' },
      { name: 'rest', selector: '' },
    ],
  });

  it('puts an agent in the first stage it matches', () => {
    expect(stageIndexFor(strategy, { canary: 'true', region: 'eu' })).toBe(0);
    expect(stageIndexFor(strategy, { region: 'eu' })).toBe(1);
    expect(stageIndexFor(strategy, { region: 'us' })).toBe(2);
  });

  it('is -1 when no stage matches, and 0 without stages', () => {
    const narrow = normaliseStrategy({ stages: [{ name: 'eu', selector: 'region=eu' }] });
    expect(stageIndexFor(narrow, { region: 'us' })).toBe(-1);
    expect(stageIndexFor(normaliseStrategy({}), {})).toBe(0);
    expect(rolloutStages(normaliseStrategy({}))).toEqual([{ name: 'all', selector: '', promotion: 'auto' }]);
  });
});
