// Small steps: what a training step of a tiny model costs at N=2 beyond its compute, the way users run
// it (`dtrain launch`: coordinator + worker processes, TLS on, step reports, metrics), for each
// transport, against PyTorch in the same run (bench/small-step-anchor.py: a one-process loop and DDP
// over Gloo on the same model, batch and CSV).
//
// Model: MLP 4-64-32-1 (2,433 float32 = 9.7 KB), Adam, batch 8 per worker, examples/data/house-prices.csv.
// A job's step cost is measured as a difference of two runs (--max-steps S1 and S2 of the same job):
// (training seconds(S2) - training seconds(S1)) / (S2 - S1), so start-up and warm-up cancel out.
// fixedCostMs = step cost at N=2 - step cost at N=1 (same batch per worker, so the same compute: what
// remains is the all-reduce and the coordination around it). Both N run the same step counts: V8 keeps
// optimizing tfjs's code for the first ~1,500 steps (`--trace-opt`: ~170 TurboFan compilations in the
// first 300 steps, ~50 in the next 300, ~12 per 300 after step 1,200, each taking a core for several ms),
// so the default window (--steps 150,1500,4500) reads the steady state from steps 1,500-4,500 and prints
// the warm-up window (steps 150-1,500) beside it as warmupStepMs / warmupFixedCostMs. Two numbers
// (--steps S1,S2) measure one window only.
// cpuMsPerStep is the CPU of all the job's processes per step (same difference of two runs): on a
// shared machine wall times include waiting for a core, CPU times much less so.
// The same difference for PyTorch (DDP N=2 - one process) is printed beside it.
//
//   node --import tsx bench/small-step.ts [--rounds 3] [--steps 150,1500,4500] [--transport both]
//     [--tls mtls|none|both]
//     [--ab early-pull|batch-cache|plan-lookahead|heap-growth|pretenuring-off|flat-optimizer|bind-cores]
//     [--bind-cores]
// --bind-cores: every run is `dtrain launch --bind-cores` (each worker's main thread on a CPU of its own);
// --ab bind-cores runs each configuration bound and unbound (the "off" lines leave the flag out).
// --tls: 'mtls' is `dtrain launch`'s default (mutual TLS between every process), 'none' is --insecure.
// --ab NAME: each N=2 configuration also runs with that optimization switched off (DTRAIN_EARLY_PULL=0 or
// DTRAIN_BATCH_CACHE=0 or DTRAIN_HEAP_GROWING_PERCENT=0 or DTRAIN_PRETENURING_OFF=0 or DTRAIN_FLAT_OPTIMIZER=0
// in the workers,
// DTRAIN_PLAN_LOOKAHEAD=0 in the coordinator;
// N=1 too for all but the early pull),
// interleaved in the same rounds;
// lines carry "off": NAME.
// One JSON line per (n, transport, tls[, off]) and a summary line with the ratios; needs `npm run build` (done here).
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import { median, round3 } from './bench-ranks';

const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
const DTRAIN_BIN = join(REPO_ROOT, 'packages/cli/bin/dtrain.js');
const ANCHOR = fileURLToPath(new URL('./small-step-anchor.py', import.meta.url));
const CSV = join(REPO_ROOT, 'examples/data/house-prices.csv');
const PYTHON = process.env.DTRAIN_ANCHOR_PYTHON ?? '/usr/bin/python3';
const BATCH = 8;
const GOAL_FIXED_COST_MS = 1;

type Transport = 'grpc' | 'tcp';


function writeJob(dir: string, transport: Transport): string {
  const path = join(dir, `small-${transport}.yaml`);
  writeFileSync(path, stringify({
    name: `small-step-${transport}`,
    seed: 1,
    backend: 'wasm',
    model: { kind: 'mlp', task: 'regression', hidden: [{ units: 64, activation: 'relu' }, { units: 32, activation: 'relu' }] },
    dataset: { kind: 'csv', path: CSV, label: 'price_k', standardize: true, testFraction: 0.2 },
    loss: 'meanSquaredError',
    optimizer: { kind: 'adam', learningRate: 0.01 },
    training: { batchSize: BATCH, epochs: 1000 },
    collective: { transport },
  }));
  return path;
}

interface JobRun {
  steps: number;
  trainSeconds: number;
  /** User + system CPU seconds of the launcher and every process it waited for (coordinator, workers). */
  cpuSeconds: number;
}

/** How a configuration runs: TLS or --insecure, --bind-cores or not, and which optimization is switched off. */
interface RunMode {
  tls: boolean;
  bind: boolean;
  off: AbSwitch | null;
}
type EnvSwitch = 'early-pull' | 'batch-cache' | 'plan-lookahead' | 'heap-growth' | 'pretenuring-off' | 'flat-optimizer';
/** 'bind-cores' is a launch flag, not an environment switch: its "off" runs leave --bind-cores out. */
type AbSwitch = EnvSwitch | 'bind-cores';
const AB_SWITCHES: readonly AbSwitch[] = ['early-pull', 'batch-cache', 'plan-lookahead', 'heap-growth', 'pretenuring-off',
  'flat-optimizer', 'bind-cores'];
