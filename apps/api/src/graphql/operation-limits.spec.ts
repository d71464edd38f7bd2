import { buildSchema, getIntrospectionQuery, parse, specifiedRules, validate } from 'graphql';
import { describe, expect, it } from 'vitest';
import { readSdl } from './executable-schema.js';
import { DEFAULT_OPERATION_LIMITS, operationLimitsRule } from './operation-limits.js';

const schema = buildSchema(readSdl());
const check = (query: string, limits = DEFAULT_OPERATION_LIMITS) =>
  validate(schema, parse(query), [...specifiedRules, operationLimitsRule(limits)]).map((e) => ({
    message: e.message,
    code: e.extensions.code,
  }));

describe('operation limits', () => {
  it('lets the standard introspection query and a full agent page through', () => {
    expect(check(getIntrospectionQuery())).toEqual([]);
    expect(
      check('{ agents { items { uid labels capabilities { names } description { identifying } } nextCursor } }'),
    ).toEqual([]);
  });

  it('refuses deep nesting, counting through fragments', () => {
    const q = 'fragment W on Rollout { waves { counts { applied } } } { rollout(id: "x") { ...W } }';
    expect(check(q, { maxDepth: 3, maxFields: 100, maxRootFields: 5 })).toEqual([
      { message: expect.stringMatching(/nests 4 levels deep \(at most 3\)/), code: 'GRAPHQL_VALIDATION_FAILED' },
    ]);
  });

  it('refuses too many root fields (aliases of expensive lists)', () => {
    const q = `{ ${Array.from({ length: 21 }, (_, i) => `a${i}: agents(limit: 500) { nextCursor }`).join(' ')} }`;
    expect(check(q)).toEqual([
      { message: expect.stringMatching(/has 21 root fields \(at most 20\)/), code: 'GRAPHQL_VALIDATION_FAILED' },
    ]);
  });

  it('refuses too many selected fields', () => {
    const q = `{ me { ${Array.from({ length: 30 }, (_, i) => `f${i}: id`).join(' ')} } }`;
    expect(check(q, { maxDepth: 10, maxFields: 20, maxRootFields: 5 })[0]?.message).toMatch(
      /selects more than 20 fields/,
    );
  });
});
