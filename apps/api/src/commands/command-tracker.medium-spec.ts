// The command tracker against real Postgres and Redis: agent events are appended to the
// agent-events stream exactly as the fleet writes them (JSON field `event`), and commands created
// through the api move to their outcome. Also: terminal states never change, the timeout sweep,
// command events, and entries left pending by a dead replica being claimed.
import { randomBytes } from 'node:crypto';
import type { INestApplication } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConsumerGroups, EVENT_FIELD, StreamKeys, createRedis } from '@opamp/bus';
import { PrismaService, type Prisma } from '@opamp/database';
import type { AgentEvent, AgentEventType } from '@opamp/domain';
import { uidToString, uuidv7 } from '@opamp/protocol';
import { waitFor } from '../../../../test/support/wait.js';
import { loadApiConfig, type ApiConfig } from '../api.config.js';
import { createApiApp } from '../bootstrap.js';
import { BusService } from '../redis/bus.service.js';
import { httpClient, type Json } from '../testing/http.js';
import { CommandTracker } from './command-tracker.service.js';
import { CommandsRepository } from './commands.repository.js';

const RUN = randomBytes(4).toString('hex');
const CAP = `com.example.tracker${RUN}`;

let app: INestApplication;
let base: string;
let prisma: PrismaService;
let redis: Redis;
let config: ApiConfig;
let tracker: CommandTracker;
const { get, post, call } = httpClient(() => base);

const newUid = (): string => uidToString(uuidv7());

/** Appends an agent event the way the fleet's write batch does. */
async function agentEvent(agentUid: string, type: AgentEventType, atMs: number, data: AgentEvent['data']) {
  const e: AgentEvent = { agentUid, type, atMs, data, key: newUid() };
  await redis.xadd(StreamKeys.agentEvents, '*', EVENT_FIELD, JSON.stringify(e));
}

const b64 = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64');

async function command(id: string): Promise<Json> {
  const r = await get(`/api/v1/commands/${id}`);
  expect(r.status).toBe(200);
  return r.body;
}

async function waitState(id: string, state: string): Promise<Json> {
  let last: Json = {};
  await waitFor(
    async () => {
      last = await command(id);
      return last.state === state;
    },
    { timeoutMs: 10_000, description: `command ${id} ${state}` },
  );
  return last;
}

async function newAgent(caps: bigint, custom: string[] = []): Promise<string> {
  const uid = newUid();
  const now = new Date();
  const row: Prisma.AgentCreateManyInput = {
    uid,
    agentType: 'fluentbit',
    description: { identifying: {}, nonIdentifying: {} },
    labels: { testrun: RUN },
    connectionState: 'connected',
    capabilities: caps,
    customCapabilities: custom,
    firstSeenAt: now,
    lastSeenAt: now,
  };
  await prisma.agent.createMany({ data: [row] });
  return uid;
}

function newTracker(options: ConstructorParameters<typeof CommandTracker>[3]): CommandTracker {
  return new CommandTracker(config, app.get(BusService), app.get(CommandsRepository), options);
}

beforeAll(async () => {
  config = loadApiConfig({ ...process.env, API_PORT: '0', LOG_LEVEL: 'error' });
  app = await createApiApp(config, { logger: false });
  await app.listen(0, '127.0.0.1');
  base = `http://127.0.0.1:${(app.getHttpServer().address() as { port: number }).port}`;
  prisma = app.get(PrismaService);
  tracker = app.get(CommandTracker);
  redis = createRedis(config.REDIS_URL, { name: 'tracker-medium-spec' });
  await redis.connect();
  await call('PUT', `/api/v1/command-types/${CAP}/flush`, { parametersSchema: { type: 'object' }, timeoutSeconds: 60 });
});

afterAll(async () => {
  if (prisma) {
    await prisma.$executeRaw`
      DELETE FROM commands WHERE agent_uid IN (
        SELECT uid FROM agents WHERE labels @> ${JSON.stringify({ testrun: RUN })}::jsonb)`;
    await prisma.$executeRaw`DELETE FROM agents WHERE labels @> ${JSON.stringify({ testrun: RUN })}::jsonb`;
    await prisma.$executeRaw`DELETE FROM command_types WHERE capability = ${CAP}`;
  }
  redis?.disconnect();
  await app?.close();
});

