// Agent state, identification and sequence numbers against real processes (checklist §3.1–3.4,
// §3.13, §5 cases 31–37, 41, 45–50, 52). Fleet: heartbeat interval 1 s, offline after 2 missed.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  a2s,
  concat,
  description,
  hex,
  postOpamp,
  RawWsClient,
  uidText,
  wire,
  type AgentToServerInit,
} from '../support/opamp-raw-client.js';
import { expectNeverStored, fullReport, newUid, poll } from './helpers/agents.js';
import { expectAck, expectBadRequest, expectUuidV7, hasFullStateFlag } from './helpers/opamp-assert.js';
import {
  apiFor,
  big,
  expectHealthy,
  identifying,
  startStack,
  type AgentView,
  type Api,
  type Stack,
} from './helpers/stack.js';

const HEARTBEAT_S = 1;
const MISSED = 2;

let stack: Stack;
let api: Api;
let url: string;
const sockets: RawWsClient[] = [];

beforeAll(async () => {
  stack = await startStack({
    fleet: {
      FLEET_HEARTBEAT_INTERVAL_SECONDS: String(HEARTBEAT_S),
      FLEET_OFFLINE_AFTER_MISSED: String(MISSED),
      // A crashed replica's shards are taken over after this long (crash test below).
      FLEET_LEASE_TTL_MS: '1500',
    },
  });
  api = apiFor(stack);
  url = stack.opampHttp;
});

afterAll(async () => {
  for (const s of sockets) s.destroy();
  await stack?.stop();
});

async function send(msg: AgentToServerInit | Uint8Array) {
  const res = await postOpamp(url, msg);
  expect(res.status).toBe(200);
  return res.serverToAgent!;
}

async function wsConnect(): Promise<RawWsClient> {
  const ws = await RawWsClient.open(stack.opampWs);
  sockets.push(ws);
  return ws;
}

const seqOf = (a: AgentView) => big(a.sequenceNum);

describe('identification', () => {
  it('case 31: uid of length 0, 15, 17 or 26 → BAD_REQUEST (HTTP and WS), no agent record', async () => {
    const base = newUid();
    const ws = await wsConnect();
    for (const len of [0, 15, 17, 26]) {
      const bad = new Uint8Array(len);
      bad.set(base.subarray(0, Math.min(16, len)));
      if (len === 26) bad.set(Buffer.from('01ARZ3NDEKTSV4RRFFQ69G5FAV'));
      const httpReply = await send({
        instanceUid: bad,
        sequenceNum: 0n,
        capabilities: 1n,
        agentDescription: description({ 'service.name': 'case-31' }),
      });
      expectBadRequest(httpReply, bad);
      const wsReply = await ws.request({ instanceUid: bad, sequenceNum: 0n, capabilities: 1n });
      expectBadRequest(wsReply, bad);
    }
    // 17 bytes starting with a valid uid must not create that uid either.
    await expectNeverStored(api, url, base);
    ws.destroy();
  });

  it('case 32: RequestInstanceUid → UUIDv7 new_instance_uid; the new uid continues the same record', async () => {
    const temp = newUid();
    const reply = await send(fullReport(temp, 0n, { flags: 0x1n }, 'case-32'));
    expect(uidText(reply.instanceUid)).toBe(uidText(temp));
    expect(reply.errorResponse).toBeUndefined();
    expect(reply.agentIdentification).toBeDefined();
    const assigned = reply.agentIdentification!.newInstanceUid;
    expectUuidV7(assigned);
    expect(uidText(assigned)).not.toBe(uidText(temp));

    // The agent did not get the reply and retries: the same new uid, not a second one.
    const retry = await send(fullReport(temp, 0n, { flags: 0x1n }, 'case-32'));
    expect(uidText(retry.agentIdentification?.newInstanceUid ?? new Uint8Array())).toBe(uidText(assigned));

    // Next message: new uid, seq continues, compressed.
    const next = expectAck(await send(poll(assigned, 1n)), assigned);
    expect(next.agentIdentification).toBeUndefined();
    expect(hasFullStateFlag(next)).toBe(false);
    const again = expectAck(await send(poll(assigned, 2n)), assigned);
    expect(again.agentIdentification).toBeUndefined();

    await api.waitAgent(assigned, (a) => {
      expect(identifying(a)['service.name']).toBe('case-32');
      expect(seqOf(a)).toBe(2n);
      expect(a.connectionState).toBe('connected');
    });
    expect(await api.agent(temp), 'the temporary uid leaves no record').toBeUndefined();
  });
  it('case 32 (WS): after RequestInstanceUid the socket is routed under the new uid (pushes, close)', async () => {
    const ws = await wsConnect();
    const temp = newUid();
    const reply = await ws.request(fullReport(temp, 0n, { flags: 0x1n, capabilities: 0x401n }, 'case-32-ws'));
    expect(uidText(reply.instanceUid)).toBe(uidText(temp));
    const assigned = reply.agentIdentification!.newInstanceUid;
    expectUuidV7(assigned);
    expectAck(await ws.request(poll(assigned, 1n, 0x401n)), assigned);
    await api.waitAgent(assigned, (a) => expect(a.connectionState).toBe('connected'));

    expect((await api.restart(assigned)).status).toBe(202);
    const push = await ws.nextServerToAgent(10_000);
    expect(uidText(push.instanceUid)).toBe(uidText(assigned));
    expect(push.command).toBeDefined();

    await ws.close(1000);
    await api.waitAgent(assigned, (a) => expect(a.connectionState).toBe('disconnected'));
    expect(await api.agent(temp)).toBeUndefined();
  });
});

