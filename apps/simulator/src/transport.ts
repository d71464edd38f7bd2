// What a simulated agent needs from its OpAMP transport. Both transports move serialised protobuf
// bytes; encoding, decoding and all protocol decisions stay in SimulatedAgent.

export type TransportKind = 'ws' | 'http';

export interface TransportHandlers {
  /** A ServerToAgent arrived (bytes without any WS header). */
  onMessage(bytes: Uint8Array): void;
  /** The connection ended without us asking (WS only). */
  onClose(info: { code: number; reason: string }): void;
  /** A problem that does not end the connection (text frame, malformed frame...). */
  onError(err: Error): void;
}

export type TransportErrorKind =
  /** 429/503, possibly with Retry-After. */
  | 'throttled'
  /** Connection refused/reset, timeout, 5xx from a proxy: try again later. */
  | 'network'
  /** A definitive HTTP status that must not be retried (400, 401, 413...). */
  | 'rejected'
  /** We aborted the operation (stop/restart). */
  | 'aborted';

export class TransportError extends Error {
  constructor(
    message: string,
    readonly kind: TransportErrorKind,
    readonly status?: number,
    /** Server-requested minimum wait (Retry-After), ms. */
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = 'TransportError';
  }

  get retryable(): boolean {
    return this.kind === 'throttled' || this.kind === 'network';
  }
}

export interface AgentTransport {
  readonly kind: TransportKind;
  /** WS: the socket is open. HTTP: always true (every request stands alone). */
  readonly connected: boolean;
  /** WS: open the socket (rejects with TransportError on 429/503/401...). HTTP: nothing to do. */
  connect(): Promise<void>;
  /**
   * Sends one serialised AgentToServer. WS: resolves when written to the socket; replies arrive via
   * onMessage. HTTP: resolves after the reply has been handed to onMessage (one request in flight).
   */
  send(bytes: Uint8Array, uid: string): Promise<void>;
  /** Graceful close (WS close handshake with `code`). Idempotent. */
  close(code?: number, reason?: string): Promise<void>;
  /** Cancels a pending connect or HTTP request at once (stop/restart). */
  abort(): void;
}

export interface TransportOptions {
  /** The endpoint; a function is asked again for every connect / request (failover between endpoints). */
  url: string | (() => string);
  /** Sent as `Authorization: Bearer <token>`. */
  token?: string;
  /** Extra request headers (both transports). */
  headers?: Record<string, string>;
  /** Connect / request timeout, ms. */
  timeoutMs?: number;
  /**
   * Source address of the WS connection (e.g. 127.0.0.2): one source IP has only ~28k ephemeral
   * ports towards one server address, so load tests with more sockets spread them over several.
   * HTTP ignores it: fetch shares a keep-alive pool, which needs few connections.
   */
  localAddress?: string;
}

/** `url` is the agent's current endpoint, asked again for every connect / request. */
export type TransportFactory = (handlers: TransportHandlers, url: () => string) => AgentTransport;

/** The URL to use now. */
export function endpointOf(opts: TransportOptions): string {
  return typeof opts.url === 'function' ? opts.url() : opts.url;
}

export function authHeaders(opts: TransportOptions): Record<string, string> {
  const h: Record<string, string> = { ...opts.headers };
  if (opts.token) h.Authorization = `Bearer ${opts.token}`;
  return h;
}
