import { describe, expect, it } from 'vitest';
import { apiErrorLine, NetworkError } from './errors.js';

describe('apiErrorLine', () => {
  it('title: detail and the HTTP status, without repeating invalid params the detail already names', () => {
    const line = apiErrorLine(
      400,
      'GET',
      'http://h/api/v1/agents',
      {
        title: 'Invalid request',
        status: 400,
        detail: 'limit: must be between 1 and 500, got 0',
        invalidParams: [{ name: 'limit', reason: 'must be between 1 and 500, got 0' }],
      },
      '',
    );
    expect(line).toBe('Invalid request: limit: must be between 1 and 500, got 0 (HTTP 400)');
  });

  it('adds invalid params, config problems and conflicting rollouts the detail does not say', () => {
    expect(
      apiErrorLine(
        422,
        'POST',
        'u',
        {
          title: 'Invalid rollout strategy',
          detail: 'The strategy cannot be used.',
          invalidParams: [{ name: 'strategy.soakSecond', reason: 'unknown field' }],
        },
        '',
      ),
    ).toBe('Invalid rollout strategy: The strategy cannot be used. [strategy.soakSecond: unknown field] (HTTP 422)');
    expect(
      apiErrorLine(
        422,
        'POST',
        'u',
        {
          title: 'Invalid config version',
          detail: '1 problem',
          problems: [{ file: 'fluent-bit.conf', line: 3, column: 5, message: 'missing Name' }],
        },
        '',
      ),
    ).toBe('Invalid config version: 1 problem [fluent-bit.conf:3:5: missing Name] (HTTP 422)');
    expect(
      apiErrorLine(
        409,
        'POST',
        'u',
        {
          title: 'Agents already in an active rollout',
          detail: 'overlap',
          conflictingRollouts: [{ id: 'r-1', agents: 3 }],
        },
        '',
      ),
    ).toBe('Agents already in an active rollout: overlap [conflicting rollouts: r-1 (3 agents)] (HTTP 409)');
  });

  it('names the request when the answer is not problem+json', () => {
    expect(
      apiErrorLine(502, 'GET', 'http://h/api/v1/me', undefined, '<html>\n bad gateway </html>', 'Bad Gateway'),
    ).toBe('GET http://h/api/v1/me answered HTTP 502 Bad Gateway: <html> bad gateway </html>');
  });

  it('a network error names the URL and the socket error', () => {
    const cause = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
    const err = new NetworkError(
      'http://127.0.0.1:1/api/v1/me',
      Object.assign(new TypeError('fetch failed'), { cause }),
    );
    expect(err.message).toBe('cannot reach http://127.0.0.1:1/api/v1/me: connect ECONNREFUSED 127.0.0.1:1');
  });
});
