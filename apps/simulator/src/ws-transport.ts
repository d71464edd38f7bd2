import WebSocket from 'ws';
import type { IncomingMessage } from 'node:http';
import { decodeWsFrame, encodeWsFrame } from '@opamp/protocol';
import { parseRetryAfter } from './backoff.js';
import {
  TransportError,
  authHeaders,
  endpointOf,
  type AgentTransport,
  type TransportHandlers,
  type TransportOptions,
} from './transport.js';

/** Spec-recommended message size limit (checklist §1.3); ws' own default is 100 MiB. */
const MAX_PAYLOAD = 64 * 1024 * 1024;
/** How long a close handshake may take before the socket is torn down. */
const CLOSE_TIMEOUT_MS = 2_000;

/**
 * OpAMP over WebSocket: binary messages `0x00 + protobuf` both ways. A refused upgrade (429/503
 * with Retry-After, 401...) rejects connect() with a TransportError carrying the status.
 */
export class WsTransport implements AgentTransport {
  readonly kind = 'ws' as const;
  private socket: WebSocket | undefined;
  private closing = false;

  constructor(
    private readonly opts: TransportOptions,
    private readonly handlers: TransportHandlers,
  ) {}

  get connected(): boolean {
    return this.socket?.readyState === WebSocket.OPEN;
  }

  connect(): Promise<void> {
    const previous = this.socket;
    if (previous) {
      previous.removeAllListeners();
      previous.on('error', () => undefined);
      previous.terminate();
    }
    this.closing = false;
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      let opened = false;
      const settle = (err?: Error): void => {
        if (settled) return;
        settled = true;
        if (err) reject(err);
        else resolve();
      };
      const ws = new WebSocket(endpointOf(this.opts), {
        headers: authHeaders(this.opts),
        localAddress: this.opts.localAddress,
        handshakeTimeout: this.opts.timeoutMs ?? 10_000,
        maxPayload: MAX_PAYLOAD,
        perMessageDeflate: false,
        followRedirects: true,
        maxRedirects: 3,
      });
      this.socket = ws;
      ws.binaryType = 'nodebuffer';

      ws.on('unexpected-response', (_req, res: IncomingMessage) => {
        const status = res.statusCode ?? 0;
        const retryAfter = parseRetryAfter(res.headers['retry-after'] as string | undefined);
        res.resume();
        ws.terminate();
        const throttled = status === 429 || status === 503;
        settle(
          new TransportError(
            `WebSocket upgrade refused with HTTP ${status}`,
            throttled ? 'throttled' : status >= 500 ? 'network' : 'rejected',
            status,
            throttled ? retryAfter : undefined,
          ),
        );
      });
      ws.on('open', () => {
        opened = true;
        settle();
      });
      ws.on('error', (err) => {
        if (!opened) {
          settle(new TransportError(`WebSocket connect failed: ${err.message}`, this.closing ? 'aborted' : 'network'));
        } else {
          this.handlers.onError(err);
        }
      });
      ws.on('message', (data, isBinary) => {
        if (!isBinary) {
          this.handlers.onError(new Error('received a text frame (OpAMP uses binary frames only)'));
          return;
        }
        const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
        const frame = decodeWsFrame(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength));
        if (!frame.ok) {
          this.handlers.onError(new Error(`malformed WebSocket message: ${frame.reason}`));
          return;
        }
        this.handlers.onMessage(frame.data);
      });
      ws.on('close', (code, reason) => {
        if (this.socket === ws) this.socket = undefined;
        if (!opened) {
          settle(new TransportError(`WebSocket closed during connect (${code})`, this.closing ? 'aborted' : 'network'));
          return;
        }
        if (!this.closing) this.handlers.onClose({ code, reason: reason.toString() });
      });
    });
  }

  send(bytes: Uint8Array): Promise<void> {
    const ws = this.socket;
    if (!ws || ws.readyState !== WebSocket.OPEN) {
      return Promise.reject(new TransportError('WebSocket is not open', 'network'));
    }
    return new Promise<void>((resolve, reject) => {
      ws.send(encodeWsFrame(bytes), { binary: true }, (err) => {
        if (err) reject(new TransportError(`WebSocket send failed: ${err.message}`, 'network'));
        else resolve();
      });
    });
  }

  close(code = 1000, reason = ''): Promise<void> {
    const ws = this.socket;
    this.closing = true;
    if (!ws) return Promise.resolve();
    if (ws.readyState === WebSocket.CLOSED) {
      this.socket = undefined;
      return Promise.resolve();
    }
    if (ws.readyState === WebSocket.CONNECTING) {
      ws.terminate();
      this.socket = undefined;
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        ws.terminate();
        resolve();
      }, CLOSE_TIMEOUT_MS);
      ws.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      ws.close(code, reason);
    }).finally(() => {
      if (this.socket === ws) this.socket = undefined;
    });
  }

  abort(): void {
    const ws = this.socket;
    if (ws && ws.readyState === WebSocket.CONNECTING) {
      this.closing = true;
      ws.terminate();
    }
  }
}
