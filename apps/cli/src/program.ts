// The opampctl command tree and how a run ends: the exit code (docs/cli.md "Exit codes") and,
// on failure, one line on standard error.
import { Command, CommanderError, Option } from 'commander';
import { registerAgents } from './commands/agents.js';
import { registerAudit } from './commands/audit.js';
import { registerCommands } from './commands/commands.js';
import { registerConfigs } from './commands/configs.js';
import { registerLogin } from './commands/login.js';
import { registerRollouts } from './commands/rollouts.js';
import { Context, VERSION, type Io, type OutputFormat } from './context.js';
import { ApiError, CliError, ExitCode, NetworkError, UsageError } from './errors.js';

const EXIT_CODES_HELP = `
Exit codes: 0 done (--wait: completed), 1 error (network, API, validation), 2 usage,
  --wait only: 3 paused (by a person, or held for promotion), 4 failed (failure budget, or aborted),
  5 rolled back (rolling_back / rolled_back), 6 timed out (--timeout).
Server and key: "opampctl login", or OPAMP_URL and OPAMP_API_KEY (they win over the stored login).`;

export function buildProgram(ctx: Context): Command {
  const program = new Command('opampctl');
  // Set before any sub-command exists: commander copies these settings into each new sub-command.
  program
    .exitOverride()
    .configureOutput({
      writeOut: (s) => ctx.io.out(s.replace(/\n$/, '')),
      writeErr: (s) => ctx.io.err(s.replace(/\n$/, '')),
    })
    .showHelpAfterError('(add --help for usage)');
  program
    .description('command-line client of the OpAMP control plane REST API')
    .version(VERSION)
    .addOption(new Option('-o, --output <format>', 'output format').choices(['table', 'json']).default('table'))
    .addHelpText('after', EXIT_CODES_HELP)
    .hook('preAction', (_program, action) => {
      ctx.format = (action.optsWithGlobals() as { output?: OutputFormat }).output ?? 'table';
    });
  registerLogin(program, ctx);
  registerAgents(program, ctx);
  registerConfigs(program, ctx);
  registerRollouts(program, ctx);
  registerCommands(program, ctx);
  registerAudit(program, ctx);
  return program;
}

/** Runs one command line (without the node and script arguments); resolves the exit code. */
export async function run(argv: readonly string[], io: Io): Promise<number> {
  const ctx = new Context(io);
  const program = buildProgram(ctx);
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return ctx.exitCode;
  } catch (err) {
    return failure(err, io);
  }
}

/** The exit code for an error, after telling the person what happened. */
export function failure(err: unknown, io: Pick<Io, 'err'>): number {
  if (err instanceof CommanderError) {
    // commander printed its message (or the help) already.
    return err.exitCode === 0 ? ExitCode.ok : ExitCode.usage;
  }
  if (err instanceof UsageError) {
    io.err(`error: ${err.message}`);
    io.err('(add --help for usage)');
    return ExitCode.usage;
  }
  if (err instanceof ApiError || err instanceof NetworkError || err instanceof CliError) {
    io.err(`error: ${err.message}`);
    return ExitCode.error;
  }
  const e = err as Error;
  io.err(`error: ${e?.message ?? String(err)}`);
  if (io.err && e?.stack && process.env.OPAMPCTL_DEBUG) io.err(e.stack);
  return ExitCode.error;
}
