// loadModel(dir) for Node code: an exported model (or a checkpoint folder) with its bundle, loaded
// through tf.io.fromMemory, so it works with the plain `@tensorflow/tfjs` package (whose
// loadLayersModel has no file:// handler without tfjs-node).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { BUNDLE_FILE, ModelBundleError, parseModelBundle } from '../data/model-bundle';
import { createDtrainModel, type DtrainModel } from '../data/predictor';

export type { DtrainModel, EvaluationReport, InputRow, Prediction } from '../data/predictor';

function readOrExplain(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ModelBundleError(path, code === 'ENOENT' ? `missing: ${what}` : `unreadable: ${(err as Error).message}`);
  }
}

export async function loadModel(dir: string): Promise<DtrainModel> {
  const bundlePath = join(dir, BUNDLE_FILE);
  const bundleBytes = readOrExplain(bundlePath, `${BUNDLE_FILE} (the preprocessing); checkpoints written by older dtrain versions lack it: retrain, or load model.json with tf.loadLayersModel and preprocess by hand`);
  let json: unknown;
  try {
    json = JSON.parse(bundleBytes.toString('utf8'));
  } catch (err) {
    throw new ModelBundleError(bundlePath, `bad JSON: ${(err as Error).message}`);
  }
  const bundle = parseModelBundle(json, bundlePath);
  // Whatever backend the process registered (cpu by default; wasm if loaded) must be ready first.
  await tf.ready();
  const modelPath = join(dir, 'model.json');
  const modelJson = JSON.parse(readOrExplain(modelPath, 'model.json').toString('utf8')) as tf.io.ModelJSON;
  const weights = readOrExplain(join(dir, 'weights.bin'), 'weights.bin');
  const model = await tf.loadLayersModel(tf.io.fromMemory({
    modelTopology: modelJson.modelTopology,
    weightSpecs: modelJson.weightsManifest.flatMap((g) => g.weights),
    weightData: weights.buffer.slice(weights.byteOffset, weights.byteOffset + weights.byteLength),
  }));
  return createDtrainModel(tf, model, bundle);
}
