// Startup: seconds from starting `dtrain launch --workers 2` to the first completed training step,
// against torchrun starting two DDP workers to theirs (/work/shared/anchors/torchrun_first_step.sh,
// the same MLP 784-256-128-10, Adam, batch 64 per worker), measured alternately in the same run; and
// how long `dtrain --help` takes (against `node -e 0`, the floor of any Node CLI). Prints one JSON line.
//
//   node --import tsx bench/startup.ts [ROUNDS]        (default 3 rounds; needs python3-torch)
//
// The dtrain side runs the built executable (packages/cli/dist: `npm run build` first, which this
// script does). One unmeasured warm-up run first: it fills the OS file cache and dtrain's MNIST cache
// (~/.cache/dtrain), as a user's second run would find them.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { median, round3 } from './bench-ranks';

const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
const DTRAIN_BIN = join(REPO_ROOT, 'packages/cli/bin/dtrain.js');
const TORCHRUN_ANCHOR = process.env.TORCHRUN_ANCHOR ?? '/work/shared/anchors/torchrun_first_step.sh';
const GOAL_LAUNCH_RATIO = 0.6;
const GOAL_HELP_SECONDS = 0.3;


/** Seconds from spawn to the launcher's first progress line ("epoch 1/E step 1/..."). */
function dtrainFirstStep(job: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, [DTRAIN_BIN, 'launch', '--workers', '2', job, '--max-steps', '3', '--no-metrics'], {
      cwd: REPO_ROOT, stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    let first: number | null = null;
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
      if (first === null && /epoch 1\/\d+ step 1\//.test(err)) first = (performance.now() - t0) / 1000;
    });
    child.on('exit', (code) => (first !== null && code === 0 ? resolve(first) : reject(new Error(`dtrain launch failed (${code}):\n${err}`))));
  });
}

function torchrunFirstStep(): number {
  const out = execFileSync('bash', [TORCHRUN_ANCHOR], { env: { ...process.env, STEPS: '3' }, encoding: 'utf8' });
  const line = out.trim().split('\n').pop() ?? '';
  return (JSON.parse(line) as { launch_to_first_step_s: number }).launch_to_first_step_s;
}

function processSeconds(args: string[]): number {
  const t0 = performance.now();
  execFileSync(process.execPath, args, { cwd: REPO_ROOT, stdio: 'ignore' });
  return (performance.now() - t0) / 1000;
}

const rounds = Number(process.argv[2] ?? 3);
execFileSync(process.execPath, [join(REPO_ROOT, 'scripts/build.mjs')], { stdio: 'ignore' });
const scratch = mkdtempSync(join(tmpdir(), 'dtrain-bench-startup-'));
try {
  const job = join(scratch, 'mlp.yaml');
  writeFileSync(job, stringify({
    name: 'startup-bench',
    seed: 1,
    model: { kind: 'mlp', task: 'classification', hidden: [{ units: 256, activation: 'relu' }, { units: 128, activation: 'relu' }] },
    dataset: { kind: 'mnist', shape: 'flat' },
    loss: 'categoricalCrossentropy',
    optimizer: { kind: 'adam', learningRate: 0.001 },
    training: { batchSize: 64, epochs: 1 },
  }));
  const hasTorch = existsSync(TORCHRUN_ANCHOR);
  await dtrainFirstStep(job);
  const dtrain: number[] = [];
  const torchrun: number[] = [];
  for (let r = 0; r < rounds; r++) {
    if (hasTorch) torchrun.push(torchrunFirstStep());
    dtrain.push(await dtrainFirstStep(job));
  }
  const help: number[] = [];
  const nodeFloor: number[] = [];
  for (let r = 0; r < 5; r++) {
    help.push(processSeconds([DTRAIN_BIN, '--help']));
    nodeFloor.push(processSeconds(['-e', '0']));
  }
  const launchS = median(dtrain);
  const torchS = torchrun.length > 0 ? median(torchrun) : null;
  const helpS = median(help);
  console.log(JSON.stringify({
    bench: 'startup',
    machine: { cores: cpus().length, loadavg1m: round3(loadavg()[0]), node: process.version },
    rounds,
    launchToFirstStep: {
      job: 'MLP 784-256-128-10, Adam, batch 64 per worker, 2 workers',
      dtrainSeconds: round3(launchS),
      torchrunSeconds: torchS === null ? null : round3(torchS),
      ratio: torchS === null ? null : round3(launchS / torchS),
      goalRatio: GOAL_LAUNCH_RATIO,
      dtrainRuns: dtrain.map(round3),
      torchrunRuns: torchrun.map(round3),
    },
    help: {
      dtrainSeconds: round3(helpS),
      nodeFloorSeconds: round3(median(nodeFloor)),
      goalSeconds: GOAL_HELP_SECONDS,
      runs: help.map(round3),
    },
  }));
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
