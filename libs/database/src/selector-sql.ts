// Translates a parsed label selector (libs/domain parseLabelSelector) into a parameterised SQL
// condition over the `agents` table (alias `a` unless told otherwise). Every key and value travels
// as a bind parameter; the SQL text is built only from constants. Shared by the api (agent
// listings), the rollout store (plans, targets) and the rollout worker (follow new agents).
//
// An agent's label value for key k is the first non-null of
//     a.labels ->> k                                   (set through the API)
//     a.description -> 'nonIdentifying' ->> k          (reported by the agent)
//     a.description -> 'identifying' ->> k
// which is exactly `agentLabels()` of libs/domain, so SQL and in-memory matching agree.
//
// For `=`/`==`/`in` we AND a containment pre-filter (`@>`) that the GIN jsonb_path_ops indexes
// on labels and description can answer, so selective queries do not scan the table. The
// pre-filter is implied by the exact condition (a value can only equal "v" if some layer holds
// the JSON string "v", or the JSON number / boolean spelled v), so it never drops a match.
// Behind a pre-filter the exact condition is written `COALESCE(<exact>, false)`: the same rows,
// but Postgres estimates it at 50 % instead of 0.5 %. The pre-filter's estimate (from the GIN
// index statistics) then carries the selectivity, so a selector matching 30 % of 100,000 agents
// is read in uid order from the primary key (2 ms a page) instead of fetching all 30,000 matches
// and sorting them for every page (55 ms), while a selective one still uses the GIN indexes.
import type { LabelSelector, SelectorRequirement } from '@opamp/domain';
import { Prisma } from './generated/prisma/client.js';

/** Beyond this many `@>` terms for one requirement the pre-filter costs more than it saves. */
const MAX_PREFILTER_TERMS = 24;

const JSON_NUMBER = /^(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/;

const ALIAS = /^[a-z_][a-z0-9_]{0,62}$/;

function checkedAlias(alias: string): Prisma.Sql {
  if (!ALIAS.test(alias)) throw new Error(`invalid table alias ${JSON.stringify(alias)}`);
  return Prisma.raw(alias);
}

function labelValue(key: string, a: Prisma.Sql): Prisma.Sql {
  return Prisma.sql`COALESCE(${a}.labels ->> ${key}::text, ${a}.description -> 'nonIdentifying' ->> ${key}::text, ${a}.description -> 'identifying' ->> ${key}::text)`;
}

/** JSON texts a stored scalar could have when its `->>` text is `value`. */
export function jsonSpellings(value: string): string[] {
  const out = [JSON.stringify(value)];
  if (JSON_NUMBER.test(value)) out.push(value);
  if (value === 'true' || value === 'false') out.push(value);
  return out;
}

function containmentPrefilter(key: string, values: readonly string[], a: Prisma.Sql): Prisma.Sql | undefined {
  const terms: Prisma.Sql[] = [];
  for (const v of values) {
    for (const spelled of jsonSpellings(v)) {
      // The JSON text is assembled from JSON.stringify(key) and a validated spelling, and is still
      // passed as a parameter (cast to jsonb by Postgres), never spliced into the SQL.
      const pair = `{${JSON.stringify(key)}:${spelled}}`;
      terms.push(
        Prisma.sql`${a}.labels @> ${pair}::jsonb`,
        Prisma.sql`${a}.description @> ${`{"nonIdentifying":${pair}}`}::jsonb`,
        Prisma.sql`${a}.description @> ${`{"identifying":${pair}}`}::jsonb`,
      );
    }
  }
  if (terms.length === 0 || terms.length > MAX_PREFILTER_TERMS) return undefined;
  return Prisma.sql`(${Prisma.join(terms, ' OR ')})`;
}

/** SQL condition for one requirement over the agents row aliased `alias`. */
export function requirementSql(r: SelectorRequirement, alias = 'a'): Prisma.Sql {
  const a = checkedAlias(alias);
  const v = labelValue(r.key, a);
  switch (r.operator) {
    case 'exists':
      return Prisma.sql`${v} IS NOT NULL`;
    case 'doesNotExist':
      return Prisma.sql`${v} IS NULL`;
    case 'equals': {
      const exact = Prisma.sql`${v} = ${r.values[0]!}::text`;
      const pre = containmentPrefilter(r.key, r.values, a);
      return pre ? Prisma.sql`(${pre} AND COALESCE(${exact}, false))` : exact;
    }
    case 'notEquals':
      return Prisma.sql`${v} IS DISTINCT FROM ${r.values[0]!}::text`;
    case 'in': {
      const exact = Prisma.sql`${v} IN (${Prisma.join(r.values.map((x) => Prisma.sql`${x}::text`))})`;
      const pre = containmentPrefilter(r.key, r.values, a);
      return pre ? Prisma.sql`(${pre} AND COALESCE(${exact}, false))` : exact;
    }
    case 'notIn':
      return Prisma.sql`COALESCE(${v} NOT IN (${Prisma.join(r.values.map((x) => Prisma.sql`${x}::text`))}), true)`;
  }
}

/** SQL conditions (to be ANDed) for a selector; empty for the empty selector. */
export function selectorConditions(selector: LabelSelector, alias = 'a'): Prisma.Sql[] {
  return selector.map((r) => requirementSql(r, alias));
}

/** One SQL condition for a whole selector (`TRUE` for the empty selector), parenthesised. */
export function selectorToSql(selector: LabelSelector, alias = 'a'): Prisma.Sql {
  const conditions = selectorConditions(selector, alias);
  return conditions.length === 0 ? Prisma.sql`TRUE` : Prisma.sql`(${Prisma.join(conditions, ' AND ')})`;
}
