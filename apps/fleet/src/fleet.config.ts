import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { commonEnv, databaseEnv, int, loadEnv, str, url, type EnvOf } from '@opamp/config';
import { SERVER_CAPABILITIES } from '@opamp/protocol';
import { DEFAULT_POLICY, type FleetPolicy } from '@opamp/domain';

export const fleetEnv = {
  ...commonEnv,
  ...databaseEnv,
  FLEET_PORT: int({
    default: 4330,
    min: 0,
    max: 65535,
    description: 'Port of /healthz, /readyz and /metrics (the fleet serves no other HTTP).',
  }),
  FLEET_HOST: str({ default: '0.0.0.0', description: 'Address to bind FLEET_PORT on.' }),
  FLEET_REPLICA_ID: str({
    default: '',
    description:
      'Id of this fleet replica (shard leases, consumer name). Default: hostname plus a random suffix, new on every start.',
  }),
  FLEET_HEARTBEAT_INTERVAL_SECONDS: int({
    default: 30,
    min: 1,
    max: 86_400,
    description: 'heartbeat_interval_seconds offered to agents with ReportsHeartbeat (and their liveness interval).',
  }),
  FLEET_OFFLINE_AFTER_MISSED: int({
    default: 3,
    min: 1,
    max: 100,
    description:
      'An agent is marked offline after this many intervals without a message (k × interval; 30 s for agents without heartbeats).',
  }),
  FLEET_FLUSH_INTERVAL_MS: int({
    default: 1000,
    min: 10,
    description: 'Write-behind: how often dirty agents and pending events are written to Postgres.',
  }),
  FLEET_FLUSH_MAX_BATCH: int({
    default: 1000,
    min: 1,
    max: 50_000,
    description:
      'Write-behind: most agents (and events) per Postgres batch; reaching it triggers a flush before the interval.',
  }),
  FLEET_LEASE_TTL_MS: int({
    default: 10_000,
    min: 500,
    description:
      'Shard lease TTL: a crashed replica’s shards are taken over after at most this long (renewed every TTL/3).',
  }),
  FLEET_LAST_SEEN_PERSIST_SECONDS: int({
    default: 300,
    min: 0,
    description:
      'last_seen_at reaches Postgres at most this often per agent: a heartbeat alone writes no row (hot state keeps the exact value).',
  }),
  OPAMP_PUBLIC_URL: url({
    default: 'ws://localhost:4320/v1/opamp',
    protocols: ['ws', 'wss', 'http', 'https'],
    description:
      'OpAMP endpoint offered to agents in connection settings (sent with the heartbeat interval; http(s) form for HTTP agents).',
  }),
  FLEET_CUSTOM_CAPABILITIES: str({
    default: '',
    description:
      'Comma-separated custom capabilities the server supports (e.g. com.example.pause); sent to agents once per connection.',
    check: (v) =>
      v
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)
        .every((c) => /^[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+)?$/.test(c))
        ? undefined
        : 'must be a comma-separated list of reverse-FQDN names (optionally /version)',
  }),
};

export type FleetConfig = EnvOf<typeof fleetEnv> & { replicaId: string; customCapabilities: string[] };

export const FLEET_CONFIG = Symbol('FLEET_CONFIG');
/** One FleetPolicy for the app, so message processing and liveness sweeps decide with the same settings. */
export const FLEET_POLICY = Symbol('FLEET_POLICY');

export function loadFleetConfig(source: Record<string, string | undefined> = process.env): FleetConfig {
  const env = loadEnv(fleetEnv, source);
  return {
    ...env,
    replicaId: env.FLEET_REPLICA_ID || `${hostname()}-${randomBytes(3).toString('hex')}`,
    customCapabilities: env.FLEET_CUSTOM_CAPABILITIES.split(',')
      .map((s) => s.trim())
      .filter(Boolean),
  };
}

/** The decision settings of the pure domain logic, from the environment. */
export function policyFromConfig(config: FleetConfig): FleetPolicy {
  return {
    ...DEFAULT_POLICY,
    serverCapabilities: SERVER_CAPABILITIES,
    heartbeatIntervalSeconds: config.FLEET_HEARTBEAT_INTERVAL_SECONDS,
    offlineAfterMissed: config.FLEET_OFFLINE_AFTER_MISSED,
    opampPublicUrl: config.OPAMP_PUBLIC_URL,
    serverCustomCapabilities: config.customCapabilities,
    lastSeenPersistMs: config.FLEET_LAST_SEEN_PERSIST_SECONDS * 1000,
  };
}
