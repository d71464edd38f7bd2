// Maps the config services' errors (libs/rollouts configs.errors.ts) to problem+json (RFC 9457):
// 400 malformed input, 404 unknown agent / config / version / quarantine entry, 409 conflicts,
// 422 refused content (with a `problems` list naming file and line), 503 when busy.
import {
  AgentConfigConflictError,
  AgentNotFoundError,
  AgentTypeMismatchError,
  ConfigBusyError,
  ConfigExistsError,
  ConfigInputError,
  ConfigNotFoundError,
  ConfigValidationError,
  ConfigVersionNotFoundError,
  DesiredConfigDeliveryError,
  QuarantineNotFoundError,
} from '@opamp/rollouts';
import { ProblemException, ProblemType, agentNotFound, type ProblemDetails } from '../common/problem.js';

export const ConfigProblemType = {
  configNotFound: 'urn:opampcp:problem:config-not-found',
  versionNotFound: 'urn:opampcp:problem:config-version-not-found',
  configExists: 'urn:opampcp:problem:config-exists',
  invalidConfig: 'urn:opampcp:problem:invalid-config',
  agentTypeMismatch: 'urn:opampcp:problem:agent-type-mismatch',
  agentInRollout: 'urn:opampcp:problem:agent-in-active-rollout',
  configQuarantined: 'urn:opampcp:problem:config-quarantined',
  quarantineNotFound: 'urn:opampcp:problem:quarantine-not-found',
  invalidLabels: 'urn:opampcp:problem:invalid-labels',
} as const;

/** A ProblemException whose problem carries extension members (RFC 9457 §3.2). */
export function extendedProblem(problem: Omit<ProblemDetails, 'instance'> & Record<string, unknown>): ProblemException {
  return new ProblemException(problem);
}

/** The problem for an error of the config services; undefined for anything else (a 500). */
export function configProblem(err: unknown): ProblemException | undefined {
  if (err instanceof ProblemException) return err;
  if (err instanceof ConfigInputError) {
    return new ProblemException({
      type: ProblemType.validation,
      title: 'Invalid request',
      status: 400,
      detail: err.message,
      invalidParams: [{ name: err.field, reason: err.reason }],
    });
  }
  if (err instanceof ConfigNotFoundError) {
    return new ProblemException({
      type: ConfigProblemType.configNotFound,
      title: 'Config not found',
      status: 404,
      detail: err.message,
    });
  }
  if (err instanceof ConfigVersionNotFoundError) {
    return new ProblemException({
      type: ConfigProblemType.versionNotFound,
      title: 'Config version not found',
      status: 404,
      detail: err.message,
    });
  }
  if (err instanceof AgentNotFoundError) return agentNotFound(err.agentUid);
  if (err instanceof QuarantineNotFoundError) {
    return new ProblemException({
      type: ConfigProblemType.quarantineNotFound,
      title: 'Quarantine entry not found',
      status: 404,
      detail: err.message,
    });
  }
  if (err instanceof ConfigExistsError) {
    return extendedProblem({
      type: ConfigProblemType.configExists,
      title: 'Config already exists',
      status: 409,
      detail: err.message,
      existing: err.existing,
    });
  }
  if (err instanceof ConfigValidationError) {
    return extendedProblem({
      type: ConfigProblemType.invalidConfig,
      title: 'Invalid config version',
      status: 422,
      detail: err.message,
      problems: err.problems,
    });
  }
  if (err instanceof AgentTypeMismatchError) {
    return extendedProblem({
      type: ConfigProblemType.agentTypeMismatch,
      title: 'Config is for another agent type',
      status: 422,
      detail: err.message,
      agentType: err.agentType,
      configAgentType: err.configAgentType,
    });
  }
  if (err instanceof AgentConfigConflictError) {
    const type =
      err.reason === 'active_rollout'
        ? ConfigProblemType.agentInRollout
        : err.reason === 'quarantined'
          ? ConfigProblemType.configQuarantined
          : ProblemType.capabilityMissing;
    return extendedProblem({
      type,
      title:
        err.reason === 'active_rollout'
          ? 'Agent is in an active rollout'
          : err.reason === 'quarantined'
            ? 'Config version is quarantined for this agent'
            : 'Agent cannot accept remote config',
      status: 409,
      detail: err.message,
      ...(err.rolloutId ? { rolloutId: err.rolloutId } : {}),
    });
  }
  if (err instanceof DesiredConfigDeliveryError) {
    return new ProblemException({
      type: ProblemType.unavailable,
      title: 'Command could not be queued',
      status: 503,
      detail:
        'The message bus (Redis) did not accept the desired-config command; nothing was changed. Try again shortly.',
    });
  }
  if (err instanceof ConfigBusyError) {
    return new ProblemException({ type: ProblemType.unavailable, title: 'Busy', status: 503, detail: err.message });
  }
  return undefined;
}

/** Runs `fn`, turning the config services' errors into problems. */
export async function withConfigProblems<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw configProblem(err) ?? err;
  }
}
