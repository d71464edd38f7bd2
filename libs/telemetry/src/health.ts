import { Controller, Get, Global, Header, HttpCode, Injectable, Module, Res } from '@nestjs/common';
import type { Response } from 'express';
import { metricsRegistry } from './metrics.js';

type Check = () => boolean | Promise<boolean>;

/**
 * Readiness is the conjunction of named checks registered by the components that matter
 * (Redis connected, Postgres reachable, shard leases held...). Liveness only says the event
 * loop answers. While shutting down, readiness turns false first so load balancers drain us.
 */
@Injectable()
export class HealthService {
  private readonly checks = new Map<string, Check>();
  private shuttingDown = false;

  register(name: string, check: Check): void {
    this.checks.set(name, check);
  }

  markShuttingDown(): void {
    this.shuttingDown = true;
  }

  get isShuttingDown(): boolean {
    return this.shuttingDown;
  }

  async readiness(): Promise<{ ready: boolean; checks: Record<string, boolean> }> {
    const results: Record<string, boolean> = {};
    for (const [name, check] of this.checks) {
      try {
        results[name] = await Promise.race([
          Promise.resolve(check()),
          new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 2000).unref()),
        ]);
      } catch {
        results[name] = false;
      }
    }
    const ready = !this.shuttingDown && Object.values(results).every(Boolean);
    return { ready, checks: { ...results, shuttingDown: this.shuttingDown } };
  }
}

@Controller()
export class HealthController {
  constructor(private readonly health: HealthService) {}

  @Get('healthz')
  @HttpCode(200)
  live(): { status: string } {
    return { status: 'ok' };
  }

  @Get('readyz')
  async ready(@Res() res: Response): Promise<void> {
    const result = await this.health.readiness();
    res.status(result.ready ? 200 : 503).json({ status: result.ready ? 'ready' : 'not ready', checks: result.checks });
  }

  @Get('metrics')
  @Header('Cache-Control', 'no-store')
  async metrics(@Res() res: Response): Promise<void> {
    res.setHeader('Content-Type', metricsRegistry.contentType);
    res.send(await metricsRegistry.metrics());
  }
}

@Global()
@Module({ controllers: [HealthController], providers: [HealthService], exports: [HealthService] })
export class HealthModule {}
