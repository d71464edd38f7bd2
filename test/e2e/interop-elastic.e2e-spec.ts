// Interoperability with an independent OpAMP implementation: @elastic/opamp-client-node (plain
// HTTP transport) talks to the real gateway → fleet → api, next to a WS agent spoken by our own raw
// client. Fleet heartbeat 1 s, offline after 2 missed, so the whole lifecycle fits in seconds.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { channel, type Channel } from 'node:diagnostics_channel';
import {
  AgentCapabilities,
  DIAG_CH_SEND_FAIL,
  DIAG_CH_SEND_SUCCESS,
  createOpAMPClient,
} from '@elastic/opamp-client-node';
import { concat, a2s, hex, RawWsClient, uidText, description } from '../support/opamp-raw-client.js';
import { eventually, withTimeout } from '../support/wait.js';
import { newUid, poll } from './helpers/agents.js';
import { EXPECTED_SERVER_CAPABILITIES, expectAck, hasFullStateFlag } from './helpers/opamp-assert.js';
import { apiFor, big, identifying, startStack, type Api, type Stack } from './helpers/stack.js';

const HEARTBEAT_S = 1;
const MISSED = 2;

let stack: Stack;
let api: Api;

beforeAll(async () => {
  stack = await startStack({
    fleet: { FLEET_HEARTBEAT_INTERVAL_SECONDS: String(HEARTBEAT_S), FLEET_OFFLINE_AFTER_MISSED: String(MISSED) },
  });
  api = apiFor(stack);
});

afterAll(async () => {
  await stack?.stop();
});

interface LogLine {
  level: string;
  args: unknown[];
}

/** A pino-style logger that records everything at warn and above. */
function recordingLogger(lines: LogLine[]) {
  const rec =
    (level: string) =>
    (...args: unknown[]) =>
      lines.push({ level, args });
  const noop = () => undefined;
  return { trace: noop, debug: noop, info: noop, warn: rec('warn'), error: rec('error'), fatal: rec('fatal') };
}

interface SendSuccess {
  instanceUidStr: string;
  a2s: { sequenceNum: bigint; agentDescription?: unknown };
  s2a: {
    instanceUid: Uint8Array;
    capabilities: bigint;
    flags: bigint;
    errorResponse?: unknown;
    remoteConfig?: unknown;
  };
}

