// `dtrain launch --workers N JOB.yaml`: a coordinator in this process and N worker processes on this
// machine, as `torchrun --standalone --nproc-per-node N` does.
import type { Command } from 'commander';
import { BACKENDS, type BackendName } from '@dtrain/shared/job-spec';
import { DEFAULT_COORDINATOR_METRICS_PORT, DEFAULT_WORKER_METRICS_BASE_PORT } from '@dtrain/shared/metrics/metrics-server';
import type { JobResult } from '@dtrain/coordinator/api';
import { findLatestCheckpoint } from '@dtrain/worker/checkpoint/find-checkpoint';
import { formatSummary, runJob, summaryJson } from '../job-runner';
import { LocalWorkers } from '../local-workers';
import { exitWith, loadSpecOrExit, parsePositiveInt } from '../cli-util';
import { createLaunchSecurity } from '../launch-security';

/** After a worker process exits early, how long the coordinator gets to name the failure itself. */
export const EARLY_EXIT_SETTLE_MS = 3_000;
export const WORKER_EXIT_WAIT_MS = 15_000;

/** Failures a relaunch can cure (a process or machine went away); bad data or diverging math would recur. */
export const RESTARTABLE_ERRORS: ReadonlySet<string> = new Set([
  'WorkerLostError', 'WorkerExitedError', 'PeerLostError', 'CollectiveTimeoutError', 'ShutdownTimeoutError',
]);

interface LaunchFlags {
  workers: number;
  maxSteps?: number;
  epochs?: number;
  json?: boolean;
  backend?: BackendName;
  resume?: string;
  nats?: string;
  port: number;
  host: string;
  metricsPort: number;
  workerMetricsPort: number;
  metrics: boolean;
  rendezvousTimeout: number;
  testDelayMs?: string;
  testPerturb?: string;
  maxRestarts: number;
  quiet?: boolean;
  insecure?: boolean;
}

