// `dtrain stop`: ask the coordinator serving a job to stop it (it checkpoints and ends the world).
import type { Command } from 'commander';
import { requestControl } from '@dtrain/shared/control/control-client';
import { addControlTargetOptions, controlErrorMessage, failControl, resolveControlTarget, type ControlTargetOptions } from './status';

interface StopOptions extends ControlTargetOptions {
  reason?: string;
}

export function registerStopCommand(program: Command): void {
  const cmd = program
    .command('stop')
    .description('stop a running job (asks its coordinator over NATS)')
    .option('--reason <text>', 'why; recorded in the job\'s stopping event');
  addControlTargetOptions(cmd).action(async (opts: StopOptions) => {
    const target = resolveControlTarget('stop', opts);
    if (target === null) return;
    try {
      const reply = await requestControl(target.url, target.job, { op: 'stop', reason: opts.reason ?? 'dtrain stop' }, opts.timeout);
      if (opts.json) process.stdout.write(`${JSON.stringify(reply)}\n`);
      if (!reply.ok) {
        failControl('stop', `coordinator of job ${target.job} refused to stop: ${reply.error}`);
        return;
      }
      if (!opts.json) {
        process.stdout.write(`stop requested for job ${target.job}${reply.message ? `: ${reply.message}` : ''}\n`);
      }
    } catch (err) {
      failControl('stop', controlErrorMessage(err));
    }
  });
}
