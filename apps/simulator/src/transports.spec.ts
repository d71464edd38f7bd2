// The real transports against throwaway loopback servers (no control plane involved): framing,
// headers, refused upgrades, status codes. Also one end-to-end run of SimulatedAgent over each.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketServer, type WebSocket } from 'ws';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { AgentToServerSchema, ServerToAgentSchema, type AgentToServer } from '@opamp/proto';
import { ServerToAgentFlag, uidToString, uuidv7 } from '@opamp/protocol';
import { HttpTransport } from './http-transport.js';
import { SimulatedAgent } from './simulated-agent.js';
import { TransportError, type TransportHandlers } from './transport.js';
import { WsTransport } from './ws-transport.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function listen(server: Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}

function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

interface Recorder extends TransportHandlers {
  messages: Uint8Array[];
  closes: Array<{ code: number; reason: string }>;
  errors: Error[];
}

function recorder(): Recorder {
  const r: Recorder = {
    messages: [],
    closes: [],
    errors: [],
    onMessage: (b) => r.messages.push(new Uint8Array(b)),
    onClose: (i) => r.closes.push(i),
    onError: (e) => r.errors.push(e),
  };
  return r;
}

async function until(cond: () => boolean, timeoutMs = 2_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 2));
  }
}

const agentToServer = (seq: bigint): Uint8Array =>
  toBinary(
    AgentToServerSchema,
    create(AgentToServerSchema, { instanceUid: uuidv7(), sequenceNum: seq, capabilities: 1n }),
  );

/** A WS server on /v1/opamp whose upgrade handling and message handling the test controls. */
async function wsServer(opts: {
  refuse?: { status: number; headers?: Record<string, string> };
  onMessage?: (ws: WebSocket, data: Buffer, isBinary: boolean) => void;
}): Promise<{
  url: string;
  frames: Buffer[];
  headers: IncomingMessage['headers'][];
  sockets: WebSocket[];
  closes: number[];
}> {
  const server = createServer();
  const wss = new WebSocketServer({ noServer: true });
  const frames: Buffer[] = [];
  const headers: IncomingMessage['headers'][] = [];
  const sockets: WebSocket[] = [];
  const closes: number[] = [];
  server.on('upgrade', (req, socket, head) => {
    headers.push(req.headers);
    if (opts.refuse) {
      const extra = Object.entries(opts.refuse.headers ?? {})
        .map(([k, v]) => `${k}: ${v}\r\n`)
        .join('');
      socket.end(`HTTP/1.1 ${opts.refuse.status} Refused\r\n${extra}Content-Length: 0\r\nConnection: close\r\n\r\n`);
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      sockets.push(ws);
      ws.on('message', (data, isBinary) => {
        const buf = data as Buffer;
        frames.push(buf);
        opts.onMessage?.(ws, buf, isBinary);
      });
      ws.on('close', (code) => closes.push(code));
    });
  });
  const port = await listen(server);
  cleanups.push(async () => {
    for (const ws of wss.clients) ws.terminate();
    wss.close();
    await closeServer(server);
  });
  return { url: `ws://127.0.0.1:${port}/v1/opamp`, frames, headers, sockets, closes };
}

async function httpServer(
  handler: (req: IncomingMessage, body: Buffer, res: ServerResponse) => void,
): Promise<{ url: string }> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => handler(req, Buffer.concat(chunks), res));
  });
  const port = await listen(server);
  cleanups.push(() => closeServer(server));
  return { url: `http://127.0.0.1:${port}/v1/opamp` };
}

