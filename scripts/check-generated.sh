#!/usr/bin/env bash
# Fails when libs/proto/src/gen is not what `buf generate` produces from proto/ right now,
# i.e. someone edited a .proto without regenerating (or edited generated code by hand).
# Generation happens in a temporary copy so the working tree is never touched.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
GEN_DIR="libs/proto/src/gen"
export PATH="$ROOT/node_modules/.bin:$PATH"

for tool in buf protoc-gen-es; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "check-generated: '$tool' not found (expected in node_modules/.bin; run npm ci)" >&2
    exit 2
  fi
done

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

# Only what generation needs: the buf config and the proto sources.
cp "$ROOT/buf.yaml" "$ROOT/buf.gen.yaml" "$TMP/"
cp -R "$ROOT/proto" "$TMP/proto"

(cd "$TMP" && buf generate)

if [ ! -d "$ROOT/$GEN_DIR" ]; then
  echo "check-generated: $GEN_DIR is missing; run 'buf generate' and commit the result." >&2
  exit 1
fi

if ! diff -ru "$ROOT/$GEN_DIR" "$TMP/$GEN_DIR" >"$TMP/gen.diff"; then
  echo "check-generated: $GEN_DIR is out of date with proto/." >&2
  echo "Run 'buf generate' at the repo root (with node_modules/.bin on PATH) and commit the result." >&2
  echo "--- diff (committed vs freshly generated) ---" >&2
  cat "$TMP/gen.diff" >&2
  exit 1
fi

echo "check-generated: $GEN_DIR is up to date."

# The GraphQL schema document: what the SDL and resolvers of apps/api/src/graphql print (they are
# also checked to agree with each other and with the role map while the schema is built).
(cd "$ROOT" && node --import @swc-node/register/esm-register scripts/graphql-schema.ts --check)
