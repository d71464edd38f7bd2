// The rollout strategy: defaults, validation and the arithmetic of wave sizes (docs/rollouts.md).
// Pure: no I/O.
import { LabelSelectorError, parseLabelSelector } from '../label-selector.js';
import type { PromotionMode, RolloutStageSpec, RolloutStrategy, WaveSize } from './types.js';

/** The defaults of docs/rollouts.md ("Strategy (defaults and why)"). */
export const DEFAULT_ROLLOUT_STRATEGY: Readonly<RolloutStrategy> = Object.freeze({
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
});

/** Bounds enforced by {@link normaliseStrategy}. */
export const ROLLOUT_STRATEGY_LIMITS = Object.freeze({
  maxGrowthFactor: 10,
  maxSoakSeconds: 7 * 86_400,
  maxApplyTimeoutSeconds: 86_400,
  maxRestartsPerSecond: 10_000,
  maxStages: 10,
  maxWaveCount: 10_000_000,
});

const STAGE_NAME_RE = /^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$/;
const PERCENT_RE = /^(\d+(?:\.\d+)?)%$/;
const FIELDS = new Set<string>(Object.keys(DEFAULT_ROLLOUT_STRATEGY));
const STAGE_FIELDS = new Set(['name', 'selector', 'promotion']);

export interface StrategyProblem {
  /** JSON-path-like location: `growthFactor`, `stages[1].selector`. */
  field: string;
  message: string;
}

