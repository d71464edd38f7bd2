import { describe, expect, it } from 'vitest';
import {
  LABEL_SELECTOR_LIMITS,
  LabelSelectorError,
  agentLabels,
  formatLabelSelector,
  matchesLabelSelector,
  parseLabelSelector,
  type Labels,
} from './label-selector.js';

function errorOf(input: string): LabelSelectorError {
  try {
    parseLabelSelector(input);
  } catch (err) {
    expect(err).toBeInstanceOf(LabelSelectorError);
    return err as LabelSelectorError;
  }
  throw new Error(`expected "${input}" to be rejected`);
}

describe('parseLabelSelector', () => {
  it('parses the empty selector (and whitespace) to no requirements', () => {
    expect(parseLabelSelector('')).toEqual([]);
    expect(parseLabelSelector('   \t ')).toEqual([]);
  });

  it('parses every operator', () => {
    expect(parseLabelSelector('service.name=fluent-bit,env in (prod,stage),!canary,tier')).toEqual([
      { key: 'service.name', operator: 'equals', values: ['fluent-bit'] },
      { key: 'env', operator: 'in', values: ['prod', 'stage'] },
      { key: 'canary', operator: 'doesNotExist', values: [] },
      { key: 'tier', operator: 'exists', values: [] },
    ]);
    expect(parseLabelSelector('a==1,b!=2,c notin (x, y)')).toEqual([
      { key: 'a', operator: 'equals', values: ['1'] },
      { key: 'b', operator: 'notEquals', values: ['2'] },
      { key: 'c', operator: 'notIn', values: ['x', 'y'] },
    ]);
  });

  it('ignores whitespace around tokens', () => {
    expect(parseLabelSelector('  a = b ,  c  in(d ,e ) , ! f , g ')).toEqual([
      { key: 'a', operator: 'equals', values: ['b'] },
      { key: 'c', operator: 'in', values: ['d', 'e'] },
      { key: 'f', operator: 'doesNotExist', values: [] },
      { key: 'g', operator: 'exists', values: [] },
    ]);
  });

  it('accepts empty values like Kubernetes', () => {
    expect(parseLabelSelector('a=')).toEqual([{ key: 'a', operator: 'equals', values: [''] }]);
    expect(parseLabelSelector('a!=,b=c')).toEqual([
      { key: 'a', operator: 'notEquals', values: [''] },
      { key: 'b', operator: 'equals', values: ['c'] },
    ]);
    expect(parseLabelSelector('a in (x,,y)')[0]!.values).toEqual(['x', '', 'y']);
    expect(parseLabelSelector('a in (x,)')[0]!.values).toEqual(['x', '']);
    expect(parseLabelSelector('a in (,x)')[0]!.values).toEqual(['', 'x']);
  });

  it('deduplicates list values', () => {
    expect(parseLabelSelector('a in (x,y,x)')[0]!.values).toEqual(['x', 'y']);
  });

  it('accepts attribute-style keys and values', () => {
    expect(parseLabelSelector('example.com/team=obs,service.instance.id=0192e3a4-5b6c,k8s_ns=a:b@c+1/d')).toEqual([
      { key: 'example.com/team', operator: 'equals', values: ['obs'] },
      { key: 'service.instance.id', operator: 'equals', values: ['0192e3a4-5b6c'] },
      { key: 'k8s_ns', operator: 'equals', values: ['a:b@c+1/d'] },
    ]);
  });

  it('treats in/notin as values after = and as keywords after a key', () => {
    expect(parseLabelSelector('a=in')).toEqual([{ key: 'a', operator: 'equals', values: ['in'] }]);
    expect(parseLabelSelector('a in (in,notin)')[0]!.values).toEqual(['in', 'notin']);
  });

  it.each([
    ['a=b,', /expected a label key, found end of selector/],
    [',a=b', /expected a label key, found ","/],
    ['a=b c=d', /expected "," or end of selector, found "c"/],
    ['a in b', /expected "\(" after "in"/],
    ['a in (b', /missing "\)"/],
    ['a in ()', /"in" needs at least one value/],
    ['a notin ()', /"notin" needs at least one value/],
    ['a in (b c)', /expected "," or "\)" in the "in" list/],
    ['a===b', /expected a value, found "="/],
    ['a=(b)', /expected a value, found "\("/],
    ['!a=b', /"!a" takes no operator or value/],
    ['!', /expected a label key, found end of selector/],
    ['a !b', /expected an operator/],
    ['a > 1', /invalid label key|expected an operator/],
    ['-a=b', /invalid label key "-a"/],
    ['a.=b', /invalid label key "a\."/],
    ['in=b', /expected a label key, found "in"/],
    ['a="b"', /invalid value "\\"b\\""/],
    ['a=[1]', /invalid value/],
    ['a={}', /invalid value/],
    ['a=b-', /invalid value "b-"/],
    ['a=b;drop table agents', /invalid value/],
  ])('rejects %j', (input, message) => {
    expect(errorOf(input).message).toMatch(message);
  });

  it('reports the position of the problem', () => {
    expect(errorOf('a=b, c d').position).toBe(7);
    expect(errorOf('a=b,').position).toBe(4);
    expect(errorOf('x in (1').position).toBe(7);
  });

  it('enforces limits', () => {
    expect(errorOf('a'.repeat(LABEL_SELECTOR_LIMITS.maxLength + 1)).message).toMatch(/selector longer than/);
    expect(errorOf('k'.repeat(LABEL_SELECTOR_LIMITS.maxKeyLength + 1)).message).toMatch(/key longer than/);
    expect(errorOf(`a=${'v'.repeat(LABEL_SELECTOR_LIMITS.maxValueLength + 1)}`).message).toMatch(/value longer than/);
    const many = Array.from({ length: LABEL_SELECTOR_LIMITS.maxRequirements + 1 }, (_, i) => `k${i}`).join(',');
    expect(errorOf(many).message).toMatch(/too many requirements/);
    const ok = Array.from({ length: LABEL_SELECTOR_LIMITS.maxRequirements }, (_, i) => `k${i}`).join(',');
    expect(parseLabelSelector(ok)).toHaveLength(LABEL_SELECTOR_LIMITS.maxRequirements);
    const values = Array.from({ length: LABEL_SELECTOR_LIMITS.maxValues + 1 }, (_, i) => `v${i}`).join(',');
    expect(errorOf(`a in (${values})`).message).toMatch(/too many values/);
  });

  it('returns frozen requirements', () => {
    const s = parseLabelSelector('a in (b)');
    expect(Object.isFrozen(s)).toBe(true);
    expect(Object.isFrozen(s[0])).toBe(true);
    expect(Object.isFrozen(s[0]!.values)).toBe(true);
  });
});

