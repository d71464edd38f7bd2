// Command state changes on the Redis stream `opamp:command-events` (docs/commands.md, "Events"):
// one entry per change, field `event` holding a CommandEvent as JSON, the stream capped at about
// 10,000 entries. Written by the api after the row changed; read for live updates (SSE, GraphQL).
import type { Redis } from 'ioredis';
import { EVENT_FIELD, StreamKeys, StreamMaxLen } from '@opamp/bus';
import type { CommandEvent } from './command-outcomes.js';
import type { CommandRecord } from './command.view.js';

export function commandEventOf(r: CommandRecord): CommandEvent {
  const at = r.completedAt ?? (r.state === 'sent' ? r.sentAt : null) ?? r.createdAt;
  return {
    commandId: r.id,
    agentUid: r.agentUid,
    kind: r.kind,
    state: r.state,
    ...(r.reason ? { reason: r.reason } : {}),
    ...(r.bulkId ? { bulkId: r.bulkId } : {}),
    at: at.toISOString(),
  };
}

/** Appends the events in one pipeline (one round trip). */
export async function publishCommandEvents(redis: Redis, events: readonly CommandEvent[]): Promise<void> {
  if (events.length === 0) return;
  const pipeline = redis.pipeline();
  for (const e of events) {
    pipeline.xadd(
      StreamKeys.commandEvents,
      'MAXLEN',
      '~',
      StreamMaxLen.commandEvents,
      '*',
      EVENT_FIELD,
      JSON.stringify(e),
    );
  }
  const results = await pipeline.exec();
  const failed = results?.find(([err]) => err !== null);
  if (!results) throw new Error('the Redis pipeline was not executed');
  if (failed) throw failed[0]!;
}