describe('sequence numbers and ReportFullState', () => {
  it('case 33: gaps on compressed messages set ReportFullState; full messages and contiguous seq do not; state survives a fleet restart', async () => {
    const uid = newUid();
    expect(hasFullStateFlag(expectAck(await send(fullReport(uid, 0n, {}, 'case-33')), uid)), 'seq 0 full').toBe(false);
    expect(hasFullStateFlag(expectAck(await send(poll(uid, 1n)), uid)), 'seq 1 compressed').toBe(false);
    expect(hasFullStateFlag(expectAck(await send(poll(uid, 3n)), uid)), 'seq 3 compressed (gap)').toBe(true);
    expect(hasFullStateFlag(expectAck(await send(fullReport(uid, 4n, {}, 'case-33')), uid)), 'seq 4 full').toBe(false);
    await api.waitAgent(uid, (a) => expect(seqOf(a)).toBe(4n));

    await stack.restartFleet();

    // Hot state lives in Redis, so a fleet restart loses nothing: contiguous seq 5 needs no full
    // report (the checklist's "flag set" assumes a server that lost its state), and the stored
    // description is intact. A real gap is still detected after the restart.
    const after = expectAck(await send(poll(uid, 5n)), uid);
    expect(hasFullStateFlag(after), 'seq 5 compressed after restart (state kept)').toBe(false);
    expect(hasFullStateFlag(expectAck(await send(poll(uid, 7n)), uid)), 'seq 7 compressed after restart (gap)').toBe(
      true,
    );
    await api.waitAgent(uid, (a) => {
      expect(seqOf(a)).toBe(7n);
      expect(identifying(a)['service.name']).toBe('case-33');
    });
  });

  it('case 33 (crash): after kill -9 of the fleet nothing is lost and contiguous seq needs no full report', async () => {
    const uid = newUid();
    expectAck(await send(fullReport(uid, 0n, {}, 'case-33-crash')), uid);
    expectAck(await send(poll(uid, 1n)), uid);
    await stack.fleet!.kill9();
    await stack.restartFleet();
    const after = expectAck(await send(poll(uid, 2n)), uid);
    expect(hasFullStateFlag(after)).toBe(false);
    await api.waitAgent(uid, (a) => {
      expect(seqOf(a)).toBe(2n);
      expect(identifying(a)['service.name']).toBe('case-33-crash');
    });
  });

  it('case 33 (unknown agent): a compressed first message from an agent the server never saw gets ReportFullState', async () => {
    const uid = newUid();
    expect(hasFullStateFlag(expectAck(await send(poll(uid, 5n)), uid))).toBe(true);
  });

  it('case 34: after the flag, a full contiguous report clears it and compressed contiguous messages never loop', async () => {
    const uid = newUid();
    await send(fullReport(uid, 0n, {}, 'case-34'));
    expect(hasFullStateFlag(await send(poll(uid, 10n)))).toBe(true);
    expect(hasFullStateFlag(expectAck(await send(fullReport(uid, 11n, {}, 'case-34')), uid))).toBe(false);
    expect(hasFullStateFlag(expectAck(await send(poll(uid, 12n)), uid))).toBe(false);
    expect(hasFullStateFlag(expectAck(await send(poll(uid, 13n)), uid))).toBe(false);
  });

  it('case 35: compression merge keeps absent parts; an empty-but-present EffectiveConfig replaces E1', async () => {
    const uid = newUid();
    const caps = 0x1n | 0x4n | 0x800n; // ReportsStatus | ReportsEffectiveConfig | ReportsHealth
    const e1 = {
      configMap: {
        configMap: { 'main.yaml': { body: new TextEncoder().encode('receivers: {}\n'), contentType: 'text/yaml' } },
      },
    };
    await send({
      ...fullReport(uid, 0n, {}, 'case-35'),
      capabilities: caps,
      effectiveConfig: e1,
      health: { healthy: true, status: 'starting' },
    });
    expect(
      hasFullStateFlag(
        expectAck(
          await send({
            instanceUid: uid,
            sequenceNum: 1n,
            capabilities: caps,
            health: { healthy: false, lastError: 'boom', status: 'degraded' },
          }),
          uid,
        ),
      ),
    ).toBe(false);

    const merged = await api.waitAgent(uid, (a) => {
      expect(seqOf(a)).toBe(1n);
      expect(identifying(a)['service.name']).toBe('case-35');
      expect(JSON.stringify(a.health ?? null)).toContain('boom');
      expect(a.healthy === undefined || a.healthy === false).toBe(true);
    });
    expect(JSON.stringify(merged.effectiveConfig ?? null)).toContain('main.yaml');

    expectAck(await send({ instanceUid: uid, sequenceNum: 2n, capabilities: caps, effectiveConfig: {} }), uid);
    const emptied = await api.waitAgent(uid, (a) => {
      expect(seqOf(a)).toBe(2n);
      expect(a.effectiveConfig, 'a present empty EffectiveConfig is a value').not.toBeNull();
      expect(JSON.stringify(a.effectiveConfig ?? null)).not.toContain('main.yaml');
    });
    expect(identifying(emptied)['service.name']).toBe('case-35');
    expect(JSON.stringify(emptied.health ?? null)).toContain('boom');
  });

  it('case 36: caps 0 from a known complete agent (and a bare {uid} poll) → Ack, caps unchanged, no ReportFullState', async () => {
    const uid = newUid();
    await send(fullReport(uid, 0n, { capabilities: 0x401n }, 'case-36'));
    const zeroCaps = expectAck(await send({ instanceUid: uid, sequenceNum: 1n }), uid);
    expect(hasFullStateFlag(zeroCaps)).toBe(false);
    const bare = expectAck(await send({ instanceUid: uid }), uid);
    expect(hasFullStateFlag(bare)).toBe(false);
    await api.waitAgent(uid, (a) => {
      expect(big(a.capabilities)).toBe(0x401n);
      expect(a.connectionState).toBe('connected');
    });
  });

  it('case 37: uint64 precision: capability bit 40, seq around 2^53 and 2^64−1', async () => {
    const uid = newUid();
    // caps = 1 | 2^40 on the wire: `20 81 80 80 80 80 20`.
    const withDesc = concat(
      wire.bytes(1, uid),
      hex('20 81 80 80 80 80 20'),
      a2s({ agentDescription: description({ 'service.name': 'case-37' }) }),
    );
    expectAck(await send(withDesc), uid);
    await api.waitAgent(uid, (a) => expect(big(a.capabilities) & 0xffffn).toBe(0x1n));

    const p = 2n ** 53n;
    const big1 = newUid();
    expectAck(await send(fullReport(big1, p + 1n, {}, 'case-37-big')), big1);
    expect(hasFullStateFlag(expectAck(await send(poll(big1, p + 2n)), big1)), '2^53+2 after 2^53+1').toBe(false);
    expect(hasFullStateFlag(expectAck(await send(poll(big1, p + 3n)), big1)), '2^53+3 after 2^53+2').toBe(false);
    await api.waitAgent(big1, (a) => expect(String(a.sequenceNum)).toBe(String(p + 3n)));

    const max = newUid();
    const maxSeq = concat(
      wire.bytes(1, max),
      hex('10 ffffffffffffffffff01'),
      wire.uint(4, 1),
      a2s({ agentDescription: description({ 'service.name': 'case-37-max' }) }),
    );
    expectAck(await send(maxSeq), max);
    await api.waitAgent(max, (a) => expect(String(a.sequenceNum)).toBe(String(2n ** 64n - 1n)));
  });
});

