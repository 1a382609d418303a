// Training throughput on cpu vs wasm, with and without the wasm training kernels
// (packages/worker/src/backend). Prints one JSON line per measurement; ratios are against
// baselines measured in this same run (absolute numbers move ~2x between runs on shared machines).
//
//   node --import tsx bench/wasm-kernels.ts            (~1-1.5 minutes)
//   BENCH_SECONDS=2 node --import tsx bench/wasm-kernels.ts   (time per configuration, default 4)
import * as tf from '@tensorflow/tfjs';
import { lcgUniform as values } from '@dtrain/shared/seeded-random';
import {
  registerWasmTrainingKernels, TRANSPOSE_FREE_MATMUL_KERNELS, unregisterWasmTrainingKernels,
} from '../packages/worker/src/backend/wasm-training-kernels';

const SECONDS_PER_CONFIG = Number(process.env.BENCH_SECONDS ?? 4);
const MIN_TIMED_STEPS = 2;
const BATCH = 64;
/** Losses are compared across configurations at this step (every configuration runs at least it). */
const LOSS_STEP = MIN_TIMED_STEPS;

function print(record: Record<string, unknown>): void {
  console.log(JSON.stringify(record));
}


interface Workload {
  name: string;
  build: () => tf.LayersModel;
  xShape: number[];
  classes: number;
}

const MLP: Workload = {
  name: 'mlp 784-256-128-10',
  xShape: [784],
  classes: 10,
  build: () => tf.sequential({ layers: [
    tf.layers.dense({ inputShape: [784], units: 256, activation: 'relu' }),
    tf.layers.dense({ units: 128, activation: 'relu' }),
    tf.layers.dense({ units: 10, activation: 'softmax' }),
  ] }),
};

const LSTM: Workload = {
  name: 'lstm(64) on 32x8 windows',
  xShape: [32, 8],
  classes: 4,
  build: () => tf.sequential({ layers: [
    tf.layers.lstm({ inputShape: [32, 8], units: 64 }),
    tf.layers.dense({ units: 4, activation: 'softmax' }),
  ] }),
};

const CNN: Workload = {
  name: 'cnn 28x28x1 conv8-pool-conv16-pool-dense10',
  xShape: [28, 28, 1],
  classes: 10,
  build: () => tf.sequential({ layers: [
    tf.layers.conv2d({ inputShape: [28, 28, 1], filters: 8, kernelSize: 3, activation: 'relu', padding: 'same' }),
    tf.layers.maxPooling2d({ poolSize: 2 }),
    tf.layers.conv2d({ filters: 16, kernelSize: 3, activation: 'relu' }),
    tf.layers.maxPooling2d({ poolSize: 2 }),
    tf.layers.flatten(),
    tf.layers.dense({ units: 10, activation: 'softmax' }),
  ] }),
};

/** Initial weights made once (on cpu) so every configuration starts from the same point. */
const initialWeights = new Map<string, Float32Array[]>();

async function trainingRun(w: Workload, backend: 'cpu' | 'wasm'): Promise<{ samplesPerSec: number; steps: number; loss: number }> {
  await tf.setBackend(backend);
  const model = w.build();
  if (!initialWeights.has(w.name)) initialWeights.set(w.name, model.getWeights().map((t) => t.dataSync() as Float32Array));
  const init = initialWeights.get(w.name)!;
  const fresh = model.getWeights().map((t, i) => tf.tensor(init[i], t.shape));
  model.setWeights(fresh);
  tf.dispose(fresh);
  model.compile({ optimizer: tf.train.adam(0.001), loss: 'categoricalCrossentropy' });
  const perSample = w.xShape.reduce((a, b) => a * b, 1);
  const xs = tf.tensor(values(BATCH * perSample, 1), [BATCH, ...w.xShape]);
  const ys = tf.tidy(() => tf.oneHot(tf.tensor1d(Array.from({ length: BATCH }, (_, i) => (i * 7) % w.classes), 'int32'), w.classes));

  await model.trainOnBatch(xs, ys); // warm-up: kernel setup, XNNPACK operator caches
  let steps = 0;
  let loss = NaN;
  const start = performance.now();
  while (steps < MIN_TIMED_STEPS || performance.now() - start < SECONDS_PER_CONFIG * 1000) {
    const l = await model.trainOnBatch(xs, ys) as number;
    steps++;
    if (steps === LOSS_STEP) loss = l;
  }
  const seconds = (performance.now() - start) / 1000;
  tf.dispose([xs, ys]);
  model.optimizer.dispose();
  model.dispose();
  return { samplesPerSec: (steps * BATCH) / seconds, steps, loss };
}

