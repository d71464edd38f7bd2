// `npm test`: every test tier against fresh local infrastructure.
//   1. start the test Postgres + Redis (ports 54339 / 63799, data wiped in .data/test),
//   2. apply the migrations,
//   3. run `vitest run` for all projects (unit, medium, e2e) with DATABASE_URL, REDIS_URL and
//      OPAMP_TEST_INFRA=1 exported (the default reporter on screen, JSON in tmp/vitest-report.json),
//   4. stop the infrastructure,
//   5. print one last line `N passed, N failed` and exit non-zero when anything failed.
// Arguments after `npm test --` go to vitest (e.g. `npm test -- --project unit libs/domain`).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { redactDatabaseUrl } from '../libs/database/src/database-url.js';
import { applyMigrations } from '../libs/database/src/migrate.js';
import { REPO_ROOT, startTestInfra, type RunningInfra } from './infra.js';

const REPORT = path.join(REPO_ROOT, 'tmp', 'vitest-report.json');

interface JsonReport {
  numPassedTests?: number;
  numFailedTests?: number;
  success?: boolean;
  testResults?: { status?: string; message?: string; name?: string; assertionResults?: { status?: string }[] }[];
}

/** Tests that passed and failed according to the JSON report; a file that failed without any failing test (it did not load) counts as one failure. */
export function countResults(report: JsonReport): { passed: number; failed: number } {
  const passed = report.numPassedTests ?? 0;
  let failed = report.numFailedTests ?? 0;
  for (const file of report.testResults ?? []) {
    if (file.status === 'failed' && !(file.assertionResults ?? []).some((a) => a.status === 'failed')) failed += 1;
  }
  return { passed, failed };
}

async function runVitest(args: string[], env: NodeJS.ProcessEnv, onChild: (c: ChildProcess) => void): Promise<number> {
  const require = createRequire(import.meta.url);
  const vitestBin = path.join(path.dirname(require.resolve('vitest/package.json')), 'vitest.mjs');
  const child = spawn(
    process.execPath,
    [
      vitestBin,
      'run',
      '--passWithNoTests',
      '--reporter=default',
      '--reporter=json',
      `--outputFile.json=${REPORT}`,
      ...args,
    ],
    { cwd: REPO_ROOT, env, stdio: 'inherit' },
  );
  onChild(child);
  return new Promise((resolve) => {
    child.on('error', (err) => {
      console.error(`could not run vitest: ${err.message}`);
      resolve(1);
    });
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 + 1 : 1)));
  });
}

/** Static checks that CI must enforce too; each counts as one test in the summary line. */
const STATIC_CHECKS: { name: string; command: string[] }[] = [
  { name: 'typecheck (tsc --noEmit)', command: ['node_modules/.bin/tsc', '-p', 'tsconfig.json', '--noEmit'] },
  {
    name: 'lint (eslint, Nx module boundaries)',
    command: [
      'bash',
      '-c',
      'NX_DAEMON=false node_modules/.bin/nx show projects >/dev/null && node_modules/.bin/eslint .',
    ],
  },
  {
    name: 'format (prettier --check)',
    command: [
      'node_modules/.bin/prettier',
      '--check',
      '--log-level=warn',
      'apps/**/*.ts',
      'libs/**/*.ts',
      'scripts/**/*.ts',
      'test/**/*.ts',
    ],
  },
  {
    name: 'generated protobuf and Prisma code up to date',
    command: ['bash', '-c', 'bash scripts/check-generated.sh && bash scripts/check-prisma-generated.sh'],
  },
  {
    name: 'README configuration tables up to date',
    command: [process.execPath, '--import', '@swc-node/register/esm-register', 'scripts/env-docs.ts', '--check'],
  },
];

async function runStaticChecks(): Promise<{ passed: number; failed: number }> {
  let passed = 0;
  let failed = 0;
  for (const check of STATIC_CHECKS) {
    const t0 = Date.now();
    const [cmd, ...args] = check.command as [string, ...string[]];
    const code = await new Promise<number>((resolve) => {
      const child = spawn(cmd, args, { cwd: REPO_ROOT, stdio: 'inherit', env: process.env });
      child.on('error', () => resolve(1));
      child.on('exit', (c) => resolve(c ?? 1));
    });
    console.log(`[test] ${code === 0 ? 'ok  ' : 'FAIL'} ${check.name} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
    if (code === 0) passed++;
    else failed++;
  }
  return { passed, failed };
}

async function main(): Promise<number> {
  const started = Date.now();
  await mkdir(path.dirname(REPORT), { recursive: true });
  await rm(REPORT, { force: true });

  let infra: RunningInfra | undefined;
  let vitest: ChildProcess | undefined;
  let interrupted = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (interrupted) return;
    interrupted = true;
    console.error(`\n[test] ${signal}: stopping`);
    vitest?.kill(signal);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  // A full run (no vitest arguments) also runs the static checks CI enforces.
  const checks =
    process.argv.length <= 2 && process.env.OPAMP_SKIP_STATIC_CHECKS !== '1'
      ? await runStaticChecks()
      : { passed: 0, failed: 0 };

  let vitestStatus = 1;
  try {
    const t0 = Date.now();
    infra = await startTestInfra({ fresh: true });
    await applyMigrations(infra.databaseUrl);
    console.log(
      `[test] Postgres ${redactDatabaseUrl(infra.databaseUrl)} and Redis ${infra.redisUrl} ready, migrations applied (${Date.now() - t0} ms)`,
    );
    if (!interrupted) {
      vitestStatus = await runVitest(
        process.argv.slice(2),
        { ...process.env, DATABASE_URL: infra.databaseUrl, REDIS_URL: infra.redisUrl, OPAMP_TEST_INFRA: '1' },
        (c) => (vitest = c),
      );
    }
  } catch (err) {
    console.error(`[test] ${err instanceof Error ? err.message : String(err)}`);
  } finally {
    await infra?.stop().catch((err: unknown) => console.error(`[test] stopping infrastructure: ${String(err)}`));
  }

  let passed = 0;
  let failed = 1;
  if (existsSync(REPORT)) {
    try {
      ({ passed, failed } = countResults(JSON.parse(await readFile(REPORT, 'utf8')) as JsonReport));
    } catch (err) {
      console.error(`[test] unreadable ${REPORT}: ${String(err)}`);
    }
  } else {
    console.error(`[test] vitest wrote no report (${REPORT})`);
  }
  // vitest failed without a failing test (unhandled error, global setup): the summary must not read as green.
  if (vitestStatus !== 0 && failed === 0) failed = 1;
  passed += checks.passed;
  failed += checks.failed;
  console.error(`[test] finished in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  console.log(`${passed} passed, ${failed} failed`);
  return failed > 0 || vitestStatus !== 0 ? 1 : 0;
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.join(REPO_ROOT, 'scripts', 'test.ts')) {
  main().then(
    (code) => process.exit(code),
    (err: unknown) => {
      console.error(err);
      console.log('0 passed, 1 failed');
      process.exit(1);
    },
  );
}
