// The worker processes `dtrain launch` starts on this machine, and the guarantee that none outlives it:
// an IPC channel ties each worker to the launcher (a worker exits when the channel drops, even if the
// launcher was SIGKILLed), and signals to the launcher are passed on.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { BackendName } from '@dtrain/shared/job-spec';
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
  onLine: (localRank: number, line: string) => void;
  onExit: (localRank: number, code: number | null, signal: NodeJS.Signals | null) => void;
}

export class LocalWorkers {
  readonly children: ChildProcess[] = [];
  private exited = new Set<number>();

  constructor(private readonly options: LocalWorkerOptions) {}

  start(): void {
    const { count, coordinator, backend } = this.options;
    const usesGpu = backend === undefined || backend === 'auto' || backend === 'tensorflow-gpu';
    for (let localRank = 0; localRank < count; localRank++) {
      const args = [DTRAIN_BIN, 'worker', '--coordinator', coordinator, '--local-rank', String(localRank)];
      if (backend) args.push('--backend', backend);
      if (this.options.metricsBasePort !== undefined) {
        args.push('--metrics-port', String(this.options.metricsBasePort === 0 ? 0 : this.options.metricsBasePort + localRank));
      }
      args.push(...(this.options.extraArgs?.(localRank) ?? []));
      const env: NodeJS.ProcessEnv = { ...process.env, ...this.options.env?.(localRank), LOCAL_RANK: String(localRank), DTRAIN_LAUNCHED: '1' };
      // One GPU per local worker, as torchrun users expect; harmless where no GPU exists.
      if (usesGpu && process.env.CUDA_VISIBLE_DEVICES === undefined) env.CUDA_VISIBLE_DEVICES = String(localRank);
      const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
      this.children.push(child);
      for (const stream of [child.stdout, child.stderr]) {
        if (!stream) continue;
        createInterface({ input: stream }).on('line', (line) => this.options.onLine(localRank, line));
      }
      child.on('exit', (code, signal) => {
        this.exited.add(localRank);
        this.options.onExit(localRank, code, signal);
      });
    }
  }

  get pids(): number[] {
    return this.children.map((c) => c.pid ?? -1);
  }

  /** Resolves when every worker has exited. */
  waitAll(timeoutMs: number): Promise<boolean> {
    return new Promise((resolve) => {
      const check = () => this.children.every((_, i) => this.exited.has(i));
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
    const alive = this.children.filter((_, i) => !this.exited.has(i));
    for (const c of alive) c.kill('SIGTERM');
    if (await this.waitAll(graceMs)) return;
    for (const c of this.children.filter((_, i) => !this.exited.has(i))) c.kill('SIGKILL');
    await this.waitAll(2_000);
  }
}
