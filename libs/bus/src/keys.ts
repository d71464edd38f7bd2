/**
 * Every Redis key and stream name the system uses, in one place. `{...}` hash tags keep a
 * shard's keys in one Redis Cluster slot should we ever move to Cluster.
 */
export const StreamKeys = {
  /** Inbound shard stream: AgentToServer envelopes, connection closes and control commands. */
  inbound: (shard: number): string => `opamp:in:{${shard}}`,
  /** Outbound stream of one gateway pod: ServerToAgent envelopes for the agents it holds. */
  outbound: (gatewayId: string): string => `opamp:out:${gatewayId}`,
  /** Rollout progress events (JSON field `event`), capped with MAXLEN ~; for the api to stream. */
  rolloutEvents: 'opamp:rollout-events',
  /**
   * Agent events as the fleet queues them for Postgres (JSON field `event`: libs/domain
   * AgentEvent with its key), capped with MAXLEN ~. The api follows it for live updates and
   * consumes it (group `api-commands`) to move commands to sent / succeeded / failed.
   */
  agentEvents: 'opamp:agent-events',
  /** Command state changes (JSON field `event`), written by the api after updating the row. */
  commandEvents: 'opamp:command-events',
} as const;

/** Field of an entry of the JSON event streams (agentEvents, commandEvents) that holds the event. */
export const EVENT_FIELD = 'event';

/** Approximate caps (XADD MAXLEN ~) of the JSON event streams: they are history for readers, not queues. */
export const StreamMaxLen = {
  agentEvents: 100_000,
  commandEvents: 10_000,
} as const;

/** BullMQ queue names (BullMQ prefixes its own keys with `bull:`). */
export const QueueNames = {
  /** Rollout steps: one `advance` job per active rollout at a time, plus the periodic sweep. */
  rollouts: 'rollouts',
} as const;

export const ConsumerGroups = {
  fleet: 'fleet',
  /** api replicas tracking command outcomes from StreamKeys.agentEvents. */
  apiCommands: 'api-commands',
} as const;

export const RedisKeys = {
  /** Liveness of a gateway pod (PX TTL, refreshed by the gateway). */
  gatewayAlive: (gatewayId: string): string => `opamp:gw:${gatewayId}`,
  /** Shard lease: value is the owning fleet replica id. */
  shardLease: (shard: number): string => `opamp:lease:{${shard}}`,
  /** ZSET of live fleet replicas, score = expiry (ms). */
  fleetMembers: 'opamp:fleet:members',
  /** uid → "gatewayId connectionId transport" of the live connection holding the agent. */
  route: (uidHex: string): string => `opamp:route:${uidHex}`,
  /** Hot per-agent state (serialized), owned by the shard owner. */
  agentState: (uidHex: string): string => `opamp:agent:${uidHex}`,
  /** ZSET uid → liveness deadline (ms) for offline detection, per shard. */
  deadlines: (shard: number): string => `opamp:deadline:{${shard}}`,
  /** SET of uids whose state is not yet written to Postgres, per shard (write-behind). */
  dirty: (shard: number): string => `opamp:dirty:{${shard}}`,
  /** LIST of agent events (JSON) of one shard not yet written to Postgres (write-behind). */
  pendingEvents: (shard: number): string => `opamp:events:{${shard}}`,
  /** SET of AvailableComponents hashes (hex) whose full component map the server has seen. */
  knownComponents: 'opamp:components:known',
  /**
   * HASH sha256-hex(enrollment token) → JSON { id, labels, expiresAtMs | null }: the usable
   * enrollment tokens, mirrored from Postgres by the api (revoked and expired ones removed).
   */
  enrollmentTokens: 'opamp:enrollment-tokens',
  /** Pub/sub channel: a token id was revoked; gateways close the connections it admitted. */
  enrollmentTokenRevoked: 'opamp:enrollment-tokens:revoked',
  /** Request counter of one principal in one window (API rate limit). */
  rateLimit: (principalId: string, window: number): string => `opamp:ratelimit:${principalId}:${window}`,
} as const;
