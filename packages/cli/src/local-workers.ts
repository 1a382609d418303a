// The worker processes `dtrain launch` starts on this machine, and the guarantee that none outlives it:
// an IPC channel ties each worker to the launcher (a worker exits when the channel drops, even if the
// launcher was SIGKILLed), and signals to the launcher are passed on. A slot whose process died can be
// given a new process (`replace`), which joins the running world as a newcomer (docs/elastic.md).
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { BackendName } from '@dtrain/shared/job-spec';
import { withWorkerAllocatorEnv } from '@dtrain/shared/process/allocator-env';
import { BIND_CPU_ENV } from '@dtrain/shared/process/cpu-binding';
import { DTRAIN_BIN } from './cli-paths';

export const KILL_GRACE_MS = 5_000;

export interface LocalWorkerOptions {
  count: number;
  coordinator: string;
  backend?: BackendName;
  /** Base port for worker metrics: local rank r gets base + r (0: each picks a free port; undefined: none). */
  metricsBasePort?: number;
  /** Per-local-rank extra arguments (tests: `--test-delay-ms`). */
  extraArgs?: (localRank: number) => string[];
  /** security: per-local-rank environment (TLS files and join token from launch-security.ts). */
  env?: (localRank: number) => NodeJS.ProcessEnv;
  /** --bind-cores: the CPU each local slot's main thread is bound to (cpu-binding.ts); none when absent. */
  cpus?: readonly number[];
  onLine: (localRank: number, line: string) => void;
  onExit: (localRank: number, code: number | null, signal: NodeJS.Signals | null, pid: number) => void;
}

export class LocalWorkers {
  /** Every process ever started, in start order (replacements included). */
  readonly children: ChildProcess[] = [];
  /** The current process of each local slot. */
  private readonly slots: ChildProcess[] = [];
  private readonly exited = new Set<ChildProcess>();

  constructor(private readonly options: LocalWorkerOptions) {}

  start(): void {
    for (let localRank = 0; localRank < this.options.count; localRank++) this.spawnSlot(localRank, false);
  }

  /** Starts a new process in a slot whose process exited; it joins the running job. */
  replace(localRank: number): number {
    return this.spawnSlot(localRank, true);
  }

  private spawnSlot(localRank: number, replacement: boolean): number {
    const { coordinator, backend } = this.options;
    const usesGpu = backend === undefined || backend === 'auto' || backend === 'tensorflow-gpu';
    const args = [DTRAIN_BIN, 'worker', '--coordinator', coordinator, '--local-rank', String(localRank)];
    if (backend) args.push('--backend', backend);
    // A replacement's old metrics port may still be held for a moment by the dying process: any port.
    if (this.options.metricsBasePort !== undefined) {
      const port = this.options.metricsBasePort === 0 || replacement ? 0 : this.options.metricsBasePort + localRank;
      args.push('--metrics-port', String(port));
    }
    args.push(...(replacement ? [] : this.options.extraArgs?.(localRank) ?? []));
    // security: the slot's TLS files and join token, for a replacement process exactly as for the first one.
    // The allocator settings keep a worker's per-step buffers off fresh pages (allocator-env.ts).
    const env: NodeJS.ProcessEnv = withWorkerAllocatorEnv({
      ...process.env, ...this.options.env?.(localRank), LOCAL_RANK: String(localRank), DTRAIN_LAUNCHED: '1',
    });
    // A replacement takes its slot's CPU, which its predecessor no longer runs on.
    const cpu = this.options.cpus?.[localRank];
    if (cpu !== undefined) env[BIND_CPU_ENV] = String(cpu);
    // One GPU per local worker, as torchrun users expect; harmless where no GPU exists.
    if (usesGpu && process.env.CUDA_VISIBLE_DEVICES === undefined) env.CUDA_VISIBLE_DEVICES = String(localRank);
    // DTRAIN_WORKER_NODE_ARGS: Node flags for the worker processes only (e.g. `--cpu-prof`, which
    // NODE_OPTIONS refuses, or `--max-old-space-size=8192`).
    const nodeArgs = (process.env.DTRAIN_WORKER_NODE_ARGS ?? '').split(/\s+/).filter(Boolean);
    const child = spawn(process.execPath, [...nodeArgs, ...args], { env, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
    this.children.push(child);
    this.slots[localRank] = child;
    for (const stream of [child.stdout, child.stderr]) {
      if (!stream) continue;
      createInterface({ input: stream }).on('line', (line) => this.options.onLine(localRank, line));
    }
    child.on('exit', (code, signal) => {
      this.exited.add(child);
      this.options.onExit(localRank, code, signal, child.pid ?? -1);
    });
    return child.pid ?? -1;
  }

  /** Current pid of each slot. */
  get pids(): number[] {
    return this.slots.map((c) => c.pid ?? -1);
  }

  /** Processes still running. */
  get running(): number {
    return this.children.filter((c) => !this.exited.has(c)).length;
  }

  /** Resolves when every process started so far has exited. */
  waitAll(timeoutMs: number): Promise<boolean> {
    return new Promise((resolve) => {
      const check = () => this.children.every((c) => this.exited.has(c));
      if (check()) { resolve(true); return; }
      const timer = setTimeout(() => resolve(check()), timeoutMs);
      for (const c of this.children) {
        c.once('exit', () => {
          if (check()) { clearTimeout(timer); resolve(true); }
        });
      }
    });
  }

  /** SIGTERM, then SIGKILL after a grace period, to every worker still running. */
  async terminate(graceMs = KILL_GRACE_MS): Promise<void> {
    for (const c of this.children.filter((x) => !this.exited.has(x))) c.kill('SIGTERM');
    if (await this.waitAll(graceMs)) return;
    for (const c of this.children.filter((x) => !this.exited.has(x))) c.kill('SIGKILL');
    await this.waitAll(2_000);
  }
}
