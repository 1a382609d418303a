// What `dtrain launch` shows while a job runs: a progress bar on a terminal, plain log lines otherwise
// (CI logs, pipes), so output stays readable in both. Two throughputs, named: "now" (the last few
// steps) and "average" (samples trained / seconds since training began), which at the last step is
// exactly the summary's samples/s (README: "What samples/s means"). Epochs count from 1.
import cliProgress from 'cli-progress';
import type { StepProgress, ValidationResult } from '@dtrain/coordinator/api';
import { formatLabelUnits, formatLossUnits } from '@dtrain/shared/data/held-out-results';

export const LOG_EVERY_MS = 5_000;

export interface ProgressDisplay {
  step(p: StepProgress): void;
  validation(v: ValidationResult): void;
  /** A line printed above the bar (or plainly). */
  line(text: string): void;
  stop(): void;
}

export function formatValidation(v: ValidationResult): string {
  if (v.count === 0) return `epoch ${v.epoch} done (no validation set)`;
  const parts = [`validation after epoch ${v.epoch}: loss ${v.loss.toFixed(4)}`];
  if (v.accuracy !== undefined) parts.push(`accuracy ${(100 * v.accuracy).toFixed(2)}%`);
  if (v.mse !== undefined) parts.push(`mse ${v.mse.toFixed(5)}`);
  if (v.mae !== undefined) parts.push(`mae ${v.mae.toFixed(5)}`);
  if (v.units) parts.push(formatLabelUnits(v.units));
  return `${parts.join(', ')} (${v.count} held-out samples)`;
}

const count = (n: number): string => Math.round(n).toLocaleString('en-US');

/** "5,720 samples/s now, 2,274 average" */
export function formatThroughput(p: Pick<StepProgress, 'samplesPerSec' | 'avgSamplesPerSec'>): string {
  return `${count(p.samplesPerSec)} samples/s now, ${count(p.avgSamplesPerSec)} average`;
}

export function createProgressDisplay(opts: { tty: boolean; write: (text: string) => void; quiet?: boolean }): ProgressDisplay {
  if (opts.tty && !opts.quiet) return new BarDisplay();
  return new LineDisplay(opts.write, opts.quiet ?? false);
}

class BarDisplay implements ProgressDisplay {
  private readonly multi = new cliProgress.MultiBar({
    format: 'epoch {epoch} |{bar}| {percentage}% | step {value}/{total} | loss {loss} | {sps} | eta {eta_formatted}',
    hideCursor: true,
    clearOnComplete: false,
    stopOnComplete: false,
    etaBuffer: 50,
  }, cliProgress.Presets.shades_classic);
  private bar: cliProgress.SingleBar | null = null;

  step(p: StepProgress): void {
    const payload = { epoch: `${p.epoch}/${p.epochs}`, loss: `${p.loss.toFixed(4)}${formatLossUnits(p.units)}`, sps: formatThroughput(p) };
    if (!this.bar) this.bar = this.multi.create(p.totalSteps, p.globalStep, payload);
    else this.bar.update(p.globalStep, payload);
  }

  validation(v: ValidationResult): void {
    this.line(formatValidation(v));
  }

  line(text: string): void {
    this.multi.log(`${text}\n`);
  }

  stop(): void {
    this.multi.stop();
  }
}

class LineDisplay implements ProgressDisplay {
  private lastLogMs = 0;

  constructor(private readonly write: (text: string) => void, private readonly quiet: boolean) {}

  step(p: StepProgress): void {
    const now = Date.now();
    if (this.quiet || (now - this.lastLogMs < LOG_EVERY_MS && p.globalStep !== p.totalSteps && p.stepInEpoch !== p.stepsInEpoch)) return;
    this.lastLogMs = now;
    this.write(`epoch ${p.epoch}/${p.epochs} step ${p.stepInEpoch}/${p.stepsInEpoch} (global ${p.globalStep}/${p.totalSteps}) loss ${p.loss.toFixed(4)}${formatLossUnits(p.units)} ${formatThroughput(p)}\n`);
  }

  validation(v: ValidationResult): void {
    if (!this.quiet) this.write(`${formatValidation(v)}\n`);
  }

  line(text: string): void {
    this.write(`${text}\n`);
  }

  stop(): void {}
}
