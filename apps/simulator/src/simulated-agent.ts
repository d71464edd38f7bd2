// One simulated OpAMP agent (think: a Fluent Bit with an OpAMP supervisor), usable from the CLI,
// tests and benchmarks. It speaks the protocol the way the opamp-go client does (checklist §3, §4.3):
//
//  - instance_uid is a UUIDv7; sequence_num starts at 0 per process and grows by 1 for every message;
//  - the first message of a process is a full status report; a WS reconnect sends a compressed one
//    (only what changed), and the server is expected to ask for ReportFullState if it needs more;
//  - heartbeats (WS) / polls (HTTP) every interval, counted from the last message sent; an offered
//    heartbeat_interval_seconds is honoured when ReportsHeartbeat is set;
//  - remote config: APPLYING, then APPLIED + the new effective config (or FAILED with an error);
//  - restart command: agent_disconnect, close, then a new process (seq 0, full report);
//  - custom commands (optional): replies by the convention of docs/commands.md;
//  - throttling: UNAVAILABLE + retry_info, 429/503 + Retry-After, exponential backoff with jitter;
//  - agent_disconnect + WS close 1000 on stop().
//
// All state changes run on one promise chain per agent, so a reply, a timer and a socket event are
// never processed concurrently and messages leave in sequence order.
import { EventEmitter } from 'node:events';
import { create, toBinary, type MessageInitShape } from '@bufbuild/protobuf';
import {
  AgentToServerSchema,
  ConnectionSettingsStatuses,
  RemoteConfigStatuses,
  ServerErrorResponseType,
  type AgentDescriptionSchema,
  type AgentRemoteConfig,
  type AgentToServer,
  type AvailableComponentsSchema,
  type ComponentHealthSchema,
  type CustomMessage,
  type KeyValueSchema,
  type ServerToAgent,
} from '@opamp/proto';
import {
  AgentCapability,
  AgentToServerFlag,
  ServerToAgentFlag,
  decodeServerToAgent,
  hasCapability,
  isValidUid,
  uidEquals,
  uidToString,
  uuidv7,
} from '@opamp/protocol';
import { Backoff, DEFAULT_BACKOFF, type BackoffOptions } from './backoff.js';
import { decideCommandReply } from './command-replies.js';
import { EndpointList } from './endpoints.js';
import { HttpTransport } from './http-transport.js';
import {
  TransportError,
  type AgentTransport,
  type TransportFactory,
  type TransportHandlers,
  type TransportKind,
} from './transport.js';
import { WsTransport } from './ws-transport.js';

/** Custom capability every simulated agent declares by default; messages for it are echoed back. */
export const ECHO_CAPABILITY = 'io.opampcp.simulator.echo';

/**
 * Default capabilities: status, remote config (accept + report), effective config, health, restart,
 * OpAMP connection settings (needed to receive a heartbeat interval offer) and heartbeats.
 */
export const DEFAULT_AGENT_CAPABILITIES: bigint =
  AgentCapability.ReportsStatus |
  AgentCapability.AcceptsRemoteConfig |
  AgentCapability.ReportsEffectiveConfig |
  AgentCapability.AcceptsOpAMPConnectionSettings |
  AgentCapability.AcceptsRestartCommand |
  AgentCapability.ReportsHealth |
  AgentCapability.ReportsRemoteConfig |
  AgentCapability.ReportsHeartbeat;

export interface ConfigFile {
  body: Uint8Array;
  contentType: string;
}

export interface SimulatedAgentOptions {
  /** OpAMP endpoint: ws(s)://host:4320/v1/opamp or http(s)://host:4320/v1/opamp. */
  url: string;
  /**
   * Further endpoints of the same control plane (other gateway pods). When the current endpoint
   * cannot be reached (connection refused or lost, timeout, 429/503, WS close 1001/1006), the agent
   * moves to the next one, round robin, still pacing its retries with the backoff.
   */
  failoverUrls?: string[];
  transport: TransportKind;
  /** AgentCapabilities bits; ReportsStatus is always added. Default {@link DEFAULT_AGENT_CAPABILITIES}. */
  capabilities?: bigint;
  /** Fixed instance_uid (16 bytes); default a fresh UUIDv7. */
  uid?: Uint8Array;
  /** Ask the server to assign a uid (flags RequestInstanceUid) until it does. */
  requestInstanceUid?: boolean;
  serviceName?: string;
  serviceVersion?: string;
  hostName?: string;
  osType?: string;
  /** Reported as non-identifying attributes (used by label selectors). */
  labels?: Record<string, string>;
  /** Heartbeat (WS) / poll (HTTP) interval until the server offers one. Default 30; fractions allowed. */
  heartbeatSeconds?: number;
  /** Report FAILED for every remote config instead of applying it (see failConfigMatching). */
  failConfig?: boolean;
  /**
   * With failConfig: fail only configs one of whose file bodies contains this text (a config that
   * is bad for some agents only, e.g. an option their version lacks). Default: fail every config.
   */
  failConfigMatching?: string;
  /** Time between reporting APPLYING and APPLIED/FAILED. Default 100 ms. */
  applyDelayMs?: number;
  /** Downtime of a simulated restart. Default 1000 ms. */
  restartDelayMs?: number;
  /** Custom capabilities to declare. Default [ECHO_CAPABILITY]. */
  customCapabilities?: string[];
  /** Echo custom messages of a declared capability back to the server. Default true. */
  echoCustomMessages?: boolean;
  /**
   * Answer custom commands (data: JSON with a `commandId`) by the reply convention of
   * docs/commands.md instead of echoing them: status "succeeded" with a result, "failed" for
   * `failCommandTypes`, and no answer at all for `ignoreCommandTypes`. Default false.
   */
  commandReplies?: boolean;
  /** With commandReplies: message types answered with status "failed". */
  failCommandTypes?: string[];
  /** With commandReplies: message types never answered (the server times the command out). */
  ignoreCommandTypes?: string[];
  /** Send a full report after every WS reconnect instead of a compressed one. Default false. */
  fullStateOnReconnect?: boolean;
  /** Effective config of a fresh agent. Default: one fluent-bit YAML file. */
  initialConfig?: Record<string, ConfigFile>;
  /** Bearer token for the transport. */
  token?: string;
  /** gzip HTTP request bodies. */
  gzip?: boolean;
  /** Connect / request timeout, ms. Default 10 s (WS handshake) / 30 s (HTTP). */
  timeoutMs?: number;
  /** Source address of the WS connection (see TransportOptions.localAddress). */
  localAddress?: string;
  backoff?: Partial<BackoffOptions>;
  /** Replace the network transport (tests). */
  transportFactory?: TransportFactory;
  random?: () => number;
}