const AB_ENV: Record<EnvSwitch, string> = {
  'early-pull': 'DTRAIN_EARLY_PULL', 'batch-cache': 'DTRAIN_BATCH_CACHE', 'plan-lookahead': 'DTRAIN_PLAN_LOOKAHEAD',
  'heap-growth': 'DTRAIN_HEAP_GROWING_PERCENT', 'pretenuring-off': 'DTRAIN_PRETENURING_OFF',
  'flat-optimizer': 'DTRAIN_FLAT_OPTIMIZER',
};

/** One `dtrain launch`; training seconds = samples trained / the summary's average samples/s. */
function launch(job: string, workers: number, maxSteps: number, mode: RunMode): Promise<JobRun> {
  return new Promise((resolve, reject) => {
    // GNU time's last stderr line: CPU of the whole job, which a shared machine distorts far less than wall time.
    const env = { ...process.env, ...(mode.off && mode.off !== 'bind-cores' ? { [AB_ENV[mode.off]]: '0' } : {}) };
    const child = spawn('/usr/bin/time', ['-f', 'cpu %U %S', process.execPath, DTRAIN_BIN, 'launch', '--workers', String(workers), job, '--max-steps', String(maxSteps),
      '--json', '--no-metrics', ...(mode.tls ? [] : ['--insecure']), ...(mode.bind ? ['--bind-cores'] : [])], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'], env });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    child.on('exit', (code) => {
      const last = out.trim().split('\n').pop() ?? '';
      if (code !== 0) return reject(new Error(`dtrain launch --workers ${workers} failed (${code}):\n${err.slice(-2000)}`));
      const s = JSON.parse(last) as { steps: number; samplesPerSec: number; status: string };
      if (s.status !== 'succeeded' || s.steps !== maxSteps) return reject(new Error(`unexpected summary: ${last}`));
      const cpu = /cpu ([\d.]+) ([\d.]+)\s*$/.exec(err);
      if (!cpu) return reject(new Error(`no CPU times from /usr/bin/time:\n${err.slice(-500)}`));
      resolve({ steps: s.steps, trainSeconds: (s.steps * BATCH * workers) / s.samplesPerSec, cpuSeconds: Number(cpu[1]) + Number(cpu[2]) });
    });
  });
}

interface StepCost {
  wall: number;
  cpu: number;
  /** Wall ms per step over the warm-up window (first count to second), when three counts were given. */
  warmupWall: number | null;
}

/** Marginal wall and CPU (all processes) milliseconds per step between the last two step counts. */
async function stepMs(job: string, workers: number, counts: number[], mode: RunMode): Promise<StepCost> {
  const runs: JobRun[] = [];
  for (const c of counts) runs.push(await launch(job, workers, c, mode));
  const per = (a: JobRun, b: JobRun, f: (r: JobRun) => number): number => ((f(b) - f(a)) / (b.steps - a.steps)) * 1000;
  const [a, b] = runs.slice(-2);
  return {
    wall: per(a, b, (r) => r.trainSeconds),
    cpu: per(a, b, (r) => r.cpuSeconds),
    warmupWall: runs.length === 3 ? per(runs[0], runs[1], (r) => r.trainSeconds) : null,
  };
}

