import { afterEach, describe, expect, it } from 'vitest';
import { parseSimulatorArgs, type SimulatorConfig } from './cli.js';
import { AgentFleet, formatStatus, formatSummary, percentile, problemKind } from './fleet.js';
import { FakeTransport } from './testing/fake-transport.js';

const fleets: AgentFleet[] = [];
afterEach(async () => {
  await Promise.all(fleets.splice(0).map((f) => f.stop()));
});

function config(...argv: string[]): SimulatorConfig {
  const c = parseSimulatorArgs(argv);
  if (c === 'help') throw new Error('help');
  return c;
}

describe('AgentFleet', () => {
  it('derives per-agent options: labels, deterministic config failures, host names', () => {
    const fleet = new AgentFleet(config('--agents', '20', '--fail-config-percent', '10', '--label', 'env=prod'));
    const opts = Array.from({ length: 20 }, (_, i) => fleet.agentOptions(i));
    expect(opts.filter((o) => o.failConfig)).toHaveLength(2);
    expect(opts[3]!.labels).toEqual({ env: 'prod' });
    expect(new Set(opts.map((o) => o.hostName)).size).toBe(20);
  });

  it('ramps agents up at the configured rate and aggregates their counters', async () => {
    const transports: FakeTransport[] = [];
    const fleet = new AgentFleet(config('--agents', '10', '--ramp-per-second', '100'), undefined, {
      transportFactory: (h) => {
        const t = new FakeTransport('http', h);
        transports.push(t);
        return t;
      },
    });
    fleets.push(fleet);
    const started = Date.now();
    await fleet.start();
    // 10 agents at 100/s: the first at once, the last ~90 ms later.
    expect(Date.now() - started).toBeGreaterThanOrEqual(80);
    const deadline = Date.now() + 2_000;
    while (fleet.snapshot().repliesReceived < 10 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    const snap = fleet.snapshot();
    expect(snap).toMatchObject({
      agents: 10,
      started: 10,
      connected: 10,
      messagesSent: 10,
      repliesReceived: 10,
      errors: 0,
    });
    expect(fleet.firstReplyLatencies).toHaveLength(10);
    expect(formatStatus(snap, { ...snap, at: snap.at - 5_000, messagesSent: 0 }, 5_000)).toMatch(
      /10\/10 started, 10 connected \| 2\.0 msg\/s/,
    );
    await fleet.stop();
    expect(transports.every((t) => t.last.agentDisconnect !== undefined)).toBe(true);
    expect(formatSummary(fleet, fleet.snapshot(), 1_000)).toMatch(/messages sent\s+20/);
  });

  it('stops a ramp in progress', async () => {
    const fleet = new AgentFleet(config('--agents', '1000', '--ramp-per-second', '10'), undefined, {
      transportFactory: (h) => new FakeTransport('http', h),
    });
    fleets.push(fleet);
    const ramp = fleet.start();
    await new Promise((r) => setTimeout(r, 120));
    await fleet.stop();
    await ramp;
    expect(fleet.agents.length).toBeLessThan(10);
  });
});

describe('helpers', () => {
  it('groups problems by kind', () => {
    expect(problemKind('ServerToAgent for instance_uid 0192e3a4-5b6c-7d8e-9f01-23456789abcd ignored')).toBe(
      'ServerToAgent for instance_uid <uid> ignored',
    );
    expect(problemKind('WebSocket upgrade refused with HTTP 503')).toBe('WebSocket upgrade refused with HTTP N');
  });

  it('computes nearest-rank percentiles', () => {
    const s = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
    expect([percentile(s, 50), percentile(s, 95), percentile(s, 99), percentile(s, 100)]).toEqual([5, 10, 10, 10]);
    expect(percentile([], 50)).toBeNaN();
  });
});
