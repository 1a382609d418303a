// `dtrain worker --coordinator HOST:PORT`: one worker process, on any machine that reaches the coordinator.
// It lives through world generations (docs/elastic.md) and re-joins a restarted coordinator; it exits
// with CoordinatorUnreachableError when none answers within --coordinator-timeout-ms.
import type { Command } from 'commander';
import { BACKENDS, type BackendName } from '@dtrain/shared/job-spec';
import { runWorker } from '@dtrain/worker/worker';
import { JoinRefusedError } from '@dtrain/shared/errors';
import { exitWith } from '../cli-util';

interface WorkerFlags {
  coordinator: string;
  backend?: BackendName;
  peerHost: string;
  advertiseHost?: string;
  localRank?: string;
  metricsPort?: number;
  metricsHost: string;
  testDelayMs?: number;
  testPerturbStep?: number;
  joinTimeoutMs?: number;
  coordinatorTimeoutMs?: number;
}

export function registerWorkerCommand(program: Command): void {
  program
    .command('worker')
    .description('run one worker: join the coordinator and train what it plans')
    .requiredOption('-c, --coordinator <host:port>', 'coordinator address')
    .option('--backend <name>', `tfjs backend: ${BACKENDS.join(', ')}`)
    .option('--peer-host <host>', 'interface for the collective (peer) server', '127.0.0.1')
    .option('--advertise-host <host>', 'host name other workers use to reach this one (default: --peer-host)')
    .option('--local-rank <n>', 'slot of this process on its machine (default: $LOCAL_RANK)')
    .option('--metrics-port <port>', '/metrics port (0: any free port; default: none)', (v) => Number(v))
    .option('--metrics-host <host>', 'interface for /metrics', '127.0.0.1')
    .option('--join-timeout-ms <ms>', 'first contact: how long to wait for the coordinator (default 180000)', (v) => Number(v))
    .option('--coordinator-timeout-ms <ms>', 'after losing the coordinator: how long to keep re-joining (default 60000)', (v) => Number(v))
    .option('--test-delay-ms <ms>', 'testing only: extra delay per step (a straggler on purpose)', (v) => Number(v))
    .option('--test-perturb-step <step>', 'testing only: nudge a weight after this global step (diverged replica on purpose)', (v) => Number(v))
    .action(async (flags: WorkerFlags) => {
      if (flags.backend && !BACKENDS.includes(flags.backend)) exitWith(2, `--backend must be one of ${BACKENDS.join(', ')}, got '${flags.backend}'`);
      // Launched by `dtrain launch`: die with the launcher, even if it was SIGKILLed.
      if (process.send) process.on('disconnect', () => process.exit(1));
      const localRank = Number(flags.localRank ?? process.env.LOCAL_RANK ?? -1);
      try {
        await runWorker({
          coordinator: flags.coordinator,
          backend: flags.backend,
          peerHost: flags.peerHost,
          advertiseHost: flags.advertiseHost,
          localRankHint: Number.isInteger(localRank) ? localRank : -1,
          metricsPort: flags.metricsPort,
          metricsHost: flags.metricsHost,
          joinTimeoutMs: flags.joinTimeoutMs,
          reconnectTimeoutMs: flags.coordinatorTimeoutMs,
          testDelayMs: flags.testDelayMs,
          testPerturbAtStep: flags.testPerturbStep,
          // Under the launcher every line is already prefixed with the local rank.
          log: process.env.DTRAIN_LAUNCHED ? (line) => process.stderr.write(`${line}\n`) : undefined,
        });
        process.exit(0);
      } catch (err) {
        const e = err as Error;
        // 3: the job refused this process (over, or full): a restart would be refused again.
        exitWith(e instanceof JoinRefusedError ? 3 : 1, `worker failed: ${e.name !== 'Error' ? `${e.name}: ` : ''}${e.message}`);
      }
    });
}
