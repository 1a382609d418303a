// Helpers for the elastic chaos tests: which worker processes `dtrain launch` is running (initial
// pids and replacements, from its own lines), the workers' final state digests, the summary ledger.
import { expect } from 'vitest';
import type { CliRun } from './dtrain-cli';

/** local slot -> current pid, from "started N worker process(es): pids ..." and "started replacement pid". */
export function currentWorkers(stderr: string): Map<number, number> {
  const slots = new Map<number, number>();
  const started = stderr.match(/started \d+ worker process\(es\): pids ([\d, ]+)/);
  if (!started) throw new Error(`no worker pids in:\n${stderr.slice(-2000)}`);
  started[1].split(',').forEach((p, i) => slots.set(i, Number(p.trim())));
  for (const m of stderr.matchAll(/worker process (\d+) \(pid (\d+)\) exited with [^;]+; (?:started replacement pid (\d+)|no replacement)/g)) {
    const slot = Number(m[1]);
    if (slots.get(slot) !== Number(m[2])) continue;
    if (m[3]) slots.set(slot, Number(m[3]));
    else slots.delete(slot);
  }
  return slots;
}

/** Waits until `pattern` (global) has matched at least `count` times in stderr. */
export async function waitForCount(run: CliRun, pattern: RegExp, count: number, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const n = [...run.stderr().matchAll(pattern)].length;
    if (n >= count) return;
    if (run.child.exitCode !== null) throw new Error(`dtrain exited before ${count}x ${pattern}:\n${run.stderr().slice(-4000)}`);
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${count}x ${pattern}:\n${run.stderr().slice(-4000)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The state digests the workers printed when they finished ("done after ... state digest D"). */
export function finalDigests(stderr: string): string[] {
  const done = new RegExp(String.raw`done after \d+ steps \(global step \d+, \d+ generation\(s\), `
    + String.raw`\d+ plan\(s\) begun as sent ahead, state digest ([0-9a-f]{16})\)`, 'g');
  return [...stderr.matchAll(done)].map((m) => m[1]);
}

/** Pids of the members of the newest world generation the coordinator announced. */
export function currentMembers(stderr: string): { generation: number; pids: number[] } {
  const worlds = [...stderr.matchAll(/world generation (\d+) formed \(\d+ worker\(s\)[^\n]*/g)];
  if (worlds.length === 0) throw new Error(`no world formed yet:\n${stderr.slice(-2000)}`);
  const last = worlds[worlds.length - 1];
  return { generation: Number(last[1]), pids: [...last[0].matchAll(/rank \d+=\S+ pid (\d+)/g)].map((m) => Number(m[1])) };
}

/** World size of the newest generation. */
export function finalWorldSize(stderr: string): number {
  const sizes = [...stderr.matchAll(/world generation \d+ formed \((\d+) worker\(s\)/g)].map((m) => Number(m[1]));
  return sizes[sizes.length - 1] ?? 0;
}

export interface SampleLedger {
  epochs: number;
  expected: number;
  trained: number;
  duplicated: number;
  missing: number;
}

/** Every sample of every epoch trained exactly once. */
export function expectExactLedger(ledger: SampleLedger | undefined): void {
  expect(ledger).toBeDefined();
  expect(ledger!.duplicated).toBe(0);
  expect(ledger!.missing).toBe(0);
  expect(ledger!.expected).toBeGreaterThan(0);
  expect(ledger!.trained).toBe(ledger!.expected);
}
