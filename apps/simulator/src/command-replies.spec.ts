import { describe, expect, it } from 'vitest';
import { decideCommandReply } from './command-replies.js';

const AGENT = '0192e3a4-5b6c-7d8e-9f01-23456789abcd';
const bytes = (v: unknown): Uint8Array => new TextEncoder().encode(typeof v === 'string' ? v : JSON.stringify(v));
const json = (d: Uint8Array): unknown => JSON.parse(new TextDecoder().decode(d));

describe('decideCommandReply', () => {
  it('answers a command with status succeeded, echoing type and parameters as the result', () => {
    const d = decideCommandReply('flush', bytes({ commandId: 'c-1', parameters: { input: 'tail.0' } }), AGENT);
    expect(d).toMatchObject({ kind: 'reply', commandId: 'c-1', status: 'succeeded' });
    expect(d.kind === 'reply' && json(d.data)).toEqual({
      commandId: 'c-1',
      status: 'succeeded',
      result: { type: 'flush', parameters: { input: 'tail.0' }, agent: AGENT },
    });
  });

  it('answers the types it is told to fail with status failed and an error', () => {
    const d = decideCommandReply('pause', bytes({ commandId: 'c-2', parameters: {} }), AGENT, { failTypes: ['pause'] });
    expect(d).toMatchObject({ kind: 'reply', status: 'failed' });
    expect(d.kind === 'reply' && json(d.data)).toMatchObject({
      commandId: 'c-2',
      status: 'failed',
      error: { message: expect.stringContaining('pause') },
    });
  });

  it('does not answer the types it is told to ignore', () => {
    expect(decideCommandReply('slow', bytes({ commandId: 'c-3' }), AGENT, { ignoreTypes: ['slow'] })).toEqual({
      kind: 'ignore',
      commandId: 'c-3',
    });
  });

  it('leaves anything that is not a command alone (raw bytes, JSON without commandId)', () => {
    expect(decideCommandReply('t', Uint8Array.of(0xff, 0xfe), AGENT).kind).toBe('notCommand');
    expect(decideCommandReply('t', bytes('not json'), AGENT).kind).toBe('notCommand');
    expect(decideCommandReply('t', bytes([1, 2]), AGENT).kind).toBe('notCommand');
    expect(decideCommandReply('t', bytes({ parameters: {} }), AGENT).kind).toBe('notCommand');
    expect(decideCommandReply('t', bytes({ commandId: 7 }), AGENT).kind).toBe('notCommand');
  });
});
