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
} as const;

/** BullMQ queue names (BullMQ prefixes its own keys with `bull:`). */
export const QueueNames = {
  /** Rollout steps: one `advance` job per active rollout at a time, plus the periodic sweep. */
  rollouts: 'rollouts',
} as const;

export const ConsumerGroups = {
  fleet: 'fleet',
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
} as const;
