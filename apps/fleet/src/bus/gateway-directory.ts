import { Injectable } from '@nestjs/common';
import { isGatewayAlive } from '@opamp/bus';
import { RedisService } from '../infra/redis.service.js';

const CACHE_MS = 1000;

/**
 * Is a gateway pod still alive (its presence key exists)? Asked when a message arrives on another
 * connection than the recorded one (duplicate uid policy), before a push, and by liveness
 * sweeps. Answers are cached for a second: presence keys live for 15 s.
 */
@Injectable()
export class GatewayDirectory {
  private readonly cache = new Map<string, { alive: boolean; at: number }>();

  constructor(private readonly redis: RedisService) {}

  async isAlive(gatewayId: string): Promise<boolean> {
    if (!gatewayId) return false;
    const now = Date.now();
    const hit = this.cache.get(gatewayId);
    if (hit && now - hit.at < CACHE_MS) return hit.alive;
    const alive = await isGatewayAlive(this.redis.client, gatewayId);
    if (this.cache.size > 10_000) this.cache.clear();
    this.cache.set(gatewayId, { alive, at: now });
    return alive;
  }
}
