// Environment of the commands module, spread into the api's env schema (api.config.ts).
import { int } from '@opamp/config';

export const commandsEnv = {
  API_RESTART_TIMEOUT_SECONDS: int({
    default: 120,
    min: 1,
    max: 86_400,
    description:
      'A restart command times out when the agent is not seen with a new process within this long (docs/commands.md).',
  }),
  API_COMMAND_TIMEOUT_SECONDS: int({
    default: 60,
    min: 1,
    max: 86_400,
    description:
      'Deadline of a raw custom message (POST /agents/{uid}/custom-messages) whose capability and type have no command type; a command type sets its own.',
  }),
  API_BULK_COMMAND_MAX_AGENTS: int({
    default: 10_000,
    min: 1,
    max: 1_000_000,
    description: 'Most agents one bulk command (POST /commands/bulk) may address; larger selections are refused (422).',
  }),
};