describe('commands and custom messages', () => {
  it('case 41: restart is refused for agents without 0x400 and delivered once (command only) to agents with it', async () => {
    // Without AcceptsRestartCommand.
    const plain = newUid();
    await send(fullReport(plain, 0n, {}, 'case-41-plain'));
    await api.waitAgent(plain, () => undefined);
    const refused = await api.restart(plain);
    // Documented api choice: 409 problem (capability missing); nothing reaches the agent.
    expect(refused.status).toBe(409);
    expect(expectAck(await send(poll(plain, 1n)), plain).command).toBeUndefined();

    // WS agent with 0x400: the restart is pushed.
    const ws = await wsConnect();
    const wsUid = newUid();
    expectAck(await ws.request(fullReport(wsUid, 0n, { capabilities: 0x401n }, 'case-41-ws')), wsUid);
    await api.waitAgent(wsUid, (a) => expect(big(a.capabilities)).toBe(0x401n));
    const accepted = await api.restart(wsUid);
    expect(accepted.status).toBeGreaterThanOrEqual(200);
    expect(accepted.status).toBeLessThan(300);
    const push = await ws.nextServerToAgent(10_000);
    expect(uidText(push.instanceUid)).toBe(uidText(wsUid));
    expect(push.command, 'command present (4a 00)').toBeDefined();
    expect(push.errorResponse).toBeUndefined();
    expect(push.remoteConfig).toBeUndefined();
    expect(push.connectionSettings).toBeUndefined();
    expect(push.packagesAvailable).toBeUndefined();
    expect(push.agentIdentification).toBeUndefined();
    expect(push.customMessage).toBeUndefined();
    expect(push.customCapabilities).toBeUndefined();
    expect(push.flags).toBe(0n);
    ws.destroy();

    // HTTP agent with 0x400: delivered on the next poll, exactly once.
    const http = newUid();
    await send(fullReport(http, 0n, { capabilities: 0x401n }, 'case-41-http'));
    await api.waitAgent(http, (a) => expect(big(a.capabilities)).toBe(0x401n));
    const queued = await api.restart(http);
    expect(queued.status).toBeLessThan(300);
    // The command travels through the fleet's shard; poll until it shows up.
    let seq = 1n;
    let withCommand;
    for (let i = 0; i < 50 && !withCommand; i++) {
      const r = expectAck(await send(poll(http, seq++, 0x401n)), http);
      if (r.command) withCommand = r;
      else await new Promise((res) => setTimeout(res, 100));
    }
    expect(withCommand, 'restart delivered on a poll').toBeDefined();
    expect(withCommand!.remoteConfig).toBeUndefined();
    expect(withCommand!.connectionSettings).toBeUndefined();
    expect(withCommand!.flags).toBe(0n);
    const after = expectAck(await send(poll(http, seq, 0x401n)), http);
    expect(after.command, 'delivered once').toBeUndefined();
  });

  it('case 45: custom messages go only to declared capabilities; unknown ones from the agent get a plain Ack', async () => {
    const uid = newUid();
    const first = expectAck(
      await send({
        ...fullReport(uid, 0n, {}, 'case-45'),
        customCapabilities: { capabilities: ['com.example.pause'] },
      }),
      uid,
    );
    expect(first.customMessage).toBeUndefined();
    // The agent sends a custom message for a capability nobody supports: Ack, no error, no side effect.
    const reply = expectAck(
      await send({
        ...poll(uid, 1n),
        customMessage: { capability: 'com.example.unknown', type: 'poke', data: new Uint8Array([1, 2, 3]) },
      }),
      uid,
    );
    expect(reply.customMessage).toBeUndefined();
    await api.waitAgent(uid, (a) => expect(a.customCapabilities).toEqual(['com.example.pause']));

    // Operator → declared capability: delivered on the next poll (exactly once), intact.
    const accepted = await api.customMessage(uid, {
      capability: 'com.example.pause',
      type: 'pause',
      data: new Uint8Array([9, 8, 7]),
    });
    expect(accepted.status).toBe(202);
    let seq = 2n;
    let delivered;
    for (let i = 0; i < 50 && !delivered; i++) {
      const r = expectAck(await send(poll(uid, seq++)), uid);
      if (r.customMessage) delivered = r.customMessage;
      else await new Promise((res) => setTimeout(res, 100));
    }
    expect(delivered, 'custom message delivered on a poll').toBeDefined();
    expect(delivered!.capability).toBe('com.example.pause');
    expect(delivered!.type).toBe('pause');
    expect(Buffer.from(delivered!.data).toString('hex')).toBe('090807');
    expect(expectAck(await send(poll(uid, seq++)), uid).customMessage, 'delivered once').toBeUndefined();

    // Operator → undeclared capability: refused by the api.
    const refused = await api.customMessage(uid, {
      capability: 'com.example.other',
      type: 'x',
      data: new Uint8Array(),
    });
    expect(refused.status).toBe(409);

    // A message queued while declared, then the agent drops the capability: never sent.
    const queued = await api.customMessage(uid, {
      capability: 'com.example.pause',
      type: 'pause',
      data: new Uint8Array([1]),
    });
    expect(queued.status).toBe(202);
    const dropped = expectAck(await send({ ...poll(uid, seq++), customCapabilities: { capabilities: [] } }), uid);
    expect(dropped.customMessage).toBeUndefined();
    for (let i = 0; i < 5; i++) {
      expect(expectAck(await send(poll(uid, seq++)), uid).customMessage).toBeUndefined();
      await new Promise((res) => setTimeout(res, 100));
    }
    await api.waitAgent(uid, (a) => expect(a.customCapabilities).toEqual([]));
  });
});

