// Training throughput of dtrain's data-parallel step against PyTorch DDP over Gloo, same run:
// MLP 784-256-128-10, batch 64 per worker, Adam, N = 1, 2, 4 real processes, for each transport.
// Each rank runs the worker's own Trainer (forward, backward, fused gradients, all-reduce, apply) on
// a fixed random batch, like the anchor (/work/shared/anchors/ddp_mlp.py). One JSON line per
// (n, transport): median step ms, samples/s over all workers, DDP's, and the ratio.
//   node --import tsx bench/training-throughput.ts [--n 1,2,4] [--steps 60] [--transport both]
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../packages/worker/src/backend/select-backend';
import { createRingCollective, startPeerServer } from '../packages/worker/src/collective/index';
import { Trainer } from '../packages/worker/src/trainer';
import { applyHeapGrowth } from '../packages/worker/src/heap-growth';
import { applyPretenuring } from '../packages/worker/src/pretenuring';
import { fileRendezvous } from '../test/harness/file-rendezvous';
import { localWorldChunkBytes, median, runRankProcess } from './bench-ranks';

const SELF = fileURLToPath(import.meta.url);
const ANCHORS_DIR = process.env.DTRAIN_ANCHORS_DIR ?? '/work/shared/anchors';
const BATCH = 64;
const WARMUP = 5;

interface RankConfig {
  dir: string;
  rank: number;
  worldSize: number;
  steps: number;
  transport: 'grpc' | 'tcp';
}


async function rank(cfg: RankConfig): Promise<void> {
  const choice = await selectBackend({ requested: 'auto', localRank: cfg.rank, log: () => undefined });
  const server = await startPeerServer({ host: '127.0.0.1', port: 0 });
  const ring = await fileRendezvous(cfg.dir, cfg.rank, cfg.worldSize, server.address);
  const model = tf.sequential({
    layers: [
      tf.layers.dense({ inputShape: [784], units: 256, activation: 'relu' }),
      tf.layers.dense({ units: 128, activation: 'relu' }),
      tf.layers.dense({ units: 10, activation: 'softmax' }),
    ],
  });
  const optimizer = tf.train.adam(1e-3);
  // As in a worker: the trainer (its fused buffer) exists before the world's collective, whose chunk size
  // is what the coordinator would choose for this many ranks on this host.
  const trainer = new Trainer({
    model, optimizer, loss: 'categoricalCrossentropy', collective: null, task: 'classification',
  });
  const collective = createRingCollective(server, {
    jobId: 'bench-train', generation: 1, rank: cfg.rank, worldSize: cfg.worldSize, ring,
    chunkBytes: localWorldChunkBytes(cfg.worldSize, cfg.transport), timeoutMs: 60_000, transport: cfg.transport,
  });
  trainer.setCollective(collective);
  // As a dtrain worker does when its world forms (the MLP's 235,146 float32 gradients: 0.9 MB).
  const gradientBytes = trainer.fused.gradientLength * 4;
  applyHeapGrowth({ transport: cfg.transport, worldSize: cfg.worldSize, gradientBytes });
  applyPretenuring();
  await trainer.broadcastInitialWeights();
  const xs = tf.randomUniform([BATCH, 784], 0, 1, 'float32', 1 + cfg.rank);
  const labels = tf.randomUniform([BATCH], 0, 10, 'int32', 100 + cfg.rank);
  const ys = tf.oneHot(labels as tf.Tensor1D, 10);
  const times: number[] = [];
  let allreduce = 0;
  for (let i = 0; i < cfg.steps + WARMUP; i++) {
    const t0 = performance.now();
    const out = await trainer.step({ xs, ys }, i, { stop: false, checkpoint: false });
    if (i >= WARMUP) {
      times.push(performance.now() - t0);
      allreduce += out.allreduceSeconds;
    }
  }
  process.stdout.write(`${JSON.stringify({
    rank: cfg.rank, backend: choice.name, stepMs: median(times), allreduceMsMean: (allreduce / cfg.steps) * 1000,
    gradientFloats: trainer.fused.buffer.length,
  })}\n`);
  await collective.close();
  await server.close();
}

interface RankResult {
  rank: number;
  backend: string;
  stepMs: number;
  allreduceMsMean: number;
  gradientFloats: number;
}

async function runDtrain(worldSize: number, steps: number, transport: 'grpc' | 'tcp'): Promise<RankResult[]> {
  const dir = mkdtempSync(join(tmpdir(), 'dtrain-train-bench-'));
  try {
    const runs = [...Array(worldSize).keys()].map(async (r) => {
      const cfg: RankConfig = { dir, rank: r, worldSize, steps, transport };
      const lines = await runRankProcess({ script: SELF, flag: '--rank', config: cfg, label: `training bench rank ${r}` });
      return JSON.parse(lines[lines.length - 1]) as RankResult;
    });
    return await Promise.all(runs);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function runDdp(worldSize: number, steps: number): Promise<{ step_ms: number; samples_per_s: number } | null> {
  const child = spawn('/usr/bin/python3', [join(ANCHORS_DIR, 'ddp_mlp.py'), String(worldSize), String(steps)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', () => undefined);
  const code = await new Promise<number | null>((resolve) => {
    child.once('error', () => resolve(-1));
    child.once('exit', resolve);
  });
  if (code !== 0) return null;
  return JSON.parse(out.trim().split('\n').pop() ?? 'null') as { step_ms: number; samples_per_s: number } | null;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      rank: { type: 'string' },
      n: { type: 'string', default: '1,2,4' },
      steps: { type: 'string', default: '60' },
      transport: { type: 'string', default: 'both' },
    },
  });
  if (values.rank) {
    await rank(JSON.parse(values.rank) as RankConfig);
    return;
  }
  const steps = Number(values.steps);
  const transports: Array<'grpc' | 'tcp'> = values.transport === 'both' ? ['grpc', 'tcp'] : [values.transport as 'grpc' | 'tcp'];
  for (const n of values.n.split(',').map(Number)) {
    const ddp = await runDdp(n, steps);
    for (const transport of n === 1 ? transports.slice(0, 1) : transports) {
      const ranks = await runDtrain(n, steps, transport);
      // A synchronous step lasts as long as its slowest rank.
      const stepMs = Math.max(...ranks.map((r) => r.stepMs));
      const samplesPerSec = (BATCH * n) / (stepMs / 1000);
      process.stdout.write(`${JSON.stringify({
        bench: 'training-throughput', model: 'mlp-784-256-128-10', batchPerWorker: BATCH, n, transport: n === 1 ? 'none' : transport,
        backend: ranks[0].backend, steps, stepMs: +stepMs.toFixed(2),
        allreduceMsMean: +Math.max(...ranks.map((r) => r.allreduceMsMean)).toFixed(2),
        samplesPerSec: Math.round(samplesPerSec),
        ddpStepMs: ddp?.step_ms ?? null, ddpSamplesPerSec: ddp?.samples_per_s ?? null,
        overDdp: ddp ? +(samplesPerSec / ddp.samples_per_s).toFixed(3) : null,
      })}\n`);
    }
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${String((err as Error)?.stack ?? err)}\n`);
  process.exit(1);
});