describe('restart: queued → sent → succeeded', () => {
  it('sent with command_sent; succeeded when the agent connects again after that', async () => {
    const agent = await newAgent(0x401n);
    const id = (await post(`/api/v1/agents/${agent}/restart`)).body.id as string;
    const sentAt = Date.now();
    await agentEvent(agent, 'command_sent', sentAt, { command: 'restart', commandId: id, delivery: 'push' });
    const sent = await waitState(id, 'sent');
    expect(sent.sentAt).toBe(new Date(sentAt).toISOString());
    // A connection of the same moment (the reply that carried the restart) is not the new process.
    await agentEvent(agent, 'connected', sentAt, { transport: 'ws' });
    await agentEvent(agent, 'connected', sentAt + 1500, { transport: 'ws' });
    const done = await waitState(id, 'succeeded');
    expect(done.completedAt).toBe(new Date(sentAt + 1500).toISOString());
    expect(done.reason).toBeNull();
  });

  it('succeeded by a health start time after sent_at (a supervisor restarting on the same connection)', async () => {
    const agent = await newAgent(0x401n);
    const id = (await post(`/api/v1/agents/${agent}/restart`)).body.id as string;
    const sentAt = Date.now();
    await agentEvent(agent, 'command_sent', sentAt, { command: 'restart', commandId: id, delivery: 'reply' });
    await waitState(id, 'sent');
    // A health change of the old process says nothing.
    await agentEvent(agent, 'health_changed', sentAt + 10, { healthy: false, startTimeMs: sentAt - 60_000 });
    await agentEvent(agent, 'health_changed', sentAt + 900, {
      healthy: true,
      startTimeMs: sentAt + 800,
      restarted: true,
    });
    await waitState(id, 'succeeded');
  });

  it('command_rejected → failed with the fleet reason; a terminal state never changes', async () => {
    const agent = await newAgent(0x401n);
    const id = (await post(`/api/v1/agents/${agent}/restart`)).body.id as string;
    const at = Date.now();
    await agentEvent(agent, 'command_rejected', at, {
      command: 'restart',
      commandId: id,
      reason: 'agent no longer declares AcceptsRestartCommand (0x400)',
    });
    const failed = await waitState(id, 'failed');
    expect(failed.reason).toMatch(/no longer declares/);
    // Later events (redelivery, a stray reconnect) leave it as it is.
    await agentEvent(agent, 'command_sent', at + 5, { command: 'restart', commandId: id });
    await agentEvent(agent, 'connected', at + 2000, { transport: 'ws' });
    const marker = await newAgent(0x401n);
    const markerId = (await post(`/api/v1/agents/${marker}/restart`)).body.id as string;
    await agentEvent(marker, 'command_sent', at + 10, { command: 'restart', commandId: markerId });
    await waitState(markerId, 'sent'); // the stream was processed past the events above
    expect(await command(id)).toMatchObject({ state: 'failed', sentAt: null });
  });
});

describe('custom commands: the reply decides', () => {
  async function sendFlush(agent: string, parameters: Json = {}): Promise<string> {
    const r = await post(`/api/v1/agents/${agent}/commands`, { capability: CAP, type: 'flush', parameters });
    expect(r.status, JSON.stringify(r.body)).toBe(202);
    return r.body.id as string;
  }

  it('a reply naming the command with status succeeded → succeeded, the reply stored as result', async () => {
    const agent = await newAgent(0x1n, [CAP]);
    const id = await sendFlush(agent, { input: 'tail.0' });
    const at = Date.now();
    await agentEvent(agent, 'command_sent', at, {
      command: 'custom_message',
      commandId: id,
      capability: CAP,
      type: 'flush',
    });
    await waitState(id, 'sent');
    const reply = { commandId: id, status: 'succeeded', result: { flushed: 12 } };
    await agentEvent(agent, 'custom_message_received', at + 50, {
      capability: CAP,
      type: 'flush',
      size: 60,
      data: b64(reply),
    });
    const done = await waitState(id, 'succeeded');
    expect(done.result).toEqual(reply);
    expect(done.completedAt).toBe(new Date(at + 50).toISOString());
  });

  it('a reply with an error → failed, the error message as the reason', async () => {
    const agent = await newAgent(0x1n, [CAP]);
    const id = await sendFlush(agent);
    await agentEvent(agent, 'custom_message_received', Date.now(), {
      capability: CAP,
      type: 'flush',
      size: 80,
      data: b64({ commandId: id, status: 'failed', error: { message: 'input tail.9 does not exist' } }),
    });
    // Straight from queued: the reply names the command (its command_sent may come later).
    const failed = await waitState(id, 'failed');
    expect(failed.reason).toBe('input tail.9 does not exist');
    expect(failed.sentAt).not.toBeNull();
  });

  it('a reply without commandId completes the oldest sent command of that capability and type', async () => {
    const agent = await newAgent(0x1n, [CAP]);
    const first = await sendFlush(agent);
    const second = await sendFlush(agent);
    const at = Date.now();
    await agentEvent(agent, 'command_sent', at, {
      command: 'custom_message',
      commandId: first,
      capability: CAP,
      type: 'flush',
    });
    await agentEvent(agent, 'command_sent', at + 1, {
      command: 'custom_message',
      commandId: second,
      capability: CAP,
      type: 'flush',
    });
    await waitState(second, 'sent');
    const ack = (t: number) =>
      agentEvent(agent, 'custom_message_received', t, { capability: CAP, type: 'flush', size: 2, data: b64('ok') });
    await ack(at + 10);
    expect((await waitState(first, 'succeeded')).result).toBe('ok');
    expect((await command(second)).state).toBe('sent');
    await ack(at + 20);
    await waitState(second, 'succeeded');
  });

  it('a reply from another agent, or for another capability, completes nothing', async () => {
    const agent = await newAgent(0x1n, [CAP]);
    const other = await newAgent(0x1n, [CAP]);
    const id = await sendFlush(agent);
    const at = Date.now();
    await agentEvent(other, 'custom_message_received', at, {
      capability: CAP,
      type: 'flush',
      size: 10,
      data: b64({ commandId: id, status: 'succeeded' }),
    });
    await agentEvent(agent, 'custom_message_received', at, {
      capability: 'com.example.unrelated',
      type: 'flush',
      size: 10,
      data: b64({ commandId: id, status: 'succeeded' }),
    });
    await agentEvent(agent, 'command_sent', at + 1, {
      command: 'custom_message',
      commandId: id,
      capability: CAP,
      type: 'flush',
    });
    await waitState(id, 'sent');
  });
});

