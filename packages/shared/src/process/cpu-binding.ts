// Why: at N=2 a worker's step ends waiting for its peer's gradients, asleep in epoll. When they arrive, the
// scheduler may wake it on the core where the peer's main thread is computing its next step (the waker's
// core), and it then waits behind that thread instead of running on the other core. On the 2-core VMs we
// measured (Linux 6.18, EEVDF), the two ranks' all-reduce ends were 1 ms apart in one step of ten, and
// the late rank carried that into the next step. Keeping each worker's main thread on a core of its own
// (`dtrain launch --bind-cores`, as `mpirun --bind-to core` does) cut the 9.7 KB small-step job at N=2
// over tcp to 1.11-1.22 ms per step from 1.27-1.65 ms (7 interleaved pairs); bench:small-step's fixed cost
// was 0.72-1.00 ms bound and 0.83-1.20 ms unbound, the unbound run faster in 2 of 5 pairs (README).
// Only the main thread is bound: V8's GC and compiler threads and libuv's I/O threads were started before
// it and keep floating, so they use whichever core is idle. The worker binds itself (DTRAIN_BIND_CPU, set
// per slot by the launcher), so a restarted or separately started worker binds the same way. Off by
// default: on a machine shared with other jobs a bound thread cannot leave a busy core. Linux only: Node
// has no affinity call, so the binding is util-linux's `taskset -p`, checked by reading it back.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** The environment variable naming the CPU a worker binds its main thread to (unset: no binding). */
export const BIND_CPU_ENV = 'DTRAIN_BIND_CPU';

/** A CPU binding that was asked for and could not be made. */
export class CpuBindingError extends Error {
  override readonly name = 'CpuBindingError';
  /** The CPU a worker was to bind to (null: a launcher placement that does not fit). */
  readonly cpu: number | null;
  /** Worker processes the launcher was to place (null: one worker's own binding). */
  readonly slots: number | null;
  /** The CPUs this process may run on. */
  readonly allowed: readonly number[];

  constructor(message: string, fields: { cpu?: number; slots?: number; allowed: readonly number[] }) {
    super(message);
    this.cpu = fields.cpu ?? null;
    this.slots = fields.slots ?? null;
    this.allowed = fields.allowed;
  }
}

/**
 * CPU numbers from a Linux CPU list ("0-3,6", as in Cpus_allowed_list or taskset -c).
 *
 * Raises:
 *   RangeError: the text is not such a list.
 */
export function parseCpuList(text: string): number[] {
  const cpus = new Set<number>();
  for (const part of text.trim().split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    const first = Number(m?.[1]);
    const last = m?.[2] === undefined ? first : Number(m[2]);
    if (!m || last < first) throw new RangeError(`not a CPU list: '${text}' (expected e.g. '0-3,6')`);
    for (let c = first; c <= last; c++) cpus.add(c);
  }
  return [...cpus].sort((a, b) => a - b);
}

/** The CPUs a list names, written back compactly ("0-3,6"). */
export function formatCpuList(cpus: readonly number[]): string {
  const parts: string[] = [];
  for (let i = 0; i < cpus.length; i++) {
    let j = i;
    while (j + 1 < cpus.length && cpus[j + 1] === cpus[j] + 1) j++;
    parts.push(j === i ? String(cpus[i]) : `${cpus[i]}-${cpus[j]}`);
    i = j;
  }
  return parts.join(',');
}

/** The CPUs a thread may run on (its Cpus_allowed_list); the calling process's main thread by default. */
export function allowedCpus(pid = process.pid, tid = pid): number[] {
  const status = readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8');
  const line = /^Cpus_allowed_list:\s*(.+)$/m.exec(status);
  if (!line) throw new Error(`/proc/${pid}/task/${tid}/status has no Cpus_allowed_list`);
  return parseCpuList(line[1]);
}

/**
 * One CPU per local worker slot, in order, from the CPUs the launcher may use.
 *
 * Raises:
 *   CpuBindingError: more slots than CPUs (two bound main threads on one core would take turns).
 */
export function assignCpus(slots: number, allowed: readonly number[]): number[] {
  if (slots > allowed.length) {
    throw new CpuBindingError(`--bind-cores: ${slots} worker processes but only ${allowed.length} CPU(s) allowed ` +
      `here (${formatCpuList(allowed)}); start at most ${allowed.length} or drop --bind-cores`, { slots, allowed });
  }
  return allowed.slice(0, slots);
}

/**
 * The CPU this worker binds its main thread to, from the environment (null: no binding).
 *
 * Raises:
 *   RangeError: DTRAIN_BIND_CPU is set to anything but a CPU number.
 */
export function boundCpu(env: NodeJS.ProcessEnv = process.env): number | null {
  const raw = env[BIND_CPU_ENV];
  if (raw === undefined || raw === '') return null;
  if (!/^\d+$/.test(raw)) throw new RangeError(`${BIND_CPU_ENV} must be a CPU number (e.g. 0), got '${raw}'`);
  return Number(raw);
}

/**
 * Binds the calling process's main thread (only) to `cpu` and returns the worker's log line.
 *
 * Raises:
 *   CpuBindingError: not Linux, `cpu` is not among this process's allowed CPUs, taskset is missing or
 *     failed, or the thread's allowed CPUs read back are not exactly `cpu`.
 */
export function bindMainThread(cpu: number): string {
  if (process.platform !== 'linux') {
    throw new CpuBindingError(`cannot bind to CPU ${cpu}: CPU binding needs Linux (${process.platform})`,
      { cpu, allowed: [] });
  }
  const allowed = allowedCpus();
  if (!allowed.includes(cpu)) {
    throw new CpuBindingError(`cannot bind to CPU ${cpu}: this process may run on CPUs ${formatCpuList(allowed)} only`,
      { cpu, allowed });
  }
  // Without -a, taskset sets the affinity of the one thread whose id it is given: the main thread.
  const r = spawnSync('taskset', ['-p', '-c', String(cpu), String(process.pid)], { encoding: 'utf8' });
  if (r.error) {
    const why = (r.error as NodeJS.ErrnoException).code === 'ENOENT' ? 'taskset (util-linux) is not installed'
      : r.error.message;
    throw new CpuBindingError(`cannot bind to CPU ${cpu}: ${why}`, { cpu, allowed });
  }
  if (r.status !== 0) {
    throw new CpuBindingError(`cannot bind to CPU ${cpu}: taskset exited ${r.status}: ${r.stderr.trim()}`,
      { cpu, allowed });
  }
  const now = allowedCpus();
  if (now.length !== 1 || now[0] !== cpu) {
    throw new CpuBindingError(`cannot bind to CPU ${cpu}: the main thread may still run on CPUs ${formatCpuList(now)}`,
      { cpu, allowed });
  }
  return `CPU binding: main thread on CPU ${cpu} (GC, compiler and I/O threads unbound)`;
}

/**
 * Applies DTRAIN_BIND_CPU to this process (call it once, before training): the log line, or null when
 * no binding was asked for.
 *
 * Raises:
 *   RangeError: DTRAIN_BIND_CPU is malformed (see boundCpu).
 *   CpuBindingError: the binding could not be made (see bindMainThread).
 */
export function applyCpuBinding(env: NodeJS.ProcessEnv = process.env): string | null {
  const cpu = boundCpu(env);
  return cpu === null ? null : bindMainThread(cpu);
}
