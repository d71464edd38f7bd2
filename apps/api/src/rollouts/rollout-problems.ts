// Maps the rollout store's errors to problem+json (RFC 9457): 400 bad selector, 404 unknown
// rollout / config / version, 409 overlap or invalid transition, 422 invalid strategy.
import { RolloutStrategyError } from '@opamp/domain';
import {
  RolloutConflictError,
  RolloutNotFoundError,
  RolloutReferenceError,
  RolloutSelectorError,
  RolloutTransitionError,
} from '@opamp/rollouts';
import { ProblemException, ProblemType, type ProblemDetails } from '../common/problem.js';

export const RolloutProblemType = {
  rolloutNotFound: 'urn:opampcp:problem:rollout-not-found',
  configNotFound: 'urn:opampcp:problem:config-not-found',
  versionNotFound: 'urn:opampcp:problem:config-version-not-found',
  invalidStrategy: 'urn:opampcp:problem:invalid-rollout-strategy',
  conflict: 'urn:opampcp:problem:rollout-conflict',
  invalidTransition: 'urn:opampcp:problem:invalid-rollout-transition',
} as const;

type Problem = Omit<ProblemDetails, 'instance'>;

export function rolloutNotFound(id: string): ProblemException {
  return problem({
    type: RolloutProblemType.rolloutNotFound,
    title: 'Rollout not found',
    status: 404,
    detail: `No rollout with id ${id.length > 64 ? `${id.slice(0, 64)}…` : id} exists.`,
  });
}

/** A problem that may carry extension members (RFC 9457 §3.2), e.g. the conflicting rollouts. */
function problem(p: Problem & Record<string, unknown>): ProblemException {
  return new ProblemException(p);
}

/** The problem for an error of the rollout store; undefined for anything else (a 500). */
export function rolloutProblem(err: unknown): ProblemException | undefined {
  if (err instanceof ProblemException) return err;
  if (err instanceof RolloutNotFoundError) return rolloutNotFound(err.rolloutId);
  if (err instanceof RolloutReferenceError) {
    return problem({
      type: err.what === 'config' ? RolloutProblemType.configNotFound : RolloutProblemType.versionNotFound,
      title: err.what === 'config' ? 'Config not found' : 'Config version not found',
      status: 404,
      detail: err.message,
      invalidParams: [{ name: err.what, reason: err.message }],
    });
  }
  if (err instanceof RolloutSelectorError) {
    return problem({
      type: ProblemType.invalidSelector,
      title: 'Invalid label selector',
      status: 400,
      detail: `${err.field}: ${err.message}`,
      invalidParams: [{ name: err.field, reason: err.message }],
    });
  }
  if (err instanceof RolloutStrategyError) {
    const invalidParams = err.problems.map((p) => ({
      name: p.field === 'strategy' ? 'strategy' : `strategy.${p.field}`,
      reason: p.message,
    }));
    return problem({
      type: RolloutProblemType.invalidStrategy,
      title: 'Invalid rollout strategy',
      status: 422,
      detail: `The strategy cannot be used: ${invalidParams.map((p) => `${p.name}: ${p.reason}`).join('; ')}`,
      invalidParams,
    });
  }
  if (err instanceof RolloutConflictError) {
    return problem({
      type: RolloutProblemType.conflict,
      title: 'Agents already in an active rollout',
      status: 409,
      detail: err.message,
      conflictingRollouts: err.conflicts.map((c) => ({ id: c.rolloutId, agents: c.agents })),
    });
  }
  if (err instanceof RolloutTransitionError) {
    return problem({
      type: RolloutProblemType.invalidTransition,
      title: 'Invalid rollout transition',
      status: 409,
      detail: err.message,
      state: err.state,
    });
  }
  return undefined;
}

/** Runs `fn`, turning the store's errors into problems. */
export async function withRolloutProblems<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw rolloutProblem(err) ?? err;
  }
}
