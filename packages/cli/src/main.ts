// The `dtrain` command line.
import { Command } from 'commander';
import { registerCheckpointCommand } from './commands/checkpoint';
import { registerCoordinatorCommand } from './commands/coordinator';
import { registerEvaluateCommand } from './commands/evaluate';
import { registerEventsCommand } from './commands/events';
import { registerExportCommand } from './commands/export';
import { registerLaunchCommand } from './commands/launch';
import { registerPredictCommand } from './commands/predict';
import { registerSchemaCommands } from './commands/schema';
import { registerStatusCommand } from './commands/status';
import { registerStopCommand } from './commands/stop';
import { registerWorkerCommand } from './commands/worker';

const program = new Command();
program
  .name('dtrain')
  .description('data-parallel training of TensorFlow.js models across worker processes')
  .version('0.1.0')
  .showHelpAfterError();
registerLaunchCommand(program);
registerCoordinatorCommand(program);
registerWorkerCommand(program);
registerSchemaCommands(program);
registerExportCommand(program);
registerStatusCommand(program);
registerStopCommand(program);
registerEventsCommand(program);
registerCheckpointCommand(program);
registerPredictCommand(program);
registerEvaluateCommand(program);

await program.parseAsync(process.argv);
