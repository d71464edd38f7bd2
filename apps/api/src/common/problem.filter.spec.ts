import { BadRequestException, ConflictException, NotFoundException } from '@nestjs/common';
import { describe, expect, it } from 'vitest';
import { toProblem } from './problem.filter.js';
import { ProblemException, ProblemType } from './problem.js';

const req = { method: 'GET', originalUrl: '/api/v1/x?y=1', url: '/api/v1/x?y=1' };

describe('toProblem', () => {
  it('passes ProblemException through with the request path as instance', () => {
    const p = toProblem(
      new ProblemException({ type: ProblemType.agentNotFound, title: 'Agent not found', status: 404, detail: 'nope' }),
      req,
    );
    expect(p).toEqual({
      type: ProblemType.agentNotFound,
      title: 'Agent not found',
      status: 404,
      detail: 'nope',
      instance: '/api/v1/x',
    });
  });

  it('explains unknown routes', () => {
    const p = toProblem(new NotFoundException('Cannot GET /api/v1/x'), req);
    expect(p).toMatchObject({
      type: ProblemType.routeNotFound,
      status: 404,
      detail: 'There is no route GET /api/v1/x. The REST API lives under /api/v1.',
    });
  });

  it('maps other HTTP exceptions to about:blank with their message', () => {
    expect(toProblem(new ConflictException('busy'), req)).toMatchObject({
      type: 'about:blank',
      title: 'Conflict',
      status: 409,
      detail: 'busy',
    });
    expect(toProblem(new BadRequestException(['a', 'b']), req)).toMatchObject({ status: 400, detail: 'a; b' });
  });

  it('answers 503 (dependency unavailable) when Postgres cannot be reached', () => {
    const down = { code: 'P1001', message: "Can't reach database server at 127.0.0.1:5432" };
    expect(toProblem(down, req)).toMatchObject({ type: ProblemType.unavailable, status: 503 });
  });

  it('hides internal errors', () => {
    const p = toProblem(new Error('connection string postgres://secret'), req);
    expect(p).toMatchObject({ type: ProblemType.internal, status: 500 });
    expect(p.detail).not.toContain('secret');
  });
});
