// Commands with outcomes end to end: simulated agents (WS) → gateway → Redis → fleet → Postgres,
// the api creating commands and its tracker following the agent-events stream to their outcome.
// Restart (queued → sent → succeeded), a custom command round trip with a result, a failing and a
// silent custom command (failed, timed_out), the 409 for an agent that cannot restart, and bulk
// commands by selector (dry run, then a restart of several agents). Everything real.
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EVENT_FIELD, StreamKeys, createRedis } from '@opamp/bus';
import { AgentCapability } from '@opamp/protocol';
import {
  DEFAULT_AGENT_CAPABILITIES,
  SimulatedAgent,
  type SimulatedAgentOptions,
} from '../../apps/simulator/src/index.js';
import { REDIS_URL } from '../support/env.js';
import { eventually } from '../support/wait.js';
import { apiFor, startStack, type Api, type Stack } from './helpers/stack.js';

const SUITE = `cmd${randomBytes(3).toString('hex')}`;
const CAP = `com.example.e2e.${SUITE}`;

let stack: Stack;
let api: Api;
let redis: Redis;
const agents: SimulatedAgent[] = [];

type Command = Record<string, unknown> & { id: string; state: string };

function agent(group: string, opts: Partial<SimulatedAgentOptions> = {}): SimulatedAgent {
  const a = new SimulatedAgent({
    url: stack.opampWs,
    transport: 'ws',
    hostName: `${SUITE}-${group}-${agents.length}`,
    labels: { suite: SUITE, group },
    customCapabilities: [CAP],
    commandReplies: true,
    failCommandTypes: ['break'],
    ignoreCommandTypes: ['mute'],
    restartDelayMs: 200,
    ...opts,
  });
  agents.push(a);
  return a;
}

/** Starts the agents and waits until the api knows each with its capabilities. */
async function online(list: SimulatedAgent[]): Promise<void> {
  await Promise.all(list.map((a) => a.start()));
  for (const a of list) {
    await api.waitAgent(a.uid, (v) => {
      expect(v.customCapabilities).toContain(CAP);
    });
  }
}

async function call<T = Record<string, unknown>>(
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: T }> {
  return api.request<T>(method, path, body);
}

async function outcome(id: string, state: string): Promise<Command> {
  return eventually(
    async () => {
      const r = await call<Command>('GET', `/api/v1/commands/${id}`);
      expect(r.body.state).toBe(state);
      return r.body;
    },
    { timeoutMs: 15_000, intervalMs: 100 },
  );
}

/** The states the command-events stream announced for a command, in order. */
async function announced(id: string): Promise<string[]> {
  const entries = await redis.xrange(StreamKeys.commandEvents, '-', '+');
  return entries
    .map(([, f]) => JSON.parse(f[f.indexOf(EVENT_FIELD) + 1]!) as { commandId: string; state: string })
    .filter((e) => e.commandId === id)
    .map((e) => e.state);
}

beforeAll(async () => {
  stack = await startStack({ fleet: { FLEET_CUSTOM_CAPABILITIES: CAP } });
  api = apiFor(stack);
  redis = createRedis(REDIS_URL, { name: 'commands-e2e' });
  await redis.connect();
}, 120_000);

afterAll(async () => {
  await Promise.all(agents.map((a) => a.stop().catch(() => undefined)));
  redis?.disconnect();
  await stack?.stop();
}, 60_000);

