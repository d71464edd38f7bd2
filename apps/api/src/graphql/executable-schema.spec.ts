// The schema contract: the SDL, the resolvers and the role map agree; roles are enforced and
// mutations audited by the resolver wrapper; errors leave with codes. Services are stubs here
// (the medium and e2e tests run the real ones).
import { readFileSync } from 'node:fs';
import { Logger } from '@nestjs/common';
import { buildSchema, execute, parse, type ExecutionResult } from 'graphql';
import { describe, expect, it, vi } from 'vitest';
import type { AuditSinkEntry } from '../audit/audit-sink.js';
import type { Principal, Role } from '../auth/roles.js';
import { ProblemException, ProblemType, agentNotFound } from '../common/problem.js';
import { buildExecutableSchema, readSdl, schemaMismatches, SchemaMismatchError } from './executable-schema.js';
import { FIELD_ACCESS } from './field-access.js';
import type { GraphqlContext } from './resolver-types.js';
import { createResolvers, type ResolverDeps } from './resolvers/index.js';
import { SCHEMA_FILE, schemaDocument } from './schema-document.js';

const principal = (role: Role): Principal => ({
  id: `key:${role}`,
  type: 'api_key',
  name: `${role} key`,
  role,
  rateLimitPerMinute: 0,
});

const stubDeps = (overrides: Partial<Record<keyof ResolverDeps, object>> = {}): ResolverDeps =>
  ({
    agents: { list: vi.fn(), get: vi.fn(), events: vi.fn() },
    labels: { replace: vi.fn(), patch: vi.fn() },
    forget: { forget: vi.fn() },
    fleet: { summary: vi.fn() },
    commands: {
      restart: vi.fn(),
      customMessage: vi.fn(),
      send: vi.fn(),
      bulk: vi.fn(),
      list: vi.fn(),
      get: vi.fn(),
    },
    commandTypes: { list: vi.fn(), put: vi.fn(), delete: vi.fn() },
    configs: {
      create: vi.fn(),
      list: vi.fn(),
      get: vi.fn(),
      addVersion: vi.fn(),
      listVersions: vi.fn(),
      getVersion: vi.fn(),
      diff: vi.fn(),
    },
    rollouts: { create: vi.fn(), list: vi.fn(), get: vi.fn(), control: vi.fn() },
    enrollmentTokens: { create: vi.fn(), list: vi.fn(), get: vi.fn(), revoke: vi.fn() },
    apiKeys: { create: vi.fn(), list: vi.fn(), get: vi.fn(), revoke: vi.fn() },
    audit: { list: vi.fn() },
    hub: { subscribe: vi.fn() },
    ...overrides,
  }) as unknown as ResolverDeps;

function setup(deps: ResolverDeps = stubDeps()) {
  const audit: AuditSinkEntry[] = [];
  const schema = buildExecutableSchema(createResolvers(deps), {
    record: (e) => {
      audit.push(e);
      return Promise.resolve();
    },
  });
  const run = async (query: string, role: Role = 'admin', variables?: Record<string, unknown>) => {
    const ctx: GraphqlContext = { principal: principal(role), ip: '10.0.0.1', userAgent: 'spec' };
    return (await execute({
      schema,
      document: parse(query),
      variableValues: variables,
      contextValue: ctx,
    })) as ExecutionResult;
  };
  return { schema, audit, run };
}

const codes = (r: ExecutionResult): unknown[] => (r.errors ?? []).map((e) => e.extensions.code);

