import { describe, expect, it } from 'vitest';
import { EnvValidationError, describeEnv } from '@opamp/config';
import { fleetEnv, loadFleetConfig, policyFromConfig } from './fleet.config.js';

describe('fleet configuration', () => {
  it('has the documented defaults', () => {
    const c = loadFleetConfig({});
    expect(c).toMatchObject({
      FLEET_PORT: 4330,
      FLEET_HEARTBEAT_INTERVAL_SECONDS: 30,
      FLEET_OFFLINE_AFTER_MISSED: 3,
      FLEET_FLUSH_INTERVAL_MS: 1000,
      FLEET_FLUSH_MAX_BATCH: 1000,
      FLEET_LEASE_TTL_MS: 10_000,
      FLEET_LAST_SEEN_PERSIST_SECONDS: 300,
      OPAMP_PUBLIC_URL: 'ws://localhost:4320/v1/opamp',
      customCapabilities: [],
    });
    expect(c.replicaId).toMatch(/.+-[0-9a-f]{6}$/);
    expect(loadFleetConfig({}).replicaId).not.toBe(c.replicaId);
    expect(loadFleetConfig({ FLEET_REPLICA_ID: 'fleet-0' }).replicaId).toBe('fleet-0');
  });

  it('parses the custom capabilities list and builds the domain policy', () => {
    const c = loadFleetConfig({
      FLEET_CUSTOM_CAPABILITIES: ' com.example.pause, io.acme.restart/v2 ,',
      FLEET_HEARTBEAT_INTERVAL_SECONDS: '5',
    });
    expect(c.customCapabilities).toEqual(['com.example.pause', 'io.acme.restart/v2']);
    const p = policyFromConfig(c);
    expect(p.serverCustomCapabilities).toEqual(['com.example.pause', 'io.acme.restart/v2']);
    expect(p.heartbeatIntervalSeconds).toBe(5);
    expect(p.serverCapabilities).toBe(0x27n);
    expect(p.lastSeenPersistMs).toBe(300_000);
  });

  it('rejects invalid values, listing every problem', () => {
    try {
      loadFleetConfig({
        FLEET_HEARTBEAT_INTERVAL_SECONDS: '0',
        OPAMP_PUBLIC_URL: 'ftp://x',
        FLEET_CUSTOM_CAPABILITIES: 'has space',
      });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(EnvValidationError);
      expect((err as EnvValidationError).problems).toHaveLength(3);
    }
  });

  it('describes every variable', () => {
    const rows = describeEnv(fleetEnv);
    for (const name of [
      'FLEET_PORT',
      'FLEET_REPLICA_ID',
      'FLEET_LAST_SEEN_PERSIST_SECONDS',
      'OPAMP_PUBLIC_URL',
      'FLEET_CUSTOM_CAPABILITIES',
      'DATABASE_URL',
      'REDIS_URL',
    ]) {
      expect(rows.some((r) => r.includes(`\`${name}\``))).toBe(true);
    }
    for (const [name, spec] of Object.entries(fleetEnv)) expect(spec.description.length, name).toBeGreaterThan(10);
  });
});