describe('commands end to end', () => {
  let solo: SimulatedAgent;

  beforeAll(async () => {
    solo = agent('solo');
    await online([solo]);
    for (const [type, timeoutSeconds] of [
      ['flush', 30],
      ['break', 30],
      ['mute', 2],
    ] as const) {
      const r = await call('PUT', `/api/v1/command-types/${CAP}/${type}`, {
        parametersSchema: { type: 'object', properties: { input: { type: 'string' } } },
        timeoutSeconds,
      });
      expect(r.status, JSON.stringify(r.body)).toBe(201);
    }
  }, 60_000);

  it('restart: queued → sent → succeeded once the agent is back as a new process', async () => {
    const restarted = solo.waitFor('restarted', () => true, 15_000);
    const r = await call<Command>('POST', `/api/v1/agents/${solo.uid}/restart`);
    expect(r.status).toBe(202);
    expect(r.body).toMatchObject({ commandId: r.body.id, kind: 'restart', state: 'queued' });
    await restarted;
    const done = await outcome(r.body.id, 'succeeded');
    expect(Date.parse(done.completedAt as string)).toBeGreaterThan(Date.parse(done.sentAt as string));
    expect(await announced(r.body.id)).toEqual(['queued', 'sent', 'succeeded']);
  });

  it('custom commands: a round trip with a result, a failure, and a silent agent timing out', async () => {
    const send = async (type: string): Promise<string> => {
      const r = await call<Command>('POST', `/api/v1/agents/${solo.uid}/commands`, {
        capability: CAP,
        type,
        parameters: { input: 'tail.0' },
      });
      expect(r.status, JSON.stringify(r.body)).toBe(202);
      return r.body.id;
    };
    const [ok, broken, silent] = [await send('flush'), await send('break'), await send('mute')];

    const done = await outcome(ok, 'succeeded');
    expect(done.result).toEqual({
      commandId: ok,
      status: 'succeeded',
      result: { type: 'flush', parameters: { input: 'tail.0' }, agent: solo.uid },
    });
    const failed = await outcome(broken, 'failed');
    expect(failed.reason).toMatch(/simulated failure of command type break/);
    expect(failed.result).toMatchObject({ commandId: broken, status: 'failed' });
    const timedOut = await outcome(silent, 'timed_out');
    expect(timedOut.reason).toMatch(/did not reply/);
    expect(await announced(silent)).toEqual(['queued', 'sent', 'timed_out']);
  });

  it('restart of an agent without AcceptsRestartCommand: 409, nothing stored', async () => {
    const stubborn = agent('bulk', {
      capabilities: DEFAULT_AGENT_CAPABILITIES & ~AgentCapability.AcceptsRestartCommand,
    });
    await online([stubborn]);
    const r = await call<{ detail: string }>('POST', `/api/v1/agents/${stubborn.uid}/restart`);
    expect(r.status).toBe(409);
    expect(r.body.detail).toMatch(/AcceptsRestartCommand/);
    const list = await call<{ items: unknown[] }>('GET', `/api/v1/commands?agent=${stubborn.uid}`);
    expect(list.body.items).toEqual([]);
  });

  it('bulk by selector: a dry run counts, then a restart reaches every eligible agent', async () => {
    const group = [agent('bulk'), agent('bulk'), agent('bulk')];
    await online(group);
    const selector = `suite=${SUITE},group=bulk`;
    const dry = await call('POST', '/api/v1/commands/bulk', { selector, command: { kind: 'restart' }, dryRun: true });
    expect(dry.status).toBe(200);
    expect(dry.body).toEqual({ dryRun: true, matched: 4, eligible: 3, ineligible: { noAcceptsRestartCommand: 1 } });

    const restarts = group.map((a) => a.waitFor('restarted', () => true, 15_000));
    const bulk = await call<{ bulkId: string; matched: number; queued: number; skipped: number }>(
      'POST',
      '/api/v1/commands/bulk',
      { selector, command: { kind: 'restart' } },
    );
    expect(bulk.status).toBe(202);
    expect(bulk.body).toMatchObject({ matched: 4, queued: 3, skipped: 1 });
    await Promise.all(restarts);
    const all = await eventually(
      async () => {
        const r = await call<{ items: Command[] }>('GET', `/api/v1/commands?bulkId=${bulk.body.bulkId}`);
        expect(r.body.items.map((c) => c.state)).toEqual(['succeeded', 'succeeded', 'succeeded']);
        return r.body.items;
      },
      { timeoutMs: 15_000, intervalMs: 100 },
    );
    expect(all.map((c) => c.agentUid).sort()).toEqual(group.map((a) => a.uid).sort());
  });
});
