import type { Command } from 'commander';
import { jobJsonSchema } from '@dtrain/shared/job-spec';
import { loadSpecOrExit } from '../cli-util';

export function registerSchemaCommands(program: Command): void {
  program
    .command('schema')
    .description('print the JSON Schema of job files (for editors: yaml-language-server, VS Code)')
    .action(() => {
      process.stdout.write(`${JSON.stringify(jobJsonSchema(), null, 2)}\n`);
    });
  program
    .command('validate')
    .description('check a job file and print it with defaults filled in')
    .argument('<job>', 'job file (YAML or JSON)')
    .action((jobPath: string) => {
      const spec = loadSpecOrExit(jobPath);
      process.stdout.write(`${JSON.stringify(spec, null, 2)}\n`);
    });
}
