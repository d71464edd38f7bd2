import { Injectable } from '@nestjs/common';

/**
 * Serialises all work on one shard (inbound batches, liveness sweeps, releases): a promise chain
 * per shard. Everything that reads, changes and writes an agent's state runs inside it, so the
 * in-memory state and Redis never see two writers for the same agent in this process.
 */
@Injectable()
export class ShardExecutor {
  private readonly tails = new Map<number, Promise<unknown>>();

  run<T>(shard: number, fn: () => Promise<T>): Promise<T> {
    const prev = this.tails.get(shard) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const tail = next.catch(() => undefined);
    this.tails.set(shard, tail);
    void tail.then(() => {
      if (this.tails.get(shard) === tail) this.tails.delete(shard);
    });
    return next;
  }

  /** Resolves when everything queued on the shard so far has finished. */
  async drain(shard: number): Promise<void> {
    await this.tails.get(shard);
  }

  async drainAll(): Promise<void> {
    await Promise.all([...this.tails.values()]);
  }
}
