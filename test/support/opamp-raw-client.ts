// Deliberately small, independent OpAMP clients for the e2e conformance suite.
//
// They do not reuse the simulator (apps/simulator) or the gateway's framing code, so a bug there is
// not shared by the tests: the WS header is written and checked here by hand, HTTP bodies are sent
// byte for byte as given (gzip, chunked, arbitrary headers), and every reply is decoded with the
// generated protobuf schema only.
import { create, fromBinary, toBinary, type MessageInitShape } from '@bufbuild/protobuf';
import {
  request as httpRequestRaw,
  type Agent as HttpAgent,
  type IncomingHttpHeaders,
  type IncomingMessage,
} from 'node:http';
import { gunzipSync, gzipSync } from 'node:zlib';
import WebSocket from 'ws';
import {
  AgentDescriptionSchema,
  AgentToServerSchema,
  ServerToAgentSchema,
  type AgentDescription,
  type AgentToServer,
  type ServerToAgent,
} from '@opamp/proto';

export const PROTOBUF = 'application/x-protobuf';

// ---------------------------------------------------------------------------------------------
// Messages

/** The plain-object init form of AgentToServer (spreadable, unlike the Message | init union). */
export type AgentToServerInit = Exclude<MessageInitShape<typeof AgentToServerSchema>, AgentToServer>;

/** Serialises an AgentToServer (plain protobuf, no WS header). */
export function a2s(init: AgentToServerInit): Uint8Array {
  return toBinary(AgentToServerSchema, create(AgentToServerSchema, init));
}

export function decodeA2S(bytes: Uint8Array): AgentToServer {
  return fromBinary(AgentToServerSchema, bytes);
}

/** Decodes a ServerToAgent (throws on invalid bytes, which a test should treat as a failure). */
export function decodeS2A(bytes: Uint8Array): ServerToAgent {
  return fromBinary(ServerToAgentSchema, bytes);
}

/** AgentDescription from two plain string maps. */
export function description(
  identifying: Record<string, string>,
  nonIdentifying: Record<string, string> = {},
): AgentDescription {
  const kv = (m: Record<string, string>) =>
    Object.entries(m).map(([key, v]) => ({ key, value: { value: { case: 'stringValue' as const, value: v } } }));
  return create(AgentDescriptionSchema, {
    identifyingAttributes: kv(identifying),
    nonIdentifyingAttributes: kv(nonIdentifying),
  });
}

