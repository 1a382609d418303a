// Why: a worker moves megabytes through short-lived buffers every step (grpc-js frames and
// concatenates each gRPC message into a fresh Buffer; tfjs allocates tensors). glibc's malloc serves
// allocations of 128 KiB and more with fresh mmaps and returns freed heap memory to the kernel, so
// those buffers land on never-touched pages every step. On the VMs we measured (Firecracker guests)
// a first-touch page fault costs 15-20 µs: copying 1 MB into a fresh Buffer took ~3.5 ms instead of
// ~0.1 ms, and a 1 MB gRPC all-reduce iteration with ~770 faults took 15-25 ms against 2.5-5 ms
// without. Serving those sizes from the heap and keeping freed memory in the process (reused, never
// re-faulted) removes the faults after warm-up. glibc reads these variables at process start only,
// so whoever spawns a worker sets them (`dtrain launch`, the container images, the manifests).
// A value the user set wins; DTRAIN_ALLOCATOR_TUNING=0 leaves the environment alone. musl and other
// allocators ignore the variables.

/** Allocations below this come from the heap (glibc caps the setting at 32 MiB on 64-bit). */
export const MMAP_THRESHOLD_BYTES = 32 * 1024 * 1024;
/** Free memory at the heap's top kept in the process before glibc returns it to the kernel. */
export const TRIM_THRESHOLD_BYTES = 256 * 1024 * 1024;

export const ALLOCATOR_ENV: Readonly<Record<'MALLOC_MMAP_THRESHOLD_' | 'MALLOC_TRIM_THRESHOLD_', string>> = {
  MALLOC_MMAP_THRESHOLD_: String(MMAP_THRESHOLD_BYTES),
  MALLOC_TRIM_THRESHOLD_: String(TRIM_THRESHOLD_BYTES),
};

/** `env` plus the allocator settings a worker process should start with (the user's values kept). */
export function withWorkerAllocatorEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  if (env.DTRAIN_ALLOCATOR_TUNING === '0') return env;
  const out: NodeJS.ProcessEnv = { ...env };
  for (const [name, value] of Object.entries(ALLOCATOR_ENV)) if (out[name] === undefined) out[name] = value;
  return out;
}

/** One line for a worker's start-up log: what its allocator was started with. */
export function describeAllocatorEnv(env: NodeJS.ProcessEnv = process.env): string {
  const mmap = env.MALLOC_MMAP_THRESHOLD_;
  const trim = env.MALLOC_TRIM_THRESHOLD_;
  if (mmap === undefined && trim === undefined) {
    return 'allocator: glibc defaults (large buffers are page-faulted afresh each step; ' +
      `set MALLOC_MMAP_THRESHOLD_=${MMAP_THRESHOLD_BYTES} MALLOC_TRIM_THRESHOLD_=${TRIM_THRESHOLD_BYTES}, see README)`;
  }
  return `allocator: MALLOC_MMAP_THRESHOLD_=${mmap ?? 'default'} MALLOC_TRIM_THRESHOLD_=${trim ?? 'default'}`;
}
