// `dtrain events`: a job's event history from JetStream, and with --follow the live tail.
import type { Command } from 'commander';
import type { JobEvent } from '@dtrain/shared/control/api';
import { followEvents, readEvents } from '@dtrain/shared/control/control-client';
import { formatEvent } from '@dtrain/shared/control/format';
import { addControlTargetOptions, controlErrorMessage, failControl, resolveControlTarget, type ControlTargetOptions } from './status';

interface EventsOptions extends ControlTargetOptions {
  follow?: boolean;
}

export function registerEventsCommand(program: Command): void {
  const cmd = program
    .command('events')
    .description('print a job\'s events (kept by NATS JetStream); --follow keeps printing new ones')
    .option('-f, --follow', 'after the history, keep printing new events until interrupted', false);
  addControlTargetOptions(cmd, false).action(async (opts: EventsOptions) => {
    const target = resolveControlTarget('events', opts);
    if (target === null) return;
    const print = (event: JobEvent): void => {
      process.stdout.write(opts.json ? `${JSON.stringify(event)}\n` : `${formatEvent(event)}\n`);
    };
    const log = (line: string): void => {
      process.stderr.write(`dtrain events: ${line}\n`);
    };
    try {
      if (!opts.follow) {
        const events = await readEvents(target.url, target.job, { log });
        for (const event of events) print(event);
        if (events.length === 0 && !opts.json) log(`no events for job ${target.job} on ${target.url}`);
        return;
      }
      const stop = await followEvents(target.url, target.job, { fromStart: true, onEvent: print, log });
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      await stop();
    } catch (err) {
      failControl('events', controlErrorMessage(err));
    }
  });
}
