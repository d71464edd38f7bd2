// HTTP helpers for the api's medium tests: a JSON client bound to the app under test and the
// problem+json assertion every route's error cases share.
import { expect } from 'vitest';

export type Json = Record<string, unknown>;

export interface Reply {
  status: number;
  /** Content-Type of the response ('' when absent). */
  type: string;
  location: string | null;
  body: Json;
}

/**
 * Sends JSON to the api listening at `baseUrl()` (read at call time, so a client can be built
 * before the app listens). A string body is sent as is (malformed-JSON tests).
 */
export function httpClient(
  baseUrl: () => string,
  /** Bearer token sent with every request; default: the test admin key (OPAMP_ADMIN_API_KEY). */
  token: string | null = process.env.OPAMP_ADMIN_API_KEY ?? null,
) {
  const call = async (method: string, path: string, body?: unknown): Promise<Reply> => {
    const headers: Record<string, string> = body === undefined ? {} : { 'content-type': 'application/json' };
    if (token) headers.authorization = `Bearer ${token}`;
    const res = await fetch(`${baseUrl()}${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    return {
      status: res.status,
      type: res.headers.get('content-type') ?? '',
      location: res.headers.get('location'),
      body: (await res.json()) as Json,
    };
  };
  return {
    call,
    get: (path: string): Promise<Reply> => call('GET', path),
    post: (path: string, body?: unknown): Promise<Reply> => call('POST', path, body),
  };
}

/** An RFC 9457 problem with this status; `detail` (and `type`) when given must match. */
export function expectProblem(
  r: Pick<Reply, 'status' | 'type' | 'body'>,
  status: number,
  detail?: RegExp,
  type?: string,
): void {
  expect(r.status, JSON.stringify(r.body)).toBe(status);
  expect(r.type).toMatch(/^application\/problem\+json/);
  expect(r.body).toMatchObject({
    type: expect.any(String),
    title: expect.any(String),
    status,
    detail: expect.any(String),
  });
  if (type) expect(r.body.type).toBe(type);
  if (detail) expect(r.body.detail).toMatch(detail);
}