/** A strategy that cannot be used; `problems` lists every problem found, not only the first. */
export class RolloutStrategyError extends Error {
  constructor(readonly problems: StrategyProblem[]) {
    super(`invalid rollout strategy: ${problems.map((p) => `${p.field}: ${p.message}`).join('; ')}`);
    this.name = 'RolloutStrategyError';
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function describe(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  return String(v);
}

function waveSizeProblem(v: unknown): string | undefined {
  if (typeof v === 'number') {
    if (!Number.isInteger(v) || v < 1 || v > ROLLOUT_STRATEGY_LIMITS.maxWaveCount)
      return `must be a whole number of agents (at least 1) or a percent such as "5%", got ${describe(v)}`;
    return undefined;
  }
  if (typeof v === 'string') {
    const m = PERCENT_RE.exec(v.trim());
    if (!m) return `must be a whole number of agents (e.g. 5) or a percent (e.g. "5%"), got ${describe(v)}`;
    const pct = Number(m[1]);
    if (!(pct > 0 && pct <= 100)) return `a percent must be more than 0% and at most 100%, got ${describe(v)}`;
    return undefined;
  }
  return `must be a whole number of agents (e.g. 5) or a percent (e.g. "5%"), got ${describe(v)}`;
}

function normaliseWaveSize(v: number | string): WaveSize {
  return typeof v === 'number' ? v : (`${Number(PERCENT_RE.exec(v.trim())![1])}%` as WaveSize);
}

/**
 * Fills in every default and validates a client's strategy. Throws {@link RolloutStrategyError}
 * listing every problem (unknown fields included, so a typo such as `soakSecond` is not silently
 * ignored). `undefined`/`null` input means "all defaults".
 */
export function normaliseStrategy(input: unknown): RolloutStrategy {
  if (input === undefined || input === null) return { ...DEFAULT_ROLLOUT_STRATEGY, stages: [] };
  if (!isRecord(input)) throw new RolloutStrategyError([{ field: 'strategy', message: 'must be an object' }]);
  const problems: StrategyProblem[] = [];
  const bad = (field: string, message: string): void => void problems.push({ field, message });
  for (const key of Object.keys(input)) {
    if (!FIELDS.has(key)) bad(key, `unknown field (known: ${[...FIELDS].join(', ')})`);
  }
  const out: RolloutStrategy = { ...DEFAULT_ROLLOUT_STRATEGY, stages: [] };
  const has = (k: string): boolean => input[k] !== undefined && input[k] !== null;

  for (const key of ['firstWave', 'maxWave'] as const) {
    if (!has(key)) continue;
    const problem = waveSizeProblem(input[key]);
    if (problem) bad(key, problem);
    else out[key] = normaliseWaveSize(input[key] as number | string);
  }

  const number = (
    key: 'growthFactor' | 'soakSeconds' | 'applyTimeoutSeconds' | 'maxFailurePercent' | 'maxRestartsPerSecond',
    check: (n: number) => string | undefined,
  ): void => {
    if (!has(key)) return;
    const v = input[key];
    if (typeof v !== 'number' || !Number.isFinite(v)) return bad(key, `must be a number, got ${describe(v)}`);
    const problem = check(v);
    if (problem) bad(key, `${problem}, got ${v}`);
    else out[key] = v;
  };
  const wholeIn = (min: number, max: number, unit: string) => (n: number) =>
    Number.isInteger(n) && n >= min && n <= max ? undefined : `must be a whole number of ${unit} from ${min} to ${max}`;
  number('growthFactor', (g) =>
    g > 1 && g <= ROLLOUT_STRATEGY_LIMITS.maxGrowthFactor
      ? undefined
      : `must be more than 1 and at most ${ROLLOUT_STRATEGY_LIMITS.maxGrowthFactor}`,
  );
  number('soakSeconds', wholeIn(0, ROLLOUT_STRATEGY_LIMITS.maxSoakSeconds, 'seconds'));
  number('applyTimeoutSeconds', wholeIn(1, ROLLOUT_STRATEGY_LIMITS.maxApplyTimeoutSeconds, 'seconds'));
  number('maxFailurePercent', (p) => (p >= 0 && p <= 100 ? undefined : 'must be a percent from 0 to 100'));
  number('maxRestartsPerSecond', wholeIn(1, ROLLOUT_STRATEGY_LIMITS.maxRestartsPerSecond, 'agents per second'));

  if (has('onFailure')) {
    if (input.onFailure === 'pause' || input.onFailure === 'rollback') out.onFailure = input.onFailure;
    else bad('onFailure', `must be "pause" or "rollback", got ${describe(input.onFailure)}`);
  }
  if (has('followNewAgents')) {
    if (typeof input.followNewAgents === 'boolean') out.followNewAgents = input.followNewAgents;
    else bad('followNewAgents', `must be true or false, got ${describe(input.followNewAgents)}`);
  }
  if (has('stages')) out.stages = normaliseStages(input.stages, bad);

  if (problems.length > 0) throw new RolloutStrategyError(problems);
  return out;
}

function normaliseStages(value: unknown, bad: (field: string, message: string) => void): RolloutStageSpec[] {
  if (!Array.isArray(value)) {
    bad('stages', `must be a list of {name, selector, promotion?}, got ${describe(value)}`);
    return [];
  }
  if (value.length > ROLLOUT_STRATEGY_LIMITS.maxStages) {
    bad('stages', `at most ${ROLLOUT_STRATEGY_LIMITS.maxStages} stages, got ${value.length}`);
  }
  const seen = new Set<string>();
  const stages: RolloutStageSpec[] = [];
  value.forEach((raw: unknown, i) => {
    const at = `stages[${i}]`;
    if (!isRecord(raw)) return bad(at, `must be an object {name, selector, promotion?}, got ${describe(raw)}`);
    for (const key of Object.keys(raw)) if (!STAGE_FIELDS.has(key)) bad(`${at}.${key}`, 'unknown field');
    const { name, selector } = raw;
    let promotion: PromotionMode = 'auto';
    if (typeof name !== 'string' || !STAGE_NAME_RE.test(name)) {
      bad(
        `${at}.name`,
        `must be 1-63 characters of a-z, 0-9, ".", "_", "-" starting and ending with a letter or digit, got ${describe(name)}`,
      );
    } else if (seen.has(name)) {
      bad(`${at}.name`, `"${name}" is used by an earlier stage; stage names must be unique`);
    } else {
      seen.add(name);
    }
    if (typeof selector !== 'string') {
      bad(`${at}.selector`, `must be a label selector such as "env=prod", got ${describe(selector)}`);
    } else {
      try {
        parseLabelSelector(selector);
      } catch (err) {
        const pos = err instanceof LabelSelectorError ? ` (at character ${err.position + 1})` : '';
        bad(`${at}.selector`, `${(err as Error).message}${pos}`);
      }
    }
    if (raw.promotion !== undefined && raw.promotion !== null) {
      if (raw.promotion === 'auto' || raw.promotion === 'manual') promotion = raw.promotion;
      else bad(`${at}.promotion`, `must be "auto" or "manual", got ${describe(raw.promotion)}`);
    }
    if (typeof name === 'string' && typeof selector === 'string') stages.push({ name, selector, promotion });
  });
  return stages;
}

/** A wave size in agents for a stage of `population` agents: percents round up, at least 1. */
export function resolveWaveSize(size: WaveSize, population: number): number {
  if (typeof size === 'number') return Math.max(1, Math.floor(size));
  const pct = Number(size.slice(0, -1));
  // The epsilon keeps 10% of 30 at 3 despite 0.1 * 30 = 3.0000000000000004.
  return Math.max(1, Math.ceil((pct * population) / 100 - 1e-9));
}

/**
 * The wave sizes of one stage: the first wave is `firstWave`, each next one `ceil(previous ×
 * growthFactor)`, every wave at most `maxWave`, and the last wave whatever remains. The sizes sum to
 * `population`; an empty stage has no waves.
 */
export function waveSizes(
  population: number,
  strategy: Pick<RolloutStrategy, 'firstWave' | 'growthFactor' | 'maxWave'>,
): number[] {
  if (!Number.isInteger(population) || population < 0) {
    throw new RangeError(`population must be a whole number >= 0, got ${population}`);
  }
  if (population === 0) return [];
  const cap = resolveWaveSize(strategy.maxWave, population);
  const sizes: number[] = [];
  let remaining = population;
  let next = resolveWaveSize(strategy.firstWave, population);
  while (remaining > 0) {
    const size = Math.min(next, cap, remaining);
    sizes.push(size);
    remaining -= size;
    next = Math.ceil(size * strategy.growthFactor);
  }
  return sizes;
}
