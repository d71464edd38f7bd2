import type { Redis } from 'ioredis';
import type { OutboundEnvelope } from '@opamp/proto';
import { decodeOutbound, envelopeBytes, type RawStreamEntry } from './envelopes.js';
import { StreamKeys } from './keys.js';
import { sleep, withDeadline } from './redis.js';

export interface OutboundReaderOptions {
  blockMs?: number;
  batch?: number;
  onError?: (err: Error) => void;
}

/**
 * A gateway reads its own outbound stream. There is exactly one reader per stream (the pod that
 * owns it), so plain XREAD from the last seen id suffices: no consumer group, no acks. The
 * gateway id changes on every process start, so a restarted pod never replays stale replies.
 */
export class OutboundReader {
  private running = false;
  private loop: Promise<void> | undefined;
  private lastId = '$';

  constructor(
    private readonly redis: Redis,
    private readonly gatewayId: string,
    private readonly handle: (envelope: OutboundEnvelope) => void,
    private readonly opts: OutboundReaderOptions = {},
  ) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  private async run(): Promise<void> {
    const key = StreamKeys.outbound(this.gatewayId);
    const blockMs = this.opts.blockMs ?? 1000;
    const batch = this.opts.batch ?? 512;
    // Resolve "$" once to a concrete id so nothing appended between two reads is skipped.
    while (this.running && this.lastId === '$') {
      try {
        const info = (await this.redis.xrevrange(key, '+', '-', 'COUNT', 1)) as [string, string[]][];
        this.lastId = info[0]?.[0] ?? '0-0';
      } catch (err) {
        this.opts.onError?.(err as Error);
        await sleep(500);
      }
    }
    while (this.running) {
      try {
        const reply = (await this.redis.xreadBuffer('COUNT', batch, 'BLOCK', blockMs, 'STREAMS', key, this.lastId)) as
          [Buffer, RawStreamEntry[]][] | null;
        if (!reply) continue;
        for (const [, entries] of reply) {
          for (const [id, fields] of entries) {
            this.lastId = id.toString();
            const bytes = envelopeBytes(fields);
            if (!bytes) continue;
            let envelope: OutboundEnvelope;
            try {
              envelope = decodeOutbound(bytes);
            } catch (err) {
              this.opts.onError?.(err as Error);
              continue;
            }
            this.handle(envelope);
          }
        }
      } catch (err) {
        if (!this.running) break;
        this.opts.onError?.(err as Error);
        await sleep(250);
      }
    }
  }

  async stop(): Promise<void> {
    this.running = false;
    // Unblock a pending XREAD BLOCK promptly. With Redis down, a command queued while
    // reconnecting is never settled by disconnect(): don't wait for it forever.
    this.redis.disconnect();
    await withDeadline(this.loop?.catch(() => undefined) ?? Promise.resolve(), 2000);
  }
}