/** Lower-case canonical 8-4-4-4-12 text of a 16-byte uid. */
export function uidText(uid: Uint8Array): string {
  const h = Buffer.from(uid).toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

// Hand-rolled protobuf wire writer, for inputs the generated code cannot produce (unknown fields,
// hostile nesting, invalid UTF-8, non-minimal varints...).
export const wire = {
  varint(value: bigint | number): Uint8Array {
    let v = BigInt(value);
    if (v < 0n) v &= (1n << 64n) - 1n;
    const out: number[] = [];
    do {
      let b = Number(v & 0x7fn);
      v >>= 7n;
      if (v > 0n) b |= 0x80;
      out.push(b);
    } while (v > 0n);
    return Uint8Array.from(out);
  },
  tag(field: number, wireType: number): Uint8Array {
    return wire.varint((BigInt(field) << 3n) | BigInt(wireType));
  },
  /** field as a varint (wire type 0). */
  uint(field: number, value: bigint | number): Uint8Array {
    return concat(wire.tag(field, 0), wire.varint(value));
  },
  /** field as length-delimited bytes (wire type 2). */
  bytes(field: number, payload: Uint8Array): Uint8Array {
    return concat(wire.tag(field, 2), wire.varint(payload.length), payload);
  },
};

export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

export function hex(s: string): Uint8Array {
  return Uint8Array.from(Buffer.from(s.replace(/[\s:]/g, ''), 'hex'));
}

// ---------------------------------------------------------------------------------------------
// WebSocket

export interface WsMessage {
  data: Buffer;
  isBinary: boolean;
}

export interface WsClose {
  code: number;
  reason: string;
}

/** The upgrade was answered with something other than 101. */
export class UpgradeRefusedError extends Error {
  constructor(
    readonly status: number,
    readonly headers: IncomingHttpHeaders,
  ) {
    super(`WebSocket upgrade refused with HTTP ${status}`);
  }
}

export interface WsOpenOptions {
  headers?: Record<string, string>;
  /** Offer permessage-deflate (default false). */
  perMessageDeflate?: boolean;
  /** Answer server pings automatically (default true). Set false to play a half-open peer. */
  autoPong?: boolean;
  timeoutMs?: number;
}

/**
 * A WebSocket peer that can send anything (binary, text, raw frames without our header) and
 * records everything it receives: messages, server pings, pongs and the close code.
 */
export class RawWsClient {
  private readonly inbox: WsMessage[] = [];
  private readonly waiters: Array<() => void> = [];
  /** Payloads of pings the server sent us. */
  readonly serverPings: Buffer[] = [];
  readonly closed: Promise<WsClose>;
  closeInfo: WsClose | undefined;
  /** Whether server pings are answered with a pong (see {@link setAnswerPings}). */
  private answerPings = true;
  /** HTTP status of the upgrade response (101 when open). */
  upgradeStatus = 0;
  upgradeHeaders: IncomingHttpHeaders = {};

  private constructor(readonly ws: WebSocket) {
    ws.binaryType = 'nodebuffer';
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      this.inbox.push({ data, isBinary });
      this.wake();
    });
    ws.on('ping', (data: Buffer) => {
      this.serverPings.push(data);
      if (this.answerPings && ws.readyState === WebSocket.OPEN) ws.pong(data);
    });
    ws.on('error', () => undefined);
    this.closed = new Promise<WsClose>((resolve) => {
      ws.once('close', (code: number, reason: Buffer) => {
        this.closeInfo = { code, reason: reason.toString() };
        resolve(this.closeInfo);
        this.wake();
      });
    });
  }

  /** Opens a WS to `url`; rejects with UpgradeRefusedError when the server does not answer 101. */
  static open(url: string, opts: WsOpenOptions = {}): Promise<RawWsClient> {
    return new Promise<RawWsClient>((resolve, reject) => {
      const ws = new WebSocket(url, {
        headers: opts.headers,
        perMessageDeflate: opts.perMessageDeflate ?? false,
        // Pongs are sent by the 'ping' handler so a test can stop answering mid-connection.
        autoPong: false,
        handshakeTimeout: opts.timeoutMs ?? 10_000,
        maxPayload: 256 * 1024 * 1024,
      });
      const client = new RawWsClient(ws);
      client.answerPings = opts.autoPong ?? true;
      let settled = false;
      ws.on('upgrade', (res: IncomingMessage) => {
        client.upgradeStatus = res.statusCode ?? 0;
        client.upgradeHeaders = res.headers;
      });
      ws.on('unexpected-response', (req, res: IncomingMessage) => {
        settled = true;
        reject(new UpgradeRefusedError(res.statusCode ?? 0, res.headers));
        res.resume();
        req.destroy();
      });
      ws.once('open', () => {
        settled = true;
        resolve(client);
      });
      ws.once('error', (err) => {
        if (!settled) {
          settled = true;
          reject(err);
        }
      });
    });
  }

  /** Attempts an upgrade and reports the status: 101, or the refusal status and headers. */
  static async tryUpgrade(
    url: string,
    opts: WsOpenOptions = {},
  ): Promise<{ status: number; headers: IncomingHttpHeaders; client?: RawWsClient }> {
    try {
      const client = await RawWsClient.open(url, opts);
      return { status: client.upgradeStatus, headers: client.upgradeHeaders, client };
    } catch (err) {
      if (err instanceof UpgradeRefusedError) return { status: err.status, headers: err.headers };
      throw err;
    }
  }

  /** Start or stop answering the server's pings (a half-open peer does not answer). */
  setAnswerPings(answer: boolean): void {
    this.answerPings = answer;
  }

  get isOpen(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  /** Sends the bytes as one binary WS message, exactly as given (no header added). */
  sendRaw(bytes: Uint8Array): Promise<void> {
    return new Promise((resolve, reject) =>
      this.ws.send(bytes, { binary: true }, (err) => (err ? reject(err) : resolve())),
    );
  }

  /** Sends the bytes as one binary message split into `parts` WS frames (continuation frames). */
  async sendFragmented(bytes: Uint8Array, parts: number): Promise<void> {
    const size = Math.ceil(bytes.length / parts);
    for (let i = 0; i < parts; i++) {
      const piece = bytes.subarray(i * size, Math.min(bytes.length, (i + 1) * size));
      const fin = i === parts - 1;
      await new Promise<void>((resolve, reject) =>
        this.ws.send(piece, { binary: true, fin, compress: false }, (err) => (err ? reject(err) : resolve())),
      );
    }
  }

  sendText(text: string): Promise<void> {
    return new Promise((resolve, reject) =>
      this.ws.send(text, { binary: false }, (err) => (err ? reject(err) : resolve())),
    );
  }

  /** Sends `00` + protobuf bytes (the canonical OpAMP WS framing). */
  sendFramed(protobuf: Uint8Array): Promise<void> {
    return this.sendRaw(concat(Uint8Array.of(0x00), protobuf));
  }

  send(msg: AgentToServerInit): Promise<void> {
    return this.sendFramed(a2s(msg));
  }

  /** Next message of any kind, or rejects after `timeoutMs` (or when the socket closes first). */
  async next(timeoutMs = 5_000): Promise<WsMessage> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const msg = this.inbox.shift();
      if (msg) return msg;
      if (this.closeInfo)
        throw new Error(`socket closed (${this.closeInfo.code} ${this.closeInfo.reason}) while waiting for a message`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no WebSocket message within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /**
   * Next message as a ServerToAgent: asserts it is binary and that its header is the canonical
   * single byte 0x00, then decodes the rest.
   */
  async nextServerToAgent(timeoutMs = 5_000): Promise<ServerToAgent> {
    const msg = await this.next(timeoutMs);
    return parseServerFrame(msg);
  }

  /** Sends a message and returns the next ServerToAgent. */
  async request(msg: AgentToServerInit, timeoutMs = 5_000): Promise<ServerToAgent> {
    await this.send(msg);
    return this.nextServerToAgent(timeoutMs);
  }

  /** Resolves true when nothing arrives within `ms` (a closed socket counts as silence). */
  async silentFor(ms: number): Promise<boolean> {
    try {
      await this.next(ms);
      return false;
    } catch {
      return this.inbox.length === 0;
    }
  }

  /** Number of messages received but not consumed yet. */
  get pending(): number {
    return this.inbox.length;
  }

  /** Sends a ping and resolves with the pong payload. */
  ping(payload: Buffer | string, timeoutMs = 5_000): Promise<Buffer> {
    return new Promise<Buffer>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.ws.off('pong', onPong);
        reject(new Error(`no pong within ${timeoutMs} ms`));
      }, timeoutMs);
      const onPong = (data: Buffer): void => {
        clearTimeout(timer);
        this.ws.off('pong', onPong);
        resolve(data);
      };
      this.ws.on('pong', onPong);
      this.ws.ping(payload);
    });
  }

  /** Starts the close handshake and resolves with the close the server completed it with. */
  close(code = 1000, reason = ''): Promise<WsClose> {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING)
      this.ws.close(code, reason);
    return this.closed;
  }

  /** Drops the TCP connection without a Close frame. */
  destroy(): void {
    const socket = (this.ws as unknown as { _socket?: { destroy(): void } })._socket;
    if (socket) socket.destroy();
    else this.ws.terminate();
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }
}

