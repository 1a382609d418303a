// Vanishing gradients, measured on real runs: a deep sigmoid MLP's first layer gets a gradient orders
// of magnitude below the same net with ReLU, and the coordinator warns for it (log + counter), not for
// the ReLU net.
import { afterAll, describe, expect, it } from 'vitest';
import { smallMnistJob } from './harness/dtrain-cli';
import { launchObserved, pollMetrics, sampleValue, samplesOf, scrape, type ObservedRun } from './harness/observability-run';

const WORKERS = 2;
const DEPTH = 9;
const UNITS = 32;
/**
 * Measured at step ~12: sigmoid first layer 4.2e-6 (layers 1-4 below 1e-4, output 0.45), ReLU
 * smallest layer 4.8e-2. 1e-4 sits between them with over an order of magnitude on each side.
 */
const THRESHOLD = 1e-4;
const VANISHING_STEPS = 3;
const STEPS = 12;

interface NetResult {
  /** Per-layer norms (coordinator view) at the last sampled step, in layer order. */
  norms: { layer: string; norm: number }[];
  workerNorms: { layer: string; norm: number }[];
  warnings: Map<string, number>;
  stderr: string;
}

function denseIndex(layer: string): number {
  const m = /(\d+)$/.exec(layer);
  if (!m) throw new Error(`layer name without an index: ${layer}`);
  return Number(m[1]);
}

async function runNet(activation: 'sigmoid' | 'relu', track: (r: ObservedRun) => void): Promise<NetResult> {
  const observed = await launchObserved(smallMnistJob({
    name: `obs-vanishing-${activation}`,
    model: {
      kind: 'mlp',
      task: 'classification',
      hidden: Array.from({ length: DEPTH }, () => ({ units: UNITS, activation })),
    },
    training: { batchSize: 16, epochs: 100 },
    observability: { gradientNormEverySteps: 1, vanishingThreshold: THRESHOLD, vanishingSteps: VANISHING_STEPS },
  }), { workers: WORKERS });
  track(observed);
  const text = await pollMetrics(
    observed.coordinatorUrl,
    (t) => (sampleValue(t, 'dtrain_global_step') ?? 0) >= STEPS - 1,
    60_000,
    `${activation}: global step ${STEPS - 1}`,
  );
  const worker = await scrape(observed.workerUrls.get(0)!);
  const byLayer = (t: string) => samplesOf(t, 'dtrain_gradient_norm')
    .map((s) => ({ layer: s.labels.layer, norm: s.value }))
    .sort((a, b) => denseIndex(a.layer) - denseIndex(b.layer));
  const result: NetResult = {
    norms: byLayer(text),
    workerNorms: byLayer(worker),
    warnings: new Map(samplesOf(text, 'dtrain_vanishing_gradient_warnings_total').map((s) => [s.labels.layer, s.value])),
    stderr: observed.run.stderr(),
  };
  expect(await observed.stop()).toBe(130);
  return result;
}

describe('vanishing gradients on real runs: deep sigmoid vs ReLU MLP', () => {
  const runs: ObservedRun[] = [];
  afterAll(async () => {
    await Promise.all(runs.map((r) => r.stop().catch(() => undefined)));
  });

  it('measures a tiny first-layer gradient for sigmoid and warns for it only', async () => {
    const sigmoid = await runNet('sigmoid', (r) => runs.push(r));
    const relu = await runNet('relu', (r) => runs.push(r));
    const show = (n: { layer: string; norm: number }[]) => n.map((x) => `${x.layer}=${x.norm.toExponential(2)}`).join(' ');
    console.info(`gradient norms at step ~${STEPS} (${DEPTH}x${UNITS} hidden + output):\n  sigmoid: ${show(sigmoid.norms)}\n  relu:    ${show(relu.norms)}`);

    for (const net of [sigmoid, relu]) {
      expect(net.norms).toHaveLength(DEPTH + 1);
      // The worker exports the same all-reduced norms as the coordinator.
      expect(net.workerNorms.map((n) => n.layer)).toEqual(net.norms.map((n) => n.layer));
    }
    const first = (net: NetResult) => net.norms[0];
    expect(first(sigmoid).norm).toBeGreaterThan(0);
    expect(first(sigmoid).norm).toBeLessThan(THRESHOLD);
    expect(first(relu).norm).toBeGreaterThan(THRESHOLD);
    // Orders of magnitude, not a few percent.
    expect(first(relu).norm / first(sigmoid).norm).toBeGreaterThan(1e3);
    // In the sigmoid net the norm shrinks toward the input: last hidden layer >> first.
    expect(sigmoid.norms[DEPTH - 1].norm / first(sigmoid).norm).toBeGreaterThan(100);

    const firstLayer = first(sigmoid).layer;
    expect(sigmoid.stderr).toMatch(new RegExp(`\\[coordinator\\] vanishing gradient: layer ${firstLayer} norm \\S+ below ${THRESHOLD} for ${VANISHING_STEPS} observations`));
    expect(sigmoid.warnings.get(firstLayer)).toBeGreaterThanOrEqual(1);
    // Layers near the output still learn in the sigmoid net: no warning for them.
    expect(sigmoid.warnings.has(sigmoid.norms[DEPTH].layer)).toBe(false);
    expect(relu.stderr).not.toMatch(/vanishing gradient/);
    expect(relu.warnings.size).toBe(0);
  });
});
