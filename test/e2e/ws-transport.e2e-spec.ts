// OpAMP over WebSocket against real processes (checklist §1.3, §1.4, §5 cases 16–26, 28, 29, 46).
// Gateway: 1 MiB limit, permessage-deflate available, pings every 300 ms, close 1008 after 5
// malformed messages in a row.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import {
  a2s,
  concat,
  hex,
  parseServerFrame,
  RawWsClient,
  uidText,
  wire,
  type WsClose,
} from '../support/opamp-raw-client.js';
import { eventually, settlesWithin, withTimeout } from '../support/wait.js';
import { expectNeverStored, fullReport, newUid, poll } from './helpers/agents.js';
import { expectAck, expectBadRequest, expectUuidV7, hasFullStateFlag } from './helpers/opamp-assert.js';
import { apiFor, big, expectHealthy, identifying, startStack, type Api, type Stack } from './helpers/stack.js';

const MiB = 1024 * 1024;
const LIMIT = 1 * MiB;
const PING_MS = 300;
const MAX_MALFORMED = 5;

let stack: Stack;
let api: Api;
/** A second gateway pod on the same bus, for routing across gateways. */
let otherGatewayWs: string;
const open: RawWsClient[] = [];

beforeAll(async () => {
  stack = await startStack({
    gateway: {
      OPAMP_MAX_MESSAGE_BYTES: String(LIMIT),
      GATEWAY_WS_COMPRESSION: 'true',
      GATEWAY_PING_INTERVAL_MS: String(PING_MS),
      GATEWAY_MAX_MALFORMED_IN_A_ROW: String(MAX_MALFORMED),
    },
  });
  api = apiFor(stack);
  const other = await stack.addGateway({
    OPAMP_MAX_MESSAGE_BYTES: String(LIMIT),
    GATEWAY_PING_INTERVAL_MS: String(PING_MS),
  });
  otherGatewayWs = `ws://127.0.0.1:${other.port}/v1/opamp`;
});

afterAll(async () => {
  for (const c of open) c.destroy();
  await stack?.stop();
});

async function connect(opts: Parameters<typeof RawWsClient.open>[1] = {}, url = stack.opampWs): Promise<RawWsClient> {
  const c = await RawWsClient.open(url, opts);
  open.push(c);
  return c;
}

/** A connected WS agent that sent its full report (seq 0). */
async function wsAgent(name: string): Promise<{ ws: RawWsClient; uid: Uint8Array }> {
  const ws = await connect();
  const uid = newUid();
  expectAck(await ws.request(fullReport(uid, 0n, {}, name)), uid);
  await api.waitAgent(uid, (a) => expect(a.connectionState).toBe('connected'));
  return { ws, uid };
}

/** A message of exactly `total` bytes on the wire: `00` + AgentToServer padded with unknown field 100. */
function framedOfSize(uid: Uint8Array, total: number): Uint8Array {
  const head = a2s(fullReport(uid, 0n));
  let pad = total - 1 - head.length - 8;
  while (1 + head.length + wire.bytes(100, new Uint8Array(pad)).length < total) pad++;
  const frame = concat(Uint8Array.of(0), head, wire.bytes(100, new Uint8Array(pad)));
  expect(frame.length).toBe(total);
  return frame;
}

