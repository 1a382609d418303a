// `dtrain status`: ask the coordinator serving a job over NATS. Also holds the option handling
// shared by `dtrain status|stop|events` (--nats, --job, with env fallbacks).
import { Option, type Command } from 'commander';
import { ControlPlaneError } from '@dtrain/shared/errors';
import { DEFAULT_CONTROL_TIMEOUT_MS, requestControl } from '@dtrain/shared/control/control-client';
import { formatStatus } from '@dtrain/shared/control/format';
import { parsePositiveInt } from '../cli-util';

export interface ControlTargetOptions {
  nats?: string;
  job?: string;
  json?: boolean;
  timeout?: number;
}

export interface ControlTarget {
  url: string;
  job: string;
}

export function addControlTargetOptions(cmd: Command, withTimeout = true): Command {
  cmd
    .addOption(new Option('--nats <url>', 'NATS server of the control plane').env('DTRAIN_NATS_URL'))
    .addOption(new Option('--job <name>', 'job name (the job file\'s name)').env('DTRAIN_JOB'))
    .option('--json', 'machine-readable output', false);
  if (withTimeout) {
    cmd.option('--timeout <ms>', 'how long to wait for the coordinator', parsePositiveInt('--timeout'), DEFAULT_CONTROL_TIMEOUT_MS);
  }
  return cmd;
}

/** Both are required, from flags or the environment; a missing one is a usage error (exit 2). */
export function resolveControlTarget(command: string, opts: ControlTargetOptions): ControlTarget | null {
  const missing: string[] = [];
  if (!opts.nats) missing.push('--nats URL (or DTRAIN_NATS_URL)');
  if (!opts.job) missing.push('--job NAME (or DTRAIN_JOB)');
  if (missing.length > 0 || !opts.nats || !opts.job) {
    failControl(command, `missing ${missing.join(' and ')}`, 2);
    return null;
  }
  return { url: opts.nats, job: opts.job };
}

/** Prints `dtrain <command>: <message>` to stderr and sets the exit code; stdout stays clean for --json. */
export function failControl(command: string, message: string, exitCode = 1): void {
  process.stderr.write(`dtrain ${command}: ${message}\n`);
  process.exitCode = exitCode;
}

export function controlErrorMessage(err: unknown): string {
  if (err instanceof ControlPlaneError) return err.message;
  return err instanceof Error ? err.message : String(err);
}

export function registerStatusCommand(program: Command): void {
  const cmd = program
    .command('status')
    .description('show the state of a running job (asks its coordinator over NATS)');
  addControlTargetOptions(cmd).action(async (opts: ControlTargetOptions) => {
    const target = resolveControlTarget('status', opts);
    if (target === null) return;
    try {
      const reply = await requestControl(target.url, target.job, { op: 'status' }, opts.timeout);
      if (!reply.ok) {
        failControl('status', `coordinator of job ${target.job} answered with an error: ${reply.error}`);
        return;
      }
      if (reply.status === undefined) {
        failControl('status', `coordinator of job ${target.job} sent no status`);
        return;
      }
      process.stdout.write(opts.json ? `${JSON.stringify(reply.status)}\n` : `${formatStatus(reply.status)}\n`);
    } catch (err) {
      failControl('status', controlErrorMessage(err));
    }
  });
}
