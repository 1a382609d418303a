// The `dtrain` command line. Commands load lazily (command-table.ts): `dtrain --help` touches no heavy
// module, and each command imports only what it uses (tfjs only in workers).
import { Command } from 'commander';
import { registerCommands } from './command-table';

const program = new Command();
program
  .name('dtrain')
  .description('data-parallel training of TensorFlow.js models across worker processes')
  .version('0.1.0')
  .showHelpAfterError();
await registerCommands(program, process.argv);

await program.parseAsync(process.argv);
