import { gzipSync } from 'node:zlib';
import { PROTOBUF_CONTENT_TYPE } from '@opamp/protocol';
import { parseRetryAfter } from './backoff.js';
import {
  TransportError,
  authHeaders,
  endpointOf,
  type AgentTransport,
  type TransportHandlers,
  type TransportOptions,
} from './transport.js';

export interface HttpTransportOptions extends TransportOptions {
  /** gzip request bodies (Content-Encoding: gzip). */
  gzip?: boolean;
}

/**
 * OpAMP over plain HTTP: every AgentToServer is one POST with Content-Type application/x-protobuf,
 * answered by one ServerToAgent. The agent never has two requests in flight (send() resolves only
 * after the reply was handed over), and the poll timer lives in SimulatedAgent.
 *
 * Status handling follows the opamp-go client: only 200 is success; 429/503 are retried after
 * max(backoff, Retry-After); other statuses fail that message without retry (413 explicitly must
 * not be retried). 502/504 from a proxy in front of restarting gateways count as network errors.
 */
export class HttpTransport implements AgentTransport {
  readonly kind = 'http' as const;
  readonly connected = true;
  private inFlight: AbortController | undefined;

  constructor(
    private readonly opts: HttpTransportOptions,
    private readonly handlers: TransportHandlers,
  ) {}

  connect(): Promise<void> {
    return Promise.resolve();
  }

  async send(bytes: Uint8Array, uid: string): Promise<void> {
    if (this.inFlight) throw new Error('HttpTransport: a request is already in flight');
    const controller = new AbortController();
    this.inFlight = controller;
    const timeout = setTimeout(() => controller.abort(new Error('timeout')), this.opts.timeoutMs ?? 30_000);
    try {
      const headers: Record<string, string> = {
        ...authHeaders(this.opts),
        'Content-Type': PROTOBUF_CONTENT_TYPE,
        'OpAMP-Instance-UID': uid,
        'Accept-Encoding': 'gzip',
      };
      let body: Uint8Array = bytes;
      if (this.opts.gzip) {
        body = gzipSync(bytes);
        headers['Content-Encoding'] = 'gzip';
      }
      let res: Response;
      try {
        res = await fetch(endpointOf(this.opts), { method: 'POST', headers, body, signal: controller.signal });
      } catch (err) {
        if (
          controller.signal.aborted &&
          controller.signal.reason instanceof Error &&
          controller.signal.reason.message === 'timeout'
        ) {
          throw new TransportError('HTTP request timed out', 'network');
        }
        if (controller.signal.aborted) throw new TransportError('HTTP request aborted', 'aborted');
        const cause = (err as Error & { cause?: Error }).cause;
        throw new TransportError(`HTTP request failed: ${cause?.message ?? (err as Error).message}`, 'network');
      }
      let reply: Uint8Array;
      try {
        reply = new Uint8Array(await res.arrayBuffer());
      } catch (err) {
        throw new TransportError(
          `HTTP response body failed: ${(err as Error).message}`,
          controller.signal.aborted ? 'aborted' : 'network',
        );
      }
      if (res.status === 200) {
        this.handlers.onMessage(reply);
        return;
      }
      if (res.status === 429 || res.status === 503) {
        throw new TransportError(
          `HTTP ${res.status}`,
          'throttled',
          res.status,
          parseRetryAfter(res.headers.get('retry-after')),
        );
      }
      if (res.status === 502 || res.status === 504) {
        throw new TransportError(`HTTP ${res.status}`, 'network', res.status);
      }
      throw new TransportError(`HTTP ${res.status}`, 'rejected', res.status);
    } finally {
      clearTimeout(timeout);
      this.inFlight = undefined;
    }
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  abort(): void {
    this.inFlight?.abort();
  }
}
