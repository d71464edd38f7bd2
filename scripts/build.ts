// `npm run build`: compiles apps/ and libs/ to plain ESM JavaScript in dist/ with SWC
// (decorator metadata for Nest, `@opamp/*` aliases rewritten to relative paths), and copies the
// SQL migrations next to the code that applies them. Running from dist/ instead of transpiling
// at start-up saves ~100 MiB of RSS per process and seconds of start time; `npm start` and the
// container images run this output. Type checking is `npm run typecheck`'s job, not this one's.
// dist/apps/cli is also a package of its own (`opampctl`, with its bin): `npm pack dist/apps/cli`.
import { transformFile, type Options } from '@swc/core';
import { chmod, cp, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const DIST = path.join(ROOT, 'dist');
const SOURCE_DIRS = ['apps', 'libs'];
const SKIP = /(\.spec|\.medium-spec|\.e2e-spec|\.d)\.ts$/;

async function* sources(dir: string): AsyncGenerator<string> {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      if (entry.name === 'node_modules' || entry.name === 'testing') continue;
      yield* sources(full);
    } else if ((entry.name.endsWith('.ts') && !SKIP.test(entry.name)) || entry.name.endsWith('.graphql')) {
      yield full;
    }
  }
}

function swcOptions(file: string): Options {
  return {
    filename: file,
    sourceMaps: true,
    module: { type: 'es6', resolveFully: true },
    jsc: {
      target: 'es2023',
      parser: { syntax: 'typescript', decorators: true },
      transform: { legacyDecorator: true, decoratorMetadata: true },
      keepClassNames: true,
      baseUrl: ROOT,
      paths: { '@opamp/*': ['libs/*/src/index.ts'] },
    },
  };
}

async function compile(file: string, outDir: string): Promise<void> {
  if (file.endsWith('.graphql')) {
    // Read at run time next to the code (the api's GraphQL SDL).
    const copy = path.join(outDir, path.relative(ROOT, file));
    await mkdir(path.dirname(copy), { recursive: true });
    await cp(file, copy);
    return;
  }
  const out = path.join(outDir, path.relative(ROOT, file)).replace(/\.ts$/, '.js');
  const { code, map } = await transformFile(file, swcOptions(file));
  await mkdir(path.dirname(out), { recursive: true });
  await writeFile(out, `${code}\n//# sourceMappingURL=${path.basename(out)}.map\n`);
  if (map) await writeFile(`${out}.map`, map);
}

/**
 * Makes `<outDir>/apps/cli` an installable package: its launcher (which runs the compiled
 * src/main.js next to it), a package.json naming the bin and the one dependency, docs/cli.md as
 * its README. The CLI imports no lib, so the folder stands alone.
 */
async function packageCli(outDir: string): Promise<void> {
  const cliDir = path.join(outDir, 'apps', 'cli');
  const source = JSON.parse(await readFile(path.join(ROOT, 'apps', 'cli', 'package.json'), 'utf8')) as Record<
    string,
    unknown
  >;
  const root = JSON.parse(await readFile(path.join(ROOT, 'package.json'), 'utf8')) as {
    dependencies: Record<string, string>;
  };
  await mkdir(path.join(cliDir, 'bin'), { recursive: true });
  await cp(path.join(ROOT, 'apps', 'cli', 'bin', 'opampctl.js'), path.join(cliDir, 'bin', 'opampctl.js'));
  await chmod(path.join(cliDir, 'bin', 'opampctl.js'), 0o755);
  await cp(path.join(ROOT, 'docs', 'cli.md'), path.join(cliDir, 'README.md'));
  const { private: _private, ...rest } = source;
  const pkg = { ...rest, files: ['bin', 'src', 'README.md'], dependencies: { commander: root.dependencies.commander } };
  await writeFile(path.join(cliDir, 'package.json'), `${JSON.stringify(pkg, null, 2)}\n`);
}

/** Compiles only the CLI into `<outDir>/apps/cli` as a package (what `build` makes of it, in a second). */
export async function buildCli(outDir: string): Promise<void> {
  await rm(path.join(outDir, 'apps', 'cli'), { recursive: true, force: true });
  for await (const file of sources(path.join(ROOT, 'apps', 'cli'))) await compile(file, outDir);
  await packageCli(outDir);
}

/** Compiles into `outDir` (default dist/; the benchmark builds its own copy so a concurrent `npm start` keeps its files). */
export async function build(outDir: string = DIST): Promise<number> {
  await rm(outDir, { recursive: true, force: true });
  let count = 0;
  for (const dir of SOURCE_DIRS) {
    for await (const file of sources(path.join(ROOT, dir))) {
      await compile(file, outDir);
      count++;
    }
  }
  await packageCli(outDir);
  // migrate.ts finds the migrations at ../../../prisma/migrations relative to itself.
  await cp(path.join(ROOT, 'prisma', 'migrations'), path.join(outDir, 'prisma', 'migrations'), { recursive: true });
  await writeFile(path.join(outDir, 'package.json'), JSON.stringify({ type: 'module', private: true }, null, 2));
  return count;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const t0 = Date.now();
  const files = await build();
  console.log(`built ${files} files into dist/ in ${Date.now() - t0} ms`);
}
