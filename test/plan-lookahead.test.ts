// The plan look-ahead end to end (docs/elastic.md "Plan look-ahead"): real coordinator and worker
// processes begin each next epoch from the plan sent ahead, and training is the same as without it:
// same losses, same final state on every rank, an exact ledger.
import { describe, expect, it } from 'vitest';
import { REPO_ROOT, lastJsonLine, runDtrain, tempDir, writeJob } from './harness/dtrain-cli';
import { expectExactLedger, finalDigests, type SampleLedger } from './harness/elastic';

const EPOCHS = 5;

function job(): Record<string, unknown> {
  return {
    name: 'lookahead',
    seed: 11,
    backend: 'wasm',
    model: { kind: 'mlp', task: 'regression', hidden: [{ units: 16, activation: 'relu' }] },
    dataset: {
      kind: 'csv', path: `${REPO_ROOT}/examples/data/house-prices.csv`, label: 'price_k', standardize: true,
      testFraction: 0.2,
    },
    loss: 'meanSquaredError',
    optimizer: { kind: 'adam', learningRate: 0.01 },
    training: { batchSize: 8, epochs: EPOCHS },
  };
}

async function launch(lookAhead: boolean) {
  const path = writeJob(tempDir(), job());
  const run = await runDtrain(['launch', '--workers', '2', path, '--json', '--no-metrics', '--insecure'],
    { env: { DTRAIN_PLAN_LOOKAHEAD: lookAhead ? '1' : '0' } });
  expect(run.code, run.stderr.slice(-2000)).toBe(0);
  type Summary = { status: string; steps: number; loss: number; sampleLedger: SampleLedger };
  const summary = lastJsonLine(run.stdout) as Summary;
  const ahead = [...run.stderr.matchAll(/(\d+) plan\(s\) begun as sent ahead/g)].map((m) => Number(m[1]));
  return { summary, ahead, digests: finalDigests(run.stderr), stderr: run.stderr };
}

describe('plan look-ahead', () => {
  it('workers begin every next epoch from the plan sent ahead, and train exactly as without it', async () => {
    const on = await launch(true);
    const off = await launch(false);
    // Every epoch after the first began from the plan sent ahead, on both ranks; none without it.
    expect(on.ahead).toEqual([EPOCHS - 1, EPOCHS - 1]);
    expect(off.ahead).toEqual([0, 0]);
    expect(on.stderr).not.toContain('ignoring a plan');
    expect(on.summary.status).toBe('succeeded');
    expect(on.summary.steps).toBe(off.summary.steps);
    expect(on.summary.loss).toBe(off.summary.loss);
    expect(on.digests).toHaveLength(2);
    expect(new Set([...on.digests, ...off.digests]).size).toBe(1);
    expectExactLedger(on.summary.sampleLedger);
    expect(on.summary.sampleLedger).toEqual(off.summary.sampleLedger);
  });
});
