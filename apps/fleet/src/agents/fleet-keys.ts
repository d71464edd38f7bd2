// Redis keys private to the fleet service (the shared ones live in @opamp/bus RedisKeys).

export const FleetKeys = {
  /** LIST of pending agent events (JSON) of one shard, written to Postgres by the write-behind. */
  events: (shard: number): string => `opamp:events:{${shard}}`,
  /** SET of AvailableComponents hashes (hex) whose full component map the server has seen. */
  knownComponents: 'opamp:components:known',
} as const;

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
