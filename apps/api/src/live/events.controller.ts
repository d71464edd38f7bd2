// GET /api/v1/events: live updates as Server-Sent Events (docs/live-updates.md).
import { Controller, Get, Inject, Logger, Query, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import { AUTHENTICATOR, principalOf, requireRole, type Authenticator } from '../auth/authenticator.js';
import { RequireRole } from '../auth/roles.js';
import { parseEventsQuery, parseLastEventId } from './events.query.js';
import { compareEntryIds, type LiveEvent, type LiveType } from './live-events.js';
import { LiveHub } from './live-hub.service.js';
import type { LiveSubscription } from './live-subscription.js';

/** A comment line this often keeps proxies and load balancers from closing an idle stream. */
export const SSE_HEARTBEAT_MS = 15_000;
/** How often a stream re-checks its caller's credentials (a revoked key stops receiving). */
export const SSE_REAUTH_MS = 60_000;
/** What EventSource waits before reconnecting. */
const RETRY_MS = 3000;
/** A dropped stream whose client stops reading is destroyed after this long. */
const DESTROY_AFTER_MS = 5000;

function sseEvent(e: LiveEvent): string {
  return `id: ${e.id}\nevent: ${e.type}\ndata: ${JSON.stringify(e.payload)}\n\n`;
}

function sseControl(event: 'error' | 'resync', data: Record<string, unknown>): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

@Controller('api/v1/events')
export class EventsController {
  private readonly logger = new Logger('EventsController');

  constructor(
    private readonly hub: LiveHub,
    @Inject(AUTHENTICATOR) private readonly auth: Authenticator,
  ) {}

  /** GET /api/v1/events?types=agent,rollout,command&rollout=&agent=&selector= (text/event-stream) */
  @Get()
  @RequireRole('viewer')
  async stream(@Req() req: Request, @Res() res: Response, @Query() query: Record<string, unknown>): Promise<void> {
    // Everything that can fail with a problem+json reply happens before the stream starts.
    const principal = await principalOf(req, this.auth);
    requireRole(principal, 'viewer', 'GET /api/v1/events');
    const filter = parseEventsQuery(query);
    const header = req.headers['last-event-id'];
    const resumeFrom = parseLastEventId(Array.isArray(header) ? header[0] : header, query.lastEventId);
    const sub = await this.hub.subscribe(filter);

    res.status(200);
    res.setHeader('Content-Type', 'text/event-stream; charset=utf-8');
    res.setHeader('Cache-Control', 'no-cache, no-transform');
    res.setHeader('X-Accel-Buffering', 'no');
    // The connection is the stream's: close it with the stream (no keep-alive idling after it).
    res.setHeader('Connection', 'close');
    res.flushHeaders();
    req.socket.setNoDelay(true);
    res.write(`retry: ${RETRY_MS}\n: connected\n\n`);

    let open = true;
    const close = (): void => {
      if (!open) return;
      open = false;
      clearInterval(heartbeat);
      clearInterval(reauth);
      void sub.return();
      if (!res.writableEnded) res.end();
      // A client that stopped reading never lets the end through: cut it.
      setTimeout(() => {
        if (!res.writableFinished) res.destroy();
      }, DESTROY_AFTER_MS).unref();
    };
    res.on('close', close);
    const heartbeat = setInterval(() => {
      if (open && !res.writableNeedDrain) res.write(': keepalive\n\n');
    }, SSE_HEARTBEAT_MS);
    const reauth = setInterval(() => {
      this.auth.authenticate(req.headers.authorization, req.ip).then(
        () => undefined,
        (err: Error) => {
          if (!open) return;
          res.write(sseControl('error', { code: 'UNAUTHENTICATED', message: err.message }));
          close();
        },
      );
    }, SSE_REAUTH_MS);
    heartbeat.unref();
    reauth.unref();

    try {
      await this.pump(sub, res, resumeFrom, () => open);
    } catch (err) {
      this.logger.warn(`event stream failed: ${(err as Error).message}`);
    } finally {
      close();
    }
  }

  private async pump(
    sub: LiveSubscription,
    res: Response,
    resumeFrom: { type: LiveType; entryId: string } | undefined,
    isOpen: () => boolean,
  ): Promise<void> {
    /** Last entry id written per type: live events the replay already sent are skipped. */
    const sent = new Map<LiveType, string>();
    const write = async (chunk: string): Promise<void> => {
      if (res.write(chunk)) return;
      // Backpressure: wait for the client to read; meanwhile the hub buffers (bounded) for us.
      await new Promise<void>((resolve) => {
        const done = (): void => {
          res.off('drain', done);
          res.off('close', done);
          resolve();
        };
        res.on('drain', done);
        res.on('close', done);
      });
    };
    if (resumeFrom) {
      sent.set(resumeFrom.type, resumeFrom.entryId);
      const { events, complete } = await this.hub.replay(resumeFrom, sub.filter);
      for (const e of events) {
        if (!isOpen()) return;
        await write(sseEvent(e));
        sent.set(e.type, e.entryId);
      }
      if (!complete) {
        await write(
          sseControl('resync', {
            message: 'Too many events since Last-Event-ID to send them all; re-read the state you track.',
          }),
        );
      }
    }
    for await (const item of sub) {
      if (!isOpen()) return;
      if (item.type === 'end') {
        if (item.reason === 'slow_consumer')
          res.write(sseControl('error', { code: 'SLOW_CONSUMER', message: item.message }));
        return;
      }
      const last = sent.get(item.type);
      if (last !== undefined && compareEntryIds(item.entryId, last) <= 0) continue;
      await write(sseEvent(item));
      sent.set(item.type, item.entryId);
    }
  }
}
