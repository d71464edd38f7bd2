import { describe, expect, it } from 'vitest';
import { ParameterValidators, schemaProblems } from './command-schemas.js';

const SCHEMA = {
  type: 'object',
  properties: {
    input: { type: 'string', minLength: 1 },
    seconds: { type: 'integer', minimum: 1, maximum: 3600 },
    mode: { enum: ['soft', 'hard'] },
  },
  required: ['input'],
  additionalProperties: false,
};

describe('schemaProblems', () => {
  it('accepts a JSON Schema (draft 2020-12)', () => {
    expect(schemaProblems(SCHEMA)).toEqual([]);
    expect(schemaProblems({})).toEqual([]);
  });

  it('refuses what is not a schema, or not one ajv can compile strictly (typos are caught)', () => {
    expect(schemaProblems([])).toEqual([{ name: 'parametersSchema', reason: expect.stringContaining('JSON Schema') }]);
    expect(schemaProblems({ type: 'objekt' })[0]!.name).toBe('parametersSchema/type');
    expect(schemaProblems({ type: 'object', propertiez: {} })).toEqual([
      { name: 'parametersSchema', reason: expect.stringContaining('unknown keyword: "propertiez"') },
    ]);
  });
});

describe('ParameterValidators', () => {
  const v = new ParameterValidators();

  it('accepts valid parameters', () => {
    expect(v.validate(SCHEMA, { input: 'tail.0', seconds: 5, mode: 'soft' })).toEqual([]);
  });

  it('names every problem by JSON pointer under parameters', () => {
    expect(v.validate(SCHEMA, { seconds: 0, mode: 'x', extra: true })).toEqual(
      expect.arrayContaining([
        { name: 'parameters/input', reason: 'is required' },
        { name: 'parameters/extra', reason: 'is not allowed by the schema' },
        { name: 'parameters/seconds', reason: 'must be >= 1' },
        { name: 'parameters/mode', reason: 'must be one of "soft", "hard"' },
      ]),
    );
    expect(v.validate(SCHEMA, 'nope')).toEqual([{ name: 'parameters', reason: 'must be object' }]);
  });

  it('recompiles a changed schema, also one that keeps its $id', () => {
    const a = { $id: 'https://example.com/schemas/flush.json', type: 'object', required: ['a'] };
    const b = { $id: 'https://example.com/schemas/flush.json', type: 'object', required: ['b'] };
    expect(v.validate(a, { b: 1 })).toHaveLength(1);
    expect(v.validate(b, { b: 1 })).toEqual([]);
    expect(v.validate(a, { a: 1 })).toEqual([]);
  });
});