export type AgentState = 'idle' | 'connecting' | 'connected' | 'backoff' | 'restarting' | 'stopping' | 'stopped';

export interface AgentStats {
  messagesSent: number;
  bytesSent: number;
  repliesReceived: number;
  errors: number;
  connects: number;
  disconnects: number;
  reconnectAttempts: number;
  throttled: number;
  fullStateRequests: number;
  configsApplied: number;
  configsFailed: number;
  /** ServerToAgent messages that carried a remote_config (offers, including repeated ones). */
  configsReceived: number;
  restarts: number;
  uidChanges: number;
  customMessagesReceived: number;
}

/** All counters at zero (one agent's start, or the base of a fleet-wide sum). */
export function emptyAgentStats(): AgentStats {
  return {
    messagesSent: 0,
    bytesSent: 0,
    repliesReceived: 0,
    errors: 0,
    connects: 0,
    disconnects: 0,
    reconnectAttempts: 0,
    throttled: 0,
    fullStateRequests: 0,
    configsApplied: 0,
    configsFailed: 0,
    configsReceived: 0,
    restarts: 0,
    uidChanges: 0,
    customMessagesReceived: 0,
  };
}

export interface SimulatedAgentEvents {
  connected: [];
  disconnected: [info: { code: number; reason: string }];
  sent: [message: AgentToServer];
  message: [message: ServerToAgent];
  /** Something went wrong (transport failure, error_response, malformed reply). Never fatal. */
  problem: [error: Error];
  uidChanged: [newUid: string, oldUid: string];
  restarted: [];
  remoteConfigStatus: [status: RemoteConfigStatuses, hash: Uint8Array, errorMessage: string];
  customMessage: [message: CustomMessage];
  stopped: [];
  /** The agent moved to another endpoint after a connection failure. */
  failover: [to: string, from: string];
}

interface Dirty {
  description: boolean;
  health: boolean;
  effectiveConfig: boolean;
  remoteConfigStatus: boolean;
  customCapabilities: boolean;
  availableComponents: boolean;
  connectionSettingsStatus: boolean;
}

const CLEAN: Dirty = Object.freeze({
  description: false,
  health: false,
  effectiveConfig: false,
  remoteConfigStatus: false,
  customCapabilities: false,
  availableComponents: false,
  connectionSettingsStatus: false,
});

const MAX_OUTBOUND_CUSTOM = 100;
const DISCONNECT_TIMEOUT_MS = 2_000;
const utf8 = new TextEncoder();

function defaultConfig(serviceName: string): Record<string, ConfigFile> {
  const yaml = [
    'service:',
    '  flush: 1',
    '  log_level: info',
    'pipeline:',
    '  inputs:',
    '    - name: tail',
    '      path: /var/log/containers/*.log',
    '  outputs:',
    '    - name: forward',
    '      match: "*"',
    '      host: aggregator',
    '',
  ].join('\n');
  return { [`${serviceName}.yaml`]: { body: utf8.encode(yaml), contentType: 'text/yaml' } };
}

const str = (key: string, value: string): MessageInitShape<typeof KeyValueSchema> => ({
  key,
  value: { value: { case: 'stringValue', value } },
});

function nowNanos(): bigint {
  return BigInt(Date.now()) * 1_000_000n;
}

