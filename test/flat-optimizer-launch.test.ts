// The flat optimizer update end to end: the same 2-worker Adam job through `dtrain launch` with it (the
// default for a small model on wasm) and with DTRAIN_FLAT_OPTIMIZER=0 (tfjs's applyGradients) ends with
// the same training loss and validation figures to the last bit; each worker says which path it took.
import { describe, expect, it } from 'vitest';
import { lastJsonLine, runDtrain, smallMnistJob, tempDir, writeJob } from './harness/dtrain-cli';

interface Summary { status: string; steps: number; loss: number; validation: { loss: number; accuracy: number } }

describe('flat optimizer update, end to end', () => {
  it('a 2-worker Adam job trains to the same bits with and without it', async () => {
    const dir = tempDir();
    // 784-32-10: 25,450 parameters, under FLAT_MAX_PARAMETERS.
    const job = writeJob(dir, smallMnistJob({
      optimizer: { kind: 'adam', learningRate: 0.01 },
      dataset: { kind: 'mnist', shape: 'flat', limit: 512 },
      training: { batchSize: 16, epochs: 2 },
    }));
    const args = ['launch', '--workers', '2', job, '--json', '--no-metrics', '--insecure'];
    const [flat, tfjs] = await Promise.all([
      runDtrain(args),
      runDtrain(args, { env: { ...process.env, DTRAIN_FLAT_OPTIMIZER: '0' } }),
    ]);
    expect(flat.code, flat.stderr.slice(-2000)).toBe(0);
    expect(tfjs.code, tfjs.stderr.slice(-2000)).toBe(0);
    const lines = (run: { stderr: string }, text: string): number =>
      run.stderr.split('\n').filter((l) => l.endsWith(text)).length;
    expect(lines(flat, "optimizer: adam, one loop over the fused buffer (bit-exact with tfjs's)")).toBe(2);
    expect(lines(tfjs, "optimizer: tfjs's adam (the flat update covers adam and sgd on wasm up to 65,536 parameters)"))
      .toBe(2);
    const a = lastJsonLine(flat.stdout) as unknown as Summary;
    const b = lastJsonLine(tfjs.stdout) as unknown as Summary;
    expect(a.status).toBe('succeeded');
    expect(a.steps).toBe(32);
    expect(b.steps).toBe(32);
    expect(a.loss).toBe(b.loss);
    expect(a.validation).toEqual(b.validation);
    expect(a.validation.accuracy).toBeGreaterThan(0.5); // it did learn
  });
});