describe('hostile and unusual input', () => {
  it('case 47: an unknown field 100 is skipped; the message is processed and its known fields stored', async () => {
    const uid = newUid();
    const body = concat(a2s(fullReport(uid, 0n, {}, 'case-47')), hex('a2 06 03 61 62 63'));
    expectAck(await send(body), uid);
    const ws = await wsConnect();
    const wsUid = newUid();
    await ws.sendFramed(concat(a2s(fullReport(wsUid, 0n, {}, 'case-47-ws')), hex('a2 06 03 61 62 63')));
    expectAck(await ws.nextServerToAgent(), wsUid);
    await api.waitAgent(uid, (a) => expect(identifying(a)['service.name']).toBe('case-47'));
    await api.waitAgent(wsUid, (a) => expect(identifying(a)['service.name']).toBe('case-47-ws'));
    ws.destroy();
  });

  it('case 48: ComponentHealth nested 100 000 deep and invalid UTF-8 are rejected without a crash', async () => {
    const uid = newUid();
    const deep = concat(wire.bytes(1, uid), wire.uint(4, 0x801), nestedHealth(100_000));
    const res = await postOpamp(url, deep);
    expect(res.status).toBe(400);
    expectBadRequest(res.serverToAgent);

    const badUtf8Uid = newUid();
    const kv = wire.bytes(1, hex('fffe'));
    const badUtf8 = concat(wire.bytes(1, badUtf8Uid), wire.uint(4, 1), wire.bytes(3, wire.bytes(1, kv)));
    const res2 = await postOpamp(url, badUtf8);
    expect(res2.status).toBe(400);
    expectBadRequest(res2.serverToAgent);

    const ws = await wsConnect();
    await ws.sendFramed(deep);
    const wsDeep = await Promise.race([ws.nextServerToAgent(5_000), ws.closed]);
    if ('code' in wsDeep) expect([1008, 1009]).toContain(wsDeep.code);
    else expectBadRequest(wsDeep);
    if (ws.isOpen) {
      await ws.sendFramed(badUtf8);
      expectBadRequest(await ws.nextServerToAgent());
    }
    ws.destroy();
    await expectNeverStored(api, url, uid);
    await expectNeverStored(api, url, badUtf8Uid);
    await expectHealthy(stack.gateway);
    await expectHealthy(stack.fleet!);
  });

  it('case 49: the same message twice gets two responses and is applied idempotently', async () => {
    const uid = newUid();
    const msg = a2s(fullReport(uid, 0n, {}, 'case-49'));
    expectAck(await send(msg), uid);
    expectAck(await send(msg), uid);
    const p = a2s(poll(uid, 1n));
    expectAck(await send(p), uid);
    expectAck(await send(p), uid);
    const ws = await wsConnect();
    await ws.sendFramed(p);
    await ws.sendFramed(p);
    expectAck(await ws.nextServerToAgent(), uid);
    expectAck(await ws.nextServerToAgent(), uid);
    ws.destroy();
    await api.waitAgent(uid, (a) => {
      expect(seqOf(a)).toBe(1n);
      expect(identifying(a)['service.name']).toBe('case-49');
    });
  });

  it('case 50: empty sub-messages are present: `72 00` completes a report, `4a 00` disconnects', async () => {
    const caps = 0x4001n; // ReportsStatus | ReportsAvailableComponents
    const withComponents = newUid();
    const r1 = expectAck(
      await send(concat(a2s(fullReport(withComponents, 0n, { capabilities: caps }, 'case-50')), hex('7200'))),
      withComponents,
    );
    expect(hasFullStateFlag(r1), 'available_components `72 00` is present, so the report is complete').toBe(false);
    const without = newUid();
    const r2 = expectAck(await send(fullReport(without, 0n, { capabilities: caps }, 'case-50')), without);
    expect(hasFullStateFlag(r2), 'without available_components the first report is incomplete').toBe(true);

    await api.waitAgent(withComponents, (a) => expect(a.connectionState).toBe('connected'));
    expectAck(await send(concat(a2s(poll(withComponents, 1n, caps)), hex('4a00'))), withComponents);
    await api.waitAgent(withComponents, (a) => expect(a.connectionState).toBe('disconnected'));
  });
});

