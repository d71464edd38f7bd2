#!/usr/bin/env node
// opampctl launcher. Packaged (npm run build → dist/apps/cli): runs the compiled JavaScript next
// to it. In the repository: compiles the TypeScript sources on the fly with @swc-node/register,
// resolved from here and with the repository's tsconfig, so it works from any folder.
import { existsSync } from 'node:fs';
import { register } from 'node:module';
import process from 'node:process';
import { URL, fileURLToPath } from 'node:url';

const compiled = new URL('../src/main.js', import.meta.url);
if (existsSync(fileURLToPath(compiled))) {
  await import(compiled.href);
} else {
  process.env.SWC_NODE_PROJECT ??= fileURLToPath(new URL('../../../tsconfig.json', import.meta.url));
  register('@swc-node/register/esm', import.meta.url);
  await import(new URL('../src/main.ts', import.meta.url).href);
}