function round(x: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** 'matMulKernel': also wasm without the BatchMatMul kernel; 'stockWasm': also try stock tfjs wasm. */
async function benchWorkload(w: Workload, extra: 'matMulKernel' | 'stockWasm'): Promise<void> {
  const cpu = await trainingRun(w, 'cpu');
  print({ bench: w.name, backend: 'cpu', batch: BATCH, samplesPerSec: round(cpu.samplesPerSec), steps: cpu.steps, [`lossAtStep${LOSS_STEP}`]: cpu.loss, ratioVsCpu: 1 });
  if (extra === 'stockWasm') {
    // Stock tfjs wasm, for the record: conv nets do not train at all.
    const restored = unregisterWasmTrainingKernels();
    try {
      await trainingRun(w, 'wasm');
      print({ bench: w.name, backend: 'wasm', kernels: 'stock tfjs 4.22', trains: true });
    } catch (error) {
      print({ bench: w.name, backend: 'wasm', kernels: 'stock tfjs 4.22', trains: false, error: error instanceof Error ? error.message : String(error) });
    }
    registerWasmTrainingKernels();
    if (restored.length === 0) throw new Error('expected the wasm training kernels to be registered');
  }
  let plain: number | null = null;
  if (extra === 'matMulKernel') {
    unregisterWasmTrainingKernels(TRANSPOSE_FREE_MATMUL_KERNELS);
    const r = await trainingRun(w, 'wasm');
    plain = r.samplesPerSec;
    print({ bench: w.name, backend: 'wasm', kernels: 'without BatchMatMul kernel', batch: BATCH, samplesPerSec: round(r.samplesPerSec), steps: r.steps,
      [`lossAtStep${LOSS_STEP}`]: r.loss, ratioVsCpu: round(r.samplesPerSec / cpu.samplesPerSec, 2) });
    registerWasmTrainingKernels();
  }
  const r = await trainingRun(w, 'wasm');
  print({ bench: w.name, backend: 'wasm', kernels: 'all training kernels', batch: BATCH, samplesPerSec: round(r.samplesPerSec), steps: r.steps,
    [`lossAtStep${LOSS_STEP}`]: r.loss, ratioVsCpu: round(r.samplesPerSec / cpu.samplesPerSec, 2),
    ...(plain !== null ? { ratioVsWasmWithoutMatMulKernel: round(r.samplesPerSec / plain, 2) } : {}) });
}

function medianMs(f: () => void, iterations: number): number {
  f();
  const times: number[] = [];
  for (let i = 0; i < iterations; i++) {
    const t0 = performance.now();
    f();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

async function benchMatMul(): Promise<void> {
  await tf.setBackend('wasm');
  const a = tf.tensor(values(64 * 784, 2), [64, 784]);
  const b = tf.tensor(values(64 * 256, 3), [64, 256]);
  const run = (f: () => tf.Tensor) => () => { const t = f(); t.dataSync(); t.dispose(); };
  const ITER = 30;
  unregisterWasmTrainingKernels(TRANSPOSE_FREE_MATMUL_KERNELS);
  const withFlag = medianMs(run(() => tf.matMul(a, b, true, false)), ITER);
  const explicit = medianMs(run(() => tf.tidy(() => tf.matMul(tf.transpose(a), b))), ITER);
  registerWasmTrainingKernels();
  const kernel = medianMs(run(() => tf.matMul(a, b, true, false)), ITER);
  tf.dispose([a, b]);
  print({ bench: 'matMul 64x784^T . 64x256 (wasm, median of 30)', withTransposeFlagMs: round(withFlag, 2), explicitTransposeThenMatMulMs: round(explicit, 2),
    batchMatMulKernelMs: round(kernel, 2), speedupOfKernelVsFlag: round(withFlag / kernel, 2) });
}

const t0 = performance.now();
registerWasmTrainingKernels();
await benchMatMul();
await benchWorkload(MLP, 'matMulKernel');
await benchWorkload(LSTM, 'matMulKernel');
await benchWorkload(CNN, 'stockWasm');
print({ bench: 'total', seconds: round((performance.now() - t0) / 1000), secondsPerConfig: SECONDS_PER_CONFIG, tfjs: tf.version.tfjs });