describe('liveness', () => {
  it('case 52 (WS): a 0x2000 agent silent on a live socket goes offline after ~k×interval; its next message brings it back', async () => {
    const ws = await wsConnect();
    const uid = newUid();
    const caps = 0x2001n;
    const first = expectAck(await ws.request(fullReport(uid, 0n, { capabilities: caps }, 'case-52-ws')), uid);
    expect(first.connectionSettings?.opamp?.heartbeatIntervalSeconds).toBe(BigInt(HEARTBEAT_S));
    await api.waitAgent(uid, (a) => expect(a.connectionState).toBe('connected'));
    await api.waitAgent(uid, (a) => expect(a.connectionState).toBe('offline'), {
      timeoutMs: MISSED * HEARTBEAT_S * 1000 + 5_000,
    });
    expect(ws.isOpen).toBe(true);
    expectAck(await ws.request(poll(uid, 1n, caps)), uid);
    await api.waitAgent(uid, (a) => expect(a.connectionState).toBe('connected'));
    ws.destroy();
  });

  it(`case 52: a 0x2000 agent is offered ${HEARTBEAT_S} s heartbeats, stays online while polling, goes offline after ~${MISSED}×${HEARTBEAT_S} s of silence`, async () => {
    const uid = newUid();
    const caps = 0x2001n;
    const first = expectAck(await send(fullReport(uid, 0n, { capabilities: caps }, 'case-52')), uid);
    const opamp = first.connectionSettings?.opamp;
    expect(first.connectionSettings?.hash.length ?? 0, 'connection settings hash').toBeGreaterThan(0);
    expect(opamp?.destinationEndpoint ?? '').toMatch(/^(wss?|https?):\/\//);
    expect(opamp?.heartbeatIntervalSeconds).toBe(BigInt(HEARTBEAT_S));

    let seq = 1n;
    const until = Date.now() + MISSED * HEARTBEAT_S * 1000 * 2;
    while (Date.now() < until) {
      expectAck(await send(poll(uid, seq++, caps)), uid);
      const a = await api.agent(uid);
      if (a) expect(a.connectionState, 'online while heartbeats arrive').toBe('connected');
      await new Promise((r) => setTimeout(r, (HEARTBEAT_S * 1000) / 2));
    }
    const silentSince = Date.now();
    await api.waitAgent(uid, (a) => expect(a.connectionState).toBe('offline'), {
      timeoutMs: MISSED * HEARTBEAT_S * 1000 + 5_000,
    });
    const silentFor = Date.now() - silentSince;
    expect(silentFor).toBeGreaterThanOrEqual(MISSED * HEARTBEAT_S * 1000 - 500);

    // Back online on the next message; its state was kept.
    expectAck(await send(poll(uid, seq, caps)), uid);
    await api.waitAgent(uid, (a) => {
      expect(a.connectionState).toBe('connected');
      expect(identifying(a)['service.name']).toBe('case-52');
    });
  });
});

/**
 * AgentToServer.health (field 5) holding ComponentHealth nested `depth` levels through
 * component_health_map (field 6, map entry {1: key, 2: value}). Built in O(depth).
 */
function nestedHealth(depth: number): Uint8Array {
  const headers: Uint8Array[] = [];
  let len = 0; // innermost ComponentHealth is empty
  for (let i = 0; i < depth; i++) {
    const entryLen = 1 + wire.varint(len).length + len;
    const healthLen = 1 + wire.varint(entryLen).length + entryLen;
    headers.push(concat(Uint8Array.of(0x32), wire.varint(entryLen), Uint8Array.of(0x12), wire.varint(len)));
    len = healthLen;
  }
  headers.reverse();
  return concat(Uint8Array.of(0x2a), wire.varint(len), ...headers);
}
