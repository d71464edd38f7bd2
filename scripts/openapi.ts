// `npm run openapi`: prints the api's OpenAPI 3.1 document; `-- --write` updates
// docs/api/openapi.json (committed; the drift test in apps/api/src/openapi fails when it is stale).
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { OPENAPI_FILE, openApiText } from '../apps/api/src/openapi/build.js';
import { REPO_ROOT } from './infra.js';

const text = openApiText();
if (process.argv.includes('--write')) {
  const file = path.join(REPO_ROOT, OPENAPI_FILE);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, text);
  console.log(`wrote ${OPENAPI_FILE}`);
} else {
  process.stdout.write(text);
}
