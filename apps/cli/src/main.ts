// opampctl entry point (apps/cli/bin/opampctl.js loads it): wires the real process in.
import { homedir } from 'node:os';
import { text } from 'node:stream/consumers';
import { run } from './program.js';

const code = await run(process.argv.slice(2), {
  out: (s) => process.stdout.write(`${s}\n`),
  err: (s) => process.stderr.write(`${s}\n`),
  env: process.env,
  home: homedir(),
  now: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  readStdin: () => text(process.stdin),
});
// Exit now rather than when idle keep-alive sockets close; stdout and stderr are written
// synchronously for files and pipes on Linux, so nothing is lost.
process.exit(code);