/** Checks and strips the WS header (uvarint, must be 0 and canonical 0x00), decodes ServerToAgent. */
export function parseServerFrame(msg: WsMessage): ServerToAgent {
  if (!msg.isBinary) throw new Error(`expected a binary frame, got text "${msg.data.toString('utf8').slice(0, 80)}"`);
  if (msg.data.length === 0) throw new Error('empty binary frame (no header)');
  if (msg.data[0] !== 0x00)
    throw new Error(`frame header is 0x${msg.data[0]!.toString(16)}, expected the canonical 0x00`);
  return decodeS2A(msg.data.subarray(1));
}

// ---------------------------------------------------------------------------------------------
// Plain HTTP

export interface HttpOptions {
  method?: string;
  headers?: Record<string, string | number>;
  body?: Uint8Array;
  /** Send the body with Transfer-Encoding: chunked (no Content-Length), in pieces of `chunkSize`. */
  chunked?: boolean;
  chunkSize?: number;
  timeoutMs?: number;
  /** A keep-alive agent to reuse connections; default: a fresh connection per request. */
  agent?: HttpAgent;
}

export interface HttpResult {
  status: number;
  headers: IncomingHttpHeaders;
  /** Body bytes as received. */
  rawBody: Buffer;
  /** Body after gunzip when Content-Encoding is gzip. */
  body: Buffer;
  /** The body decoded as ServerToAgent when Content-Type is protobuf and the body is non-empty. */
  serverToAgent?: ServerToAgent;
  /** The request body could not be fully written (server stopped reading); the status still counts. */
  writeError?: string;
  /** The request went over a kept-alive connection used before. */
  reusedSocket: boolean;
}

