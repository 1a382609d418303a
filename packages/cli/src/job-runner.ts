// Runs one job's coordinator in this process: control plane, progress display, summary. Shared by
// `dtrain launch` (which also spawns the workers) and `dtrain coordinator` (workers come from elsewhere).
import { Coordinator } from '@dtrain/coordinator/coordinator';
import type { CoordinatorOptions, JobResult } from '@dtrain/coordinator/api';
import { createControlBus } from '@dtrain/shared/control/create-control-bus';
import type { ControlBus } from '@dtrain/shared/control/api';
import { createProgressDisplay, type ProgressDisplay } from './progress-display';

export interface JobRunnerOptions extends Omit<CoordinatorOptions, 'bus' | 'log'> {
  natsUrl?: string;
  json: boolean;
  tty: boolean;
  /** Called once the coordinator listens: spawn local workers here. */
  onListening?: (address: string, coordinator: Coordinator, display: ProgressDisplay) => void | Promise<void>;
}

export interface JobRun {
  coordinator: Coordinator;
  result: JobResult;
}

export async function runJob(options: JobRunnerOptions): Promise<JobRun> {
  const display = createProgressDisplay({ tty: options.tty, write: (t) => process.stderr.write(t) });
  const log = (line: string): void => display.line(`[coordinator] ${line}`);
  const natsUrl = options.natsUrl ?? options.spec.observability.natsUrl;
  let bus: ControlBus;
  try {
    bus = await createControlBus({ natsUrl, job: options.spec.name, log });
  } catch (err) {
    // Training does not depend on the control plane: run, and say plainly that nobody outside sees it.
    log(`WARNING: cannot use NATS at ${natsUrl} (${(err as Error).message}); events stay in this process and dtrain status/stop will not reach this job`);
    bus = await createControlBus({ job: options.spec.name, log });
  }
  const coordinator = new Coordinator({ ...options, bus, log });
  bus.serveControl(options.spec.name, (req) => coordinator.control(req));
  coordinator.on('step', (p) => display.step(p));
  coordinator.on('validation', (v) => display.validation(v));
  try {
    let address: string;
    try {
      address = await coordinator.start();
    } catch (err) {
      // A job that cannot start (unreadable data, bad resume point, port taken) fails like any other:
      // a named error in the summary and the --json line, not a stack trace.
      const e = err as Error & { code?: string };
      return { coordinator, result: startFailure(coordinator.jobId, options.workers, e) };
    }
    if (natsUrl) log(`control plane on ${natsUrl}: dtrain status|stop|events --nats ${natsUrl} --job ${options.spec.name}`);
    await options.onListening?.(address, coordinator, display);
    const result = await coordinator.result;
    return { coordinator, result };
  } finally {
    display.stop();
    await coordinator.close();
    await bus.close();
  }
}

function startFailure(jobId: string, workers: number, err: Error & { code?: string }): JobResult {
  return {
    status: 'failed', jobId, workers, steps: 0, epochs: 0, loss: null, accuracy: null, validation: null,
    samplesPerSec: null, wallSeconds: 0, backend: null, lastCheckpoint: null,
    error: err.message, errorCode: typeof err.code === 'string' ? err.code : err.name,
  };
}

export function formatSummary(r: JobResult): string {
  const lines: string[] = [];
  const head = r.status === 'succeeded' ? 'job succeeded' : r.status === 'stopped' ? 'job stopped' : 'job FAILED';
  lines.push(`${head}: ${r.jobId}`);
  if (r.error) lines.push(`  error:        ${r.error}`);
  lines.push(`  workers:      ${r.workers}${r.backend ? ` (backend ${r.backend})` : ''}`);
  lines.push(`  steps:        ${r.steps}`);
  if (r.loss !== null) lines.push(`  final loss:   ${r.loss.toFixed(4)}`);
  const v = r.validation;
  if (v) {
    if (v.accuracy !== undefined) lines.push(`  held-out accuracy: ${(100 * v.accuracy).toFixed(2)}% (${v.count} samples)`);
    if (v.mse !== undefined) lines.push(`  held-out mse:  ${v.mse.toFixed(5)}  mae: ${(v.mae ?? Number.NaN).toFixed(5)} (${v.count} samples)`);
  }
  if (r.samplesPerSec !== null) lines.push(`  samples/s:    ${Math.round(r.samplesPerSec).toLocaleString('en-US')}`);
  lines.push(`  wall time:    ${r.wallSeconds.toFixed(1)} s`);
  if (r.lastCheckpoint) lines.push(`  checkpoint:   ${r.lastCheckpoint}`);
  if (r.restarts) lines.push(`  restarts:     ${r.restarts}`);
  if ((r.generations ?? 0) > 1 || r.workersLost || r.workersJoined) {
    lines.push(`  world:        ${r.generations ?? 0} generation(s), ${r.workersLost ?? 0} worker(s) lost, ${r.workersJoined ?? 0} joined`);
  }
  if (r.recoverySeconds && r.recoverySeconds.length > 0) {
    const sorted = [...r.recoverySeconds].sort((a, b) => a - b);
    lines.push(`  recovery:     median ${sorted[Math.floor(sorted.length / 2)].toFixed(2)} s, max ${sorted[sorted.length - 1].toFixed(2)} s (${sorted.length})`);
  }
  if (r.stepsRedone) lines.push(`  steps redone: ${r.stepsRedone}`);
  const l = r.sampleLedger;
  if (l) lines.push(`  samples:      ${l.trained} of ${l.expected} trained over ${l.epochs} epoch(s), ${l.duplicated} duplicated, ${l.missing} missing`);
  return lines.join('\n');
}

export function summaryJson(r: JobResult): string {
  return JSON.stringify({
    status: r.status,
    jobId: r.jobId,
    workers: r.workers,
    steps: r.steps,
    loss: r.loss,
    accuracy: r.accuracy,
    validation: r.validation,
    samplesPerSec: r.samplesPerSec,
    wallSeconds: r.wallSeconds,
    backend: r.backend,
    lastCheckpoint: r.lastCheckpoint,
    ...(r.restarts ? { restarts: r.restarts } : {}),
    generations: r.generations ?? 0,
    workersLost: r.workersLost ?? 0,
    workersJoined: r.workersJoined ?? 0,
    recoverySeconds: r.recoverySeconds ?? [],
    stepsRedone: r.stepsRedone ?? 0,
    sampleLedger: r.sampleLedger ?? null,
    ...(r.error ? { error: r.error, errorCode: r.errorCode, lostRank: r.lostRank } : {}),
  });
}