function anchor(world: number, steps: number): number {
  const out = execFileSync(PYTHON, [ANCHOR, String(world), String(steps), String(BATCH), CSV], { encoding: 'utf8' });
  return (JSON.parse(out.trim().split('\n').pop() ?? '') as { step_ms: number }).step_ms;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      rounds: { type: 'string', default: '3' },
      steps: { type: 'string', default: '150,1500,4500' },
      transport: { type: 'string', default: 'both' },
      tls: { type: 'string', default: 'mtls' },
      ab: { type: 'string' },
      'bind-cores': { type: 'boolean', default: false },
      'no-anchor': { type: 'boolean', default: false },
    },
  });
  const rounds = Number(values.rounds);
  const counts = values.steps.split(',').map(Number);
  if (![2, 3].includes(counts.length) || counts.some((c, i) => !Number.isInteger(c) || c <= (counts[i - 1] ?? 0))) {
    throw new Error(`--steps takes 2 or 3 increasing step counts (warm-up start, S1, S2), got '${values.steps}'`);
  }
  const s2 = counts[counts.length - 1];
  const transports: Transport[] = values.transport === 'both' ? ['grpc', 'tcp'] : [values.transport as Transport];
  execFileSync(process.execPath, [join(REPO_ROOT, 'scripts/build.mjs')], { stdio: 'ignore' });
  const dir = mkdtempSync(join(tmpdir(), 'dtrain-small-step-'));
  try {
    const jobs = Object.fromEntries(transports.map((t) => [t, writeJob(dir, t)])) as Record<Transport, string>;
    const tlsModes = values.tls === 'both' ? [true, false] : [values.tls !== 'none'];
    const ab = (values.ab ?? null) as AbSwitch | null;
    if (ab && !AB_SWITCHES.includes(ab)) throw new Error(`--ab must be one of ${AB_SWITCHES.join(', ')}`);
    // --ab bind-cores: bound runs against the same runs unbound; --bind-cores: every run bound.
    const bind = values['bind-cores'] || ab === 'bind-cores';
    const modes: RunMode[] = tlsModes.flatMap((tls) => [
      { tls, bind, off: null }, ...(ab ? [{ tls, bind: bind && ab !== 'bind-cores', off: ab }] : []),
    ]);
    const modeKey = (m: RunMode): string => `${m.tls ? 'mtls' : 'none'}${m.off ? `-no-${m.off}` : ''}`;
    // N=1 has no all-reduce: the early pull makes no difference there; the other switches do.
    const n1Mode = (m: RunMode): RunMode => ({ tls: m.tls, bind: m.bind, off: m.off === 'early-pull' ? null : m.off });
    const n1Modes = [...new Map(modes.map((m) => [modeKey(n1Mode(m)), n1Mode(m)])).values()];
    const samples: Record<string, number[]> = { torch1: [], torch2: [] };
    const record = (key: string, m: StepCost): void => {
      (samples[key] ??= []).push(m.wall);
      (samples[`cpu-${key}`] ??= []).push(m.cpu);
      if (m.warmupWall !== null) (samples[`warmup-${key}`] ??= []).push(m.warmupWall);
    };
    const warmup = (key: string): number | null => (samples[`warmup-${key}`] ? median(samples[`warmup-${key}`]) : null);
    const r3 = (x: number | null): number | null => (x === null ? null : round3(x));
    // Rounds alternate every configuration, so a busy minute on a shared machine hits all of them.
    for (let r = 0; r < rounds; r++) {
      for (const m of n1Modes) record(`n1-${modeKey(m)}`, await stepMs(jobs[transports[0]], 1, counts, m));
      for (const m of modes) {
        for (const t of transports) record(`n2-${t}-${modeKey(m)}`, await stepMs(jobs[t], 2, counts, m));
      }
      if (!values['no-anchor']) {
        samples.torch1.push(anchor(1, s2));
        samples.torch2.push(anchor(2, s2));
      }
    }
    const torch1 = samples.torch1.length ? median(samples.torch1) : null;
    const torch2 = samples.torch2.length ? median(samples.torch2) : null;
    const ddpFixed = torch1 !== null && torch2 !== null ? torch2 - torch1 : null;
    const base = { bench: 'small-step', model: 'mlp-4-64-32-1', params: 2433, batchPerWorker: BATCH, loadavg: round3(loadavg()[0]) };
    const summary: Record<string, number | null> = {};
    for (const m of n1Modes) {
      const key = `n1-${modeKey(m)}`;
      process.stdout.write(`${JSON.stringify({ ...base, n: 1, transport: 'none', tls: m.tls, bindCores: m.bind, off: m.off, stepMs: round3(median(samples[key])),
        runsMs: samples[key].map(round3), cpuMsPerStep: round3(median(samples[`cpu-${key}`])), warmupStepMs: r3(warmup(key)),
        torchStepMs: torch1 })}\n`);
    }
    for (const m of modes) {
      const n1Key = `n1-${modeKey(n1Mode(m))}`;
      const n1 = median(samples[n1Key]);
      for (const t of transports) {
        const key = `n2-${t}-${modeKey(m)}`;
        const n2 = median(samples[key]);
        const fixed = n2 - n1;
        const w2 = warmup(key);
        const w1 = warmup(n1Key);
        summary[`fixedCostMs_${t}_${modeKey(m)}`] = round3(fixed);
        process.stdout.write(`${JSON.stringify({
          ...base, n: 2, transport: t, tls: m.tls, bindCores: m.bind, off: m.off, stepMs: round3(n2), runsMs: samples[key].map(round3), fixedCostMs: round3(fixed),
          cpuMsPerStep: round3(median(samples[`cpu-${key}`])),
          warmupStepMs: r3(w2), warmupFixedCostMs: w2 !== null && w1 !== null ? round3(w2 - w1) : null,
          ddpStepMs: torch2, ddpFixedCostMs: ddpFixed === null ? null : round3(ddpFixed),
          fixedCostOverDdp: ddpFixed ? round3(fixed / ddpFixed) : null, meetsGoal: fixed <= GOAL_FIXED_COST_MS,
        })}\n`);
      }
    }
    const n1Default = median(samples[`n1-${modeKey(n1Modes[0])}`]);
    process.stdout.write(`${JSON.stringify({ ...base, summary: true, goalFixedCostMs: GOAL_FIXED_COST_MS, ...summary,
      ddpFixedCostMs: ddpFixed === null ? null : round3(ddpFixed), dtrainN1OverTorch: torch1 ? round3(n1Default / torch1) : null })}\n`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${String((err as Error)?.stack ?? err)}\n`);
  process.exit(1);
});