describe('interop: @elastic/opamp-client-node over HTTP', () => {
  it('polls without warnings or errors, shows up with its description, then goes offline after shutdown', async () => {
    const uid = newUid();
    const problems: LogLine[] = [];
    const successes: SendSuccess[] = [];
    const failures: unknown[] = [];
    const onSuccess = (m: unknown) => {
      if ((m as SendSuccess).instanceUidStr === uidText(uid)) successes.push(m as SendSuccess);
    };
    const onFail = (m: unknown) => {
      if ((m as { instanceUidStr: string }).instanceUidStr === uidText(uid)) failures.push(m);
    };
    const okCh: Channel = channel(DIAG_CH_SEND_SUCCESS);
    const failCh: Channel = channel(DIAG_CH_SEND_FAIL);
    okCh.subscribe(onSuccess);
    failCh.subscribe(onFail);
    const remoteConfigs: unknown[] = [];

    const client = createOpAMPClient({
      endpoint: stack.opampHttp,
      instanceUid: uid,
      log: recordingLogger(problems),
      capabilities: BigInt(
        Number(AgentCapabilities.AgentCapabilities_AcceptsRemoteConfig) |
          Number(AgentCapabilities.AgentCapabilities_ReportsRemoteConfig),
      ),
      heartbeatIntervalSeconds: 0.3,
      diagEnabled: true,
      onMessage: ({ remoteConfig }) => {
        if (remoteConfig) remoteConfigs.push(remoteConfig);
      },
    });
    client.setAgentDescription({
      identifyingAttributes: {
        'service.name': 'elastic-interop',
        'service.version': '0.5.0',
        'service.instance.id': uidText(uid),
      },
      nonIdentifyingAttributes: { 'os.type': 'linux', 'host.name': 'interop-host' },
    });
    let shutdown = false;
    try {
      client.start();
      await eventually(() => expect(successes.length).toBeGreaterThanOrEqual(4), {
        timeoutMs: 10_000,
        description: 'four successful exchanges',
      });

      const agent = await api.waitAgent(uid, (a) => {
        expect(a.connectionState).toBe('connected');
        expect(big(a.sequenceNum)).toBeGreaterThanOrEqual(2n);
      });
      expect(identifying(agent)).toMatchObject({
        'service.name': 'elastic-interop',
        'service.version': '0.5.0',
        'service.instance.id': uidText(uid),
      });
      expect(agent.description?.nonIdentifying).toMatchObject({ 'os.type': 'linux', 'host.name': 'interop-host' });
      expect(big(agent.capabilities)).toBe(0x1n | 0x2n | 0x1000n | 0x2000n);

      await client.shutdown();
      shutdown = true;
    } finally {
      if (!shutdown) await client.shutdown().catch(() => undefined);
      okCh.unsubscribe(onSuccess);
      failCh.unsubscribe(onFail);
    }

    expect(
      problems,
      JSON.stringify(problems, (_k, v) => (typeof v === 'bigint' ? String(v) : v)),
    ).toEqual([]);
    expect(failures).toEqual([]);
    expect(remoteConfigs).toEqual([]); // nothing assigned, so nothing (not even an empty config) is offered
    for (const s of successes) {
      expect(uidText(s.s2a.instanceUid)).toBe(uidText(uid));
      expect(s.s2a.errorResponse).toBeUndefined();
      expect(s.s2a.capabilities).toBe(EXPECTED_SERVER_CAPABILITIES);
    }
    // The client's first message is a full report (seq 1, complete): no ReportFullState loop.
    expect(successes.filter((s) => (s.s2a.flags & 0x1n) !== 0n).length).toBeLessThanOrEqual(1);
    const seqs = successes.map((s) => s.a2s.sequenceNum);
    for (let i = 1; i < seqs.length; i++) expect(seqs[i]).toBe(seqs[i - 1]! + 1n);

    // The client sends no agent_disconnect on shutdown, so liveness decides: offline after k×interval.
    await api.waitAgent(uid, (a) => expect(a.connectionState).toBe('offline'), {
      timeoutMs: MISSED * HEARTBEAT_S * 1000 + 6_000,
    });
    const last = await api.agent(uid);
    expect(identifying(last!)['service.name']).toBe('elastic-interop');
  });
});

describe('interop: a WebSocket agent (raw client)', () => {
  it('connects, heartbeats, shows up connected with its description, and disconnects cleanly', async () => {
    const ws = await RawWsClient.open(stack.opampWs);
    try {
      const uid = newUid();
      const caps = 0x2001n;
      const first = expectAck(
        await ws.request({
          instanceUid: uid,
          sequenceNum: 0n,
          capabilities: caps,
          agentDescription: description(
            { 'service.name': 'ws-interop', 'service.version': '9.9.9', 'service.instance.id': uidText(uid) },
            { 'os.type': 'linux', 'host.name': 'ws-host' },
          ),
        }),
        uid,
      );
      expect(hasFullStateFlag(first)).toBe(false);
      expect(first.connectionSettings?.opamp?.heartbeatIntervalSeconds).toBe(BigInt(HEARTBEAT_S));
      for (let seq = 1n; seq <= 4n; seq++) {
        const s2a = expectAck(await ws.request(poll(uid, seq, caps)), uid);
        expect(hasFullStateFlag(s2a)).toBe(false);
        await new Promise((r) => setTimeout(r, 300));
      }
      const agent = await api.waitAgent(uid, (a) => {
        expect(a.connectionState).toBe('connected');
        expect(big(a.sequenceNum)).toBe(4n);
      });
      expect(identifying(agent)).toMatchObject({ 'service.name': 'ws-interop', 'service.version': '9.9.9' });
      expect(agent.description?.nonIdentifying).toMatchObject({ 'host.name': 'ws-host' });
      expect(big(agent.capabilities)).toBe(caps);

      await ws.sendFramed(concat(a2s(poll(uid, 5n, caps)), hex('4a00')));
      expectAck(await ws.nextServerToAgent(), uid);
      expect((await withTimeout(ws.close(1000), 5_000, 'close')).code).toBe(1000);
      await api.waitAgent(uid, (a) => expect(a.connectionState).toBe('disconnected'));
    } finally {
      ws.destroy();
    }
  });
});
