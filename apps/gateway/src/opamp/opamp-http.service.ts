import { Inject, Injectable, Logger } from '@nestjs/common';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { promisify } from 'node:util';
import { gzip, gzipSync } from 'node:zlib';
import { Transport } from '@opamp/proto';
import {
  PROTOBUF_CONTENT_TYPE,
  acceptsGzip,
  gunzipBounded,
  isProtobufContentType,
  uidEquals,
  uidFromString,
  uidToHex,
} from '@opamp/protocol';
import { AdmissionService } from '../admission/admission.service.js';
import { GatewayBusService } from '../bus/gateway-bus.service.js';
import { GATEWAY_CONFIG, type GatewayConfig } from '../gateway.config.js';
import { AgentAuthService } from './agent-auth.service.js';
import { gatewayMetrics } from './gateway.metrics.js';
import { IngressService } from './ingress.service.js';

const gzipAsync = promisify(gzip);
/**
 * Replies up to this size are gzipped on the event loop: a typical reply (a few hundred bytes)
 * takes ~30 µs that way, while the thread-pool round trip of async gzip costs ~200 µs and most
 * of it on the event loop too (npm run bench, scenario c). Bigger ones go to the thread pool.
 */
const SYNC_GZIP_MAX_BYTES = 64 * 1024;
/** How long an HTTP agent counts as "known" to this pod (first-contact admission). */
const KNOWN_AGENT_TTL_MS = 5 * 60_000;
const KNOWN_AGENT_CAP = 200_000;
/** How long the rest of an oversized body is discarded before the connection is dropped. */
const OVERSIZE_DISCARD_MS = 5_000;

type BodyResult = { ok: true; body: Buffer } | { ok: false; status: 400 | 413 | 415; detail: string };

/**
 * OpAMP plain-HTTP transport (checklist §1.2). One POST carries one AgentToServer; the answer is
 * the fleet's ServerToAgent for it, held here until it arrives on this pod's outbound stream.
 */
@Injectable()
export class OpampHttpService {
  private readonly logger = new Logger('OpampHttp');
  /** uid hex → last seen (ms); insertion order doubles as LRU order. */
  private readonly knownAgents = new Map<string, number>();
  private inFlight = 0;

  constructor(
    @Inject(GATEWAY_CONFIG) private readonly config: GatewayConfig,
    private readonly admission: AdmissionService,
    private readonly auth: AgentAuthService,
    private readonly ingress: IngressService,
    private readonly bus: GatewayBusService,
  ) {}

  get requestsInFlight(): number {
    return this.inFlight;
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.inFlight++;
    try {
      await this.process(req, res);
    } catch (err) {
      this.logger.error(`unexpected error: ${(err as Error).stack ?? String(err)}`);
      if (!res.headersSent) this.empty(res, 500);
    } finally {
      this.inFlight--;
    }
  }

  private async process(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== 'POST') return this.empty(res, 405, { Allow: 'POST' });
    const verdict = this.auth.authenticate(req.headers);
    const auth = verdict instanceof Promise ? await verdict : verdict;
    if (!auth.ok) {
      // The body is not read: Node drains or drops it after the response.
      return auth.status === 401
        ? this.empty(res, 401, { 'WWW-Authenticate': 'Bearer realm="opamp"' })
        : this.retryLater(res, 503, this.admission.retryAfterSeconds());
    }
    if (!isProtobufContentType(req.headers['content-type'])) {
      return this.problem(res, 415, `Content-Type must be ${PROTOBUF_CONTENT_TYPE}`);
    }
    const overload = this.admission.admitMessage();
    if (!overload.admitted) return this.retryLater(res, overload.status, overload.retryAfterSeconds);

    const body = await this.readBody(req);
    if (!body.ok) {
      if (body.status === 413) this.discardRestOfBody(req);
      return this.problem(res, body.status, body.detail);
    }

