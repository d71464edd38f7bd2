// `npm run graphql:schema`: prints the api's GraphQL schema; `-- --write` updates
// docs/api/schema.graphql (committed); `-- --check` exits 1 when the committed copy is stale
// (scripts/check-generated.sh runs it).
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { SCHEMA_FILE, schemaDocument } from '../apps/api/src/graphql/schema-document.js';
import { REPO_ROOT } from './infra.js';

const text = schemaDocument();
const file = path.join(REPO_ROOT, SCHEMA_FILE);
if (process.argv.includes('--write')) {
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, text);
  console.log(`wrote ${SCHEMA_FILE}`);
} else if (process.argv.includes('--check')) {
  let committed = '';
  try {
    committed = readFileSync(file, 'utf8');
  } catch {
    // missing: stale
  }
  if (committed !== text) {
    console.error(
      `${SCHEMA_FILE} is out of date with apps/api/src/graphql: run 'npm run graphql:schema -- --write' and commit it.`,
    );
    process.exit(1);
  }
  console.log(`${SCHEMA_FILE} is up to date.`);
} else {
  process.stdout.write(text);
}
