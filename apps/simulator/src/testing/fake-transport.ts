// In-memory transport for testing SimulatedAgent without a server: records every AgentToServer and
// lets the test play the server (push ServerToAgent, drop the connection, refuse connects).
import { create, fromBinary, toBinary, type MessageInitShape } from '@bufbuild/protobuf';
import { AgentToServerSchema, ServerToAgentSchema, type AgentToServer } from '@opamp/proto';
import {
  TransportError,
  type AgentTransport,
  type TransportFactory,
  type TransportHandlers,
  type TransportKind,
} from '../transport.js';

export type ServerToAgentInit = MessageInitShape<typeof ServerToAgentSchema>;

export class FakeTransport implements AgentTransport {
  readonly sent: AgentToServer[] = [];
  readonly closes: Array<{ code: number; reason: string }> = [];
  connects = 0;
  /** The endpoint of every connect (WS) or request (HTTP), in order. */
  readonly targets: string[] = [];
  aborts = 0;
  private open = false;
  /** Errors to throw from the next connect() calls, in order. */
  connectFailures: TransportError[] = [];
  /** Errors to throw from the next send() calls, in order (HTTP retries). */
  sendFailures: TransportError[] = [];
  /** HTTP: builds the reply to each request (default: a plain ack). */
  reply: (msg: AgentToServer) => ServerToAgentInit | undefined = (msg) => ({
    instanceUid: msg.instanceUid,
    capabilities: 0x27n,
  });

  constructor(
    readonly kind: TransportKind,
    private readonly handlers: TransportHandlers,
    private readonly url: () => string = () => 'fake://',
  ) {}

  get connected(): boolean {
    return this.kind === 'http' || this.open;
  }

  connect(): Promise<void> {
    this.connects++;
    if (this.kind === 'ws') this.targets.push(this.url());
    const failure = this.connectFailures.shift();
    if (failure) return Promise.reject(failure);
    this.open = true;
    return Promise.resolve();
  }

  send(bytes: Uint8Array): Promise<void> {
    if (this.kind === 'ws' && !this.open) return Promise.reject(new TransportError('not open', 'network'));
    if (this.kind === 'http') this.targets.push(this.url());
    const failure = this.sendFailures.shift();
    if (failure) return Promise.reject(failure);
    const msg = fromBinary(AgentToServerSchema, bytes);
    this.sent.push(msg);
    if (this.kind === 'http') {
      const r = this.reply(msg);
      if (r) this.handlers.onMessage(toBinary(ServerToAgentSchema, create(ServerToAgentSchema, r)));
    }
    return Promise.resolve();
  }

  close(code = 1000, reason = ''): Promise<void> {
    if (this.open) this.closes.push({ code, reason });
    this.open = false;
    return Promise.resolve();
  }

  abort(): void {
    this.aborts++;
  }

  /** Server push (WS) or an out-of-band reply. */
  push(init: ServerToAgentInit): void {
    this.handlers.onMessage(toBinary(ServerToAgentSchema, create(ServerToAgentSchema, init)));
  }

  pushRaw(bytes: Uint8Array): void {
    this.handlers.onMessage(bytes);
  }

  /** The server side drops the connection. */
  drop(code = 1006, reason = ''): void {
    this.open = false;
    this.handlers.onClose({ code, reason });
  }

  get last(): AgentToServer {
    const m = this.sent[this.sent.length - 1];
    if (!m) throw new Error('nothing sent yet');
    return m;
  }
}

/** A factory for SimulatedAgentOptions.transportFactory that exposes the created transport. */
export function fakeTransportFactory(kind: TransportKind): { factory: TransportFactory; get: () => FakeTransport } {
  let t: FakeTransport | undefined;
  return {
    factory: (handlers, url) => (t = new FakeTransport(kind, handlers, url)),
    get: () => {
      if (!t) throw new Error('transport not created yet');
      return t;
    },
  };
}
