// Real gradients, not synthetic norms: a deep sigmoid MLP and the same net with ReLU (same seeds,
// same data), per-layer norms computed over a fused buffer exactly as a worker would.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { layerGradientNorms, type LayerNorm, type LayoutEntry } from '../../worker/src/metrics/gradient-norms';
import { VanishingGradientDetector } from '../src/health/vanishing-gradient-detector';

const DEPTH = 10;
const UNITS = 32;
const INPUTS = 16;
const BATCH = 64;
const STEPS = 4;

function buildMlp(activation: 'sigmoid' | 'relu'): tf.Sequential {
  const model = tf.sequential();
  for (let i = 0; i < DEPTH; i++) {
    model.add(tf.layers.dense({
      name: `${activation}_dense_${i}`,
      units: i === DEPTH - 1 ? 1 : UNITS,
      activation: i === DEPTH - 1 ? 'linear' : activation,
      inputShape: i === 0 ? [INPUTS] : undefined,
      kernelInitializer: tf.initializers.glorotUniform({ seed: 1000 + i }),
      biasInitializer: 'zeros',
    }));
  }
  return model;
}

/** Trains STEPS SGD steps; returns per-layer gradient norms of each step. */
function trainAndMeasure(model: tf.Sequential): LayerNorm[][] {
  const optimizer = tf.train.sgd(0.05);
  const layerVars = model.layers.flatMap((layer) => layer.trainableWeights.map((w) => ({ layer: layer.name, variable: w.read() as tf.Variable })));
  const perStep: LayerNorm[][] = [];
  for (let step = 0; step < STEPS; step++) {
    const x = tf.randomNormal([BATCH, INPUTS], 0, 1, 'float32', 7 + step);
    const y = tf.randomNormal([BATCH, 1], 0, 1, 'float32', 70 + step);
    const { value, grads } = tf.variableGrads(
      () => tf.losses.meanSquaredError(y, model.apply(x) as tf.Tensor) as tf.Scalar,
      layerVars.map((v) => v.variable),
    );
    // Fuse like the worker does before the all-reduce, with a layout of (layer, offset, length).
    const layout: LayoutEntry[] = [];
    let offset = 0;
    for (const { layer, variable } of layerVars) {
      layout.push({ layer, offset, length: variable.size });
      offset += variable.size;
    }
    const fused = new Float32Array(offset);
    for (const [i, { variable }] of layerVars.entries()) fused.set(grads[variable.name].dataSync(), layout[i].offset);
    perStep.push(layerGradientNorms(fused, layout));
    optimizer.applyGradients(grads);
    tf.dispose([x, y, value, ...Object.values(grads)]);
  }
  optimizer.dispose();
  return perStep;
}

describe('VanishingGradientDetector on real gradients', () => {
  let sigmoid: LayerNorm[][];
  let relu: LayerNorm[][];

  beforeAll(async () => {
    await tf.setBackend('cpu');
    const before = tf.memory().numTensors;
    const s = buildMlp('sigmoid');
    const r = buildMlp('relu');
    sigmoid = trainAndMeasure(s);
    relu = trainAndMeasure(r);
    s.dispose();
    r.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('the sigmoid net\'s first layer gradient is >= 100x below its last layer and below the ReLU net\'s', () => {
    const first = (norms: LayerNorm[]) => norms[0].norm;
    const last = (norms: LayerNorm[]) => norms[DEPTH - 1].norm;
    expect(sigmoid[0]).toHaveLength(DEPTH);
    expect(sigmoid[0][0].layer).toBe('sigmoid_dense_0');
    for (let step = 0; step < STEPS; step++) {
      expect(first(sigmoid[step])).toBeGreaterThan(0);
      expect(last(sigmoid[step]) / first(sigmoid[step])).toBeGreaterThanOrEqual(100);
      expect(first(relu[step]) / first(sigmoid[step])).toBeGreaterThanOrEqual(100);
    }
    console.log('norms step 0', {
      sigmoidFirst: first(sigmoid[0]), sigmoidLast: last(sigmoid[0]), reluFirst: first(relu[0]), reluLast: last(relu[0]),
    });
  });

  it('warns once for the sigmoid net\'s first layer and never for the ReLU net', () => {
    // Threshold between the two first layers (geometric mean of the worst cases over all steps).
    const sigmoidMax = Math.max(...sigmoid.map((n) => n[0].norm));
    const reluMin = Math.min(...relu.map((n) => n[0].norm));
    const threshold = Math.sqrt(sigmoidMax * reluMin);

    const sigDetector = new VanishingGradientDetector({ threshold, steps: 3 });
    const warnings = sigmoid.flatMap((norms, step) => sigDetector.observe(step, norms));
    expect(warnings.map((w) => [w.layer, w.globalStep, w.consecutive])).toContainEqual(['sigmoid_dense_0', 2, 3]);
    expect(warnings.filter((w) => w.layer === 'sigmoid_dense_0')).toHaveLength(1); // once per episode, not on step 3
    expect(warnings.map((w) => w.layer)).not.toContain(`sigmoid_dense_${DEPTH - 1}`);

    const reluDetector = new VanishingGradientDetector({ threshold, steps: 3 });
    expect(relu.flatMap((norms, step) => reluDetector.observe(step, norms))).toEqual([]);
  });
});

describe('VanishingGradientDetector episodes', () => {
  it('re-arms after the norm recovers and treats NaN as not vanishing', () => {
    const d = new VanishingGradientDetector({ threshold: 1e-5, steps: 2 });
    const seq = [1e-7, 1e-6, 1e-7, 1, 1e-8, Number.NaN, 1e-8, 1e-8];
    const fired = seq.map((norm, step) => d.observe(step, [{ layer: 'a', norm }]).map((w) => w.maxNorm));
    expect(fired).toEqual([[], [1e-6], [], [], [], [], [], [1e-8]]);
    expect(() => new VanishingGradientDetector({ threshold: 0, steps: 2 })).toThrow(/threshold/);
    expect(() => new VanishingGradientDetector({ threshold: 1, steps: 0.5 })).toThrow(/steps/);
  });
});
