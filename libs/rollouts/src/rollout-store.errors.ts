// Errors of the rollout store. Each says what is wrong in words a caller can show as is; the api
// maps them to problem+json (404 / 400 / 409). An invalid strategy is libs/domain's
// RolloutStrategyError (422), thrown by normaliseStrategy.
import type { RolloutStateName } from '@opamp/domain';

/** No rollout with this id (404). */
export class RolloutNotFoundError extends Error {
  override name = 'RolloutNotFoundError';
  constructor(readonly rolloutId: string) {
    super(`No rollout with id ${rolloutId} exists.`);
  }
}

/** The config or the config version a rollout names does not exist (404). */
export class RolloutReferenceError extends Error {
  override name = 'RolloutReferenceError';
  constructor(
    readonly what: 'config' | 'version',
    message: string,
  ) {
    super(message);
  }
}

/** The rollout selector, or a stage selector, does not parse (400). */
export class RolloutSelectorError extends Error {
  override name = 'RolloutSelectorError';
  constructor(
    /** `selector` or `strategy.stages[i].selector`. */
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}

export interface ConflictingRollout {
  rolloutId: string;
  /** Agents of the new rollout that this rollout already targets. */
  agents: number;
}

/**
 * Some agents the new rollout would target are in another active rollout (409). At most one
 * active rollout per agent: the caller aborts the other one, waits for it, or narrows the selector.
 */
export class RolloutConflictError extends Error {
  override name = 'RolloutConflictError';
  constructor(readonly conflicts: readonly ConflictingRollout[]) {
    const total = conflicts.reduce((n, c) => n + c.agents, 0);
    const list = conflicts.map((c) => `${c.rolloutId} (${c.agents} agent${c.agents === 1 ? '' : 's'})`).join(', ');
    super(
      conflicts.length === 0
        ? 'Another rollout created at the same moment targets some of the same agents; list the active rollouts and retry.'
        : `${total} agent${total === 1 ? '' : 's'} this rollout would target ${total === 1 ? 'is' : 'are'} already in ` +
            `active rollout${conflicts.length === 1 ? '' : 's'} ${list}. An agent can be in one active rollout at a ` +
            'time: abort or wait for that rollout, or narrow the selector.',
    );
  }

  get rolloutIds(): string[] {
    return this.conflicts.map((c) => c.rolloutId);
  }
}

export type RolloutAction = 'pause' | 'resume' | 'abort' | 'rollback' | 'promote';

/** A control that does not apply to the rollout's current state (409). */
export class RolloutTransitionError extends Error {
  override name = 'RolloutTransitionError';
  constructor(
    readonly rolloutId: string,
    readonly action: RolloutAction,
    readonly state: RolloutStateName,
    hint: string,
  ) {
    super(`Cannot ${action} rollout ${rolloutId}: it is ${state.replace('_', ' ')}. ${hint}`);
  }
}
