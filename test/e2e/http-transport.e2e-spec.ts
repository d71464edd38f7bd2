// OpAMP over plain HTTP against real processes (checklist §1.2, §5 cases 1–11, 13–15, 46).
// Gateway limit: 1 MiB, so size tests stay fast.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent } from 'node:http';
import { gzipSync } from 'node:zlib';
import { ServerToAgentSchema } from '@opamp/proto';
import { toBinary } from '@bufbuild/protobuf';
import { a2s, concat, hex, httpRequest, postOpamp, uidText, wire, PROTOBUF } from '../support/opamp-raw-client.js';
import { expectNeverStored, fullReport, newUid, poll } from './helpers/agents.js';
import { expectAck, expectBadRequest, hasFullStateFlag } from './helpers/opamp-assert.js';
import {
  apiFor,
  big,
  expectHealthy,
  identifying,
  metricValue,
  rssBytes,
  startStack,
  type Api,
  type Stack,
} from './helpers/stack.js';

const MiB = 1024 * 1024;
const LIMIT = 1 * MiB;

let stack: Stack;
let api: Api;
let url: string;

beforeAll(async () => {
  stack = await startStack({ gateway: { OPAMP_MAX_MESSAGE_BYTES: String(LIMIT) } });
  api = apiFor(stack);
  url = stack.opampHttp;
});

afterAll(async () => {
  await stack?.stop();
});

/** Registers an agent with a full report (seq 0) and waits until the API has it. */
async function registered(name = 'e2e-http'): Promise<Uint8Array> {
  const uid = newUid();
  const res = await postOpamp(url, fullReport(uid, 0n, {}, name));
  expect(res.status).toBe(200);
  expectAck(res.serverToAgent, uid);
  await api.waitAgent(uid, (a) => expect(big(a.sequenceNum)).toBe(0n));
  return uid;
}

