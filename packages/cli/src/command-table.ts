// Every `dtrain` command, loaded lazily: `dtrain --help` reads only this table (0.1 s instead of loading
// grpc, tfjs and nats), and `dtrain launch` loads launch's module alone. A test keeps each entry's
// help line equal to what its module registers. Adding a command: one line here, and the README's CLI block.
import { Help, type Command } from 'commander';

export interface LazyCommand {
  /** The command name, as typed. */
  name: string;
  /** Its line in `dtrain --help` (name, [options], arguments) and its description there. */
  term: string;
  summary: string;
  /** Imports the command's module and registers the real command (options, action) on the program. */
  register(program: Command): Promise<void>;
}

const NATS_HINT = '(asks its coordinator over NATS)';

export const LAZY_COMMANDS: readonly LazyCommand[] = [
  { name: 'launch', term: 'launch [options] <job>', summary: 'run a job on this machine: a coordinator and MAX worker processes',
    register: async (p) => (await import('./commands/launch')).registerLaunchCommand(p) },
  { name: 'coordinator', term: 'coordinator [options] <job>', summary: 'run the coordinator of a job; workers join it from any machine',
    register: async (p) => (await import('./commands/coordinator')).registerCoordinatorCommand(p) },
  { name: 'worker', term: 'worker [options]', summary: 'run one worker: join the coordinator and train what it plans',
    register: async (p) => (await import('./commands/worker')).registerWorkerCommand(p) },
  { name: 'schema', term: 'schema', summary: 'print the JSON Schema of job files (for editors: yaml-language-server, VS Code)',
    register: async (p) => (await import('./commands/schema')).registerSchemaCommands(p) },
  { name: 'validate', term: 'validate <job>', summary: 'check a job file and print it with defaults filled in',
    register: async (p) => (await import('./commands/schema')).registerSchemaCommands(p) },
  { name: 'export', term: 'export <checkpoint> <out>', summary: 'write the model of a checkpoint (or the newest valid one in a folder) for serving',
    register: async (p) => (await import('./commands/export')).registerExportCommand(p) },
  { name: 'status', term: 'status [options]', summary: `show the state of a running job ${NATS_HINT}`,
    register: async (p) => (await import('./commands/status')).registerStatusCommand(p) },
  { name: 'stop', term: 'stop [options]', summary: `stop a running job ${NATS_HINT}`,
    register: async (p) => (await import('./commands/stop')).registerStopCommand(p) },
  { name: 'events', term: 'events [options]', summary: 'print a job\'s events (kept by NATS JetStream); --follow keeps printing new ones',
    register: async (p) => (await import('./commands/events')).registerEventsCommand(p) },
  { name: 'checkpoint', term: 'checkpoint [options]', summary: `write a checkpoint of a running job now ${NATS_HINT}`,
    register: async (p) => (await import('./commands/checkpoint')).registerCheckpointCommand(p) },
  { name: 'certs', term: 'certs', summary: 'TLS certificates for dtrain clusters',
    register: async (p) => (await import('./commands/certs')).registerCertsCommand(p) },
  { name: 'predict', term: 'predict [options] <model> <input>', summary: 'predict INPUT.csv with a trained model (export or checkpoint folder): one output row per input row',
    register: async (p) => (await import('./commands/predict')).registerPredictCommand(p) },
  { name: 'evaluate', term: 'evaluate [options] <model> <test>', summary: 'metrics of a trained model on a labelled CSV, in the label\'s units',
    register: async (p) => (await import('./commands/evaluate')).registerEvaluateCommand(p) },
];

/**
 * Registers what this invocation needs: the one command named on the command line (also after `help`),
 * or, for `dtrain`, `dtrain --help` and unknown commands, a help-only stub of every command.
 */
export async function registerCommands(program: Command, argv: readonly string[]): Promise<void> {
  const args = argv.slice(2);
  const named = args[0] === 'help' ? args[1] : args[0];
  const entry = LAZY_COMMANDS.find((c) => c.name === named);
  if (entry) {
    await entry.register(program);
    return;
  }
  const terms = new Map<string, string>();
  for (const c of LAZY_COMMANDS) {
    program.command(c.name).description(c.summary);
    terms.set(c.name, c.term);
  }
  const help = new Help();
  program.configureHelp({ subcommandTerm: (cmd) => terms.get(cmd.name()) ?? help.subcommandTerm(cmd) });
}
