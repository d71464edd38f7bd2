import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { acceptsGzip, gunzipBounded } from './gzip.js';

describe('gunzipBounded', () => {
  const body = Buffer.from('0a10' + '0192e3a45b6c7d8e9f0123456789abcd' + '1001', 'hex');

  it('inflates a valid gzip body', async () => {
    const r = await gunzipBounded(gzipSync(body), 1024);
    expect(r.ok).toBe(true);
    if (r.ok) expect(r.data.equals(body)).toBe(true);
  });

  it('allows output of exactly maxBytes and rejects maxBytes + 1', async () => {
    const data = Buffer.alloc(1000, 7);
    const gz = gzipSync(data);
    const exact = await gunzipBounded(gz, 1000);
    expect(exact.ok && exact.data.length).toBe(1000);
    expect(await gunzipBounded(gz, 999)).toEqual({ ok: false, reason: 'too_large' });
    expect(await gunzipBounded(gzipSync(Buffer.alloc(0)), 0)).toEqual({ ok: true, data: Buffer.alloc(0) });
  });

  it('stops a 100 MiB gzip bomb at the limit (too_large) without inflating it', async () => {
    // ~100 KiB of gzip that expands to 100 MiB of zeros.
    const bomb = gzipSync(Buffer.alloc(100 * 1024 * 1024), { level: 9 });
    expect(bomb.length).toBeLessThan(200 * 1024);
    const before = process.memoryUsage().arrayBuffers;
    const started = performance.now();
    const r = await gunzipBounded(bomb, 1024 * 1024);
    const elapsed = performance.now() - started;
    expect(r).toEqual({ ok: false, reason: 'too_large' });
    // Inflating the full 100 MiB takes far longer than stopping after ~1 MiB; the memory check is
    // loose because GC timing is not deterministic, but 100 MiB of output would clearly exceed it.
    expect(elapsed).toBeLessThan(2000);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(50 * 1024 * 1024);
  });

  it('reports corrupt input: plain protobuf, truncated stream, empty body', async () => {
    expect(await gunzipBounded(body, 1024)).toEqual({ ok: false, reason: 'corrupt' });
    const gz = gzipSync(Buffer.alloc(10_000, 1));
    expect(await gunzipBounded(gz.subarray(0, Math.floor(gz.length / 2)), 1 << 20)).toEqual({
      ok: false,
      reason: 'corrupt',
    });
    expect(await gunzipBounded(new Uint8Array(0), 1024)).toEqual({ ok: false, reason: 'corrupt' });
    const flipped = Buffer.from(gz);
    flipped[flipped.length - 5]! ^= 0xff; // CRC/ISIZE trailer damage
    expect((await gunzipBounded(flipped, 1 << 20)).ok).toBe(false);
  });

  it('rejects an invalid limit', async () => {
    await expect(gunzipBounded(body, -1)).rejects.toThrow(RangeError);
  });
});

describe('acceptsGzip', () => {
  const cases: Array<[string | undefined, boolean]> = [
    [undefined, false],
    ['', false],
    ['gzip', true],
    ['GZIP', true],
    ['gzip;q=0', false],
    ['gzip; q=0.0', false],
    ['gzip;q=0.001', true],
    ['gzip;q=1', true],
    ['gzip;Q=0.5', true],
    ['*', true],
    ['*;q=0', false],
    ['*, gzip;q=0', false],
    ['gzip;q=0, *', false],
    ['*;q=0.5, gzip;q=0', false],
    ['deflate, br', false],
    ['deflate, br, *;q=0.1', true],
    ['identity', false],
    ['br;q=1.0, gzip;q=0.8, *;q=0.1', true],
    ['gzip;q=abc', false], // invalid q counts as 0
    ['gzip;q=', false],
    ['gzip;q=-1', false],
    ['*;q=bogus', false],
    ['  gzip  ', true],
    ['x-gzip', false],
    ['gzip;level=1', true], // unrelated parameters ignored, q defaults to 1
  ];
  it.each(cases)('Accept-Encoding %j -> %s', (header, expected) => {
    expect(acceptsGzip(header)).toBe(expected);
  });
});
