// `dtrain coordinator JOB.yaml --listen HOST:PORT --workers MIN:MAX`: the coordinator alone; workers on
// other machines join with `dtrain worker --coordinator HOST:PORT`. Killed and started again with the
// same arguments, it takes its job over from coordinator-state.json in checkpoint.dir (docs/elastic.md).
import type { Command } from 'commander';
import { formatSummary, runJob, summaryJson } from '../job-runner';
import { loadSpecOrExit, parsePositiveInt, parseWorkerRange, type WorkerRange } from '../cli-util';

interface CoordinatorFlags {
  listen: string;
  workers: WorkerRange;
  maxSteps?: number;
  epochs?: number;
  json?: boolean;
  resume?: string;
  nats?: string;
  metricsPort?: number;
  rendezvousTimeout: number;
  heartbeatTimeout?: number;
  takeover: boolean;
}

export function registerCoordinatorCommand(program: Command): void {
  program
    .command('coordinator')
    .description('run the coordinator of a job; workers join it from any machine')
    .argument('<job>', 'job file (YAML or JSON)')
    .requiredOption('-w, --workers <n|min:max>', 'workers: start with MIN, admit up to MAX (N means N:N)', parseWorkerRange)
    .option('-l, --listen <host:port>', 'address to listen on', '0.0.0.0:29400')
    .option('--max-steps <k>', 'stop after K global steps', parsePositiveInt('--max-steps'))
    .option('--epochs <e>', 'number of epochs', parsePositiveInt('--epochs'))
    .option('--json', 'make the last line of stdout a JSON summary')
    .option('--resume <dir>', 'resume from a checkpoint folder, or the newest valid one in a folder')
    .option('--nats <url>', 'publish events and serve control requests on this NATS server')
    .option('--metrics-port <port>', '/metrics port (0: any free port)', (v) => Number(v))
    .option('--rendezvous-timeout <ms>', 'how long to wait for MIN workers (also below MIN after losses)', (v) => Number(v), 600_000)
    .option('--heartbeat-timeout <ms>', 'a worker silent this long is lost', (v) => Number(v))
    .option('--no-takeover', 'ignore coordinator-state.json of an unfinished job; start a new job')
    .action(async (jobPath: string, flags: CoordinatorFlags) => {
      const spec = loadSpecOrExit(jobPath);
      const host = flags.listen.slice(0, flags.listen.lastIndexOf(':'));
      const { result } = await runJob({
        spec,
        listen: flags.listen,
        workers: flags.workers.max,
        minWorkers: flags.workers.min,
        maxWorkers: flags.workers.max,
        heartbeatTimeoutMs: flags.heartbeatTimeout,
        takeover: flags.takeover,
        maxSteps: flags.maxSteps,
        epochs: flags.epochs,
        resumeFrom: flags.resume,
        natsUrl: flags.nats,
        metricsListen: flags.metricsPort !== undefined ? `${host}:${flags.metricsPort}` : undefined,
        rendezvousTimeoutMs: flags.rendezvousTimeout,
        json: Boolean(flags.json),
        tty: Boolean(process.stderr.isTTY) && !flags.json,
        onListening: (address, coordinator, display) => {
          display.line(`[coordinator] workers join with: dtrain worker --coordinator ${address}`);
          // First signal: stop at the next step all ranks agree on, with a final checkpoint (what a
          // Kubernetes pod deletion should get); a second signal exits at once.
          let signals = 0;
          const onSignal = (signal: NodeJS.Signals) => {
            signals += 1;
            if (signals > 1) process.exit(signal === 'SIGINT' ? 130 : 143);
            display.line(`[coordinator] ${signal}: stopping the job (again to exit at once)`);
            coordinator.requestStop(`${signal} received`);
          };
          process.on('SIGINT', onSignal);
          process.on('SIGTERM', onSignal);
        },
      });
      process.stderr.write(`${formatSummary(result)}\n`);
      if (flags.json) process.stdout.write(`${summaryJson(result)}\n`);
      process.exit(result.status === 'failed' ? 1 : 0);
    });
}
