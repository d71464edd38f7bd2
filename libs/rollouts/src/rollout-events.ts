// Rollout progress events on the Redis stream `opamp:rollout-events` (docs/rollouts.md, Events):
// one entry per transition, field `event` holding the JSON below, the stream capped at ~10,000
// entries. Written by the rollout store (controls) and the rollout worker (steps).
import type { Redis } from 'ioredis';
import { StreamKeys } from '@opamp/bus';
import type { RolloutStateName, TargetCounts } from '@opamp/domain';

/** Approximate cap on the stream (XADD MAXLEN ~). */
export const ROLLOUT_EVENTS_MAX_LEN = 10_000;

/** Field of a stream entry that holds the JSON event. */
export const ROLLOUT_EVENT_FIELD = 'event';

export interface RolloutEvent {
  rolloutId: string;
  /** The rollout's `step` after the transition. */
  step: number;
  /** ISO 8601 time of the transition. */
  at: string;
  /** What happened: created, paused, resumed, promoted, aborted, rollback_requested, wave_started, … */
  type: string;
  state: RolloutStateName;
  /** Index of the stage being rolled out. */
  stage: number;
  /** Index of the current wave (null when none is under way). */
  wave: number | null;
  counts?: TargetCounts;
  reason?: string | null;
}

/** Appends one event; resolves with the stream entry id. */
export async function publishRolloutEvent(redis: Redis, event: RolloutEvent): Promise<string> {
  const id = await redis.xadd(
    StreamKeys.rolloutEvents,
    'MAXLEN',
    '~',
    ROLLOUT_EVENTS_MAX_LEN,
    '*',
    ROLLOUT_EVENT_FIELD,
    JSON.stringify(event),
  );
  return id ?? '';
}

/** Parses the `event` field of a stream entry; undefined when it is not a rollout event. */
export function parseRolloutEvent(text: string): RolloutEvent | undefined {
  try {
    const v = JSON.parse(text) as Partial<RolloutEvent> | null;
    if (!v || typeof v.rolloutId !== 'string' || typeof v.type !== 'string' || typeof v.step !== 'number') {
      return undefined;
    }
    return v as RolloutEvent;
  } catch {
    return undefined;
  }
}
