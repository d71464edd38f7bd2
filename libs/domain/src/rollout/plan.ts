// The plan of a rollout: stages, their populations and wave sizes (docs/rollouts.md "Plan").
// Pure: the caller counts the agents (SQL), this decides how they are split.
import { matchesLabelSelector, parseLabelSelector, type Labels } from '../label-selector.js';
import { waveSizes } from './strategy.js';
import type { RolloutPlan, RolloutStageSpec, RolloutStrategy, StagePlan } from './types.js';

/** Name of the single implicit stage of a rollout without `stages`. */
export const IMPLICIT_STAGE_NAME = 'all';

export interface PlanRolloutInput {
  strategy: RolloutStrategy;
  /**
   * Agents targeted per stage, in the order of `strategy.stages` (one entry, the whole selection,
   * when the strategy has no stages). Exclusions are already subtracted.
   */
  stagePopulations: readonly number[];
  /** Matched by the selector but not targeted; missing reasons count 0. */
  excluded?: Partial<RolloutPlan['excluded']>;
}

/** Every exclusion reason of a plan at 0 (RolloutPlan.excluded, in its order). */
export function noExclusions(): RolloutPlan['excluded'] {
  return {
    noStage: 0,
    wrongAgentType: 0,
    noAcceptsRemoteConfig: 0,
    quarantined: 0,
    alreadyAtTarget: 0,
    inOtherRollout: 0,
  };
}

/** The stages a strategy rolls out through: its own, or the implicit one holding every agent. */
export function rolloutStages(strategy: Pick<RolloutStrategy, 'stages'>): RolloutStageSpec[] {
  return strategy.stages.length > 0
    ? strategy.stages
    : [{ name: IMPLICIT_STAGE_NAME, selector: '', promotion: 'auto' }];
}

/** Computes the plan stored with a rollout and returned by a dry run. */
export function planRollout(input: PlanRolloutInput): RolloutPlan {
  const stages = rolloutStages(input.strategy);
  if (input.stagePopulations.length !== stages.length) {
    throw new RangeError(`expected ${stages.length} stage population(s), got ${input.stagePopulations.length}`);
  }
  const stagePlans: StagePlan[] = stages.map((s, i) => {
    const agents = input.stagePopulations[i]!;
    return {
      name: s.name,
      selector: s.selector,
      promotion: s.promotion,
      agents,
      waves: waveSizes(agents, input.strategy),
    };
  });
  const waveCount = stagePlans.reduce((n, s) => n + s.waves.length, 0);
  return {
    targets: stagePlans.reduce((n, s) => n + s.agents, 0),
    stages: stagePlans,
    excluded: { ...noExclusions(), ...input.excluded },
    minimumDurationSeconds: waveCount * input.strategy.soakSeconds,
  };
}

/** One wave of the plan, numbered across stages in execution order (`rollout_waves.index`). */
export interface PlannedWave {
  index: number;
  stage: number;
  size: number;
  /** 0-based position, within its stage's agent order, of the wave's first agent. */
  firstPosition: number;
}

/**
 * The forward waves of a plan in execution order: stage 0's waves, then stage 1's, ... An agent at
 * position p (0-based, in the stage's stable order) belongs to the wave whose
 * `[firstPosition, firstPosition + size)` holds p (see {@link waveIndexFor}).
 */
export function waveLayout(plan: Pick<RolloutPlan, 'stages'>): PlannedWave[] {
  const out: PlannedWave[] = [];
  plan.stages.forEach((stage, s) => {
    let position = 0;
    for (const size of stage.waves) {
      out.push({ index: out.length, stage: s, size, firstPosition: position });
      position += size;
    }
  });
  return out;
}

/** The global wave index of the agent at `position` in stage `stage` (undefined when out of range). */
export function waveIndexFor(layout: readonly PlannedWave[], stage: number, position: number): number | undefined {
  return layout.find((w) => w.stage === stage && position >= w.firstPosition && position < w.firstPosition + w.size)
    ?.index;
}

/**
 * The stage an agent belongs to: the first whose selector it matches (the rollout selector is
 * matched by the caller). -1 when it matches none. In-memory twin of the SQL the store runs.
 */
export function stageIndexFor(strategy: Pick<RolloutStrategy, 'stages'>, labels: Labels): number {
  if (strategy.stages.length === 0) return 0;
  return strategy.stages.findIndex((s) => matchesLabelSelector(parseLabelSelector(s.selector), labels));
}
