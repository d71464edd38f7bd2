import { afterEach, describe, expect, it, vi } from 'vitest';
import { create } from '@bufbuild/protobuf';
import { OutboundEnvelopeSchema } from '@opamp/proto';
import { PendingReplies } from './pending-replies.js';

describe('PendingReplies', () => {
  afterEach(() => vi.useRealTimers());

  it('hands a reply to the HTTP request waiting for it, and times out otherwise', async () => {
    vi.useFakeTimers();
    const pending = new PendingReplies('gw:', 1000);
    const id = pending.nextId();
    const waiting = pending.wait(id);
    const reply = create(OutboundEnvelopeSchema, { requestId: id, connectionId: id });
    expect(pending.settle(id, reply)).toBe(true);
    await expect(waiting).resolves.toBe(reply);

    const late = pending.nextId();
    const timedOut = pending.wait(late);
    vi.advanceTimersByTime(1001);
    await expect(timedOut).resolves.toBeUndefined();
    // A reply arriving after the timeout finds nobody waiting.
    expect(pending.settle(late, reply)).toBe(false);
    pending.close();
  });

  it('counts WS messages until answered and forgets lost replies after the timeout', () => {
    vi.useFakeTimers();
    const pending = new PendingReplies('gw:', 1000);
    const a = pending.nextId();
    const b = pending.nextId();
    expect(a).not.toBe(b);
    pending.track(a);
    pending.track(b);
    expect(pending.size).toBe(2);
    expect(pending.settle(a, undefined)).toBe(false); // tracked, but nobody waits on WS entries
    expect(pending.size).toBe(1);
    vi.advanceTimersByTime(2000);
    expect(pending.size).toBe(0);
    pending.close();
  });
});
