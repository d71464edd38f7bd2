// One subscriber of the live hub: a bounded queue read as an async iterator. The hub pushes
// without ever waiting; a subscriber that falls `maxBuffered` events behind is ended (its queue
// dropped, one `end` item telling it why) instead of growing without bound.
import type { LiveEvent, LiveFilter } from './live-events.js';

export type LiveEndReason = 'slow_consumer' | 'shutdown';

/** The last item of a subscription that was ended by the hub (not by its consumer). */
export interface LiveEnd {
  type: 'end';
  reason: LiveEndReason;
  message: string;
}

export type LiveItem = LiveEvent | LiveEnd;

export class LiveSubscription implements AsyncIterableIterator<LiveItem> {
  private readonly queue: LiveEvent[] = [];
  private waiter: ((r: IteratorResult<LiveItem, undefined>) => void) | undefined;
  private end: LiveEnd | undefined;
  private endDelivered = false;
  private closed = false;

  constructor(
    readonly filter: LiveFilter,
    readonly maxBuffered: number,
    /** Called once when the subscription stops, whoever stopped it. */
    private readonly onClose: (s: LiveSubscription, reason: LiveEndReason | 'closed') => void,
  ) {}

  /** Events waiting to be read. */
  get buffered(): number {
    return this.queue.length;
  }

  get isOpen(): boolean {
    return !this.closed && this.end === undefined;
  }

  /** Hands an event to the consumer, or queues it; ends the subscription when the queue is full. */
  push(e: LiveEvent): void {
    if (!this.isOpen) return;
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = undefined;
      w({ value: e, done: false });
      return;
    }
    if (this.queue.length >= this.maxBuffered) {
      this.finish(
        'slow_consumer',
        `More than ${this.maxBuffered} events were waiting for this subscriber; it was dropped. Subscribe again (SSE: reconnect with Last-Event-ID) and re-read the state you track.`,
      );
      return;
    }
    this.queue.push(e);
  }

  /** Ends the subscription from the hub's side: queued events are dropped, then `end` is read. */
  finish(reason: LiveEndReason, message: string): void {
    if (!this.isOpen) return;
    this.end = { type: 'end', reason, message };
    this.queue.length = 0;
    this.onClose(this, reason);
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = undefined;
      this.endDelivered = true;
      w({ value: this.end, done: false });
    }
  }

  next(): Promise<IteratorResult<LiveItem, undefined>> {
    const e = this.queue.shift();
    if (e) return Promise.resolve({ value: e, done: false });
    if (this.end && !this.endDelivered) {
      this.endDelivered = true;
      return Promise.resolve({ value: this.end, done: false });
    }
    if (this.closed || this.end) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => (this.waiter = resolve));
  }

  /** The consumer is done (graphql-ws `complete`, a closed SSE connection). */
  return(): Promise<IteratorResult<LiveItem, undefined>> {
    if (!this.closed) {
      this.closed = true;
      this.queue.length = 0;
      if (!this.end) this.onClose(this, 'closed');
      const w = this.waiter;
      this.waiter = undefined;
      w?.({ value: undefined, done: true });
    }
    return Promise.resolve({ value: undefined, done: true });
  }

  throw(): Promise<IteratorResult<LiveItem, undefined>> {
    return this.return();
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}