describe('formatLabelSelector', () => {
  it.each([
    'a=b',
    'a!=b',
    'a in (x,y)',
    'a notin (x)',
    '!a',
    'a',
    'a=,b in (,x)',
    'service.name=fluent-bit,env in (prod,stage),!canary,tier',
  ])('round-trips %j', (text) => {
    const parsed = parseLabelSelector(text);
    expect(parseLabelSelector(formatLabelSelector(parsed))).toEqual(parsed);
  });

  it('normalises == and whitespace', () => {
    expect(formatLabelSelector(parseLabelSelector(' a == b , c in ( x , y ) '))).toBe('a=b,c in (x,y)');
  });
});

describe('matchesLabelSelector', () => {
  const prod: Labels = { 'service.name': 'fluent-bit', env: 'prod', tier: 'edge' };
  const stage: Labels = { 'service.name': 'fluent-bit', env: 'stage', canary: 'true' };
  const dev: Labels = { 'service.name': 'otelcol', env: 'dev', tier: '' };
  const bare: Labels = {};
  const all = { prod, stage, dev, bare };

  const matching = (selector: string): string[] =>
    Object.entries(all)
      .filter(([, labels]) => matchesLabelSelector(parseLabelSelector(selector), labels))
      .map(([name]) => name);

  it('empty selector matches everything', () => {
    expect(matching('')).toEqual(['prod', 'stage', 'dev', 'bare']);
  });

  it('= and == require the key with that value', () => {
    expect(matching('env=prod')).toEqual(['prod']);
    expect(matching('env==prod')).toEqual(['prod']);
    expect(matching('service.name=fluent-bit')).toEqual(['prod', 'stage']);
    expect(matching('tier=')).toEqual(['dev']);
  });

  it('!= matches a different value or a missing key', () => {
    expect(matching('env!=prod')).toEqual(['stage', 'dev', 'bare']);
    expect(matching('tier!=')).toEqual(['prod', 'stage', 'bare']);
  });

  it('in requires the key with one of the values', () => {
    expect(matching('env in (prod,stage)')).toEqual(['prod', 'stage']);
    expect(matching('env in (nope)')).toEqual([]);
  });

  it('notin matches other values or a missing key', () => {
    expect(matching('env notin (prod,stage)')).toEqual(['dev', 'bare']);
  });

  it('exists and !', () => {
    expect(matching('tier')).toEqual(['prod', 'dev']);
    expect(matching('!tier')).toEqual(['stage', 'bare']);
    expect(matching('!canary')).toEqual(['prod', 'dev', 'bare']);
  });

  it('ANDs requirements', () => {
    expect(matching('service.name=fluent-bit,env in (prod,stage),!canary,tier')).toEqual(['prod']);
    expect(matching('env=prod,env=stage')).toEqual([]);
  });

  it('does not see inherited object properties as labels', () => {
    expect(matching('constructor')).toEqual([]);
    expect(matching('toString!=x')).toEqual(['prod', 'stage', 'dev', 'bare']);
  });
});

describe('agentLabels', () => {
  it('overlays identifying < non-identifying < API labels', () => {
    const labels = agentLabels({
      identifying: { 'service.name': 'fluent-bit', a: 'ident', b: 'ident' },
      nonIdentifying: { 'host.name': 'h1', a: 'nonident', c: 'nonident' },
      labels: { a: 'label', team: 'obs' },
    });
    expect({ ...labels }).toEqual({
      'service.name': 'fluent-bit',
      a: 'label',
      b: 'ident',
      'host.name': 'h1',
      c: 'nonident',
      team: 'obs',
    });
  });

  it('renders scalars as text and skips nulls', () => {
    const labels = agentLabels({
      identifying: { n: 42, f: 1.5, t: true, x: 'below' },
      nonIdentifying: { big: 12345678901234567890n, x: null, arr: ['a'], obj: { k: 1 } },
      labels: null,
    });
    expect({ ...labels }).toEqual({
      n: '42',
      f: '1.5',
      t: 'true',
      x: 'below',
      big: '12345678901234567890',
      arr: '["a"]',
      obj: '{"k":1}',
    });
    expect(matchesLabelSelector(parseLabelSelector('n=42,t=true,x=below,arr'), labels)).toBe(true);
  });

  it('tolerates missing sources', () => {
    expect({ ...agentLabels({}) }).toEqual({});
  });
});