    const parsed = this.ingress.parse(body.body);
    if (parsed.kind === 'undecodable') {
      gatewayMetrics.malformed.inc({ transport: 'http', reason: 'decode' });
      // Cannot decode: HTTP 400, with a ServerToAgent BAD_REQUEST body for agents that read it.
      return this.protobuf(req, res, 400, this.ingress.badRequestBytes(new Uint8Array(0), parsed.reason));
    }
    if (parsed.kind === 'invalid') {
      gatewayMetrics.malformed.inc({ transport: 'http', reason: 'uid' });
      return this.protobuf(req, res, 200, this.ingress.badRequestBytes(parsed.uid, parsed.reason));
    }

    this.checkUidHeader(req, parsed.uid);
    const uidKey = uidToHex(parsed.uid);
    if (!this.isKnown(uidKey)) {
      const decision = this.admission.admitNewContact();
      if (!decision.admitted) return this.retryLater(res, decision.status, decision.retryAfterSeconds);
    }
    this.remember(uidKey);

    const started = process.hrtime.bigint();
    const requestId = this.bus.pending.nextId();
    const reply = this.bus.pending.wait(requestId);
    try {
      await this.ingress.forward(parsed.uid, body.body, {
        transport: Transport.HTTP,
        connectionId: requestId,
        requestId,
        enrollmentTokenId: auth.tokenId,
      });
    } catch (err) {
      this.bus.pending.cancel(requestId);
      this.logger.warn(`cannot append to the bus: ${(err as Error).message}`);
      return this.retryLater(res, 503, this.admission.retryAfterSeconds());
    }
    const envelope = await reply;
    if (!envelope) {
      // The fleet did not answer in time: never hang the agent, tell it when to come back.
      return this.retryLater(res, 503, this.admission.retryAfterSeconds());
    }
    gatewayMetrics.httpRoundTrip.observe(Number(process.hrtime.bigint() - started) / 1e9);
    if (envelope.serverToAgent.byteLength > this.config.OPAMP_MAX_MESSAGE_BYTES) {
      gatewayMetrics.outboundDropped.inc({ reason: 'too_large' });
      this.logger.error(`ServerToAgent of ${envelope.serverToAgent.byteLength} bytes exceeds the limit; answering 500`);
      return this.empty(res, 500);
    }
    gatewayMetrics.messagesOut.inc({ transport: 'http' });
    return this.protobuf(req, res, 200, envelope.serverToAgent);
  }

  /** Reads the body with both limits: compressed bytes on the wire and bytes after gunzip. */
  private async readBody(req: IncomingMessage): Promise<BodyResult> {
    const limit = this.config.OPAMP_MAX_MESSAGE_BYTES;
    const encoding = (req.headers['content-encoding'] ?? 'identity').trim().toLowerCase();
    if (encoding !== 'gzip' && encoding !== 'identity') {
      return { ok: false, status: 415, detail: `unsupported Content-Encoding "${encoding}" (gzip or identity)` };
    }
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > limit) {
      return { ok: false, status: 413, detail: `body of ${declared} bytes exceeds the limit of ${limit}` };
    }
    // Not `for await`: leaving that loop early destroys the request and with it the socket, so the
    // agent would see a reset instead of the 413 (and retry the same oversized request).
    const chunks: Buffer[] = [];
    let size = 0;
    const complete = await new Promise<boolean>((resolve, reject) => {
      const done = (): void => {
        req.off('data', onData);
        req.off('end', onEnd);
        req.off('error', onError);
      };
      const onData = (chunk: Buffer): void => {
        size += chunk.byteLength;
        if (size > limit) {
          done();
          resolve(false);
          return;
        }
        chunks.push(chunk);
      };
      const onEnd = (): void => {
        done();
        resolve(true);
      };
      const onError = (err: Error): void => {
        done();
        reject(err);
      };
      req.on('data', onData);
      req.once('end', onEnd);
      req.once('error', onError);
    });
    if (!complete) return { ok: false, status: 413, detail: `body exceeds the limit of ${limit} bytes` };
    const raw = Buffer.concat(chunks, size);
    if (encoding !== 'gzip') return { ok: true, body: raw };
    const inflated = await gunzipBounded(raw, limit);
    if (inflated.ok) return { ok: true, body: inflated.data };
    return inflated.reason === 'too_large'
      ? { ok: false, status: 413, detail: `decompressed body exceeds the limit of ${limit} bytes` }
      : { ok: false, status: 400, detail: 'Content-Encoding is gzip but the body is not a valid gzip stream' };
  }

  private checkUidHeader(req: IncomingMessage, uid: Uint8Array): void {
    const header = req.headers['opamp-instance-uid'];
    if (typeof header !== 'string') return;
    const fromHeader = uidFromString(header);
    // Policy: the body is authoritative; a mismatch is counted and logged, not refused.
    if (!fromHeader || !uidEquals(fromHeader, uid)) {
      gatewayMetrics.uidHeaderMismatch.inc();
      this.logger.debug(`OpAMP-Instance-UID header ${header} does not match body uid ${uidToHex(uid)}`);
    }
  }

  private isKnown(key: string): boolean {
    const seen = this.knownAgents.get(key);
    return seen !== undefined && Date.now() - seen < KNOWN_AGENT_TTL_MS;
  }

  private remember(key: string): void {
    this.knownAgents.delete(key);
    this.knownAgents.set(key, Date.now());
    if (this.knownAgents.size > KNOWN_AGENT_CAP) {
      const oldest = this.knownAgents.keys().next().value;
      if (oldest !== undefined) this.knownAgents.delete(oldest);
    }
  }

  private async protobuf(req: IncomingMessage, res: ServerResponse, status: number, body: Uint8Array): Promise<void> {
    const headers: Record<string, string | number> = { 'Content-Type': PROTOBUF_CONTENT_TYPE };
    let payload: Uint8Array = body;
    if (acceptsGzip(req.headers['accept-encoding'])) {
      payload = body.byteLength <= SYNC_GZIP_MAX_BYTES ? gzipSync(body) : await gzipAsync(body);
      headers['Content-Encoding'] = 'gzip';
    }
    headers['Content-Length'] = payload.byteLength;
    headers.Vary = 'Accept-Encoding';
    gatewayMetrics.httpResponses.inc({ status: String(status) });
    res.writeHead(status, headers);
    res.end(payload);
  }

  private retryLater(res: ServerResponse, status: 429 | 503, retryAfterSeconds: number): void {
    this.empty(res, status, { 'Retry-After': String(retryAfterSeconds) });
  }

  private problem(res: ServerResponse, status: 400 | 413 | 415, detail: string): void {
    gatewayMetrics.httpResponses.inc({ status: String(status) });
    const body = JSON.stringify({ type: 'about:blank', title: titles[status], status, detail });
    res.writeHead(status, {
      'Content-Type': 'application/problem+json',
      'Content-Length': Buffer.byteLength(body),
    });
    res.end(body);
  }

  /**
   * After a 413 the rest of the body is read and thrown away (never buffered) for a bounded time.
   * Closing a socket while the agent is still uploading makes the kernel answer with a reset, which
   * can destroy the 413 before the agent reads it (the agent then retries the same oversized
   * request). So the socket is only closed once the upload is over, or destroyed after
   * OVERSIZE_DISCARD_MS. When the agent sent `Connection: close`, Node would close the socket right
   * after the response (destroySoon); for this socket that becomes a half-close (lingering close).
   */
  private discardRestOfBody(req: IncomingMessage): void {
    req.on('error', () => undefined);
    if (req.complete) {
      req.resume(); // everything arrived (gzip over the limit after inflating): nothing to wait for
      return;
    }
    const socket = req.socket;
    socket.destroySoon = () => void socket.end();
    const timer = setTimeout(() => socket.destroy(), OVERSIZE_DISCARD_MS);
    timer.unref();
    const uploadOver = (): void => {
      clearTimeout(timer);
      // The body is fully read: closing now cannot reset the connection any more.
      delete (socket as Partial<Pick<typeof socket, 'destroySoon'>>).destroySoon;
      if (!socket.writable) socket.destroy();
    };
    req.once('end', uploadOver);
    socket.once('close', () => clearTimeout(timer));
    req.resume();
  }

  private empty(res: ServerResponse, status: number, headers: Record<string, string> = {}): void {
    gatewayMetrics.httpResponses.inc({ status: String(status) });
    res.writeHead(status, { 'Content-Length': 0, ...headers });
    res.end();
  }
}

const titles: Record<number, string> = { 400: 'Bad Request', 413: 'Content Too Large', 415: 'Unsupported Media Type' };