describe('WsTransport', () => {
  it("connects from the given source address (localAddress), for load tests beyond one address's ports", async () => {
    const server = createServer();
    const wss = new WebSocketServer({ noServer: true });
    const peers: Array<string | undefined> = [];
    server.on('upgrade', (req, socket, head) => {
      peers.push(req.socket.remoteAddress);
      wss.handleUpgrade(req, socket, head, () => undefined);
    });
    const port = await listen(server);
    cleanups.push(async () => {
      wss.close();
      await closeServer(server);
    });
    const t = new WsTransport({ url: `ws://127.0.0.1:${port}/v1/opamp`, localAddress: '127.0.0.3' }, recorder());
    await t.connect();
    await t.close();
    expect(peers).toEqual(['127.0.0.3']);
  });

  it('sends binary frames with the 0x00 header and strips it from replies', async () => {
    const srv = await wsServer({
      onMessage: (ws, data) => {
        const msg = fromBinary(AgentToServerSchema, data.subarray(1));
        const reply = toBinary(
          ServerToAgentSchema,
          create(ServerToAgentSchema, { instanceUid: msg.instanceUid, capabilities: 1n }),
        );
        ws.send(Buffer.concat([Buffer.of(0), reply]), { binary: true });
      },
    });
    const r = recorder();
    const t = new WsTransport({ url: srv.url, token: 's3cret' }, r);
    cleanups.push(() => t.close());
    await t.connect();
    expect(t.connected).toBe(true);
    const bytes = agentToServer(0n);
    await t.send(bytes);
    await until(() => r.messages.length === 1);
    expect(srv.frames[0]![0]).toBe(0x00);
    expect(new Uint8Array(srv.frames[0]!.subarray(1))).toEqual(bytes);
    expect(srv.headers[0]!.authorization).toBe('Bearer s3cret');
    expect(fromBinary(ServerToAgentSchema, r.messages[0]!).capabilities).toBe(1n);
  });

  it('reports text frames and malformed frames as errors without closing', async () => {
    const srv = await wsServer({
      onMessage: (ws) => {
        ws.send('hello');
        ws.send(Buffer.of(0x05, 0x01), { binary: true });
      },
    });
    const r = recorder();
    const t = new WsTransport({ url: srv.url }, r);
    cleanups.push(() => t.close());
    await t.connect();
    await t.send(agentToServer(0n));
    await until(() => r.errors.length === 2);
    expect(r.errors[0]!.message).toMatch(/text frame/);
    expect(r.errors[1]!.message).toMatch(/malformed/);
    expect(t.connected).toBe(true);
    expect(r.messages).toHaveLength(0);
  });

  it('rejects a refused upgrade with the status and Retry-After', async () => {
    const srv = await wsServer({ refuse: { status: 503, headers: { 'Retry-After': '7' } } });
    const r = recorder();
    const t = new WsTransport({ url: srv.url }, r);
    const err = await t.connect().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(TransportError);
    expect(err).toMatchObject({ kind: 'throttled', status: 503, retryAfterMs: 7_000 });
    expect((err as TransportError).retryable).toBe(true);
    await new Promise((res) => setTimeout(res, 20));
    expect(r.closes).toHaveLength(0); // a failed connect is not a "drop"
  });

  it('classifies 401 as rejected and connection refused as network', async () => {
    const srv = await wsServer({ refuse: { status: 401 } });
    const e401 = await new WsTransport({ url: srv.url }, recorder()).connect().catch((e: unknown) => e);
    expect(e401).toMatchObject({ kind: 'rejected', status: 401 });
    const eRefused = await new WsTransport({ url: 'ws://127.0.0.1:1/v1/opamp' }, recorder())
      .connect()
      .catch((e: unknown) => e);
    expect(eRefused).toMatchObject({ kind: 'network' });
  });

  it('closes with the given code and reports server-side drops', async () => {
    const srv = await wsServer({});
    const r = recorder();
    const t = new WsTransport({ url: srv.url }, r);
    await t.connect();
    await t.close(1000, 'bye');
    await until(() => srv.closes.length === 1);
    expect(srv.closes[0]).toBe(1000);
    expect(r.closes).toHaveLength(0); // our own close is not reported

    await t.connect();
    await until(() => srv.sockets.length === 2);
    srv.sockets[1]!.close(1013, 'overloaded');
    await until(() => r.closes.length === 1);
    expect(r.closes[0]).toEqual({ code: 1013, reason: 'overloaded' });
    expect(t.connected).toBe(false);
  });
});

