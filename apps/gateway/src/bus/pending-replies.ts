import type { OutboundEnvelope } from '@opamp/proto';

interface Pending {
  startedAt: number;
  resolve?: (envelope: OutboundEnvelope | undefined) => void;
  timer?: NodeJS.Timeout;
}

/**
 * Messages this pod appended to Redis and not yet seen answered. HTTP requests wait on their
 * entry (the held response); WS entries are only counted, to measure how far the fleet is
 * behind (admission control). Entries older than the reply timeout are dropped, so a reply
 * lost in a fleet crash cannot make the pod look overloaded forever.
 */
export class PendingReplies {
  private readonly entries = new Map<string, Pending>();
  private seq = 0;
  private readonly sweeper: NodeJS.Timeout;

  constructor(
    private readonly prefix: string,
    private readonly timeoutMs: number,
  ) {
    this.sweeper = setInterval(() => this.sweep(), Math.max(250, Math.floor(timeoutMs / 2)));
    this.sweeper.unref();
  }

  get size(): number {
    return this.entries.size;
  }

  nextId(): string {
    this.seq = (this.seq + 1) % Number.MAX_SAFE_INTEGER;
    return `${this.prefix}${this.seq.toString(36)}`;
  }

  /** Track a WS message: counted until its reply comes back. */
  track(requestId: string): void {
    this.entries.set(requestId, { startedAt: Date.now() });
  }

  /** Track an HTTP request: resolves with the reply, or undefined after `timeoutMs`. */
  wait(requestId: string, timeoutMs = this.timeoutMs): Promise<OutboundEnvelope | undefined> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.entries.delete(requestId);
        resolve(undefined);
      }, timeoutMs);
      this.entries.set(requestId, { startedAt: Date.now(), resolve, timer });
    });
  }

  /** A reply arrived; returns true when someone was waiting for it. */
  settle(requestId: string, envelope: OutboundEnvelope | undefined): boolean {
    const pending = this.entries.get(requestId);
    if (!pending) return false;
    this.entries.delete(requestId);
    clearTimeout(pending.timer);
    pending.resolve?.(envelope);
    return pending.resolve !== undefined;
  }

  cancel(requestId: string): void {
    this.settle(requestId, undefined);
  }

  /** Resolves once no HTTP request is waiting any more (or after `timeoutMs`). */
  async drained(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline && [...this.entries.values()].some((p) => p.resolve)) {
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  close(): void {
    clearInterval(this.sweeper);
    for (const id of [...this.entries.keys()]) this.settle(id, undefined);
  }

  private sweep(): void {
    const cutoff = Date.now() - this.timeoutMs;
    for (const [id, pending] of this.entries) {
      if (!pending.resolve && pending.startedAt < cutoff) this.entries.delete(id);
    }
  }
}
