// `dtrain launch --workers MIN:MAX JOB.yaml`: a coordinator in this process and MAX worker processes on
// this machine, as `torchrun --standalone --nproc-per-node` does. Elastic (docs/elastic.md): a worker
// process that dies is replaced by a new process that joins the running world (the survivors keep
// training meanwhile); `--max-restarts` is the replacement budget. Nothing is relaunched from a
// checkpoint: the newcomer gets the state from a running rank over the ring.
import { hostname } from 'node:os';
import type { Command } from 'commander';
import { BACKENDS, type BackendName } from '@dtrain/shared/job-spec';
import { DEFAULT_COORDINATOR_METRICS_PORT, DEFAULT_WORKER_METRICS_BASE_PORT } from '@dtrain/shared/metrics/metrics-server';
import type { JobResult, WorldChange } from '@dtrain/coordinator/api';
import { formatSummary, runJob, summaryJson } from '../job-runner';
import { LocalWorkers } from '../local-workers';
import { exitWith, loadSpecOrExit, parsePositiveInt, parseWorkerRange, type WorkerRange } from '../cli-util';
import { createLaunchSecurity } from '../launch-security';
import { reserveFreePort } from '../free-port';
import { allowedCpus, assignCpus } from '@dtrain/shared/process/cpu-binding';

export const WORKER_EXIT_WAIT_MS = 15_000;
/** How long a worker's own failure report gets to reach the coordinator after its process exited. */
const REPORT_GRACE_MS = 1_000;

interface LaunchFlags {
  workers: WorkerRange;
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
  bindCores?: boolean;
}

