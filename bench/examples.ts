// Runs the shipped examples as docs/examples.md tells a user to (`dtrain launch --workers N
// examples/NAME.yaml`), each as a real multi-process job, and prints one JSON line per example:
// workers, steps, held-out accuracy or mse/mae, samples/s, wall time, backend, and whether the
// example kept its promise (e.g. mnist-cnn >= 98% held-out accuracy on 4 workers).
//
//   node --import tsx bench/examples.ts                 (all examples, ~5-8 minutes on 2 cores)
//   node --import tsx bench/examples.ts mnist-mlp perceptron
//
// Checkpoints an example's job file asks for are written to a temporary folder, not the repo.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, stringify } from 'yaml';

const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
const DTRAIN_BIN = join(REPO_ROOT, 'packages/cli/bin/dtrain.js');

interface Promise_ {
  /** Held-out accuracy at least this (classification). */
  minAccuracy?: number;
  /** Held-out mse at most this (regression, standardized units). */
  maxMse?: number;
}

interface ExampleRun {
  name: string;
  workers: number;
  promise: Promise_;
}

/** Worker counts as docs/examples.md gives them; promises as the example files and README state. */
export const EXAMPLES: readonly ExampleRun[] = [
  { name: 'mnist-mlp', workers: 2, promise: { minAccuracy: 0.9 } },
  { name: 'mnist-cnn', workers: 4, promise: { minAccuracy: 0.98 } },
  { name: 'perceptron', workers: 2, promise: { minAccuracy: 0.75 } },
  { name: 'regression', workers: 2, promise: { maxMse: 0.1 } },
  { name: 'lstm-sequence', workers: 2, promise: { maxMse: 0.5 } },
];

interface Summary {
  status: string;
  workers: number;
  steps: number;
  accuracy: number | null;
  validation: { count: number; accuracy?: number; mse?: number; mae?: number; loss: number } | null;
  samplesPerSec: number | null;
  wallSeconds: number;
  backend: string | null;
  error?: string;
}

/** The example's job file with its checkpoint folder moved into `scratch` (everything else as shipped). */
function jobWithScratchCheckpoints(name: string, scratch: string): string {
  const source = join(REPO_ROOT, 'examples', `${name}.yaml`);
  const job = parse(readFileSync(source, 'utf8')) as Record<string, unknown>;
  if (!job.checkpoint) return source;
  job.checkpoint = { ...(job.checkpoint as Record<string, unknown>), dir: join(scratch, 'checkpoints') };
  // Relative data paths resolve against the job file's folder: keep the copy beside the original.
  const dataset = job.dataset as Record<string, unknown>;
  if (typeof dataset.path === 'string') dataset.path = join(REPO_ROOT, 'examples', dataset.path);
  const copy = join(scratch, `${name}.yaml`);
  writeFileSync(copy, stringify(job));
  return copy;
}

function launch(jobPath: string, workers: number): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [DTRAIN_BIN, 'launch', '--workers', String(workers), jobPath, '--json', '--no-metrics'], {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (process.env.BENCH_VERBOSE) process.stderr.write(d);
    });
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

async function runExample(example: ExampleRun): Promise<Record<string, unknown>> {
  const scratch = mkdtempSync(join(tmpdir(), `dtrain-bench-${example.name}-`));
  try {
    const jobPath = jobWithScratchCheckpoints(example.name, scratch);
    const run = await launch(jobPath, example.workers);
    const last = run.stdout.trim().split('\n').pop() ?? '';
    let s: Summary;
    try {
      s = JSON.parse(last) as Summary;
    } catch {
      return { example: example.name, status: 'failed', exitCode: run.code, error: run.stderr.trim().split('\n').slice(-5).join(' | ') };
    }
    const v = s.validation;
    const kept = s.status === 'succeeded'
      && (example.promise.minAccuracy === undefined || (v?.accuracy ?? 0) >= example.promise.minAccuracy)
      && (example.promise.maxMse === undefined || (v?.mse ?? Number.POSITIVE_INFINITY) <= example.promise.maxMse);
    return {
      example: example.name,
      command: `dtrain launch --workers ${example.workers} examples/${example.name}.yaml`,
      status: s.status,
      workers: s.workers,
      steps: s.steps,
      ...(v?.accuracy !== undefined ? { accuracy: Number(v.accuracy.toFixed(4)) } : {}),
      ...(v?.mse !== undefined ? { mse: Number(v.mse.toFixed(5)) } : {}),
      ...(v?.mae !== undefined ? { mae: Number(v.mae.toFixed(5)) } : {}),
      heldOut: v?.count ?? 0,
      samplesPerSec: s.samplesPerSec === null ? null : Math.round(s.samplesPerSec),
      wallSeconds: Number(s.wallSeconds.toFixed(1)),
      backend: s.backend,
      promise: example.promise,
      promiseKept: kept,
      ...(s.error ? { error: s.error } : {}),
    };
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

const wanted = process.argv.slice(2);
const unknown = wanted.filter((n) => !EXAMPLES.some((e) => e.name === n));
if (unknown.length > 0) {
  console.error(`unknown example(s): ${unknown.join(', ')}; known: ${EXAMPLES.map((e) => e.name).join(', ')}`);
  process.exit(2);
}
let failed = 0;
for (const example of EXAMPLES.filter((e) => wanted.length === 0 || wanted.includes(e.name))) {
  const record = await runExample(example);
  if (record.promiseKept !== true) failed++;
  console.log(JSON.stringify(record));
}
process.exit(failed > 0 ? 1 : 0);
