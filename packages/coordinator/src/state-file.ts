// coordinator-state.json beside the checkpoints (docs/elastic.md "State file"): what a restarted
// coordinator needs to take its job over. Written atomically (tmp + fsync + rename + fsync of the
// folder) so a coordinator killed mid-write leaves the previous version; writes are coalesced so a
// burst of generation/plan/epoch changes costs one write at a time and the newest state wins.
import { closeSync, fsyncSync, openSync, readFileSync } from 'node:fs';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { CoordinatorStateError } from '@dtrain/shared/errors';
import { isPlanState } from '@dtrain/shared/shard-plan';
import type { CoordinatorStateFile } from './controller/api';

export const STATE_FILE_NAME = 'coordinator-state.json';

export function stateFilePath(checkpointDir: string): string {
  return join(checkpointDir, STATE_FILE_NAME);
}

/** Reads the state file; null when there is none. Throws CoordinatorStateError when it is unusable. */
export function readStateFile(checkpointDir: string): CoordinatorStateFile | null {
  const path = stateFilePath(checkpointDir);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new CoordinatorStateError(path, (err as Error).message);
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw new CoordinatorStateError(path, `bad JSON: ${(err as Error).message}`);
  }
  const problem = checkState(v);
  if (problem) throw new CoordinatorStateError(path, problem);
  return v as CoordinatorStateFile;
}

function checkState(v: unknown): string | null {
  if (typeof v !== 'object' || v === null) return 'not a JSON object';
  const s = v as Record<string, unknown>;
  if (s.version !== 1) return `version ${String(s.version)} is not supported`;
  for (const k of ['jobId', 'jobName'] as const) if (typeof s[k] !== 'string') return `${k} is missing`;
  for (const k of ['generation', 'committedSteps', 'startedAtMs'] as const) {
    if (typeof s[k] !== 'number' || !Number.isFinite(s[k])) return `${k} is not a number`;
  }
  if (!isPlanState(s.planState)) return 'planState is malformed';
  const plan = s.plan as Record<string, unknown> | null;
  if (plan !== null && (typeof plan !== 'object' || !isPlanState(plan.start) || typeof plan.worldSize !== 'number')) return 'plan is malformed';
  const ledger = s.ledger as Record<string, unknown> | undefined;
  if (!ledger || typeof ledger.marks !== 'string' || typeof ledger.closed !== 'object') return 'ledger is malformed';
  const counters = s.counters as Record<string, unknown> | undefined;
  if (!counters || !Array.isArray(counters.recoverySeconds)) return 'counters are malformed';
  return null;
}

/** One atomic write: tmp file, fsync, rename over the old one, fsync the folder. */
export async function writeStateFileAtomic(checkpointDir: string, state: CoordinatorStateFile): Promise<void> {
  await fsp.mkdir(checkpointDir, { recursive: true });
  const path = stateFilePath(checkpointDir);
  const tmp = `${path}.tmp-${process.pid}`;
  const fh = await fsp.open(tmp, 'w');
  try {
    await fh.writeFile(JSON.stringify(state));
    await fh.sync();
  } finally {
    await fh.close();
  }
  await fsp.rename(tmp, path);
  try {
    const fd = openSync(checkpointDir, 'r');
    try { fsyncSync(fd); } finally { closeSync(fd); }
  } catch {
    // Some filesystems refuse fsync on a folder; the rename is then as durable as they make it.
  }
}

/** Coalescing writer: at most one write in flight, the newest pending state written next. */
export class StateFileWriter {
  private pending: CoordinatorStateFile | null = null;
  private running: Promise<void> | null = null;

  constructor(private readonly dir: string, private readonly onError: (err: Error) => void) {}

  write(state: CoordinatorStateFile): void {
    this.pending = state;
    if (!this.running) this.running = this.drain();
  }

  /** Resolves once everything handed to write() is on disk. */
  async flush(): Promise<void> {
    while (this.running) await this.running;
  }

  private async drain(): Promise<void> {
    while (this.pending) {
      const s = this.pending;
      this.pending = null;
      try {
        await writeStateFileAtomic(this.dir, s);
      } catch (err) {
        this.onError(err as Error);
      }
    }
    this.running = null;
  }
}