function copyBytes(b: Uint8Array): Uint8Array {
  return new Uint8Array(b);
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/**
 * Deterministic choice of which agents fail remote configs: agent `index` (0-based) fails iff the
 * running total floor((i+1)·p/100) steps at i. Exactly floor(n·p/100) of the first n agents fail,
 * spread evenly, and the same index always gives the same answer.
 */
export function shouldFailConfig(index: number, percent: number): boolean {
  if (!(percent > 0)) return false;
  if (percent >= 100) return true;
  return Math.floor(((index + 1) * percent) / 100) > Math.floor((index * percent) / 100);
}

export class SimulatedAgent extends EventEmitter<SimulatedAgentEvents> {
  readonly stats: AgentStats = emptyAgentStats();

  private readonly opts: SimulatedAgentOptions;
  private readonly transport: AgentTransport;
  private readonly backoff: Backoff;
  private readonly endpoints: EndpointList;
  private readonly serviceInstanceId: string;

  private uidBytes: Uint8Array;
  private previousUid: Uint8Array | undefined;
  private requestUid: boolean;
  private seq = 0n;
  private capabilitiesValue: bigint;
  private stateValue: AgentState = 'idle';
  /** Bumped by stop/restart so that timers and tasks of an earlier process or connection do nothing. */
  private gen = 0;
  private chain: Promise<void> = Promise.resolve();
  private stopPromise: Promise<void> | undefined;

  // What the next message must carry.
  private fullReportPending = true;
  private dirty: Dirty = { ...CLEAN };
  private fullComponentsPending = false;
  private readonly outboundCustom: Array<{ capability: string; type: string; data: Uint8Array }> = [];
  private sendWanted = false;
  /** Generation for which a flush task is queued (-1: none). */
  private flushQueuedGen = -1;

  // Agent status (survives restarts, like a real agent's persisted state).
  private processStartNanos = nowNanos();
  private healthy = true;
  private lastError = '';
  private effectiveConfig: Record<string, ConfigFile>;
  private remoteStatus: { hash: Uint8Array; status: RemoteConfigStatuses; errorMessage: string } = {
    hash: new Uint8Array(0),
    status: RemoteConfigStatuses.RemoteConfigStatuses_UNSET,
    errorMessage: '',
  };
  private connectionSettingsHash: Uint8Array | undefined;
  private readonly customCapabilities: string[];
  private serverCapabilitiesValue = 0n;

  // Timers.
  private heartbeatMs: number;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private applyTimer: NodeJS.Timeout | undefined;
  private applying: { token: number; config: AgentRemoteConfig } | undefined;
  private applyToken = 0;
  /** Set by an HTTP reply carrying UNAVAILABLE: resend the same message after this delay (ms, or -1 for backoff). */
  private httpUnavailableMs: number | undefined;
  private connectionsThisProcess = 0;
  private repliesThisConnection = 0;
  private httpHealthy = false;

  constructor(options: SimulatedAgentOptions) {
    super();
    this.opts = options;
    this.uidBytes = options.uid ? copyBytes(options.uid) : uuidv7();
    if (!isValidUid(this.uidBytes)) throw new Error('SimulatedAgent: uid must be 16 bytes and not all zero');
    this.serviceInstanceId = uidToString(this.uidBytes);
    this.requestUid = options.requestInstanceUid ?? false;
    this.capabilitiesValue = (options.capabilities ?? DEFAULT_AGENT_CAPABILITIES) | AgentCapability.ReportsStatus;
    this.heartbeatMs = Math.round((options.heartbeatSeconds ?? 30) * 1000);
    this.customCapabilities = [...(options.customCapabilities ?? [ECHO_CAPABILITY])];
    this.effectiveConfig = options.initialConfig ?? defaultConfig(options.serviceName ?? 'fluent-bit');
    this.backoff = new Backoff({ ...DEFAULT_BACKOFF, ...options.backoff }, options.random);
    this.endpoints = new EndpointList([options.url, ...(options.failoverUrls ?? [])]);
    const handlers: TransportHandlers = {
      onMessage: (bytes) => this.onTransportMessage(bytes),
      onClose: (info) => this.onTransportClose(info),
      onError: (err) => this.problem(err),
    };
    const topts = {
      url: () => this.endpoints.current,
      token: options.token,
      timeoutMs: options.timeoutMs,
      localAddress: options.localAddress,
    };
    this.transport = options.transportFactory
      ? options.transportFactory(handlers, () => this.endpoints.current)
      : options.transport === 'ws'
        ? new WsTransport(topts, handlers)
        : new HttpTransport({ ...topts, gzip: options.gzip }, handlers);
  }

  // ---------------------------------------------------------------- public surface

  /** The endpoint the agent uses now (changes on failover). */
  get endpoint(): string {
    return this.endpoints.current;
  }

  /** Current instance_uid in canonical form. */
  get uid(): string {
    return uidToString(this.uidBytes);
  }

  get uidBytesCopy(): Uint8Array {
    return copyBytes(this.uidBytes);
  }

  get state(): AgentState {
    return this.stateValue;
  }

  /** WS: the socket is open. HTTP: the last request got a 200 (not in backoff, not failing). */
  get connected(): boolean {
    return this.stateValue === 'connected' && (this.transport.kind === 'ws' || this.httpHealthy);
  }

  /** sequence_num the next message will carry. */
  get nextSequenceNum(): bigint {
    return this.seq;
  }

  get capabilities(): bigint {
    return this.capabilitiesValue;
  }

  get serverCapabilities(): bigint {
    return this.serverCapabilitiesValue;
  }

  /** Current heartbeat / poll interval, ms (0 = heartbeats off). */
  get heartbeatIntervalMs(): number {
    return this.heartbeatMs;
  }

  get remoteConfigStatus(): { hash: Uint8Array; status: RemoteConfigStatuses; errorMessage: string } {
    return { ...this.remoteStatus, hash: copyBytes(this.remoteStatus.hash) };
  }

  get effectiveConfigFiles(): Readonly<Record<string, ConfigFile>> {
    return this.effectiveConfig;
  }

  /** Starts the agent process: connect (with retries) and send the first full status report. */
  start(): Promise<void> {
    if (this.stateValue !== 'idle' && this.stateValue !== 'stopped') {
      return Promise.reject(new Error(`SimulatedAgent.start() in state ${this.stateValue}`));
    }
    this.stopPromise = undefined;
    this.newProcess();
    const gen = this.gen;
    return this.run(() => this.connect(gen));
  }

  /** agent_disconnect, WS close 1000, stop all timers. Idempotent. */
  stop(): Promise<void> {
    if (this.stopPromise) return this.stopPromise;
    if (this.stateValue === 'idle' || this.stateValue === 'stopped') {
      this.stateValue = 'stopped';
      return (this.stopPromise = Promise.resolve());
    }
    const wasConnected = this.stateValue === 'connected';
    this.stateValue = 'stopping';
    this.gen++;
    this.clearTimers();
    // A pending connect or HTTP request would otherwise hold the chain for up to its timeout.
    if (!wasConnected || this.transport.kind === 'http') this.transport.abort();
    this.stopPromise = this.run(async () => {
      if (wasConnected) await this.sendDisconnect();
      await this.transport.close(1000, 'agent shutting down').catch(() => undefined);
      this.stateValue = 'stopped';
      this.emit('stopped');
    });
    return this.stopPromise;
  }

  /** Changes the health report (sent with the next message). */
  setHealth(healthy: boolean, lastError = ''): void {
    void this.run(() => {
      this.healthy = healthy;
      this.lastError = healthy ? '' : lastError;
      this.dirty.health = true;
      this.requestSend();
    });
  }

  /** Queues a custom message to the server (one per AgentToServer). */
  sendCustomMessage(capability: string, type: string, data: Uint8Array): void {
    void this.run(() => {
      this.queueCustom({ capability, type, data });
      this.requestSend();
    });
  }

  /** Sends a message now (whatever is pending, else a heartbeat). */
  heartbeatNow(): void {
    void this.run(() => this.requestSend());
  }

  /**
   * Resolves with the arguments of the next `event` for which `predicate` holds; rejects after
   * `timeoutMs`. Register before triggering the action you wait for.
   */
  waitFor<K extends keyof SimulatedAgentEvents>(
    event: K,
    predicate: (...args: SimulatedAgentEvents[K]) => boolean = () => true,
    timeoutMs = 10_000,
  ): Promise<SimulatedAgentEvents[K]> {
    return new Promise((resolve, reject) => {
      const listener = (...args: SimulatedAgentEvents[K]): void => {
        if (!predicate(...args)) return;
        cleanup();
        resolve(args);
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for "${String(event)}" on agent ${this.uid}`));
      }, timeoutMs);
      const cleanup = (): void => {
        clearTimeout(timer);
        // EventEmitter's generic typing cannot relate K to the listener's parameter tuple.
        (this as EventEmitter).off(event as string, listener as (...a: unknown[]) => void);
      };
      (this as EventEmitter).on(event as string, listener as (...a: unknown[]) => void);
    });
  }

  /** The next ServerToAgent matching `predicate`. */
  async nextMessage(predicate?: (m: ServerToAgent) => boolean, timeoutMs?: number): Promise<ServerToAgent> {
    const [m] = await this.waitFor('message', predicate, timeoutMs);
    return m;
  }

  // ---------------------------------------------------------------- lifecycle

  private run(task: () => Promise<void> | void): Promise<void> {
    const next = this.chain
      .then(task)
      .catch((err: unknown) => this.problem(err instanceof Error ? err : new Error(String(err))));
    this.chain = next;
    return next;
  }

  private newProcess(): void {
    this.gen++;
    this.clearTimers();
    // A config being applied when the process went down is finished first (as if applied on exit).
    if (this.applying) this.finishApply(this.applying.token);
    this.seq = 0n;
    this.fullReportPending = true;
    this.fullComponentsPending = false;
    this.dirty = { ...CLEAN };
    this.outboundCustom.length = 0;
    this.sendWanted = false;
    this.httpUnavailableMs = undefined;
    this.processStartNanos = nowNanos();
    this.connectionsThisProcess = 0;
    this.httpHealthy = false;
    this.backoff.reset();
    this.previousUid = undefined;
  }

  /** The current endpoint failed: the next attempt goes to the next one (when there is another). */
  private failover(): void {
    const from = this.endpoints.current;
    const to = this.endpoints.failover();
    if (to !== undefined) this.emit('failover', to, from);
  }

  /** Counts and reports a transport failure; undefined when it no longer matters (stale generation, aborted). */
  private transportFailure(gen: number, err: unknown): TransportError | undefined {
    if (gen !== this.gen) return undefined;
    const te = toTransportError(err);
    if (te.kind === 'aborted') return undefined;
    this.stats.errors++;
    if (te.kind === 'throttled') this.stats.throttled++;
    this.problem(te);
    return te;
  }

  private async connect(gen: number): Promise<void> {
    if (gen !== this.gen) return;
    this.stateValue = 'connecting';
    try {
      await this.transport.connect();
    } catch (err) {
      const te = this.transportFailure(gen, err);
      if (!te) return;
      if (te.retryable) this.failover();
      this.scheduleReconnect(gen, te.retryAfterMs);
      return;
    }
    if (gen !== this.gen) {
      await this.transport.close(1000, '').catch(() => undefined);
      return;
    }
    this.stateValue = 'connected';
    this.stats.connects++;
    this.repliesThisConnection = 0;
    if (this.connectionsThisProcess > 0 && this.opts.fullStateOnReconnect) this.fullReportPending = true;
    this.connectionsThisProcess++;
    if (this.transport.kind === 'http') this.backoff.reset();
    this.emit('connected');
    // The first message on a connection: full on a fresh process, else what changed.
    this.sendWanted = true;
    this.queueFlush();
  }

  private scheduleReconnect(gen: number, retryAfterMs?: number): void {
    if (gen !== this.gen) return;
    this.stateValue = 'backoff';
    this.clearHeartbeat();
    const delay = this.backoff.next(retryAfterMs);
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      this.stats.reconnectAttempts++;
      void this.run(() => this.connect(gen));
    }, delay);
  }

  private onTransportClose(info: { code: number; reason: string }): void {
    const gen = this.gen;
    void this.run(() => {
      if (gen !== this.gen || this.stateValue === 'stopping' || this.stateValue === 'stopped') return;
      this.stats.disconnects++;
      this.emit('disconnected', info);
      // A connection that never got a reply gets no "immediate" retry: keep backing off.
      if (this.repliesThisConnection > 0) this.backoff.reset();
      // 1001: the server is going away (drain); 1006: the connection was lost (crash, network).
      if (info.code === 1001 || info.code === 1006) this.failover();
      this.scheduleReconnect(gen);
    });
  }

  private async restart(gen: number): Promise<void> {
    if (gen !== this.gen) return;
    this.stats.restarts++;
    this.stateValue = 'restarting';
    this.gen++;
    this.clearTimers();
    if (this.transport.connected) await this.sendDisconnect();
    await this.transport.close(1000, 'restarting').catch(() => undefined);
    const restartGen = this.gen;
    this.retryTimer = setTimeout(() => {
      void this.run(() => {
        if (restartGen !== this.gen) return;
        this.newProcess();
        this.emit('restarted');
        return this.connect(this.gen);
      });
    }, this.opts.restartDelayMs ?? 1_000);
  }

  /** UNAVAILABLE on a WS connection: disconnect, wait, reconnect (checklist §3.15). */
  private async throttledReconnect(gen: number, retryAfterMs: number | undefined): Promise<void> {
    if (gen !== this.gen || this.stateValue !== 'connected') return;
    // Leaving 'connected' first makes queued flushes no-ops; what they would carry stays pending.
    this.stateValue = 'backoff';
    this.clearHeartbeat();
    await this.transport.close(1000, 'server unavailable').catch(() => undefined);
    if (gen !== this.gen) return;
    this.stats.disconnects++;
    this.emit('disconnected', { code: 1000, reason: 'server unavailable' });
    this.failover();
    this.scheduleReconnect(gen, retryAfterMs);
  }

  private async sendDisconnect(): Promise<void> {
    const { msg } = this.buildMessage(true);
    const bytes = toBinary(AgentToServerSchema, msg);
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        this.transport.send(bytes, uidToString(msg.instanceUid)),
        new Promise<void>((_, reject) => {
          timer = setTimeout(() => {
            this.transport.abort();
            reject(new Error('agent_disconnect not acknowledged in time'));
          }, DISCONNECT_TIMEOUT_MS);
        }),
      ]);
      this.countSent(msg, bytes);
    } catch {
      // Best effort: the server also notices the closed connection or missing polls.
    } finally {
      clearTimeout(timer);
    }
  }

  // ---------------------------------------------------------------- sending

  private requestSend(): void {
    this.sendWanted = true;
    if (this.stateValue === 'connected') this.queueFlush();
  }

  private queueFlush(): void {
    if (this.flushQueuedGen === this.gen) return;
    const gen = this.gen;
    this.flushQueuedGen = gen;
    void this.run(() => this.flush(gen));
  }

  private async flush(gen: number): Promise<void> {
    if (this.flushQueuedGen === gen) this.flushQueuedGen = -1;
    if (gen !== this.gen || this.stateValue !== 'connected' || !this.sendWanted) return;
    this.sendWanted = false;
    const { msg, restore } = this.buildMessage(false);
    await this.transmit(gen, msg, toBinary(AgentToServerSchema, msg), restore);
  }

  private async transmit(gen: number, msg: AgentToServer, bytes: Uint8Array, restore: () => void): Promise<void> {
    this.httpUnavailableMs = undefined;
    try {
      await this.transport.send(bytes, uidToString(msg.instanceUid));
    } catch (err) {
      const te = this.transportFailure(gen, err);
      if (!te) return;
      this.httpHealthy = false;
      if (this.transport.kind === 'http') {
        if (te.retryable) {
          this.failover();
          this.retryHttp(gen, msg, bytes, restore, te.retryAfterMs);
        } else this.scheduleHeartbeat(); // the message is dropped (400, 401, 413...): keep polling
      } else {
        restore(); // WS: the close handler reconnects; what this message carried goes out again
      }
      return;
    }
    if (gen !== this.gen) return;
    this.countSent(msg, bytes);
    if (this.transport.kind === 'http') {
      const unavailable = this.httpUnavailableMs;
      this.httpHealthy = unavailable === undefined;
      if (unavailable !== undefined) {
        this.httpUnavailableMs = undefined;
        this.stats.throttled++;
        this.stats.errors++;
        this.retryHttp(gen, msg, bytes, restore, unavailable < 0 ? undefined : unavailable);
        return;
      }
      this.backoff.reset();
    }
    this.scheduleHeartbeat();
    if (this.sendWanted || this.outboundCustom.length > 0) {
      this.sendWanted = true;
      this.queueFlush();
    }
  }

  /** HTTP: the same bytes (same sequence_num) go out again after the delay; nothing else in between. */
  private retryHttp(
    gen: number,
    msg: AgentToServer,
    bytes: Uint8Array,
    restore: () => void,
    retryAfterMs?: number,
  ): void {
    this.stateValue = 'backoff';
    this.clearHeartbeat();
    const delay = this.backoff.next(retryAfterMs);
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      void this.run(async () => {
        if (gen !== this.gen) return;
        this.stateValue = 'connected';
        await this.transmit(gen, msg, bytes, restore);
      });
    }, delay);
  }

  private countSent(msg: AgentToServer, bytes: Uint8Array): void {
    this.stats.messagesSent++;
    this.stats.bytesSent += bytes.length;
    this.emit('sent', msg);
  }

  private queueCustom(m: { capability: string; type: string; data: Uint8Array }): void {
    if (this.outboundCustom.length >= MAX_OUTBOUND_CUSTOM) this.outboundCustom.shift();
    this.outboundCustom.push(m);
  }

  private has(bit: bigint): boolean {
    return hasCapability(this.capabilitiesValue, bit);
  }

  /**
   * Builds the next AgentToServer and consumes what it carries (sequence number, dirty fields, one
   * queued custom message). `restore` puts the carried state back if the message is lost.
   */
  private buildMessage(disconnect: boolean): { msg: AgentToServer; restore: () => void } {
    const full = this.fullReportPending;
    const d = this.dirty;
    const init: MessageInitShape<typeof AgentToServerSchema> = {
      instanceUid: this.uidBytes,
      sequenceNum: this.seq,
      capabilities: this.capabilitiesValue,
    };
    if (this.requestUid) init.flags = AgentToServerFlag.RequestInstanceUid;
    if (full || d.description) init.agentDescription = this.description();
    if (this.has(AgentCapability.ReportsHealth) && (full || d.health)) init.health = this.healthReport();
    if (this.has(AgentCapability.ReportsEffectiveConfig) && (full || d.effectiveConfig)) {
      init.effectiveConfig = { configMap: { configMap: this.effectiveConfig } };
    }
    if (this.has(AgentCapability.ReportsRemoteConfig) && (full || d.remoteConfigStatus)) {
      init.remoteConfigStatus = {
        lastRemoteConfigHash: this.remoteStatus.hash,
        status: this.remoteStatus.status,
        errorMessage: this.remoteStatus.errorMessage,
      };
    }
    if (this.customCapabilities.length > 0 && (full || d.customCapabilities)) {
      init.customCapabilities = { capabilities: this.customCapabilities };
    }
    if (
      this.has(AgentCapability.ReportsAvailableComponents) &&
      (full || d.availableComponents || this.fullComponentsPending)
    ) {
      init.availableComponents = this.availableComponents(this.fullComponentsPending);
    }
    if (
      this.has(AgentCapability.ReportsConnectionSettingsStatus) &&
      this.connectionSettingsHash &&
      (full || d.connectionSettingsStatus)
    ) {
      init.connectionSettingsStatus = {
        lastConnectionSettingsHash: this.connectionSettingsHash,
        status: ConnectionSettingsStatuses.ConnectionSettingsStatuses_APPLIED,
      };
    }
    const custom = disconnect ? undefined : this.outboundCustom.shift();
    if (custom) init.customMessage = custom;
    if (disconnect) init.agentDisconnect = {};

    const msg = create(AgentToServerSchema, init);
    this.seq += 1n;
    const carried = { full, dirty: { ...d }, components: this.fullComponentsPending, custom };
    this.fullReportPending = false;
    this.fullComponentsPending = false;
    this.dirty = { ...CLEAN };
    const restore = (): void => {
      if (carried.full) this.fullReportPending = true;
      for (const k of Object.keys(carried.dirty) as Array<keyof Dirty>) if (carried.dirty[k]) this.dirty[k] = true;
      if (carried.components) this.fullComponentsPending = true;
      if (carried.custom) this.outboundCustom.unshift(carried.custom);
      this.sendWanted = true;
    };
    return { msg, restore };
  }

  private description(): MessageInitShape<typeof AgentDescriptionSchema> {
    const o = this.opts;
    const serviceName = o.serviceName ?? 'fluent-bit';
    const identifying = [
      str('service.name', serviceName),
      str('service.instance.id', this.serviceInstanceId),
      str('service.version', o.serviceVersion ?? '3.2.4'),
    ];
    const nonIdentifying = [
      str('host.name', o.hostName ?? `sim-${this.serviceInstanceId.slice(-12)}`),
      str('os.type', o.osType ?? 'linux'),
    ];
    for (const [k, v] of Object.entries(o.labels ?? {})) nonIdentifying.push(str(k, v));
    return { identifyingAttributes: identifying, nonIdentifyingAttributes: nonIdentifying };
  }

  private healthReport(): MessageInitShape<typeof ComponentHealthSchema> {
    const now = nowNanos();
    const component = (): MessageInitShape<typeof ComponentHealthSchema> => ({
      healthy: this.healthy,
      startTimeUnixNano: this.processStartNanos,
      status: this.healthy ? 'running' : 'error',
      statusTimeUnixNano: now,
    });
    return {
      healthy: this.healthy,
      startTimeUnixNano: this.processStartNanos,
      lastError: this.lastError,
      status: this.healthy ? 'running' : 'degraded',
      statusTimeUnixNano: now,
      componentHealthMap: { 'input:tail.0': component(), 'output:forward.0': component() },
    };
  }

  private availableComponents(full: boolean): MessageInitShape<typeof AvailableComponentsSchema> {
    const hash = utf8.encode('sim-components-v1');
    if (!full) return { hash };
    const meta = (v: string): Array<MessageInitShape<typeof KeyValueSchema>> => [str('version', v)];
    return {
      hash,
      components: {
        inputs: { subComponentMap: { tail: { metadata: meta('3.2.4') }, systemd: { metadata: meta('3.2.4') } } },
        outputs: {
          subComponentMap: { forward: { metadata: meta('3.2.4') }, opentelemetry: { metadata: meta('3.2.4') } },
        },
      },
    };
  }

  // ---------------------------------------------------------------- receiving

  private onTransportMessage(bytes: Uint8Array): void {
    if (this.transport.kind === 'http') {
      // Called inside transmit(), i.e. already on the chain: handle synchronously.
      this.handleReply(bytes);
    } else {
      const gen = this.gen;
      const copy = copyBytes(bytes);
      void this.run(() => {
        if (gen === this.gen) this.handleReply(copy);
      });
    }
  }

  private handleReply(bytes: Uint8Array): void {
    const decoded = decodeServerToAgent(bytes);
    if (!decoded.ok) {
      this.stats.errors++;
      this.problem(new Error(`undecodable ServerToAgent: ${decoded.reason}`));
      return;
    }
    const msg = decoded.message;
    this.stats.repliesReceived++;
    this.repliesThisConnection++;
    if (this.transport.kind === 'ws' && this.repliesThisConnection === 1) this.backoff.reset();
    this.emit('message', msg);
    if (this.stateValue === 'stopping' || this.stateValue === 'stopped' || this.stateValue === 'restarting') return;
    this.applyServerMessage(msg);
  }

  /** The protocol decisions for one ServerToAgent (checklist §3, as seen from the agent). */
  private applyServerMessage(msg: ServerToAgent): void {
    const forUs =
      uidEquals(msg.instanceUid, this.uidBytes) ||
      (this.previousUid !== undefined && uidEquals(msg.instanceUid, this.previousUid));
    if (!forUs) {
      this.stats.errors++;
      this.problem(new Error(`ServerToAgent for instance_uid ${uidToString(msg.instanceUid) || '(empty)'} ignored`));
      return;
    }
    if (msg.capabilities !== 0n) this.serverCapabilitiesValue = msg.capabilities;

    if (msg.errorResponse !== undefined) {
      this.onErrorResponse(msg);
      return;
    }

    // An accepted command makes the agent ignore every other field of the message.
    if (msg.command !== undefined) {
      if (this.has(AgentCapability.AcceptsRestartCommand)) {
        const gen = this.gen;
        void this.run(() => this.restart(gen));
        return;
      }
      this.problem(new Error('restart command ignored: AcceptsRestartCommand not declared'));
    }

    if (msg.agentIdentification !== undefined) this.onIdentification(msg.agentIdentification.newInstanceUid);

    if ((msg.flags & ServerToAgentFlag.ReportFullState) !== 0n) {
      this.stats.fullStateRequests++;
      this.fullReportPending = true;
      this.requestSend();
    }
    if (
      (msg.flags & ServerToAgentFlag.ReportAvailableComponents) !== 0n &&
      this.has(AgentCapability.ReportsAvailableComponents)
    ) {
      this.fullComponentsPending = true;
      this.requestSend();
    }

    const opamp = msg.connectionSettings?.opamp;
    if (opamp !== undefined && this.has(AgentCapability.AcceptsOpAMPConnectionSettings)) {
      if (this.has(AgentCapability.ReportsHeartbeat)) this.applyHeartbeatOffer(opamp.heartbeatIntervalSeconds);
      const hash = msg.connectionSettings?.hash;
      if (hash && hash.length > 0 && this.has(AgentCapability.ReportsConnectionSettingsStatus)) {
        if (!this.connectionSettingsHash || !bytesEqual(hash, this.connectionSettingsHash)) {
          this.connectionSettingsHash = copyBytes(hash);
          this.dirty.connectionSettingsStatus = true;
          this.requestSend();
        }
      }
    }

    if (msg.remoteConfig !== undefined) {
      if (this.has(AgentCapability.AcceptsRemoteConfig)) this.onRemoteConfig(msg.remoteConfig);
      else this.problem(new Error('remote_config ignored: AcceptsRemoteConfig not declared'));
    }

    if (msg.customMessage !== undefined) this.onCustomMessage(msg.customMessage);
  }

  private onErrorResponse(msg: ServerToAgent): void {
    const er = msg.errorResponse!;
    if (er.type === ServerErrorResponseType.ServerErrorResponseType_Unavailable) {
      const nanos = er.Details.case === 'retryInfo' ? er.Details.value.retryAfterNanoseconds : undefined;
      const retryMs = nanos !== undefined && nanos > 0n ? Number(nanos / 1_000_000n) : undefined;
      this.problem(new Error(`server unavailable${er.errorMessage ? `: ${er.errorMessage}` : ''}`));
      if (this.transport.kind === 'http') {
        this.httpUnavailableMs = retryMs ?? -1;
      } else {
        this.stats.throttled++;
        this.stats.errors++;
        const gen = this.gen;
        void this.run(() => this.throttledReconnect(gen, retryMs));
      }
      return;
    }
    // BAD_REQUEST / UNKNOWN: the message is not retried (checklist §3.15).
    this.stats.errors++;
    const kind = er.type === ServerErrorResponseType.ServerErrorResponseType_BadRequest ? 'BAD_REQUEST' : 'UNKNOWN';
    this.problem(new Error(`server error ${kind}: ${er.errorMessage}`));
  }

  private onIdentification(newUid: Uint8Array): void {
    if (!isValidUid(newUid)) {
      this.stats.errors++;
      this.problem(new Error(`agent_identification.new_instance_uid rejected (${newUid.length} bytes or nil)`));
      return;
    }
    if (uidEquals(newUid, this.uidBytes)) return;
    const old = this.uid;
    this.previousUid = this.uidBytes;
    this.uidBytes = copyBytes(newUid);
    this.requestUid = false;
    this.stats.uidChanges++;
    this.emit('uidChanged', this.uid, old);
    // The sequence counter continues; the next message carries the new uid.
    this.requestSend();
  }

  private applyHeartbeatOffer(seconds: bigint): void {
    if (this.transport.kind === 'http') {
      // HTTP clients must keep polling: 0 ("no heartbeats") is not a usable poll interval.
      if (seconds === 0n) return;
    }
    const ms = Number(seconds) * 1000;
    if (ms === this.heartbeatMs) return;
    this.heartbeatMs = ms;
    this.scheduleHeartbeat();
  }

  private onRemoteConfig(rc: AgentRemoteConfig): void {
    this.stats.configsReceived++;
    const hash = rc.configHash;
    if (this.applying && bytesEqual(this.applying.config.configHash, hash)) return;
    const done =
      this.remoteStatus.status === RemoteConfigStatuses.RemoteConfigStatuses_APPLIED ||
      this.remoteStatus.status === RemoteConfigStatuses.RemoteConfigStatuses_FAILED;
    if (!this.applying && done && hash.length > 0 && bytesEqual(this.remoteStatus.hash, hash)) return; // already processed
    const token = ++this.applyToken;
    this.applying = { token, config: rc };
    this.setRemoteStatus(RemoteConfigStatuses.RemoteConfigStatuses_APPLYING, hash, '');
    clearTimeout(this.applyTimer);
    const gen = this.gen;
    this.applyTimer = setTimeout(() => {
      void this.run(() => {
        if (gen === this.gen) this.finishApply(token);
      });
    }, this.opts.applyDelayMs ?? 100);
  }

  private finishApply(token: number): void {
    const applying = this.applying;
    if (!applying || applying.token !== token) return;
    this.applying = undefined;
    const rc = applying.config;
    if (this.opts.failConfig && this.failsConfig(rc)) {
      this.stats.configsFailed++;
      this.setRemoteStatus(
        RemoteConfigStatuses.RemoteConfigStatuses_FAILED,
        rc.configHash,
        `simulated failure: configuration rejected by ${this.opts.serviceName ?? 'fluent-bit'} (invalid [OUTPUT] section)`,
      );
      return;
    }
    const files: Record<string, ConfigFile> = {};
    for (const [name, f] of Object.entries(rc.config?.configMap ?? {}))
      files[name] = { body: copyBytes(f.body), contentType: f.contentType };
    this.effectiveConfig = files;
    this.dirty.effectiveConfig = true;
    this.stats.configsApplied++;
    this.setRemoteStatus(RemoteConfigStatuses.RemoteConfigStatuses_APPLIED, rc.configHash, '');
  }

  private failsConfig(rc: AgentRemoteConfig): boolean {
    const marker = this.opts.failConfigMatching;
    if (marker === undefined) return true;
    const needle = Buffer.from(marker, 'utf8');
    return Object.values(rc.config?.configMap ?? {}).some((f) => Buffer.from(f.body).includes(needle));
  }

  private setRemoteStatus(status: RemoteConfigStatuses, hash: Uint8Array, errorMessage: string): void {
    this.remoteStatus = { hash: copyBytes(hash), status, errorMessage };
    this.dirty.remoteConfigStatus = true;
    // Without ReportsRemoteConfig there is nothing to report, unless the effective config changed.
    if (
      this.has(AgentCapability.ReportsRemoteConfig) ||
      (this.dirty.effectiveConfig && this.has(AgentCapability.ReportsEffectiveConfig))
    ) {
      this.requestSend();
    }
    this.emit('remoteConfigStatus', status, copyBytes(hash), errorMessage);
  }

  private onCustomMessage(m: CustomMessage): void {
    if (!this.customCapabilities.includes(m.capability)) {
      this.problem(new Error(`custom message for undeclared capability ${m.capability} ignored`));
      return;
    }
    this.stats.customMessagesReceived++;
    this.emit('customMessage', m);
    if (this.opts.commandReplies) {
      const decision = decideCommandReply(m.type, m.data, this.uid, {
        failTypes: this.opts.failCommandTypes,
        ignoreTypes: this.opts.ignoreCommandTypes,
      });
      if (decision.kind === 'ignore') return;
      if (decision.kind === 'reply') {
        this.queueCustom({ capability: m.capability, type: m.type, data: decision.data });
        this.requestSend();
        return;
      }
    }
    if (this.opts.echoCustomMessages ?? true) {
      this.queueCustom({ capability: m.capability, type: m.type, data: copyBytes(m.data) });
      this.requestSend();
    }
  }

  // ---------------------------------------------------------------- timers

  private scheduleHeartbeat(): void {
    this.clearHeartbeat();
    if (this.heartbeatMs <= 0 || this.stateValue !== 'connected') return;
    const gen = this.gen;
    this.heartbeatTimer = setTimeout(() => {
      void this.run(() => {
        if (gen === this.gen) this.requestSend();
      });
    }, this.heartbeatMs);
    this.heartbeatTimer.unref();
  }

  private clearHeartbeat(): void {
    clearTimeout(this.heartbeatTimer);
    this.heartbeatTimer = undefined;
  }

  private clearTimers(): void {
    this.clearHeartbeat();
    clearTimeout(this.retryTimer);
    clearTimeout(this.applyTimer);
    this.retryTimer = undefined;
    this.applyTimer = undefined;
  }

  private problem(err: Error): void {
    if (this.listenerCount('problem') > 0) this.emit('problem', err);
  }
}

function toTransportError(err: unknown): TransportError {
  if (err instanceof TransportError) return err;
  return new TransportError(err instanceof Error ? err.message : String(err), 'network');
}
