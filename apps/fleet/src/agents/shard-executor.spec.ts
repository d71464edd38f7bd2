import { describe, expect, it } from 'vitest';
import { ShardExecutor } from './shard-executor.js';

const tick = (ms = 5): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('ShardExecutor', () => {
  it('runs the work of one shard strictly one after the other', async () => {
    const ex = new ShardExecutor();
    const log: string[] = [];
    const job = (name: string, ms: number) => async () => {
      log.push(`${name}:start`);
      await tick(ms);
      log.push(`${name}:end`);
      return name;
    };
    const results = await Promise.all([ex.run(1, job('a', 20)), ex.run(1, job('b', 1)), ex.run(1, job('c', 5))]);
    expect(results).toEqual(['a', 'b', 'c']);
    expect(log).toEqual(['a:start', 'a:end', 'b:start', 'b:end', 'c:start', 'c:end']);
  });

  it('runs different shards concurrently', async () => {
    const ex = new ShardExecutor();
    const log: string[] = [];
    await Promise.all([
      ex.run(1, async () => {
        log.push('1:start');
        await tick(20);
        log.push('1:end');
      }),
      ex.run(2, async () => {
        log.push('2:start');
        await tick(1);
        log.push('2:end');
      }),
    ]);
    expect(log).toEqual(['1:start', '2:start', '2:end', '1:end']);
  });

  it('a failure rejects only its own caller and does not stop the chain', async () => {
    const ex = new ShardExecutor();
    const failed = ex.run(3, async () => {
      throw new Error('boom');
    });
    const next = ex.run(3, async () => 'ok');
    await expect(failed).rejects.toThrow('boom');
    await expect(next).resolves.toBe('ok');
  });

  it('drain waits for everything queued so far', async () => {
    const ex = new ShardExecutor();
    let done = false;
    void ex.run(4, async () => {
      await tick(10);
      done = true;
    });
    await ex.drain(4);
    expect(done).toBe(true);
    await ex.drain(99); // nothing queued: resolves at once
  });
});