export function registerLaunchCommand(program: Command): void {
  program
    .command('launch')
    .description('run a job on this machine: a coordinator and MAX worker processes')
    .argument('<job>', 'job file (YAML or JSON)')
    .requiredOption('-w, --workers <min:max>', 'worker processes: N, or MIN:MAX (start at MIN, admit up to MAX; MAX processes are started)', parseWorkerRange)
    .option('--max-steps <k>', 'stop after K global steps (overrides training.maxSteps)', parsePositiveInt('--max-steps'))
    .option('--epochs <e>', 'number of epochs (overrides training.epochs)', parsePositiveInt('--epochs'))
    .option('--json', 'make the last line of stdout a JSON summary')
    .option('--backend <name>', `tfjs backend: ${BACKENDS.join(', ')} (overrides the job file)`)
    .option('--resume <dir>', 'resume from a checkpoint folder, or the newest valid one in a folder')
    .option('--max-restarts <n>', 'replace up to N dead worker processes by new ones that join the running world', (v) => Number(v), 0)
    .option('--nats <url>', 'publish events and serve control requests on this NATS server')
    .option('--host <host>', 'interface for the coordinator and workers', '127.0.0.1')
    .option('--port <port>', 'coordinator port (0: any free port)', (v) => Number(v), 0)
    .option('--metrics-port <port>', 'coordinator /metrics port (0: any free port)', (v) => Number(v), DEFAULT_COORDINATOR_METRICS_PORT)
    .option('--worker-metrics-port <port>', 'first worker /metrics port; local rank r uses port+r (0: any free port)', (v) => Number(v), DEFAULT_WORKER_METRICS_BASE_PORT)
    .option('--no-metrics', 'serve no /metrics endpoints')
    .option('--rendezvous-timeout <ms>', 'how long to wait for MIN workers (at the start, and after losses below MIN)', (v) => Number(v), 120_000)
    .option('--test-delay-ms <spec>', 'testing only: LOCAL_RANK=MS makes that worker slow (e.g. 1=200)')
    .option('--test-perturb <spec>', 'testing only: LOCAL_RANK=STEP nudges that worker\'s weights after STEP (e.g. 1=5)')
    .option('-q, --quiet', 'no progress output')
    .option('--insecure', 'no TLS between the processes of the job (a join token is still required; logged)')
    .option('--bind-cores', 'bind each worker\'s main thread to a CPU of its own (Linux; at most one worker per CPU)')
    .action(async (jobPath: string, flags: LaunchFlags) => {
      if (flags.backend && !BACKENDS.includes(flags.backend)) exitWith(2, `--backend must be one of ${BACKENDS.join(', ')}, got '${flags.backend}'`);
      if (!Number.isInteger(flags.maxRestarts) || flags.maxRestarts < 0) exitWith(2, `--max-restarts must be an integer >= 0, got ${flags.maxRestarts}`);
      const spec = loadSpecOrExit(jobPath);
      const tty = Boolean(process.stderr.isTTY) && !flags.json;
      let workers: LocalWorkers | null = null;
      let interrupted: NodeJS.Signals | null = null;
      const delay = parseRankMap('--test-delay-ms', flags.testDelayMs);
      const perturb = parseRankMap('--test-perturb', flags.testPerturb);
      const onSignal = (signal: NodeJS.Signals) => {
        if (interrupted) return;
        interrupted = signal;
        process.stderr.write(`\n${signal}: stopping ${workers?.running ?? 0} worker process(es)\n`);
        void (async () => {
          await workers?.terminate();
          process.exit(signal === 'SIGINT' ? 130 : 143);
        })();
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);

      const { min, max } = flags.workers;
      let cpus: number[] | undefined;
      if (flags.bindCores) {
        try {
          cpus = assignCpus(max, allowedCpus());
        } catch (err) {
          exitWith(2, (err as Error).message);
        }
      }
      let replacements = 0;
      // security: ephemeral CA, one certificate per worker slot (MAX of them: a replacement process
      // reuses its slot's certificate) and a join token, with no flag needed.
      const launchSecurity = await createLaunchSecurity({
        workers: max, host: flags.host, insecure: Boolean(flags.insecure),
        log: (line) => process.stderr.write(`[launcher] ${line}\n`),
      });
      // Workers start with the coordinator, not after it listens: they need its port up front.
      const port = flags.port === 0 ? await reserveFreePort(flags.host) : flags.port;
      const coordinatorAddress = `${flags.host === '0.0.0.0' || flags.host === '' ? hostname() : flags.host}:${port}`;
      const run = await runJob({
        security: launchSecurity.security,
        spec,
        listen: `${flags.host}:${port}`,
        workers: max,
        minWorkers: min,
        maxWorkers: max,
        maxSteps: flags.maxSteps,
        epochs: flags.epochs,
        resumeFrom: flags.resume,
        natsUrl: flags.nats,
        metricsListen: flags.metrics ? `${flags.host}:${flags.metricsPort}` : undefined,
        rendezvousTimeoutMs: flags.rendezvousTimeout,
        json: Boolean(flags.json),
        tty,
        beforeStart: (coordinator, display) => {
          // One line per world change, as it happens.
          coordinator.on('world', (change: WorldChange) => display.line(`[launcher] ${describeWorldChange(change)}`));
          workers = new LocalWorkers({
            count: max,
            coordinator: coordinatorAddress,
            backend: flags.backend,
            env: launchSecurity.workerEnv, // security: for first and replacement processes alike
            cpus,
            metricsBasePort: flags.metrics ? flags.workerMetricsPort : undefined,
            extraArgs: (r) => [
              ...(delay.has(r) ? ['--test-delay-ms', String(delay.get(r))] : []),
              ...(perturb.has(r) ? ['--test-perturb-step', String(perturb.get(r))] : []),
            ],
            onLine: (r, line) => display.line(`[worker ${r}] ${line}`),
            onExit: (r, code, signal, pid) => {
              if (code === 0 || interrupted) return;
              const what = `worker process ${r} (pid ${pid}) exited with ${signal ?? `code ${code}`}`;
              const over = coordinator.jobState === 'finished' || coordinator.jobState === 'failed';
              if (over) return;
              // The coordinator sees the loss itself (its session broke) and re-forms the world from the
              // survivors; the launcher only decides whether a new process takes the slot.
              if (replacements < flags.maxRestarts) {
                replacements += 1;
                const newPid = workers?.replace(r);
                display.line(`[launcher] ${what}; started replacement pid ${newPid} (${replacements} of ${flags.maxRestarts}), it joins the running world`);
              } else {
                display.line(`[launcher] ${what}; no replacement (${flags.maxRestarts === 0 ? 'no --max-restarts' : `all ${flags.maxRestarts} replacements used`})`);
                // Before the first world (the job leaves 'rendezvous' for good when it forms), fewer live
                // processes than MIN can never form one: fail the job instead of waiting out
                // --rendezvous-timeout (a bad environment fails every worker at once). The grace lets a
                // failure the worker reported itself (its own error) land first.
                setTimeout(() => {
                  const left = workers?.running ?? 0;
                  if (left >= min || coordinator.jobState !== 'rendezvous') return;
                  coordinator.abort(`${what} before the first world formed; ${left} worker process(es) left, ` +
                    `fewer than the ${min} the job needs`, 'WorkerExitedError', -1);
                }, REPORT_GRACE_MS);
              }
            },
          });
          workers.start();
          display.line(`[launcher] started ${max} worker process(es): pids ${workers.pids.join(', ')}`);
          if (cpus) display.line(`[launcher] --bind-cores: worker main threads on CPUs ${cpus.join(', ')}`);
        },
      });
      let result: JobResult = run.result;
      const w = workers as LocalWorkers | null;
      // A coordinator that never started leaves its workers retrying Join: stop them now.
      if (w && !run.started) {
        process.stderr.write(`[launcher] the coordinator did not start: stopping ${w.running} worker process(es)\n`);
        await w.terminate();
      }
      else if (w && !(await w.waitAll(WORKER_EXIT_WAIT_MS))) await w.terminate();
      result = { ...result, restarts: replacements };
      process.stderr.write(`${formatSummary(result)}\n`);
      if (flags.json) process.stdout.write(`${summaryJson(result)}\n`);
      process.exit(result.status === 'failed' ? 1 : 0);
    });
}

function describeWorldChange(c: WorldChange): string {
  const why = c.reason ? ` (${c.reason})` : '';
  if (c.kind === 'formed') return `world generation ${c.generation} formed: ${c.worldSize} worker(s)${why}`;
  const who = `worker ${c.workerId ?? '?'}${c.rank !== undefined && c.rank >= 0 ? ` (rank ${c.rank})` : ''}`;
  if (c.kind === 'lost') return `${who} lost from generation ${c.generation}${why}`;
  return `${who} joined${why}`;
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
