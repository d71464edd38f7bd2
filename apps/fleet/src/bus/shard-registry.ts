import { Injectable } from '@nestjs/common';
import { fleetMetrics } from '../fleet.metrics.js';

/**
 * The shards this replica currently holds a lease for. Written by the shard ownership service,
 * read by the processor (before committing a batch), the liveness sweeps and the write-behind.
 */
@Injectable()
export class ShardRegistry {
  private readonly owned = new Set<number>();

  add(shard: number): void {
    this.owned.add(shard);
    fleetMetrics.ownedShards.set(this.owned.size);
  }

  delete(shard: number): void {
    this.owned.delete(shard);
    fleetMetrics.ownedShards.set(this.owned.size);
  }

  has(shard: number): boolean {
    return this.owned.has(shard);
  }

  list(): number[] {
    return [...this.owned].sort((a, b) => a - b);
  }

  get size(): number {
    return this.owned.size;
  }
}