describe('GraphQL schema contract', () => {
  const schema = buildSchema(readSdl());
  const rootFields = (['Query', 'Mutation', 'Subscription'] as const).flatMap((root) =>
    Object.keys(
      schema.getType(root) && 'getFields' in schema.getType(root)!
        ? (schema.getType(root) as { getFields(): object }).getFields()
        : {},
    ).map((f) => `${root}.${f}`),
  );

  it('the SDL, the resolvers and the role map agree', () => {
    expect(schemaMismatches(schema, createResolvers(stubDeps()))).toEqual([]);
  });

  it('every root field has a role and every role entry names a root field', () => {
    expect(Object.keys(FIELD_ACCESS).sort()).toEqual([...rootFields].sort());
    const withoutOne = Object.fromEntries(Object.entries(FIELD_ACCESS).filter(([k]) => k !== 'Query.agents'));
    expect(schemaMismatches(schema, createResolvers(stubDeps()), withoutOne)).toEqual([
      'Query.agents has no role in apps/api/src/graphql/field-access.ts',
    ]);
    const withExtra = { ...FIELD_ACCESS, 'Query.nothing': { role: 'viewer' as const } };
    expect(schemaMismatches(schema, createResolvers(stubDeps()), withExtra)).toEqual([
      'field-access.ts names Query.nothing: the SDL has no such root field',
    ]);
  });

  it('mutations need at least operator and are audited; queries and subscriptions are not audited (roles: rest-twins.spec.ts)', () => {
    for (const key of rootFields) {
      const access = FIELD_ACCESS[key]!;
      if (key.startsWith('Mutation.')) {
        expect(['operator', 'admin'], key).toContain(access.role);
        expect(access.audit?.action, key).toMatch(/^[a-z_]+(\.[a-z_]+)+$/);
      } else {
        expect(access.audit, key).toBeUndefined();
      }
    }
  });

  it('refuses to build when an SDL field has neither a resolver nor a source property', () => {
    const sdl = readSdl().replace('type Principal {', 'type Principal {\n  nickname: String');
    expect(() => buildExecutableSchema(createResolvers(stubDeps()), { record: () => Promise.resolve() }, sdl)).toThrow(
      SchemaMismatchError,
    );
    expect(() => buildExecutableSchema(createResolvers(stubDeps()), { record: () => Promise.resolve() }, sdl)).toThrow(
      /Principal\.nickname has neither a resolver nor a source property/,
    );
  });

  it(`is committed up to date in ${SCHEMA_FILE} (run: npm run graphql:schema -- --write)`, () => {
    expect(readFileSync(SCHEMA_FILE, 'utf8')).toBe(schemaDocument());
  });
});

