import { describe, expect, it } from 'vitest';
import { parseLabelSelector } from '@opamp/domain';
import { Prisma } from './generated/prisma/client.js';
import { jsonSpellings, requirementSql, selectorConditions, selectorToSql } from './selector-sql.js';

const build = (selector: string): Prisma.Sql => Prisma.join(selectorConditions(parseLabelSelector(selector)), ' AND ');

describe('selectorConditions', () => {
  it('is empty for the empty selector', () => {
    expect(selectorConditions(parseLabelSelector(''))).toEqual([]);
  });

  it('never puts keys or values into the SQL text', () => {
    const sql = build('service.name=fluent-bit,env in (prod,stage),tier notin (x),!canary,zone,owner!=bob');
    for (const word of ['service.name', 'fluent-bit', 'prod', 'stage', 'canary', 'zone', 'bob', 'tier']) {
      expect(sql.text).not.toContain(word);
    }
    expect(sql.values).toEqual(
      expect.arrayContaining(['service.name', 'fluent-bit', 'prod', 'stage', 'canary', 'zone', 'bob', 'tier']),
    );
    expect(sql.text).toMatch(/\$\d+::text/);
  });

  it('reads the label from API labels, then non-identifying, then identifying attributes', () => {
    const sql = requirementSql(parseLabelSelector('k')[0]!);
    expect(sql.text).toBe(
      "COALESCE(a.labels ->> $1::text, a.description -> 'nonIdentifying' ->> $2::text, a.description -> 'identifying' ->> $3::text) IS NOT NULL",
    );
    expect(sql.values).toEqual(['k', 'k', 'k']);
  });

  it.each([
    ['!k', /IS NULL$/],
    ['k!=v', /IS DISTINCT FROM \$4::text$/],
    ['k notin (a,b)', /^COALESCE\(COALESCE\(.*\) NOT IN \(\$4::text,\$5::text\), true\)$/],
  ])('%s', (selector, shape) => {
    expect(requirementSql(parseLabelSelector(selector)[0]!).text).toMatch(shape);
  });

  it('adds an index-friendly containment pre-filter to = and in', () => {
    const eq = requirementSql(parseLabelSelector('env=prod')[0]!);
    expect(eq.text).toMatch(
      /^\(\(a\.labels @> \$1::jsonb OR a\.description @> \$2::jsonb OR a\.description @> \$3::jsonb\) AND COALESCE/,
    );
    expect(eq.values.slice(0, 3)).toEqual([
      '{"env":"prod"}',
      '{"nonIdentifying":{"env":"prod"}}',
      '{"identifying":{"env":"prod"}}',
    ]);
    const num = requirementSql(parseLabelSelector('replicas=3')[0]!);
    expect(num.values).toEqual(
      expect.arrayContaining(['{"replicas":"3"}', '{"replicas":3}', '{"identifying":{"replicas":3}}']),
    );
  });

  it('drops the pre-filter when it would get too large', () => {
    const values = Array.from({ length: 20 }, (_, i) => `v${i}`).join(',');
    const sql = requirementSql(parseLabelSelector(`k in (${values})`)[0]!);
    expect(sql.text).not.toContain('@>');
    expect(sql.text).toMatch(/IN \(\$4::text,/);
  });

  it('spells values the way jsonb could hold them', () => {
    expect(jsonSpellings('prod')).toEqual(['"prod"']);
    expect(jsonSpellings('3')).toEqual(['"3"', '3']);
    expect(jsonSpellings('1.5e3')).toEqual(['"1.5e3"', '1.5e3']);
    expect(jsonSpellings('true')).toEqual(['"true"', 'true']);
    expect(jsonSpellings('007')).toEqual(['"007"']);
    expect(jsonSpellings('')).toEqual(['""']);
  });

  it('reads another table alias when told, and refuses an alias that is not an identifier', () => {
    const sql = requirementSql(parseLabelSelector('k')[0]!, 'ag');
    expect(sql.text).toMatch(/^COALESCE\(ag\.labels ->> \$1::text, ag\.description/);
    expect(() => requirementSql(parseLabelSelector('k')[0]!, 'a; DROP TABLE agents')).toThrow(/invalid table alias/);
  });
});

describe('selectorToSql', () => {
  it('is TRUE for the empty selector', () => {
    expect(selectorToSql(parseLabelSelector('')).text).toBe('TRUE');
  });

  it('ANDs the requirements in one parenthesised condition', () => {
    const sql = selectorToSql(parseLabelSelector('a,!b'));
    expect(sql.text).toMatch(/^\(COALESCE\(.*\) IS NOT NULL AND COALESCE\(.*\) IS NULL\)$/);
    expect(sql.values).toEqual(['a', 'a', 'a', 'b', 'b', 'b']);
  });
});