export function registerLaunchCommand(program: Command): void {
  program
    .command('launch')
    .description('run a job on this machine: a coordinator and N worker processes')
    .argument('<job>', 'job file (YAML or JSON)')
    .requiredOption('-w, --workers <n>', 'number of worker processes', parsePositiveInt('--workers'))
    .option('--max-steps <k>', 'stop after K global steps (overrides training.maxSteps)', parsePositiveInt('--max-steps'))
    .option('--epochs <e>', 'number of epochs (overrides training.epochs)', parsePositiveInt('--epochs'))
    .option('--json', 'make the last line of stdout a JSON summary')
    .option('--backend <name>', `tfjs backend: ${BACKENDS.join(', ')} (overrides the job file)`)
    .option('--resume <dir>', 'resume from a checkpoint folder, or the newest valid one in a folder')
    .option('--max-restarts <n>', 'relaunch all workers from the newest checkpoint after a worker is lost, up to N times', (v) => Number(v), 0)
    .option('--nats <url>', 'publish events and serve control requests on this NATS server')
    .option('--host <host>', 'interface for the coordinator and workers', '127.0.0.1')
    .option('--port <port>', 'coordinator port (0: any free port)', (v) => Number(v), 0)
    .option('--metrics-port <port>', 'coordinator /metrics port (0: any free port)', (v) => Number(v), DEFAULT_COORDINATOR_METRICS_PORT)
    .option('--worker-metrics-port <port>', 'first worker /metrics port; local rank r uses port+r (0: any free port)', (v) => Number(v), DEFAULT_WORKER_METRICS_BASE_PORT)
    .option('--no-metrics', 'serve no /metrics endpoints')
    .option('--rendezvous-timeout <ms>', 'how long to wait for all workers to join', (v) => Number(v), 120_000)
    .option('--test-delay-ms <spec>', 'testing only: LOCAL_RANK=MS makes that worker slow (e.g. 1=200)')
    .option('--test-perturb <spec>', 'testing only: LOCAL_RANK=STEP nudges that worker\'s weights after STEP (e.g. 1=5)')
    .option('-q, --quiet', 'no progress output')
    .option('--insecure', 'no TLS between the processes of the job (a join token is still required; logged)')
    .action(async (jobPath: string, flags: LaunchFlags) => {
      if (flags.backend && !BACKENDS.includes(flags.backend)) exitWith(2, `--backend must be one of ${BACKENDS.join(', ')}, got '${flags.backend}'`);
      const spec = loadSpecOrExit(jobPath);
      const tty = Boolean(process.stderr.isTTY) && !flags.json;
      let workers: LocalWorkers | null = null;
      let interrupted: NodeJS.Signals | null = null;
      const delay = parseRankMap('--test-delay-ms', flags.testDelayMs);
      const perturb = parseRankMap('--test-perturb', flags.testPerturb);
      const onSignal = (signal: NodeJS.Signals) => {
        if (interrupted) return;
        interrupted = signal;
        process.stderr.write(`\n${signal}: stopping ${workers?.children.length ?? 0} worker process(es)\n`);
        void (async () => {
          await workers?.terminate();
          process.exit(signal === 'SIGINT' ? 130 : 143);
        })();
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);

      // security: ephemeral CA, per-process certificates and a join token, with no flag needed.
      const launchSecurity = await createLaunchSecurity({
        workers: flags.workers, host: flags.host, insecure: Boolean(flags.insecure),
        log: (line) => process.stderr.write(`[launcher] ${line}\n`),
      });
      let result: JobResult | null = null;
      let resumeFrom = flags.resume;
      let jobId: string | undefined;
      let restarts = 0;
      for (let attempt = 0; ; attempt++) {
        const run = await runJob({
          security: launchSecurity.security,
          spec,
          jobId,
          firstGeneration: attempt + 1,
          listen: `${flags.host}:${flags.port}`,
          workers: flags.workers,
          maxSteps: flags.maxSteps,
          epochs: flags.epochs,
          resumeFrom,
          natsUrl: flags.nats,
          metricsListen: flags.metrics ? `${flags.host}:${flags.metricsPort}` : undefined,
          rendezvousTimeoutMs: flags.rendezvousTimeout,
          json: Boolean(flags.json),
          tty,
          onListening: (address, coordinator, display) => {
            let settleTimer: NodeJS.Timeout | null = null;
            workers = new LocalWorkers({
              count: flags.workers,
              coordinator: address,
              backend: flags.backend,
              env: launchSecurity.workerEnv,
              metricsBasePort: flags.metrics ? flags.workerMetricsPort : undefined,
              extraArgs: (r) => [
                ...(delay.has(r) ? ['--test-delay-ms', String(delay.get(r))] : []),
                ...(perturb.has(r) ? ['--test-perturb-step', String(perturb.get(r))] : []),
              ],
              onLine: (r, line) => display.line(`[worker ${r}] ${line}`),
              onExit: (r, code, signal) => {
                if (code === 0 || interrupted) return;
                const what = `worker process ${r} (pid ${workers?.pids[r]}) exited with ${signal ?? `code ${code}`}`;
                display.line(`[launcher] ${what}`);
                if (coordinator.jobState === 'finished' || coordinator.jobState === 'failed' || settleTimer) return;
                settleTimer = setTimeout(() => coordinator.abort(`${what} before the job ended`), EARLY_EXIT_SETTLE_MS);
                settleTimer.unref();
              },
            });
            workers.start();
            display.line(`[launcher] started ${flags.workers} worker process(es): pids ${workers.pids.join(', ')}`);
          },
        });
        result = run.result;
        jobId = result.jobId;
        const w = workers as LocalWorkers | null;
        if (w && !(await w.waitAll(WORKER_EXIT_WAIT_MS))) await w.terminate();
        if (result.status !== 'failed' || attempt >= flags.maxRestarts || !RESTARTABLE_ERRORS.has(result.errorCode ?? '')) break;
        // torchrun's --max-restarts: a lost worker costs the steps since the last checkpoint, not the job.
        const checkpointDir = spec.checkpoint?.dir;
        resumeFrom = checkpointDir && (await findLatestCheckpoint(checkpointDir, { onSkip: () => undefined })) ? checkpointDir : flags.resume;
        restarts += 1;
        process.stderr.write(`[launcher] ${result.error}; restarting all ${flags.workers} workers (restart ${attempt + 1} of ${flags.maxRestarts}) ${resumeFrom ? `from the newest checkpoint in ${resumeFrom}` : 'from the start (no checkpoint yet)'}\n`);
      }
      result = { ...result, restarts };
      process.stderr.write(`${formatSummary(result)}\n`);
      if (flags.json) process.stdout.write(`${summaryJson(result)}\n`);
      process.exit(result.status === 'failed' ? 1 : 0);
    });
}

/** `LOCAL_RANK=VALUE[,...]` for the test-only flags. */
function parseRankMap(flag: string, spec: string | undefined): Map<number, number> {
  const out = new Map<number, number>();
  if (!spec) return out;
  for (const part of spec.split(',')) {
    const [rank, value] = part.split('=').map(Number);
    if (!Number.isInteger(rank) || !Number.isFinite(value)) exitWith(2, `${flag} expects LOCAL_RANK=VALUE[,...], got '${spec}'`);
    out.set(rank, value);
  }
  return out;
}
