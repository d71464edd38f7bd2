import { describe, expect, it } from 'vitest';
import { isDatabaseUnavailable } from './unavailable.js';

const adapterError = (cause: Record<string, unknown>) => ({
  name: 'PrismaClientKnownRequestError',
  code: 'P2010',
  message: 'Raw query failed.',
  meta: { driverAdapterError: { name: 'DriverAdapterError', cause } },
});

describe('isDatabaseUnavailable', () => {
  it.each([
    ['P1001 (cannot reach the server)', { code: 'P1001', message: "Can't reach database server at 127.0.0.1:5432" }],
    ['P2024 (pool timeout)', { code: 'P2024', message: 'Timed out fetching a new connection' }],
    ['adapter: DatabaseNotReachable', adapterError({ kind: 'DatabaseNotReachable', host: '127.0.0.1', port: 1 })],
    ['adapter: ConnectionClosed', adapterError({ kind: 'ConnectionClosed' })],
    [
      'adapter: 57P01 admin shutdown',
      adapterError({ kind: 'postgres', code: '57P01', message: 'terminating connection' }),
    ],
    ['pg: 57P03 starting up', { code: '57P03', message: 'the database system is starting up' }],
    ['pg: connection terminated', new Error('Connection terminated unexpectedly')],
    ['wrapped', { message: 'flush failed', cause: { code: 'P1017', message: 'Server has closed the connection.' } }],
  ])('%s: unavailable', (_name, err) => {
    expect(isDatabaseUnavailable(err)).toBe(true);
  });

  it.each([
    ['unique violation', adapterError({ kind: 'UniqueConstraintViolation' })],
    ['missing table', adapterError({ kind: 'postgres', code: '42P01', message: 'relation "agents" does not exist' })],
    ['syntax error', { code: '42601', message: 'syntax error' }],
    ['plain error', new Error('boom')],
    ['not an error', 'P1001'],
    ['nothing', undefined],
  ])('%s: not an availability problem', (_name, err) => {
    expect(isDatabaseUnavailable(err)).toBe(false);
  });
});
