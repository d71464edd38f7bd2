import { Injectable, Logger } from '@nestjs/common';
import { ProblemException } from '../common/problem.js';
import type { Page } from '../common/pagination.js';
import { CommandProblemType, commandTypeNotFound } from './command-problems.js';
import { schemaProblems } from './command-schemas.js';
import { commandTypeView, type CommandTypeView } from './command.view.js';
import { CommandsRepository } from './commands.repository.js';
import type { CommandTypeInput } from './commands.query.js';

/**
 * Command types: what a custom command of a capability may carry (a JSON Schema of its
 * parameters) and how long the agent has to answer. Settings, so admins manage them.
 */
@Injectable()
export class CommandTypesService {
  private readonly logger = new Logger('CommandTypes');

  constructor(private readonly repo: CommandsRepository) {}

  async list(capability: string | undefined): Promise<Page<CommandTypeView>> {
    // A handful per capability: one page, in the page shape every listing uses.
    const rows = await this.repo.listTypes(capability);
    return { items: rows.map(commandTypeView), nextCursor: null };
  }

  /** Creates or replaces; `created` is true when it did not exist. */
  async put(
    capability: string,
    type: string,
    input: CommandTypeInput,
  ): Promise<{ view: CommandTypeView; created: boolean }> {
    const problems = schemaProblems(input.parametersSchema);
    if (problems.length > 0) {
      throw new ProblemException({
        type: CommandProblemType.invalidSchema,
        title: 'Invalid parameters schema',
        status: 422,
        detail: `parametersSchema is not a usable JSON Schema (draft 2020-12, strict): ${problems
          .map((p) => `${p.name}: ${p.reason}`)
          .join('; ')}`,
        invalidParams: problems,
      });
    }
    const { record, created } = await this.repo.upsertType(capability, type, input);
    this.logger.log(`command type ${capability}/${type} ${created ? 'created' : 'replaced'}`);
    return { view: commandTypeView(record), created };
  }

  /** Deletes the type; returns it as it was. */
  async delete(capability: string, type: string): Promise<CommandTypeView> {
    const row = await this.repo.deleteType(capability, type);
    if (!row) throw commandTypeNotFound(capability, type);
    this.logger.log(`command type ${capability}/${type} deleted`);
    return commandTypeView(row);
  }
}
