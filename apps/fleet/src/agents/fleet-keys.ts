// Fields of the fleet's per-agent Redis hash. Key names live in @opamp/bus RedisKeys.

/** Fields of the agent hash RedisKeys.agentState(uidHex). */
export const AgentHashFields = {
  core: 'core',
  report: 'report',
  desired: 'desired',
  /** Dirty version: incremented with every dirty mark; the write-behind clears the dirty flag only if unchanged. */
  dirtyVersion: 'dv',
} as const;

/** How long the hot state of a throw-away temporary uid (RequestInstanceUid) is kept. */
export const EPHEMERAL_STATE_TTL_MS = 24 * 3600 * 1000;
