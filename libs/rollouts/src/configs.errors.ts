// Errors of the config and desired-config services. Each message can be shown to a caller as is;
// the api maps them to problem+json: 400 input, 404 not found, 409 conflict, 422 refused content.
import { formatConfigProblem, type ConfigProblem } from '@opamp/domain';

/** A field of a request is malformed (400). */
export class ConfigInputError extends Error {
  override name = 'ConfigInputError';
  constructor(
    /** Body field or path parameter, e.g. `name`, `agentType`, `version`. */
    readonly field: string,
    readonly reason: string,
  ) {
    super(`${field}: ${reason}`);
  }
}

/** No config with this name (404). */
export class ConfigNotFoundError extends Error {
  override name = 'ConfigNotFoundError';
  constructor(readonly config: string) {
    super(`No config named "${config}" exists.`);
  }
}

/** The config exists but has no such version (404). */
export class ConfigVersionNotFoundError extends Error {
  override name = 'ConfigVersionNotFoundError';
  constructor(
    readonly config: string,
    readonly version: number | string,
  ) {
    super(`Config "${config}" has no version ${version}.`);
  }
}

/** A config of this name exists with another agent type or description (409). */
export class ConfigExistsError extends Error {
  override name = 'ConfigExistsError';
  constructor(
    readonly config: string,
    readonly existing: { agentType: string; description: string | null },
  ) {
    super(
      `A config named "${config}" already exists for agent type ${existing.agentType}` +
        `${existing.description === null ? ' without a description' : ` with description ${JSON.stringify(existing.description)}`}; ` +
        'choose another name, or post exactly the same fields to get the existing config.',
    );
  }
}

/** A version's content is refused (422); `problems` lists every reason, with file and line. */
export class ConfigValidationError extends Error {
  override name = 'ConfigValidationError';
  constructor(
    readonly config: string,
    readonly problems: readonly ConfigProblem[],
  ) {
    const shown = problems.slice(0, 5).map(formatConfigProblem).join('; ');
    const more = problems.length > 5 ? ` (and ${problems.length - 5} more)` : '';
    super(`The version for config "${config}" is invalid: ${shown}${more}.`);
  }
}

/**
 * A version number could not be allocated: other versions of the same config were being added
 * concurrently the whole time (503-like; the caller may retry).
 */
export class ConfigBusyError extends Error {
  override name = 'ConfigBusyError';
  constructor(readonly config: string) {
    super(`Config "${config}" is receiving many versions at once; retry the request.`);
  }
}

/** No agent with this uid (404). */
export class AgentNotFoundError extends Error {
  override name = 'AgentNotFoundError';
  constructor(readonly agentUid: string) {
    super(`No agent with uid ${agentUid} is known.`);
  }
}

/**
 * The per-agent assignment is refused because of the agent's situation (409): it is in an active
 * rollout, it cannot accept remote config, or it quarantined this version.
 */
export class AgentConfigConflictError extends Error {
  override name = 'AgentConfigConflictError';
  constructor(
    readonly agentUid: string,
    readonly reason: 'active_rollout' | 'capability_missing' | 'quarantined',
    message: string,
    /** The active rollout, for `active_rollout`. */
    readonly rolloutId?: string,
  ) {
    super(message);
  }
}

/** The config is written for another agent type than the agent's (422). */
export class AgentTypeMismatchError extends Error {
  override name = 'AgentTypeMismatchError';
  constructor(
    readonly agentUid: string,
    readonly agentType: string,
    readonly config: string,
    readonly configAgentType: string,
  ) {
    super(
      `Config "${config}" is for ${configAgentType} agents, but agent ${agentUid} is a ${agentType} agent. ` +
        'Assign a config of the same agent type, or a generic one.',
    );
  }
}

/** The agent has no quarantine entry for this hash (404). */
export class QuarantineNotFoundError extends Error {
  override name = 'QuarantineNotFoundError';
  constructor(
    readonly agentUid: string,
    readonly hash: string,
  ) {
    super(`Agent ${agentUid} has no quarantined config with hash ${hash}.`);
  }
}

/**
 * The bus (Redis) did not accept the desired-config commands (503-like). Some may have been
 * appended; the caller's transaction rolls back, and a retry resends (commands are idempotent).
 */
export class DesiredConfigDeliveryError extends Error {
  override name = 'DesiredConfigDeliveryError';
  constructor(cause: unknown) {
    super(
      `The message bus (Redis) did not accept the desired-config commands: ${(cause as Error)?.message ?? String(cause)}`,
      {
        cause,
      },
    );
  }
}
