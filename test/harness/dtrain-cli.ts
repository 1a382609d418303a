// Runs the real `dtrain` executable as a child process, as a user would.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';

export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const DTRAIN_BIN = join(REPO_ROOT, 'packages/cli/bin/dtrain.js');

export interface CliRun {
  child: ChildProcess;
  /** Everything printed so far. */
  stdout(): string;
  stderr(): string;
  /** Resolves when stderr (or stdout) matches, or rejects at the deadline. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export function startDtrain(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): CliRun {
  const child = spawn(process.execPath, [DTRAIN_BIN, ...args], {
    cwd: opts.cwd ?? REPO_ROOT,
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  const listeners = new Set<() => void>();
  child.stdout!.on('data', (d: Buffer) => { out += d.toString(); for (const l of listeners) l(); });
  child.stderr!.on('data', (d: Buffer) => { err += d.toString(); for (const l of listeners) l(); });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('exit', (code, signal) => { for (const l of listeners) l(); resolve({ code, signal }); });
  });
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    waitFor(pattern, timeoutMs = 60_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const m = err.match(pattern) ?? out.match(pattern);
          if (m) { cleanup(); resolve(m); return true; }
          if (child.exitCode !== null || child.signalCode !== null) {
            cleanup();
            reject(new Error(`dtrain exited before printing ${pattern}:\n${err.slice(-3000)}`));
            return true;
          }
          return false;
        };
        const timer = setTimeout(() => { cleanup(); reject(new Error(`timed out waiting for ${pattern}:\n${err.slice(-3000)}`)); }, timeoutMs);
        const cleanup = () => { clearTimeout(timer); listeners.delete(listener); };
        const listener = () => { check(); };
        if (!check()) listeners.add(listener);
      });
    },
  };
}

/** Runs dtrain to completion. */
export async function runDtrain(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}) {
  const run = startDtrain(args, opts);
  const { code, signal } = await run.exited;
  return { code, signal, stdout: run.stdout(), stderr: run.stderr() };
}

/** The JSON summary `--json` puts on the last line of stdout. */
export function lastJsonLine(stdout: string): Record<string, unknown> {
  const lines = stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]) as Record<string, unknown>;
}

export function tempDir(prefix = 'dtrain-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Writes a job file (YAML) into dir and returns its path. */
export function writeJob(dir: string, job: Record<string, unknown>, name = 'job.yaml'): string {
  const path = join(dir, name);
  writeFileSync(path, stringify(job));
  return path;
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Polls until none of the pids is alive, or the deadline passes; returns those still alive. */
export async function waitForExit(pids: number[], timeoutMs = 15_000): Promise<number[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const alive = pids.filter(isAlive);
    if (alive.length === 0 || Date.now() > deadline) return alive;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A small MNIST MLP job, quick to start; override what a test needs. */
export function smallMnistJob(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name: 'test-mnist',
    seed: 7,
    backend: 'wasm',
    model: { kind: 'mlp', task: 'classification', hidden: [{ units: 32, activation: 'relu' }] },
    dataset: { kind: 'mnist', shape: 'flat', limit: 2000 },
    loss: 'categoricalCrossentropy',
    optimizer: { kind: 'sgd', learningRate: 0.1 },
    training: { batchSize: 16, epochs: 1 },
    ...overrides,
  };
}