describe('plain HTTP transport', () => {
  it('case 1: a basic status report gets 200, protobuf, an Ack with capabilities, and is stored', async () => {
    const uid = newUid();
    const res = await postOpamp(url, fullReport(uid, 0n, {}, 'case-1'));
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe(PROTOBUF);
    expect(res.headers['content-encoding']).toBeUndefined();
    const s2a = expectAck(res.serverToAgent, uid);
    expect(s2a.capabilities & 0x1n).toBe(0x1n);
    expect(s2a.capabilities & ~0x7fn).toBe(0n);

    const agent = await api.waitAgent(uid, (a) => {
      expect(a.connectionState).toBe('connected');
      expect(big(a.capabilities)).toBe(0x1n);
      expect(big(a.sequenceNum)).toBe(0n);
      expect(identifying(a)['service.name']).toBe('case-1');
    });
    expect(identifying(agent)['service.instance.id']).toBe(uidText(uid));
    expect(agent.uid).toBe(uidText(uid));
  });

  it('case 2: a gzipped request body gets the same answer and the same stored state', async () => {
    const plainUid = newUid();
    const gzUid = newUid();
    const plain = await postOpamp(url, fullReport(plainUid, 0n, {}, 'case-2'));
    const gz = await postOpamp(url, fullReport(gzUid, 0n, {}, 'case-2'), { gzip: true });
    expect(gz.status).toBe(200);
    expect(gz.headers['content-type']).toBe(PROTOBUF);
    const a = expectAck(plain.serverToAgent, plainUid);
    const b = expectAck(gz.serverToAgent, gzUid);
    // Identical apart from the uid.
    const strip = (m: typeof a) =>
      Buffer.from(toBinary(ServerToAgentSchema, { ...m, instanceUid: new Uint8Array(16) })).toString('hex');
    expect(strip(b)).toBe(strip(a));

    const [sa, sb] = await Promise.all([
      api.waitAgent(plainUid, (x) => expect(x.connectionState).toBe('connected')),
      api.waitAgent(gzUid, (x) => expect(x.connectionState).toBe('connected')),
    ]);
    expect(big(sb.capabilities)).toBe(big(sa.capabilities));
    expect(big(sb.sequenceNum)).toBe(big(sa.sequenceNum));
    expect(identifying(sb)['service.name']).toBe(identifying(sa)['service.name']);
    expect(sb.description?.nonIdentifying).toEqual(sa.description?.nonIdentifying);
  });

  it('case 3: response compression follows Accept-Encoding', async () => {
    const uid = await registered('case-3');
    let seq = 1n;
    const cases: Array<[string | undefined, boolean]> = [
      ['gzip', true],
      ['gzip;q=0', false],
      [undefined, false],
      ['*', true],
      ['identity', false],
      ['br', false],
      ['deflate, gzip;q=0.5', true],
    ];
    for (const [acceptEncoding, gzipped] of cases) {
      const res = await postOpamp(url, poll(uid, seq++), { acceptEncoding });
      expect(res.status, `Accept-Encoding ${acceptEncoding}`).toBe(200);
      expect(res.headers['content-encoding'], `Accept-Encoding ${acceptEncoding}`).toBe(gzipped ? 'gzip' : undefined);
      if (gzipped) expect(res.rawBody.subarray(0, 2).toString('hex')).toBe('1f8b');
      expectAck(res.serverToAgent, uid);
    }
  });

  it('case 4: a truncated protobuf body gets 400 (BAD_REQUEST body) and creates no agent', async () => {
    const uid = newUid();
    // Field 1 claims 16 bytes, only 3 follow (checklist bytes `0a 10 01 92 e3`, with our uid prefix).
    const body = concat(hex('0a10'), uid.subarray(0, 3));
    const res = await postOpamp(url, body);
    expect(res.status).toBe(400);
    expectBadRequest(res.serverToAgent, new Uint8Array(0));
    await expectNeverStored(api, url, uid);
  });

  it('case 5: corrupt gzip gets 400 and the gateway keeps serving', async () => {
    const uid = newUid();
    const bytes = a2s(fullReport(uid, 0n));
    // Plain protobuf labelled gzip.
    const notGzip = await httpRequest(url, {
      headers: { 'Content-Type': PROTOBUF, 'Content-Encoding': 'gzip' },
      body: bytes,
    });
    expect(notGzip.status).toBe(400);
    // A gzip stream cut in half.
    const gz = gzipSync(Buffer.concat([Buffer.from(bytes), Buffer.alloc(4096, 7)]));
    const cut = await httpRequest(url, {
      headers: { 'Content-Type': PROTOBUF, 'Content-Encoding': 'gzip' },
      body: gz.subarray(0, gz.length >> 1),
    });
    expect(cut.status).toBe(400);
    // Still serving.
    const ok = await postOpamp(url, fullReport(newUid(), 0n));
    expect(ok.status).toBe(200);
    await expectNeverStored(api, url, uid);
  });

  it('case 6: a gzip bomb (100 KiB inflating to 100 MiB) gets 413 and is not processed', async () => {
    const uid = newUid();
    // A valid message for uid followed by 100 MiB of zeros (an unknown-field-free tail is not
    // needed: the limit must trip before any decoding).
    const bomb = gzipSync(Buffer.concat([Buffer.from(a2s(fullReport(uid, 0n))), Buffer.alloc(100 * MiB)]), {
      level: 9,
    });
    expect(bomb.length).toBeLessThan(200 * 1024);
    const res = await httpRequest(url, {
      headers: { 'Content-Type': PROTOBUF, 'Content-Encoding': 'gzip' },
      body: bomb,
    });
    expect(res.status).toBe(413);
    await expectNeverStored(api, url, uid);
  });

  it('case 7: an oversize plain body gets 413, with Content-Length and with chunked transfer', async () => {
    const uid = newUid();
    // A decodable message (uid + 1 MiB unknown field 100) so only the size can refuse it.
    const body = concat(a2s(fullReport(uid, 0n)), wire.bytes(100, new Uint8Array(LIMIT)));
    expect(body.length).toBeGreaterThan(LIMIT);
    const withLength = await httpRequest(url, { headers: { 'Content-Type': PROTOBUF }, body });
    expect(withLength.status).toBe(413);
    const chunked = await httpRequest(url, {
      headers: { 'Content-Type': PROTOBUF },
      body,
      chunked: true,
      chunkSize: 16 * 1024,
    });
    expect(chunked.status).toBe(413);
    expect(chunked.headers['content-length']).not.toBeUndefined();
    await expectNeverStored(api, url, uid);

    // Exactly at the limit is fine.
    const atLimitUid = newUid();
    const head = a2s(fullReport(atLimitUid, 0n));
    const padField = (n: number) => wire.bytes(100, new Uint8Array(n));
    let pad = LIMIT - head.length - 8;
    while (head.length + padField(pad).length < LIMIT) pad++;
    const exact = concat(head, padField(pad));
    expect(exact.length).toBe(LIMIT);
    const ok = await postOpamp(url, exact);
    expect(ok.status).toBe(200);
    expectAck(ok.serverToAgent, atLimitUid);
  });

  it('case 8: GET/PUT get 405, non-protobuf media types get 415, and the agent state is unchanged', async () => {
    const uid = await registered('case-8');
    const changed = a2s(fullReport(uid, 1n, { capabilities: 0x401n }, 'case-8-changed'));

    const get = await httpRequest(url, { method: 'GET' });
    expect(get.status).toBe(405);
    expect(String(get.headers.allow ?? '')).toContain('POST');
    const put = await httpRequest(url, { method: 'PUT', headers: { 'Content-Type': PROTOBUF }, body: changed });
    expect(put.status).toBe(405);
    const json = await httpRequest(url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: changed,
    });
    expect(json.status).toBe(415);
    const none = await httpRequest(url, { method: 'POST', body: changed });
    expect([400, 415]).toContain(none.status);
    const br = await httpRequest(url, {
      method: 'POST',
      headers: { 'Content-Type': PROTOBUF, 'Content-Encoding': 'br' },
      body: changed,
    });
    expect(br.status).toBe(415);

    await expectNeverStored(api, url, newUid()); // flush barrier
    const agent = await api.agent(uid);
    expect(big(agent!.sequenceNum)).toBe(0n);
    expect(big(agent!.capabilities)).toBe(0x1n);
    expect(identifying(agent!)['service.name']).toBe('case-8');
  });

  it('case 8 (media type parsing): parameters and case in Content-Type are accepted; identity encoding is plain', async () => {
    const uid = newUid();
    const res = await postOpamp(url, fullReport(uid, 0n), {
      headers: { 'Content-Type': 'Application/X-Protobuf; charset=binary', 'Content-Encoding': 'identity' },
    });
    expect(res.status).toBe(200);
    expectAck(res.serverToAgent, uid);
  });

  it('case 11: a poll with nothing pending gets 200 with an Ack body, never 204 or an empty body', async () => {
    const uid = await registered('case-11');
    for (let seq = 1n; seq <= 3n; seq++) {
      const res = await postOpamp(url, poll(uid, seq));
      expect(res.status).toBe(200);
      expect(res.body.length).toBeGreaterThan(0);
      const s2a = expectAck(res.serverToAgent, uid);
      expect(hasFullStateFlag(s2a)).toBe(false);
      expect(s2a.remoteConfig).toBeUndefined();
      expect(s2a.command).toBeUndefined();
    }
    await api.waitAgent(uid, (a) => expect(big(a.sequenceNum)).toBe(3n));
  });

  it('case 13: OpAMP-Instance-UID header equal, absent or mismatching: the body uid is processed', async () => {
    const uid = await registered('case-13');
    const mismatchesBefore = await metricValue(stack.gateway, 'opamp_gateway_uid_header_mismatch_total');
    const equal = await postOpamp(url, poll(uid, 1n), { headers: { 'OpAMP-Instance-UID': uidText(uid) } });
    expect(equal.status).toBe(200);
    expectAck(equal.serverToAgent, uid);
    const upper = await postOpamp(url, poll(uid, 2n), {
      headers: { 'OpAMP-Instance-UID': uidText(uid).toUpperCase() },
    });
    expectAck(upper.serverToAgent, uid);
    const absent = await postOpamp(url, poll(uid, 3n));
    expectAck(absent.serverToAgent, uid);
    const other = newUid();
    const mismatch = await postOpamp(url, poll(uid, 4n), { headers: { 'OpAMP-Instance-UID': uidText(other) } });
    expect(mismatch.status).toBe(200);
    expectAck(mismatch.serverToAgent, uid);
    const garbage = await postOpamp(url, poll(uid, 5n), { headers: { 'OpAMP-Instance-UID': 'not-a-uuid' } });
    expectAck(garbage.serverToAgent, uid);
    // Documented choice: counted and logged, processed under the body uid; the header uid is not an agent.
    expect(await metricValue(stack.gateway, 'opamp_gateway_uid_header_mismatch_total')).toBe(mismatchesBefore + 2);
    await api.waitAgent(uid, (a) => expect(big(a.sequenceNum)).toBe(5n));
    await expectNeverStored(api, url, other);
  });

  it('case 14: HTTP agent_disconnect gets an Ack and marks the agent disconnected at once', async () => {
    const uid = await registered('case-14');
    await api.waitAgent(uid, (a) => expect(a.connectionState).toBe('connected'));
    // agent_disconnect is an empty message: `4a 00` on the wire.
    const body = concat(a2s(poll(uid, 1n)), hex('4a00'));
    const started = Date.now();
    const res = await postOpamp(url, body);
    expect(res.status).toBe(200);
    expectAck(res.serverToAgent, uid);
    await api.waitAgent(uid, (a) => expect(a.connectionState).toBe('disconnected'), { timeoutMs: 5_000 });
    // Far below any liveness timeout (30 s default interval × k).
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('case 15: consecutive compressed polls with contiguous seq never get ReportFullState; state persists', async () => {
    const uid = await registered('case-15');
    for (let seq = 1n; seq <= 3n; seq++) {
      const res = await postOpamp(url, poll(uid, seq), { gzip: true, acceptEncoding: 'gzip' });
      expect(res.status).toBe(200);
      const s2a = expectAck(res.serverToAgent, uid);
      expect(hasFullStateFlag(s2a), `seq ${seq}`).toBe(false);
    }
    await api.waitAgent(uid, (a) => {
      expect(big(a.sequenceNum)).toBe(3n);
      expect(identifying(a)['service.name']).toBe('case-15');
      expect(a.connectionState).toBe('connected');
    });
  });

  it('case 46 (HTTP): invalid uid lengths get 200 + BAD_REQUEST that echoes the uid and nothing else', async () => {
    for (const len of [0, 15, 17, 26]) {
      const bad = Uint8Array.from({ length: len }, (_, i) => (i * 7 + 1) & 0xff);
      const res = await postOpamp(url, { instanceUid: bad, sequenceNum: 0n, capabilities: 1n });
      expect(res.status, `uid of ${len} bytes`).toBe(200);
      expectBadRequest(res.serverToAgent, bad);
    }
  });
});

describe('HTTP connections and concurrency', () => {
  it('several agents share one keep-alive connection (also after a 413 on it); every reply carries its own uid', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const uids = [newUid(), newUid(), newUid()];
      const seqs = uids.map(() => 0n);
      let reused = 0;
      for (let round = 0; round < 4; round++) {
        for (const [i, uid] of uids.entries()) {
          const msg = seqs[i] === 0n ? fullReport(uid, 0n, {}, `keepalive-${i}`) : poll(uid, seqs[i]!);
          const res = await postOpamp(url, msg, { agent });
          expect(res.status).toBe(200);
          expectAck(res.serverToAgent, uid);
          if (res.reusedSocket) reused++;
          seqs[i]!++;
        }
        // An oversized body in the middle: 413, and the connection stays usable for the next agent.
        const oversized = await postOpamp(
          url,
          concat(a2s(poll(uids[0]!, 999n)), wire.bytes(100, new Uint8Array(2 * LIMIT))),
          { agent },
        );
        expect(oversized.status).toBe(413);
      }
      expect(reused, 'requests reused the kept-alive connection').toBeGreaterThan(8);
      for (const [i, uid] of uids.entries()) {
        await api.waitAgent(uid, (a) => {
          expect(big(a.sequenceNum)).toBe(3n);
          expect(identifying(a)['service.name']).toBe(`keepalive-${i}`);
        });
      }
    } finally {
      agent.destroy();
    }
  });

  it('100 concurrent polls from 50 agents: each reply goes to the request that asked (no cross-talk)', async () => {
    const uids = Array.from({ length: 50 }, () => newUid());
    await Promise.all(
      uids.map(async (uid) => expectAck((await postOpamp(url, fullReport(uid, 0n))).serverToAgent, uid)),
    );
    const replies = await Promise.all(
      uids.flatMap((uid) => [1n, 2n].map(async (seq) => ({ uid, res: await postOpamp(url, poll(uid, seq)) }))),
    );
    for (const { uid, res } of replies) {
      expect(res.status).toBe(200);
      expectAck(res.serverToAgent, uid);
    }
  });
});