describe('resolver wrapper', () => {
  it('a viewer may query but not mutate: FORBIDDEN, the service is not called, the attempt is audited as denied', async () => {
    const deps = stubDeps();
    (deps.configs.get as ReturnType<typeof vi.fn>).mockResolvedValue(null);
    const { run, audit } = setup(deps);
    expect((await run('{ config(name: "a") { name } }', 'viewer')).errors).toBeUndefined();

    const r = await run('mutation { abortRollout(id: "0192e3a4-5b6c-7d8e-9f01-23456789abcd") { id } }', 'viewer');
    expect(codes(r)).toEqual(['FORBIDDEN']);
    expect(r.errors![0]!.message).toMatch(/Mutation\.abortRollout needs the operator role/);
    expect(deps.rollouts.control).not.toHaveBeenCalled();
    expect(audit).toEqual([
      expect.objectContaining({
        action: 'rollouts.abort',
        resourceType: 'rollout',
        resourceId: '0192e3a4-5b6c-7d8e-9f01-23456789abcd',
        interface: 'graphql',
        outcome: 'denied',
        status: 403,
        sourceIp: '10.0.0.1',
        userAgent: 'spec',
      }),
    ]);
  });

  it('audits a successful mutation with the resource id from the result, and a failed one with its status', async () => {
    const deps = stubDeps();
    const created = {
      id: '0192e3a4-5b6c-7d8e-9f01-000000000001',
      state: 'running',
      reason: null,
      step: 0,
      createdAt: new Date('2026-11-25T10:00:00Z'),
      config: { id: 'c1', name: 'web', agentType: 'fluentbit' },
      version: { id: '1', number: 1, hash: 'ab' },
      selector: '',
      strategy: {},
      plan: { targets: 0, stages: [], excluded: {}, minimumDurationSeconds: 0 },
    };
    (deps.rollouts.create as ReturnType<typeof vi.fn>).mockResolvedValueOnce(created);
    (deps.rollouts.control as ReturnType<typeof vi.fn>).mockRejectedValueOnce(
      new ProblemException({
        type: 'urn:x',
        title: 'Invalid rollout transition',
        status: 409,
        detail: 'it is completed',
        state: 'completed',
      } as never),
    );
    const { run, audit } = setup(deps);
    const ok = await run(
      'mutation { createRollout(input: {config: "web", version: 1, selector: ""}) { id dryRun createdAt } }',
      'operator',
    );
    expect(ok).toEqual({
      data: { createRollout: { id: created.id, dryRun: false, createdAt: '2026-11-25T10:00:00.000Z' } },
    });
    const bad = await run(
      'mutation { pauseRollout(id: "0192e3a4-5b6c-7d8e-9f01-000000000001", reason: "x") { id } }',
      'operator',
    );
    expect(bad.errors![0]!.extensions).toMatchObject({ code: 'CONFLICT', status: 409, state: 'completed' });
    expect(deps.rollouts.create).toHaveBeenCalledWith(
      expect.objectContaining({ config: 'web', version: 1, dryRun: false }),
      'key:operator',
    );
    expect(deps.rollouts.control).toHaveBeenCalledWith('0192e3a4-5b6c-7d8e-9f01-000000000001', 'pause', {
      reason: 'x',
    });
    expect(audit.map((a) => [a.action, a.outcome, a.status, a.resourceId])).toEqual([
      ['rollouts.create', 'success', 200, created.id],
      ['rollouts.pause', 'failure', 409, '0192e3a4-5b6c-7d8e-9f01-000000000001'],
    ]);
  });

  it('maps problems to codes: validation → BAD_USER_INPUT with invalidParams, 404 → NOT_FOUND, anything else → INTERNAL', async () => {
    const deps = stubDeps();
    (deps.agents.get as ReturnType<typeof vi.fn>).mockRejectedValueOnce(
      agentNotFound('0192e3a4-5b6c-7d8e-9f01-23456789abcd'),
    );
    (deps.configs.list as ReturnType<typeof vi.fn>).mockRejectedValueOnce(new Error('secret detail'));
    const { run } = setup(deps);

    const badUid = await run('{ agent(uid: "nope") { uid } }');
    expect(badUid.errors![0]!.extensions).toMatchObject({
      code: 'BAD_USER_INPUT',
      status: 400,
      type: ProblemType.invalidUid,
      invalidParams: [{ name: 'uid', reason: expect.any(String) }],
    });
    const missing = await run('{ agent(uid: "0192e3a4-5b6c-7d8e-9f01-23456789abcd") { uid } }');
    expect(missing.errors![0]!.extensions).toMatchObject({
      code: 'NOT_FOUND',
      status: 404,
      type: ProblemType.agentNotFound,
    });
    const limit = await run('{ agents(limit: 0) { nextCursor } }');
    expect(limit.errors![0]!.extensions).toMatchObject({ code: 'BAD_USER_INPUT', invalidParams: [{ name: 'limit' }] });
    const logged = vi.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
    const internal = await run('{ configs { nextCursor } }');
    expect(internal.errors![0]!.extensions.code).toBe('INTERNAL');
    expect(internal.errors![0]!.message).not.toMatch(/secret/);
    expect(logged).toHaveBeenCalledWith(expect.stringContaining('secret detail'));
    logged.mockRestore();
  });

  it('passes GraphQL arguments to the REST parse functions (lists comma-joined, nulls left out)', async () => {
    const deps = stubDeps();
    (deps.agents.list as ReturnType<typeof vi.fn>).mockResolvedValue({ items: [], nextCursor: null });
    const { run } = setup(deps);
    const r = await run(
      '{ agents(selector: "env=prod", status: [connected, offline], health: [unhealthy], limit: 2, cursor: null) { nextCursor } }',
      'viewer',
    );
    expect(r.errors).toBeUndefined();
    expect(deps.agents.list).toHaveBeenCalledWith(
      expect.objectContaining({
        states: ['connected', 'offline'],
        health: ['unhealthy'],
        limit: 2,
        cursor: undefined,
        selector: [expect.objectContaining({ key: 'env' })],
      }),
    );
  });

  it('CommandUpdate.command reads the command as it is now; null when it is gone', async () => {
    const deps = stubDeps();
    const id = '0192e3a4-5b6c-7d8e-9f01-00000000000a';
    (deps.commands.get as ReturnType<typeof vi.fn>)
      .mockResolvedValueOnce({ id, state: 'succeeded' })
      .mockRejectedValueOnce(new ProblemException({ type: 'urn:x', title: 'gone', status: 404, detail: 'gone' }));
    const command = createResolvers(deps).types.CommandUpdate!.fields.command! as (s: unknown) => unknown;
    expect(await command({ commandId: id.toUpperCase() })).toEqual({ id, state: 'succeeded' });
    expect(deps.commands.get).toHaveBeenCalledWith(id);
    expect(await command({ commandId: id })).toBeNull();
    expect(await command({ commandId: 'not-a-uuid' })).toBeNull();
    expect(deps.commands.get).toHaveBeenCalledTimes(2);
  });

  it('serialises BigInt and DateTime, and JSON as plain JSON', async () => {
    const deps = stubDeps();
    (deps.agents.events as ReturnType<typeof vi.fn>).mockResolvedValue({
      items: [{ id: '9007199254740993', type: 'connected', at: '2026-11-25T10:00:00.000Z', data: { big: 1n } }],
      nextCursor: null,
    });
    const { run } = setup(deps);
    const r = await run('{ agentEvents(uid: "0192e3a4-5b6c-7d8e-9f01-23456789abcd") { items { id at data } } }');
    expect(r).toEqual({
      data: {
        agentEvents: { items: [{ id: '9007199254740993', at: '2026-11-25T10:00:00.000Z', data: { big: '1' } }] },
      },
    });
  });
});
