import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { describeDataset } from '../src/data/dataset';
import { loadJobSpec } from '../src/job-spec';
import { buildModel } from '../src/model/build-model';

const EXAMPLES = fileURLToPath(new URL('../../../examples/', import.meta.url));
const files = readdirSync(EXAMPLES).filter((f) => f.endsWith('.yaml') || f.endsWith('.yml')).sort();

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('examples/*.yaml', () => {
  it('includes the documented examples', () => {
    expect(files).toEqual(expect.arrayContaining(['lstm-sequence.yaml', 'mnist-cnn.yaml', 'mnist-mlp.yaml', 'perceptron.yaml', 'regression.yaml']));
  });

  for (const f of files) {
    it(`${f} validates, its dataset describes and its model builds`, async () => {
      const spec = loadJobSpec(join(EXAMPLES, f));
      const info = await describeDataset(spec.dataset);
      expect(info.trainSize).toBeGreaterThan(info.testSize);
      const model = await buildModel({ spec, info, seed: spec.seed });
      expect(model.outputs[0].shape.slice(1)).toEqual([info.outputSize]);
      expect(model.countParams()).toBeGreaterThan(0);
      model.dispose();
    });
  }
});