describe('robustness', () => {
  it('200 gzip bombs and 20 oversize chunked bodies: 413 each, gateway RSS grows < 64 MiB', async () => {
    const pid = stack.gateway.pid;
    const bomb = gzipSync(Buffer.alloc(100 * MiB), { level: 9 });
    const oversize = new Uint8Array(8 * MiB);
    const bombPost = () =>
      httpRequest(url, { headers: { 'Content-Type': PROTOBUF, 'Content-Encoding': 'gzip' }, body: bomb });
    // Warm-up at the same concurrency: the first requests grow the V8 heap and the zlib threads'
    // malloc arenas to their working size once (measured at 20–65 MiB, then flat). What must not
    // happen afterwards is growth per request (a leak) or a bomb inflated beyond the limit (100 MiB
    // each, 8 at a time).
    for (let i = 0; i < 5; i++) await Promise.all(Array.from({ length: 8 }, bombPost));
    await httpRequest(url, { headers: { 'Content-Type': PROTOBUF }, body: oversize, chunked: true });
    const before = rssBytes(pid);
    let peak = before;
    const statuses = new Map<number, number>();
    const count = (s: number) => statuses.set(s, (statuses.get(s) ?? 0) + 1);
    const sampler = setInterval(() => {
      try {
        peak = Math.max(peak, rssBytes(pid));
      } catch {
        // process gone: the alive check below reports it
      }
    }, 20);
    try {
      const concurrency = 8;
      let next = 0;
      await Promise.all(
        Array.from({ length: concurrency }, async () => {
          while (next < 200) {
            next++;
            count((await bombPost()).status);
          }
        }),
      );
      for (let i = 0; i < 20; i++) {
        const res = await httpRequest(url, { headers: { 'Content-Type': PROTOBUF }, body: oversize, chunked: true });
        count(res.status);
      }
    } finally {
      clearInterval(sampler);
    }
    const after = rssBytes(pid);
    expect(Object.fromEntries(statuses)).toEqual({ 413: 220 });
    const growth = Math.max(after, peak) - before;
    expect(growth, `RSS before ${before >> 20} MiB, peak ${peak >> 20} MiB, after ${after >> 20} MiB`).toBeLessThan(
      64 * MiB,
    );
    await expectHealthy(stack.gateway);
  });

  it('no process crashed: gateway, fleet and api are alive and healthy, and the gateway still serves', async () => {
    await expectHealthy(stack.gateway);
    await expectHealthy(stack.fleet!);
    await expectHealthy(stack.api!);
    const uid = newUid();
    const res = await postOpamp(url, fullReport(uid, 0n));
    expectAck(res.serverToAgent, uid);
  });
});
