// Bounded gzip handling for plain-HTTP bodies (checklist §1.2): the size limit applies AFTER
// decompression, and inflating must stop at limit+1 bytes so a gzip bomb never materialises.
import { gunzip, type InputType, type ZlibOptions } from 'node:zlib';

export type GunzipResult = { ok: true; data: Buffer } | { ok: false; reason: 'too_large' | 'corrupt' };

function gunzipAsync(input: InputType, options: ZlibOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    gunzip(input, options, (err, out) => (err ? reject(err) : resolve(out)));
  });
}

/**
 * Inflates a gzip body, producing at most `maxBytes` bytes.
 *
 * `maxOutputLength: maxBytes + 1` makes zlib abort with ERR_BUFFER_TOO_LARGE as soon as the output
 * passes the limit (it checks after every inflated chunk), so memory stays around the limit no matter
 * how large the bomb would expand. Exactly `maxBytes` bytes of output is allowed. An empty input is not
 * a gzip stream and counts as corrupt; trailing non-gzip garbage after a member is ignored by zlib.
 * Runs on the libuv thread pool (async API), so large bodies do not block the event loop.
 */
export async function gunzipBounded(input: Uint8Array, maxBytes: number): Promise<GunzipResult> {
  if (!Number.isSafeInteger(maxBytes) || maxBytes < 0) throw new RangeError('maxBytes must be a non-negative integer');
  if (input.length === 0) return { ok: false, reason: 'corrupt' };
  try {
    const data = await gunzipAsync(input, { maxOutputLength: maxBytes + 1 });
    if (data.length > maxBytes) return { ok: false, reason: 'too_large' };
    return { ok: true, data };
  } catch (e) {
    const code = (e as { code?: unknown } | null)?.code;
    if (code === 'ERR_BUFFER_TOO_LARGE') return { ok: false, reason: 'too_large' };
    return { ok: false, reason: 'corrupt' };
  }
}

/**
 * Parses a qvalue the way the reference server does: a missing q means 1, anything that is not a
 * plain non-negative decimal number counts as 0 (so it can never enable gzip by accident).
 */
function parseQ(params: string[]): number {
  for (const p of params) {
    const eq = p.indexOf('=');
    if (eq < 0) continue;
    if (p.slice(0, eq).trim().toLowerCase() !== 'q') continue;
    const raw = p.slice(eq + 1).trim();
    if (!/^(?:\d+(?:\.\d*)?|\.\d+)$/.test(raw)) return 0;
    const q = Number(raw);
    return Number.isFinite(q) ? q : 0;
  }
  return 1;
}

/**
 * Whether the response may be gzipped given the request's Accept-Encoding (checklist §1.2):
 * yes if `gzip` is listed with q > 0, or `*` is listed with q > 0 and `gzip` is not explicitly q=0.
 * No header (or an empty one) means no compression.
 */
export function acceptsGzip(acceptEncodingHeader: string | undefined): boolean {
  if (acceptEncodingHeader === undefined) return false;
  let gzipPositive = false;
  let gzipZero = false;
  let starPositive = false;
  for (const element of acceptEncodingHeader.split(',')) {
    const [codingRaw = '', ...params] = element.split(';');
    const coding = codingRaw.trim().toLowerCase();
    if (coding !== 'gzip' && coding !== '*') continue;
    const q = parseQ(params);
    if (coding === 'gzip') {
      if (q > 0) gzipPositive = true;
      else gzipZero = true;
    } else if (q > 0) {
      starPositive = true;
    }
  }
  return gzipPositive || (starPositive && !gzipZero);
}
