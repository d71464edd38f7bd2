// The api scenario's results and its section of docs/performance.md (no I/O). The scenario itself
// is api-scenario.ts; the seeded data api-seed.ts.
import type { BenchReport, ScenarioRun } from './report.js';
import { fmt, int, type LatencySummary } from './stats.js';

export interface ApiFirstPage {
  /** Query string after /api/v1/agents? */
  query: string;
  runs: number;
  /** Items on the page. */
  items: number;
  apiMs: LatencySummary;
}

export interface ApiResult {
  agents: number;
  seedSeconds: number;
  /** The walked listing. */
  selector: string;
  pageSize: number;
  /** Agents the walk returned (each once) and how many the selector matches in Postgres. */
  walked: number;
  matching: number;
  pages: number;
  /** Per page over REST (GET /api/v1/agents?selector=…&limit=…&cursor=…), client-side. */
  apiMs: LatencySummary;
  /** The same pages, the same SQL, straight from Postgres with `pg` (no HTTP, no Prisma, no JSON view). */
  pgMs: LatencySummary;
  walkSeconds: number;
  firstPages: ApiFirstPage[];
  summaryMs: LatencySummary;
  rollout: {
    targets: number;
    state: string;
    /** POST /api/v1/rollouts until its 201. */
    createSeconds: number;
    /** Reading the same targets with `pg`: SELECT uid FROM agents WHERE <selector>. */
    baselineSeconds: number;
  };
}

function table(head: string[], rows: string[][]): string {
  const line = (cells: string[]): string => `| ${cells.join(' | ')} |`;
  return [line(head), line(head.map(() => '---')), ...rows.map(line)].join('\n');
}

const ms = (s: LatencySummary): string[] => [fmt(s.p50, 1), fmt(s.p99, 1), fmt(s.max, 1)];

export function apiSection(run: ScenarioRun<ApiResult>, report: BenchReport): string {
  const note =
    run.startedAt === report.startedAt
      ? []
      : ['', `_From an earlier run: ${run.startedAt}, \`${run.command}\`; ${run.machineNote}._`];
  const parts: string[] = ['### Platform API latency', ...note];
  for (const r of run.results) {
    parts.push(
      '',
      `${int(r.agents)} agents seeded straight into Postgres (${fmt(r.seedSeconds)} s; test/bench/api-seed.ts), one api ` +
        'process from the build, requests one at a time with the admin key. Latency is measured by the client, ' +
        'from sending the request to the end of the body. The baseline runs the same SQL for the same pages ' +
        'directly with `pg`: the ratio is what HTTP, authentication, Prisma and the JSON view add.',
      '',
      table(
        [
          'request',
          'runs',
          'items',
          'p50 (ms)',
          'p99 (ms)',
          'max (ms)',
          'pg baseline p50 / p99 (ms)',
          'ratio p50 / p99',
        ],
        [
          [
            `every page of \`?selector=${r.selector}&limit=${r.pageSize}\``,
            int(r.pages),
            `${int(r.walked)} of ${int(r.matching)}`,
            ...ms(r.apiMs),
            `${fmt(r.pgMs.p50, 1)} / ${fmt(r.pgMs.p99, 1)}`,
            `**${fmt(r.apiMs.p50 / r.pgMs.p50, 1)}** / ${fmt(r.apiMs.p99 / r.pgMs.p99, 1)}`,
          ],
          ...r.firstPages.map((p) => [
            `first page of \`?${p.query}\``,
            int(p.runs),
            int(p.items),
            ...ms(p.apiMs),
            '—',
            '—',
          ]),
          ['`GET /api/v1/fleet/summary`', int(r.summaryMs.count), '—', ...ms(r.summaryMs), '—', '—'],
        ],
      ),
      '',
      `Walking all ${int(r.pages)} pages took ${fmt(r.walkSeconds)} s. ` +
        `Creating a rollout over ${int(r.rollout.targets)} targets (\`POST /api/v1/rollouts\`, selector \`bench=api\`, ` +
        `default strategy; state ${r.rollout.state}) took **${fmt(r.rollout.createSeconds, 2)} s**; reading those ` +
        `targets alone with \`pg\` takes ${fmt(r.rollout.baselineSeconds, 2)} s ` +
        `(ratio ${fmt(r.rollout.createSeconds / r.rollout.baselineSeconds, 1)}: planning, the target snapshot and the waves).`,
    );
  }
  return parts.join('\n');
}
