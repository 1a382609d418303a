// Every model kind of the job schema trains DISTRIBUTED (`dtrain launch --workers 2`, real worker
// processes, real gRPC ring) on real files, and its held-out loss falls. Between them the jobs use
// each activation of the seed: sigmoid, tanh, relu, leakyRelu, prelu, elu, swish, softmax, linear.
//
// "The loss falls" is measured on the held-out split: the coordinator prints one validation line
// per epoch ("validation after epoch E: loss L ..."), each over the whole held-out set, so the
// first and the last are comparable (a single training batch's loss is too noisy to compare).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { lastJsonLine, REPO_ROOT, runDtrain, tempDir, writeJob } from './harness/dtrain-cli';

interface Trained {
  summary: Record<string, unknown>;
  validationLosses: number[];
  stderr: string;
}

const VALIDATION_LINE = /validation after epoch (\d+): loss ([0-9.eE+-]+|NaN)/g;

function validationLosses(stderr: string): number[] {
  return [...stderr.matchAll(VALIDATION_LINE)].map((m) => Number(m[2]));
}

async function train(name: string, job: Record<string, unknown>, workers = 2): Promise<Trained> {
  const dir = tempDir(`dtrain-kinds-${name}-`);
  const path = writeJob(dir, { name, seed: 11, ...job });
  const run = await runDtrain(['launch', '--workers', String(workers), path, '--json', '--no-metrics']);
  expect(run.code, run.stderr.slice(-3000)).toBe(0);
  const summary = lastJsonLine(run.stdout);
  const losses = validationLosses(run.stderr);
  console.info(`${name}: ${summary.steps} steps on ${summary.workers} workers (${summary.backend}), held-out loss per epoch ${losses.map((l) => l.toFixed(4)).join(' -> ')}`);
  return { summary, validationLosses: losses, stderr: run.stderr };
}

/** Held-out loss after the last epoch is at most `factor` of the loss after the first. */
function expectLossFalls(t: Trained, epochs: number, factor: number): void {
  expect(t.summary.status).toBe('succeeded');
  expect(t.summary.workers).toBe(2);
  expect(t.validationLosses).toHaveLength(epochs);
  for (const l of t.validationLosses) expect(Number.isFinite(l)).toBe(true);
  const first = t.validationLosses[0];
  const last = t.validationLosses[t.validationLosses.length - 1];
  expect(last).toBeLessThan(first * factor);
}

const EXAMPLES = join(REPO_ROOT, 'examples/data');

