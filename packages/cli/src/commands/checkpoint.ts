// `dtrain checkpoint`: ask the coordinator of a running job for a checkpoint now; prints its path.
import type { Command } from 'commander';
import { requestControl } from '@dtrain/shared/control/control-client';
import { parsePositiveInt } from '../cli-util';
import { controlErrorMessage, failControl, resolveControlTarget, type ControlTargetOptions } from './status';
import { Option } from 'commander';

/** A checkpoint is written at the next step boundary: allow for a slow step plus the write. */
export const CHECKPOINT_REQUEST_TIMEOUT_MS = 60_000;

export function registerCheckpointCommand(program: Command): void {
  program
    .command('checkpoint')
    .description('write a checkpoint of a running job now (asks its coordinator over NATS)')
    .addOption(new Option('--nats <url>', 'NATS server of the control plane').env('DTRAIN_NATS_URL'))
    .addOption(new Option('--job <name>', 'job name (the job file\'s name)').env('DTRAIN_JOB'))
    .option('--json', 'machine-readable output', false)
    .option('--timeout <ms>', 'how long to wait for the checkpoint', parsePositiveInt('--timeout'), CHECKPOINT_REQUEST_TIMEOUT_MS)
    .action(async (opts: ControlTargetOptions) => {
      const target = resolveControlTarget('checkpoint', opts);
      if (target === null) return;
      try {
        const reply = await requestControl(target.url, target.job, { op: 'checkpoint' }, opts.timeout);
        if (opts.json) process.stdout.write(`${JSON.stringify(reply)}\n`);
        if (!reply.ok) {
          failControl('checkpoint', `coordinator of job ${target.job} refused: ${reply.error}`);
          return;
        }
        if (!opts.json) process.stdout.write(`checkpoint written: ${reply.checkpoint}\n`);
      } catch (err) {
        failControl('checkpoint', controlErrorMessage(err));
      }
    });
}
