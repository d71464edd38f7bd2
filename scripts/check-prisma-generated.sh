#!/usr/bin/env bash
# Fails when the committed Prisma client (libs/database/src/generated/prisma) is not what
# `prisma generate` makes of prisma/schema.prisma. Regenerates into a temporary directory; the
# working tree is not touched. Fix a failure with: npm run prisma:generate
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$PATH"

committed=libs/database/src/generated/prisma
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Same layout as the repo, so the schema's relative `output` lands in $tmp and the inlined
# schema text stays identical.
mkdir -p "$tmp/prisma"
cp prisma/schema.prisma "$tmp/prisma/schema.prisma"

# `prisma generate` only checks that a schema engine binary exists; it never runs it.
PRISMA_SCHEMA_ENGINE_BINARY="${PRISMA_SCHEMA_ENGINE_BINARY:-$PWD/package.json}" \
PRISMA_HIDE_UPDATE_MESSAGE=1 CHECKPOINT_DISABLE=1 \
  prisma generate --schema "$tmp/prisma/schema.prisma" >"$tmp/generate.log" 2>&1 || { cat "$tmp/generate.log" >&2; exit 1; }

if ! diff -r "$committed" "$tmp/${committed}" >"$tmp/diff.txt"; then
  echo "The generated Prisma client is stale: run 'npm run prisma:generate' and commit the result." >&2
  head -n 50 "$tmp/diff.txt" >&2
  exit 1
fi
echo "Prisma client is up to date."
