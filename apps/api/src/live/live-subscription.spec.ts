import { describe, expect, it } from 'vitest';
import type { LiveEvent } from './live-events.js';
import { LiveSubscription, type LiveItem } from './live-subscription.js';

const event = (n: number): LiveEvent => ({
  type: 'command',
  id: `command:${n}-0`,
  entryId: `${n}-0`,
  payload: { commandId: `c${n}`, agentUid: 'u', kind: 'restart', state: 'sent', reason: null, bulkId: null, at: '' },
});

function subscription(maxBuffered: number) {
  const closed: string[] = [];
  const sub = new LiveSubscription({ types: new Set(['command']) }, maxBuffered, (_s, reason) => closed.push(reason));
  return { sub, closed };
}

async function drain(sub: LiveSubscription): Promise<LiveItem[]> {
  const out: LiveItem[] = [];
  for await (const item of sub) out.push(item);
  return out;
}

describe('LiveSubscription', () => {
  it('hands events over in order, whether the reader waits or lags', async () => {
    const { sub } = subscription(10);
    const first = sub.next();
    sub.push(event(1));
    sub.push(event(2));
    sub.push(event(3));
    expect((await first).value).toEqual(event(1));
    expect(sub.buffered).toBe(2);
    expect((await sub.next()).value).toEqual(event(2));
    expect((await sub.next()).value).toEqual(event(3));
  });

  it('drops a subscriber that falls behind: its queue is discarded, it reads one slow_consumer end, then nothing', async () => {
    const { sub, closed } = subscription(3);
    for (let i = 1; i <= 4; i++) sub.push(event(i));
    sub.push(event(5));
    expect(closed).toEqual(['slow_consumer']);
    expect(sub.buffered).toBe(0);
    const items = await drain(sub);
    expect(items).toEqual([
      { type: 'end', reason: 'slow_consumer', message: expect.stringMatching(/More than 3 events/) },
    ]);
  });

  it('ends a waiting reader at once when the hub finishes it (shutdown)', async () => {
    const { sub, closed } = subscription(3);
    const waiting = sub.next();
    sub.finish('shutdown', 'bye');
    expect(await waiting).toEqual({ value: { type: 'end', reason: 'shutdown', message: 'bye' }, done: false });
    expect(await sub.next()).toEqual({ value: undefined, done: true });
    expect(closed).toEqual(['shutdown']);
  });

  it('return() unsubscribes once and releases a waiting reader', async () => {
    const { sub, closed } = subscription(3);
    const waiting = sub.next();
    await sub.return();
    await sub.return();
    expect(await waiting).toEqual({ value: undefined, done: true });
    sub.push(event(1));
    expect(sub.buffered).toBe(0);
    expect(closed).toEqual(['closed']);
  });
});
