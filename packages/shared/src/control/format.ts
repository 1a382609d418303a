// Human-readable lines for `dtrain status|events` (and any progress display that wants the same).
import type { JobEvent, JobStatus } from './api';

function formatValue(value: unknown): string {
  if (typeof value === 'number') return Number.isInteger(value) ? String(value) : value.toPrecision(5).replace(/\.?0+$/, '');
  if (typeof value === 'string') return /\s/.test(value) || value === '' ? JSON.stringify(value) : value;
  return JSON.stringify(value) ?? String(value);
}

/** `TIME  KIND  gen N  key=value ...` on one line. */
export function formatEvent(event: JobEvent): string {
  const fields = Object.entries(event.data).map(([k, v]) => `${k}=${formatValue(v)}`).join(' ');
  return `${event.time}  ${event.kind.padEnd(18)}  gen ${event.generation}${fields ? `  ${fields}` : ''}`;
}

export function formatStatus(status: JobStatus): string {
  const lines = [`job ${status.job}: ${status.state}`];
  lines.push(`  generation:      ${status.generation}`);
  lines.push(`  workers:         ${status.workers}`);
  lines.push(`  epoch:           ${status.epoch}`);
  lines.push(`  global step:     ${status.globalStep}`);
  lines.push(`  loss:            ${status.loss === null ? '-' : status.loss.toFixed(4)}`);
  lines.push(`  samples/s:       ${status.samplesPerSec === null ? '-' : Math.round(status.samplesPerSec).toLocaleString('en-US')}`);
  lines.push(`  last checkpoint: ${status.lastCheckpoint ?? '-'}`);
  return lines.join('\n');
}