describe('WebSocket transport', () => {
  it('case 16: upgrade without Content-Type → 101; a status report gets a binary 0x00-framed Ack', async () => {
    const ws = await connect();
    expect(ws.upgradeStatus).toBe(101);
    const uid = newUid();
    await ws.send(fullReport(uid, 0n, {}, 'case-16'));
    const msg = await ws.next();
    expect(msg.isBinary).toBe(true);
    expect(msg.data[0]).toBe(0x00);
    const s2a = expectAck(parseServerFrame(msg), uid);
    expect(s2a.capabilities & 0x1n).toBe(0x1n);
    const agent = await api.waitAgent(uid, (a) => {
      expect(a.connectionState).toBe('connected');
      expect(big(a.capabilities)).toBe(0x1n);
      expect(big(a.sequenceNum)).toBe(0n);
      expect(identifying(a)['service.name']).toBe('case-16');
    });
    if (agent.transport !== undefined && agent.transport !== null) expect(agent.transport).toBe('ws');
    ws.destroy();
  });

  it('case 17: a legacy headerless frame is refused with BAD_REQUEST (documented), the socket stays usable', async () => {
    const ws = await connect();
    const legacyUid = newUid();
    const raw = a2s(fullReport(legacyUid, 0n));
    expect(raw[0]).toBe(0x0a);
    await ws.sendRaw(raw);
    expectBadRequest(await ws.nextServerToAgent());
    expect(ws.isOpen).toBe(true);
    const uid = newUid();
    expectAck(await ws.request(fullReport(uid, 0n)), uid);
    await expectNeverStored(api, stack.opampHttp, legacyUid);
    ws.destroy();
  });

  it('case 18: non-zero headers are malformed (BAD_REQUEST, no state change); `80 00` is accepted', async () => {
    const ws = await connect();
    const one = newUid();
    const eighty = newUid();
    await ws.sendRaw(concat(hex('01'), a2s(fullReport(one, 0n))));
    expectBadRequest(await ws.nextServerToAgent());
    await ws.sendRaw(concat(hex('8001'), a2s(fullReport(eighty, 0n))));
    expectBadRequest(await ws.nextServerToAgent());
    expect(ws.isOpen).toBe(true);

    const valid = newUid();
    expectAck(await ws.request(fullReport(valid, 0n)), valid);

    const nonMinimal = newUid();
    await ws.sendRaw(concat(hex('8000'), a2s(fullReport(nonMinimal, 0n, {}, 'case-18-80-00'))));
    expectAck(await ws.nextServerToAgent(), nonMinimal);
    await api.waitAgent(nonMinimal, (a) => expect(identifying(a)['service.name']).toBe('case-18-80-00'));
    // The longest zero varint (10 bytes) is still header 0; 11 bytes is not a uint64 varint.
    const tenBytes = newUid();
    await ws.sendRaw(concat(hex('80808080808080808000'), a2s(fullReport(tenBytes, 0n))));
    expectAck(await ws.nextServerToAgent(), tenBytes);
    const elevenBytes = newUid();
    await ws.sendRaw(concat(hex('8080808080808080808000'), a2s(fullReport(elevenBytes, 0n))));
    expectBadRequest(await ws.nextServerToAgent());
    await expectNeverStored(api, stack.opampHttp, one);
    await expectNeverStored(api, stack.opampHttp, eighty);
    await expectNeverStored(api, stack.opampHttp, elevenBytes);
    ws.destroy();
  });

  it('case 19: the header-only frame `00` (empty AgentToServer) gets BAD_REQUEST, no crash', async () => {
    const ws = await connect();
    await ws.sendRaw(hex('00'));
    expectBadRequest(await ws.nextServerToAgent(), new Uint8Array(0));
    expect(ws.isOpen).toBe(true);
    const uid = newUid();
    expectAck(await ws.request(fullReport(uid, 0n)), uid);
    ws.destroy();
  });

  it('case 20: a text frame closes the socket with 1003 and is never processed', async () => {
    const ws = await connect();
    // A text frame whose bytes are a perfectly valid framed AgentToServer (all bytes are ASCII).
    const uid = Uint8Array.from(randomBytes(16), (b) => 0x41 + (b % 26));
    const text = Buffer.from(concat(hex('00'), a2s({ instanceUid: uid, sequenceNum: 0n, capabilities: 1n }))).toString(
      'latin1',
    );
    await ws.sendText(text);
    const close = await withTimeout(ws.closed, 5_000, 'close after text frame');
    expect(close.code).toBe(1003);
    expect(ws.pending).toBe(0);
    await expectNeverStored(api, stack.opampHttp, uid);

    const plain = await connect();
    await plain.sendText('abc');
    expect((await withTimeout(plain.closed, 5_000, 'close after "abc"')).code).toBe(1003);
  });

  it('case 21: a truncated protobuf frame gets BAD_REQUEST; the next valid frame gets an Ack', async () => {
    const ws = await connect();
    await ws.sendRaw(hex('000a100192'));
    expectBadRequest(await ws.nextServerToAgent(), new Uint8Array(0));
    expect(ws.isOpen).toBe(true);
    const uid = newUid();
    expectAck(await ws.request(fullReport(uid, 0n)), uid);
    ws.destroy();
  });

  it(`closes with 1008 after ${MAX_MALFORMED} malformed messages in a row (each answered BAD_REQUEST)`, async () => {
    const ws = await connect();
    for (let i = 0; i < MAX_MALFORMED; i++) {
      await ws.sendRaw(hex('000a100192'));
      expectBadRequest(await ws.nextServerToAgent());
    }
    expect((await withTimeout(ws.closed, 5_000, 'close after malformed messages')).code).toBe(1008);
  });

  it('case 22: a frame of limit+1 bytes closes with 1009 and is not processed; exactly the limit is fine', async () => {
    const ws = await connect();
    const atLimit = newUid();
    await ws.sendRaw(framedOfSize(atLimit, LIMIT));
    expectAck(await ws.nextServerToAgent(), atLimit);

    const over = newUid();
    await ws.sendRaw(framedOfSize(over, LIMIT + 1));
    expect((await withTimeout(ws.closed, 5_000, 'close after oversize frame')).code).toBe(1009);
    expect(ws.pending).toBe(0);
    await expectNeverStored(api, stack.opampHttp, over);
  });

  it('case 23: with permessage-deflate, a small compressed frame inflating beyond the limit closes with 1009', async () => {
    const ws = await connect({ perMessageDeflate: true });
    expect(ws.ws.extensions).toContain('permessage-deflate');
    const uid = newUid();
    // Compressed frames work at all.
    expectAck(await ws.request(fullReport(uid, 0n)), uid);
    const bomb = newUid();
    const frame = concat(hex('00'), a2s(fullReport(bomb, 0n)), wire.bytes(100, new Uint8Array(4 * LIMIT)));
    await ws.sendRaw(frame);
    expect((await withTimeout(ws.closed, 5_000, 'close after inflating oversize frame')).code).toBe(1009);
    await expectNeverStored(api, stack.opampHttp, bomb);

    // A pod without GATEWAY_WS_COMPRESSION does not negotiate the extension.
    const plain = await connect({ perMessageDeflate: true }, otherGatewayWs);
    expect(plain.ws.extensions).toBe('');
    plain.destroy();
  });

  it('case 24: ping "p1" gets pong "p1"; the server pings, and a peer that stops answering is terminated and marked disconnected', async () => {
    const { ws } = await wsAgent('case-24-live');
    expect((await ws.ping('p1')).toString()).toBe('p1');

    const { ws: deaf, uid } = await wsAgent('case-24-deaf');
    // Disable auto-pong on the live socket: from now on the server's pings go unanswered.
    deaf.setAnswerPings(false);
    const started = Date.now();
    const close: WsClose = await withTimeout(deaf.closed, 10 * PING_MS + 3_000, 'termination of the unresponsive peer');
    const elapsed = Date.now() - started;
    expect(close.code).toBe(1006); // terminated: no close frame
    expect(elapsed).toBeLessThan(4 * PING_MS + 1_000);
    expect(deaf.serverPings.length).toBeGreaterThanOrEqual(2);
    await api.waitAgent(uid, (a) => expect(a.connectionState).toBe('disconnected'), { timeoutMs: 5_000 });

    // The answering socket survived several ping intervals and got pings.
    expect(ws.isOpen).toBe(true);
    expect(ws.serverPings.length).toBeGreaterThanOrEqual(2);
    ws.destroy();
  });

  it('case 25: agent_disconnect then Close 1000: handshake completed, agent disconnected, nothing further sent', async () => {
    const { ws, uid } = await wsAgent('case-25');
    await ws.sendFramed(concat(a2s(poll(uid, 1n)), hex('4a00')));
    expectAck(await ws.nextServerToAgent(), uid);
    const close = await withTimeout(ws.close(1000, 'bye'), 5_000, 'close handshake');
    expect(close.code).toBe(1000);
    expect(ws.pending).toBe(0);
    await api.waitAgent(uid, (a) => {
      expect(a.connectionState).toBe('disconnected');
      expect(big(a.sequenceNum)).toBe(1n);
    });
    // The disconnect is handled once: agent_disconnect and the close that follows it give one event.
    await eventually(async () => {
      const types = (await api.events(uid)).map((e) => e.type);
      expect(types.filter((t) => t === 'disconnected')).toHaveLength(1);
      expect(types).not.toContain('offline');
    });
  });

  it('case 26: an abrupt TCP drop marks the agent disconnected; a reconnect with contiguous seq gets no ReportFullState', async () => {
    const { ws, uid } = await wsAgent('case-26');
    expectAck(await ws.request(poll(uid, 1n)), uid);
    ws.destroy();
    await api.waitAgent(uid, (a) => expect(a.connectionState).toBe('disconnected'), { timeoutMs: 3 * PING_MS + 5_000 });

    const again = await connect();
    const s2a = expectAck(await again.request(poll(uid, 2n)), uid);
    expect(hasFullStateFlag(s2a)).toBe(false);
    await api.waitAgent(uid, (a) => {
      expect(a.connectionState).toBe('connected');
      expect(big(a.sequenceNum)).toBe(2n);
      expect(identifying(a)['service.name']).toBe('case-26');
    });
    again.destroy();
  });

  it('case 28: two uids multiplexed on one WS get their own replies, both online; closing marks both offline', async () => {
    const ws = await connect();
    const a = newUid();
    const b = newUid();
    await ws.send(fullReport(a, 0n, {}, 'case-28-a'));
    await ws.send(fullReport(b, 0n, {}, 'case-28-b'));
    const replies = [await ws.nextServerToAgent(), await ws.nextServerToAgent()];
    const byUid = new Map(replies.map((r) => [uidText(r.instanceUid), r]));
    expectAck(byUid.get(uidText(a)), a);
    expectAck(byUid.get(uidText(b)), b);
    expectAck(await ws.request(poll(b, 1n)), b);
    expectAck(await ws.request(poll(a, 1n)), a);
    await api.waitAgent(a, (x) => expect(x.connectionState).toBe('connected'));
    await api.waitAgent(b, (x) => expect(x.connectionState).toBe('connected'));

    await ws.close(1000);
    await api.waitAgent(a, (x) => expect(x.connectionState).toBe('disconnected'));
    await api.waitAgent(b, (x) => expect(x.connectionState).toBe('disconnected'));
  });

  it('case 29: same uid on a second live WS: same attributes → old socket closed 1008; different attributes → new uid', async () => {
    const { ws: first, uid } = await wsAgent('case-29');
    const second = await connect();
    const s2a = expectAck(await second.request(fullReport(uid, 1n, {}, 'case-29')), uid);
    expect(s2a.agentIdentification).toBeUndefined();
    const closeFirst = await withTimeout(first.closed, 5_000, 'close of the replaced connection');
    expect(closeFirst.code).toBe(1008);
    expect(first.pending).toBe(0);
    // Messages for uid now go to the second socket only.
    expectAck(await second.request(poll(uid, 2n)), uid);

    // A clone: same uid, different identifying attributes, on a third connection.
    const clone = await connect();
    const reply = await clone.request(fullReport(uid, 0n, {}, 'case-29-clone'));
    expect(uidText(reply.instanceUid)).toBe(uidText(uid));
    expect(reply.errorResponse).toBeUndefined();
    expect(reply.agentIdentification, 'a clone gets agent_identification.new_instance_uid').toBeDefined();
    const newUidBytes = reply.agentIdentification!.newInstanceUid;
    expectUuidV7(newUidBytes);
    expect(uidText(newUidBytes)).not.toBe(uidText(uid));
    // The original connection is untouched and still the one uid's replies go to.
    expect(second.isOpen).toBe(true);
    expect(await second.silentFor(200)).toBe(true);
    expectAck(await second.request(poll(uid, 3n)), uid);
    expect(clone.pending).toBe(0);

    // The clone continues under its new uid.
    const next = expectAck(await clone.request(fullReport(newUidBytes, 1n, {}, 'case-29-clone')), newUidBytes);
    expect(next.agentIdentification).toBeUndefined();
    await api.waitAgent(newUidBytes, (a) => expect(identifying(a)['service.name']).toBe('case-29-clone'));
    await api.waitAgent(uid, (a) => {
      expect(identifying(a)['service.name']).toBe('case-29');
      expect(a.connectionState).toBe('connected');
    });
    second.destroy();
    clone.destroy();
  });

  it('a message split into continuation frames is reassembled; fragments adding up past the limit close 1009', async () => {
    const ws = await connect();
    const uid = newUid();
    await ws.sendFragmented(concat(hex('00'), a2s(fullReport(uid, 0n, {}, 'fragmented'))), 3);
    expectAck(await ws.nextServerToAgent(), uid);
    const over = newUid();
    await ws.sendFragmented(framedOfSize(over, LIMIT + 1), 4);
    expect((await withTimeout(ws.closed, 5_000, 'close after oversize fragments')).code).toBe(1009);
    await expectNeverStored(api, stack.opampHttp, over);
  });

  it('20 agents multiplexed on one WS, 5 interleaved messages each: every reply carries the right uid, in order', async () => {
    const ws = await connect();
    const uids = Array.from({ length: 20 }, () => newUid());
    for (let seq = 0n; seq < 5n; seq++) {
      for (const uid of uids) await ws.send(seq === 0n ? fullReport(uid, 0n) : poll(uid, seq));
    }
    const perUid = new Map<string, number>();
    for (let i = 0; i < 100; i++) {
      const s2a = await ws.nextServerToAgent();
      expect(s2a.errorResponse).toBeUndefined();
      expect(hasFullStateFlag(s2a), 'contiguous seq per agent: processed in order').toBe(false);
      const key = uidText(s2a.instanceUid);
      perUid.set(key, (perUid.get(key) ?? 0) + 1);
    }
    expect([...perUid.keys()].sort()).toEqual(uids.map(uidText).sort());
    expect([...perUid.values()].every((n) => n === 5)).toBe(true);
    await ws.close(1000);
    for (const uid of uids.slice(0, 3)) await api.waitAgent(uid, (a) => expect(a.connectionState).toBe('disconnected'));
  });

  it('case 29 across gateway pods: the reconnect on pod B closes the old socket on pod A (1008); pushes follow the agent to B', async () => {
    const onA = await connect();
    const uid = newUid();
    expectAck(await onA.request(fullReport(uid, 0n, { capabilities: 0x401n }, 'case-29-pods')), uid);
    await api.waitAgent(uid, (a) => expect(a.connectionState).toBe('connected'));

    const onB = await connect({}, otherGatewayWs);
    expectAck(await onB.request(fullReport(uid, 1n, { capabilities: 0x401n }, 'case-29-pods')), uid);
    expect((await withTimeout(onA.closed, 5_000, 'close of the connection on pod A')).code).toBe(1008);
    expect(onA.pending).toBe(0);

    const restart = await api.restart(uid);
    expect(restart.status).toBe(202);
    const push = await onB.nextServerToAgent(10_000);
    expect(uidText(push.instanceUid)).toBe(uidText(uid));
    expect(push.command).toBeDefined();
    onB.destroy();
  });

  it('no process crashed after the malformed input: gateway and fleet alive and healthy', async () => {
    await expectHealthy(stack.gateway);
    await expectHealthy(stack.fleet!);
    const ws = await connect();
    const uid = newUid();
    expectAck(await ws.request(fullReport(uid, 0n)), uid);
    expect(await settlesWithin(stack.gateway.exited, 50)).toBe(false);
    ws.destroy();
  });
});