describe('every model kind trains distributed on 2 workers and its held-out loss falls', () => {
  it('perceptron (sigmoid) on study-hours.csv', async () => {
    const t = await train('kinds-perceptron', {
      backend: 'cpu',
      model: { kind: 'perceptron', activation: 'sigmoid' },
      dataset: { kind: 'csv', path: join(EXAMPLES, 'study-hours.csv'), label: 'passed', classes: 2, labelEncoding: 'binary' },
      loss: 'binaryCrossentropy',
      optimizer: { kind: 'sgd', learningRate: 0.2 },
      // 160 training rows, global batch 32: 5 steps per epoch.
      training: { batchSize: 16, epochs: 6 },
      validation: { metrics: ['accuracy'] },
    });
    expectLossFalls(t, 6, 0.9);
    expect(t.summary.steps).toBe(30);
    expect(t.summary.accuracy).toBeGreaterThan(0.7);
  });

  it('mlp classification (leakyRelu, prelu, softmax) on MNIST digits', async () => {
    const t = await train('kinds-mlp-class', {
      backend: 'wasm',
      model: {
        kind: 'mlp', task: 'classification', outputActivation: 'softmax',
        hidden: [{ units: 32, activation: 'leakyRelu' }, { units: 16, activation: 'prelu' }],
      },
      dataset: { kind: 'mnist', shape: 'flat', limit: 512 },
      loss: 'categoricalCrossentropy',
      optimizer: { kind: 'adam', learningRate: 0.005 },
      training: { batchSize: 32, epochs: 3 },
      validation: { metrics: ['accuracy'] },
    });
    expectLossFalls(t, 3, 0.8);
    expect(t.summary.accuracy).toBeGreaterThan(0.6);
  });

  it('mlp regression (elu, swish, tanh, linear) on house-prices.csv', async () => {
    const t = await train('kinds-mlp-regr', {
      backend: 'cpu',
      model: {
        kind: 'mlp', task: 'regression', outputActivation: 'linear',
        hidden: [{ units: 16, activation: 'elu' }, { units: 16, activation: 'swish' }, { units: 8, activation: 'tanh' }],
      },
      dataset: { kind: 'csv', path: join(EXAMPLES, 'house-prices.csv'), label: 'price_k' },
      loss: 'meanSquaredError',
      optimizer: { kind: 'adam', learningRate: 0.01 },
      // 240 training rows, global batch 32: 7 steps per epoch.
      training: { batchSize: 16, epochs: 5 },
      validation: { metrics: ['mse', 'mae'] },
    });
    expectLossFalls(t, 5, 0.6);
    const v = t.summary.validation as { mse: number; mae: number };
    expect(v.mse).toBeLessThan(0.5);
  });

  it('cnn (relu) on MNIST images, wasm backend (conv training kernels registered)', async () => {
    const t = await train('kinds-cnn', {
      backend: 'wasm',
      model: {
        kind: 'cnn', task: 'classification',
        conv: [{ filters: 4, kernelSize: 3, activation: 'relu', pool: 2 }],
        dense: [{ units: 16, activation: 'relu' }],
      },
      dataset: { kind: 'mnist', shape: 'image', limit: 384 },
      loss: 'categoricalCrossentropy',
      optimizer: { kind: 'adam', learningRate: 0.005 },
      training: { batchSize: 32, epochs: 3 },
      validation: { metrics: ['accuracy'] },
    });
    expectLossFalls(t, 3, 0.8);
    expect(t.summary.backend).toBe('wasm');
  });

  for (const kind of ['lstm', 'gru', 'bilstm'] as const) {
    it(`${kind} on a sine series (sequence windows)`, async () => {
      const t = await train(`kinds-${kind}`, {
        backend: 'wasm',
        model: { kind, task: 'regression', units: [8] },
        dataset: { kind: 'sequence', builtin: 'sine', window: 12, horizon: 1 },
        loss: 'meanSquaredError',
        optimizer: { kind: 'adam', learningRate: 0.01 },
        // 791 training windows, global batch 64: 12 steps per epoch.
        training: { batchSize: 32, epochs: 3 },
        validation: { metrics: ['mse'] },
      });
      expectLossFalls(t, 3, 0.7);
    });
  }

  it('custom model module (a two-branch functional model, elu + swish) on MNIST digits', async () => {
    const t = await train('kinds-custom', {
      backend: 'wasm',
      model: { kind: 'custom', task: 'classification', module: join(REPO_ROOT, 'test/fixtures/custom-model.ts'), options: { units: 16 } },
      dataset: { kind: 'mnist', shape: 'flat', limit: 512 },
      loss: 'categoricalCrossentropy',
      optimizer: { kind: 'adam', learningRate: 0.005 },
      training: { batchSize: 32, epochs: 3 },
      validation: { metrics: ['accuracy'] },
    });
    expectLossFalls(t, 3, 0.8);
  });
});

describe('bad data files through the CLI', () => {
  function badCsvJob(dir: string, csv: string): string {
    writeFileSync(join(dir, 'bad.csv'), csv);
    return writeJob(dir, {
      name: 'kinds-bad-data',
      backend: 'cpu',
      model: { kind: 'mlp', task: 'classification', hidden: [{ units: 4 }] },
      dataset: { kind: 'csv', path: 'bad.csv', label: 'y', classes: 2 },
      loss: 'categoricalCrossentropy',
      optimizer: { kind: 'sgd', learningRate: 0.1 },
      training: { batchSize: 4 },
    });
  }
  const goodRows = Array.from({ length: 30 }, (_, i) => `${i},${2 * i},${i % 2}`).join('\n');

  it('a text cell stops the job with file, row and column, non-zero exit, no training', async () => {
    const dir = tempDir('dtrain-bad-csv-');
    const job = badCsvJob(dir, `a,b,y\n1,2,0\n3,lots,1\n${goodRows}\n`);
    const run = await runDtrain(['launch', '--workers', '2', job, '--json', '--no-metrics']);
    expect(run.code).not.toBe(0);
    expect(run.stderr).toContain(`${join(dir, 'bad.csv')} (row 3, column b): not a number: "lots"`);
    expect(run.stderr).not.toMatch(/epoch 1\/\d+:/);
    // Workers start together with the coordinator (fast start): one that cannot start stops them before
    // any world forms, so nothing is trained.
    expect(run.stderr).toContain('the coordinator did not start: stopping');
    expect(run.stderr).not.toMatch(/world generation \d+ formed/);
  });

  it('a missing value stops the job with file, row and column, non-zero exit, no training', async () => {
    const dir = tempDir('dtrain-bad-csv-');
    const job = badCsvJob(dir, `a,b,y\n1,2,0\n3,4,1\n5,6,0\n,8,1\n${goodRows}\n`);
    const run = await runDtrain(['launch', '--workers', '2', job, '--json', '--no-metrics']);
    expect(run.code).not.toBe(0);
    expect(run.stderr).toMatch(new RegExp(`${join(dir, 'bad.csv').replace(/[.]/g, '\\.')} \\(row 5, column a\\): missing`));
    expect(run.stderr).not.toMatch(/epoch 1\/\d+:/);
  });
});