/**
 * One HTTP request on a fresh connection (no keep-alive pool), body sent exactly as given.
 * Resolves as soon as a complete response is read, even if the server closed the connection while
 * we were still writing (which is the expected behaviour for 413).
 */
export function httpRequest(url: string, opts: HttpOptions = {}): Promise<HttpResult> {
  return new Promise<HttpResult>((resolve, reject) => {
    const body = opts.body;
    const headers: Record<string, string | number> = { ...(opts.headers ?? {}) };
    const hasHeader = (name: string) => Object.keys(headers).some((k) => k.toLowerCase() === name);
    if (body && !opts.chunked && !hasHeader('content-length')) headers['Content-Length'] = body.length;
    let writeError: string | undefined;
    let settled = false;
    const fail = (err: Error): void => {
      if (settled) return;
      settled = true;
      reject(err);
    };
    const req = httpRequestRaw(url, { method: opts.method ?? 'POST', headers, agent: opts.agent ?? false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', (err) => fail(err));
      res.on('end', () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        const rawBody = Buffer.concat(chunks);
        let plain = rawBody;
        if (String(res.headers['content-encoding'] ?? '').toLowerCase() === 'gzip' && rawBody.length > 0)
          plain = gunzipSync(rawBody);
        const result: HttpResult = {
          status: res.statusCode ?? 0,
          headers: res.headers,
          rawBody,
          body: plain,
          writeError,
          reusedSocket: req.reusedSocket,
        };
        if (String(res.headers['content-type'] ?? '').startsWith(PROTOBUF) && plain.length > 0) {
          result.serverToAgent = decodeS2A(plain);
        }
        resolve(result);
        if (!opts.agent) req.destroy();
      });
    });
    const timer = setTimeout(() => {
      fail(new Error(`no complete HTTP response within ${opts.timeoutMs ?? 15_000} ms`));
      req.destroy();
    }, opts.timeoutMs ?? 15_000);
    req.on('error', (err: NodeJS.ErrnoException) => {
      // EPIPE/ECONNRESET while writing after the server already answered (413) is fine.
      writeError = err.code ?? err.message;
      setTimeout(() => fail(err), 200);
    });
    if (!body) {
      req.end();
      return;
    }
    if (!opts.chunked) {
      req.end(body);
      return;
    }
    const size = opts.chunkSize ?? 64 * 1024;
    let offset = 0;
    const pump = (): void => {
      while (offset < body.length) {
        const piece = body.subarray(offset, offset + size);
        offset += piece.length;
        if (req.destroyed) return;
        if (!req.write(piece)) {
          req.once('drain', pump);
          return;
        }
      }
      req.end();
    };
    pump();
  });
}

export interface OpampPostOptions {
  headers?: Record<string, string | number>;
  /** gzip the body and send Content-Encoding: gzip. */
  gzip?: boolean;
  /** Send Accept-Encoding (omitted by default, so responses come uncompressed). */
  acceptEncoding?: string;
  chunked?: boolean;
  timeoutMs?: number;
  agent?: HttpAgent;
}

/** POST one AgentToServer (given as bytes or as an init object) to the OpAMP HTTP endpoint. */
export function postOpamp(
  url: string,
  msg: Uint8Array | AgentToServerInit,
  opts: OpampPostOptions = {},
): Promise<HttpResult> {
  const bytes = msg instanceof Uint8Array ? msg : a2s(msg);
  const headers: Record<string, string | number> = { 'Content-Type': PROTOBUF, ...(opts.headers ?? {}) };
  let body = bytes;
  if (opts.gzip) {
    body = gzipSync(bytes);
    headers['Content-Encoding'] = 'gzip';
  }
  if (opts.acceptEncoding !== undefined) headers['Accept-Encoding'] = opts.acceptEncoding;
  return httpRequest(url, {
    method: 'POST',
    headers,
    body,
    chunked: opts.chunked,
    timeoutMs: opts.timeoutMs,
    agent: opts.agent,
  });
}
