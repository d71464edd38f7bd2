import swc from 'unplugin-swc';
import { defineConfig } from 'vitest/config';
import { fileURLToPath } from 'node:url';

const lib = (name: string): string => fileURLToPath(new URL(`./libs/${name}/src/index.ts`, import.meta.url));

const alias = {
  '@opamp/proto': lib('proto'),
  '@opamp/protocol': lib('protocol'),
  '@opamp/bus': lib('bus'),
  '@opamp/database': lib('database'),
  '@opamp/domain': lib('domain'),
  '@opamp/config': lib('config'),
  '@opamp/telemetry': lib('telemetry'),
  '@opamp/rollouts': lib('rollouts'),
};

// The api's first admin key in tests (OPAMP_ADMIN_API_KEY): the medium tests' apps and every api
// process the e2e tests start read it from the environment; the test HTTP clients send it.
export const TEST_ADMIN_API_KEY = 'opk_testadmin0_c2VjcmV0LW9mLXRoZS10ZXN0LWFkbWluLWtleS0wMDAwMDA';
const env = { OPAMP_ADMIN_API_KEY: TEST_ADMIN_API_KEY };

// Nest needs decorator metadata, which esbuild does not emit; SWC does.
const plugins = [swc.vite({ module: { type: 'es6' } })];

// graphql resolves to its development build under Vite and to its production build under plain
// Node: graphql-ws must load the same copy as the api's code (one GraphQLSchema class), so Vite
// processes it too.
const server = { deps: { inline: ['graphql-ws'] } };

// Projects inherit nothing from the root (`extends` is unset), so each lists its own plugins.
export default defineConfig({
  test: {
    projects: [
      {
        plugins,
        resolve: { alias },
        test: {
          name: 'unit',
          // test/bench: only the unit tests of the benchmark's pure helpers; the benchmark itself is `npm run bench`.
          include: ['apps/**/*.spec.ts', 'libs/**/*.spec.ts', 'scripts/**/*.spec.ts', 'test/bench/**/*.spec.ts'],
          environment: 'node',
          server,
        },
      },
      {
        plugins,
        resolve: { alias },
        test: {
          name: 'medium',
          include: ['apps/**/*.medium-spec.ts', 'libs/**/*.medium-spec.ts', 'test/**/*.medium-spec.ts'],
          environment: 'node',
          server,
          globalSetup: ['test/support/global-setup.ts'],
          env,
          testTimeout: 30_000,
          hookTimeout: 60_000,
          fileParallelism: false,
        },
      },
      {
        plugins,
        resolve: { alias },
        test: {
          name: 'e2e',
          include: ['test/**/*.e2e-spec.ts'],
          environment: 'node',
          server,
          globalSetup: ['test/support/global-setup.ts'],
          env,
          testTimeout: 60_000,
          hookTimeout: 120_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