describe('deadlines and events', () => {
  it('the sweep times out what is past its deadline (queued and sent), with a reason, once', async () => {
    const agent = await newAgent(0x401n, [CAP]);
    const queued = (await post(`/api/v1/agents/${agent}/restart`)).body.id as string;
    const sent = (await post(`/api/v1/agents/${agent}/commands`, { capability: CAP, type: 'flush' })).body.id as string;
    await agentEvent(agent, 'command_sent', Date.now(), { command: 'custom_message', commandId: sent });
    await waitState(sent, 'sent');
    await prisma.$executeRaw`
      UPDATE commands SET deadline_at = now() - interval '1 second' WHERE id IN (${queued}::uuid, ${sent}::uuid)`;
    // Two replicas sweeping at once: each row is timed out by exactly one of them.
    const other = newTracker({ sweepIntervalMs: 3_600_000 });
    const [a, b] = await Promise.all([tracker.sweep(), other.sweep()]);
    expect(a + b).toBeGreaterThanOrEqual(2);
    expect(await command(queued)).toMatchObject({ state: 'timed_out', reason: expect.stringMatching(/not delivered/) });
    expect(await command(sent)).toMatchObject({ state: 'timed_out', reason: expect.stringMatching(/did not reply/) });
    const events = (await redis.xrevrange(StreamKeys.commandEvents, '+', '-', 'COUNT', 200)).map(
      ([, f]) => JSON.parse(f[f.indexOf(EVENT_FIELD) + 1]!) as Json,
    );
    const mine = events.filter((e) => e.commandId === queued || e.commandId === sent);
    expect(mine.filter((e) => e.state === 'timed_out')).toHaveLength(2);
    expect(mine.find((e) => e.commandId === sent && e.state === 'sent')).toMatchObject({
      agentUid: agent,
      kind: 'custom',
      at: expect.any(String),
    });
  });

  it('entries a dead replica read but never acknowledged are claimed and applied', async () => {
    // Stop the app's own consumer so the "dead" one below is the only reader.
    await tracker.beforeApplicationShutdown();
    const agent = await newAgent(0x401n);
    const id = (await post(`/api/v1/agents/${agent}/restart`)).body.id as string;
    await agentEvent(agent, 'command_sent', Date.now(), { command: 'restart', commandId: id });
    const dead = `dead-replica-${RUN}`;
    const read = (await redis.xreadgroup(
      'GROUP',
      ConsumerGroups.apiCommands,
      dead,
      'COUNT',
      1000,
      'STREAMS',
      StreamKeys.agentEvents,
      '>',
    )) as Array<[string, unknown[]]> | null;
    expect(read?.[0]?.[1].length).toBeGreaterThan(0);
    await new Promise((r) => setTimeout(r, 300));
    const rescuer = newTracker({ claimIdleMs: 200, claimEveryMs: 100, sweepIntervalMs: 3_600_000 });
    await rescuer.onApplicationBootstrap();
    try {
      await waitState(id, 'sent');
      const pending = (await redis.xpending(
        StreamKeys.agentEvents,
        ConsumerGroups.apiCommands,
        '-',
        '+',
        10,
        dead,
      )) as unknown[];
      expect(pending).toEqual([]);
    } finally {
      await rescuer.beforeApplicationShutdown();
      await redis.xgroup('DELCONSUMER', StreamKeys.agentEvents, ConsumerGroups.apiCommands, dead);
    }
  });
});