describe('HttpTransport', () => {
  it('POSTs protobuf with the OpAMP headers and hands the 200 body over', async () => {
    const seen: IncomingMessage[] = [];
    const bodies: Buffer[] = [];
    const srv = await httpServer((req, body, res) => {
      seen.push(req);
      bodies.push(body);
      res.writeHead(200, { 'Content-Type': 'application/x-protobuf' });
      res.end(Buffer.from(toBinary(ServerToAgentSchema, create(ServerToAgentSchema, { capabilities: 3n }))));
    });
    const r = recorder();
    const t = new HttpTransport({ url: srv.url, token: 'tok' }, r);
    const bytes = agentToServer(4n);
    await t.send(bytes, '0192e3a4-5b6c-7d8e-9f01-23456789abcd');
    expect(r.messages).toHaveLength(1);
    expect(fromBinary(ServerToAgentSchema, r.messages[0]!).capabilities).toBe(3n);
    expect(seen[0]!.method).toBe('POST');
    expect(seen[0]!.headers['content-type']).toBe('application/x-protobuf');
    expect(seen[0]!.headers['opamp-instance-uid']).toBe('0192e3a4-5b6c-7d8e-9f01-23456789abcd');
    expect(seen[0]!.headers.authorization).toBe('Bearer tok');
    expect(new Uint8Array(bodies[0]!)).toEqual(bytes);
  });

  it('gzips the body when asked', async () => {
    let encoding: string | undefined;
    let body: Buffer | undefined;
    const srv = await httpServer((req, b, res) => {
      encoding = req.headers['content-encoding'];
      body = b;
      res.writeHead(200).end();
    });
    const bytes = agentToServer(1n);
    await new HttpTransport({ url: srv.url, gzip: true }, recorder()).send(bytes, 'x');
    expect(encoding).toBe('gzip');
    expect(new Uint8Array(gunzipSync(body!))).toEqual(bytes);
  });

  it.each([
    [429, { 'Retry-After': '3' }, { kind: 'throttled', status: 429, retryAfterMs: 3_000 }],
    [503, {}, { kind: 'throttled', status: 503, retryAfterMs: undefined }],
    [502, {}, { kind: 'network', status: 502 }],
    [400, {}, { kind: 'rejected', status: 400 }],
    [413, {}, { kind: 'rejected', status: 413 }],
    [204, {}, { kind: 'rejected', status: 204 }],
  ] as const)('HTTP %i → %o', async (status, headers, expected) => {
    const srv = await httpServer((_req, _b, res) => res.writeHead(status, headers).end());
    const r = recorder();
    const err = await new HttpTransport({ url: srv.url }, r).send(agentToServer(0n), 'x').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransportError);
    expect(err).toMatchObject(expected);
    expect(r.messages).toHaveLength(0);
  });

  it('refuses a second request while one is in flight, and can abort', async () => {
    const srv = await httpServer(() => undefined); // never answers
    const t = new HttpTransport({ url: srv.url }, recorder());
    const first = t.send(agentToServer(0n), 'x').catch((e: unknown) => e);
    await expect(t.send(agentToServer(1n), 'x')).rejects.toThrow(/in flight/);
    t.abort();
    expect(await first).toMatchObject({ kind: 'aborted' });
  });

  it('times out', async () => {
    const srv = await httpServer(() => undefined);
    const err = await new HttpTransport({ url: srv.url, timeoutMs: 50 }, recorder())
      .send(agentToServer(0n), 'x')
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ kind: 'network', message: 'HTTP request timed out' });
  });
});

describe('SimulatedAgent over real transports', () => {
  it('WS: full report, ReportFullState round trip, clean disconnect', async () => {
    const received: AgentToServer[] = [];
    const srv = await wsServer({
      onMessage: (ws, data) => {
        const msg = fromBinary(AgentToServerSchema, data.subarray(1));
        received.push(msg);
        const flags = msg.sequenceNum === 0n ? ServerToAgentFlag.ReportFullState : 0n;
        const reply = toBinary(
          ServerToAgentSchema,
          create(ServerToAgentSchema, { instanceUid: msg.instanceUid, capabilities: 1n, flags }),
        );
        ws.send(Buffer.concat([Buffer.of(0), reply]), { binary: true });
      },
    });
    const agent = new SimulatedAgent({ url: srv.url, transport: 'ws', heartbeatSeconds: 30 });
    cleanups.push(() => agent.stop());
    await agent.start();
    await until(() => received.length === 2);
    expect(received.map((m) => m.sequenceNum)).toEqual([0n, 1n]);
    expect(received[1]!.agentDescription).toBeDefined();
    await agent.stop();
    await until(() => srv.closes.length === 1);
    expect(received[2]!.agentDisconnect).toBeDefined();
    expect(srv.closes[0]).toBe(1000);
    expect(agent.stats).toMatchObject({ messagesSent: 3, errors: 0 });
    expect(agent.stats.repliesReceived).toBeGreaterThanOrEqual(2); // the reply to agent_disconnect may race the close
  });

  it('HTTP: polls and retries after 503 Retry-After', async () => {
    const received: AgentToServer[] = [];
    let refused = 0;
    const srv = await httpServer((req, body, res) => {
      if (refused === 0) {
        refused++;
        res.writeHead(503, { 'Retry-After': '0' }).end();
        return;
      }
      const msg = fromBinary(AgentToServerSchema, body);
      received.push(msg);
      expect(req.headers['opamp-instance-uid']).toBe(uidToString(msg.instanceUid));
      res.writeHead(200, { 'Content-Type': 'application/x-protobuf' });
      res.end(
        Buffer.from(
          toBinary(
            ServerToAgentSchema,
            create(ServerToAgentSchema, { instanceUid: msg.instanceUid, capabilities: 1n }),
          ),
        ),
      );
    });
    const agent = new SimulatedAgent({
      url: srv.url,
      transport: 'http',
      heartbeatSeconds: 0.05,
      backoff: { initialMs: 10, maxMs: 20, immediateJitterMs: 0 },
    });
    cleanups.push(() => agent.stop());
    await agent.start();
    await until(() => received.length >= 3);
    expect(received.slice(0, 3).map((m) => m.sequenceNum)).toEqual([0n, 1n, 2n]);
    expect(received[0]!.agentDescription).toBeDefined();
    expect(agent.stats.throttled).toBe(1);
    await agent.stop();
    expect(received[received.length - 1]!.agentDisconnect).toBeDefined();
  });
});
