// Loading a checkpoint: every file is verified against manifest.json before anything is parsed,
// so a damaged checkpoint fails with CheckpointCorruptError naming the file and no tensors leak.
import * as tf from '@tensorflow/tfjs';
import { join } from 'node:path';
import type { CheckpointInfo, LoadCheckpointOptions, LoadedCheckpoint } from './api';
import { parseJson, readVerifiedCheckpoint } from './manifest';
import { decodeModelArtifacts, MODEL_JSON, setWeightsInto, WEIGHTS_BIN } from './model-artifacts';
import { decodeOptimizerState, optimizerWeightTensors } from './optimizer-state';
import { validateTrainingState } from './training-state';
import { CheckpointCorruptError } from '@dtrain/shared/errors';

/** Verifies and parses everything except building the model; used by load and by the scan. */
async function readCheckpoint(path: string) {
  const { manifest, files } = await readVerifiedCheckpoint(path);
  const at = (name: string) => join(path, name);
  const modelJson = parseJson(files[MODEL_JSON], at(MODEL_JSON));
  const artifacts = await decodeModelArtifacts(modelJson, files[WEIGHTS_BIN], at(MODEL_JSON), at(WEIGHTS_BIN));
  const optimizer = decodeOptimizerState(parseJson(files['optimizer.json'], at('optimizer.json')), files['optimizer.bin'], at('optimizer.json'), at('optimizer.bin'));
  const state = validateTrainingState(parseJson(files['state.json'], at('state.json')), at('state.json'));
  if (state.globalStep !== manifest.globalStep) {
    throw new CheckpointCorruptError(at('state.json'), `globalStep ${state.globalStep} does not match manifest ${manifest.globalStep}`);
  }
  const info: CheckpointInfo = { path, globalStep: manifest.globalStep };
  return { manifest, artifacts, optimizer, state, info };
}

/** Verifies a checkpoint fully (checksums and contents) without creating tensors. */
export async function verifyCheckpoint(path: string): Promise<CheckpointInfo> {
  return (await readCheckpoint(path)).info;
}

export async function loadCheckpoint(path: string, options: LoadCheckpointOptions = {}): Promise<LoadedCheckpoint> {
  const { manifest, artifacts, optimizer, state, info } = await readCheckpoint(path);
  let model: tf.LayersModel;
  if (options.into) {
    setWeightsInto(options.into, artifacts, join(path, MODEL_JSON));
    model = options.into;
  } else {
    try {
      model = await tf.loadLayersModel(tf.io.fromMemory(artifacts));
    } catch (err) {
      throw new CheckpointCorruptError(join(path, MODEL_JSON), `tfjs cannot build the model: ${(err as Error).message}`);
    }
  }
  return { model, optimizer, optimizerWeights: () => optimizerWeightTensors(optimizer), state, info, manifest };
}
