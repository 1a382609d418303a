// The serving artefacts (model.json + weights.bin) in the tfjs Layers format, shaped as tfjs's own
// file:// and http handlers write them, so tf.loadLayersModel('<url>/model.json') loads a checkpoint.
import * as tf from '@tensorflow/tfjs';
import { CheckpointCorruptError } from '@dtrain/shared/errors';

export const MODEL_JSON = 'model.json';
export const WEIGHTS_BIN = 'weights.bin';

export interface EncodedModel {
  modelJson: Record<string, unknown>;
  weightChunks: Uint8Array[];
}

/** Captures topology and weights via model.save(withSaveHandler); nothing is written here. */
export async function encodeModel(model: tf.LayersModel): Promise<EncodedModel> {
  let captured: EncodedModel | undefined;
  await model.save(tf.io.withSaveHandler(async (artifacts) => {
    if (artifacts.modelTopology instanceof ArrayBuffer) throw new Error('model.save gave a binary topology; expected a Layers model JSON');
    const data = artifacts.weightData;
    const buffers = data === undefined ? [] : Array.isArray(data) ? data : [data];
    // Same fields, same order as tfjs-core's getModelJSONForModelArtifacts (used by file://).
    const modelJson: Record<string, unknown> = {
      modelTopology: artifacts.modelTopology,
      format: artifacts.format,
      generatedBy: artifacts.generatedBy,
      convertedBy: artifacts.convertedBy ?? null,
      weightsManifest: [{ paths: [WEIGHTS_BIN], weights: artifacts.weightSpecs ?? [] }],
    };
    if (artifacts.signature != null) modelJson.signature = artifacts.signature;
    if (artifacts.userDefinedMetadata != null) modelJson.userDefinedMetadata = artifacts.userDefinedMetadata;
    if (artifacts.trainingConfig != null) modelJson.trainingConfig = artifacts.trainingConfig;
    captured = { modelJson, weightChunks: buffers.map((b) => new Uint8Array(b)) };
    return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
  }));
  if (captured === undefined) throw new Error('model.save did not call the save handler');
  return captured;
}

const DTYPE_BYTES: Record<string, number> = { float32: 4, int32: 4, bool: 1 };

/** Turns model.json + weights.bin bytes into ModelArtifacts for tf.io.fromMemory, checking that
 * the weights file has exactly the bytes the manifest in model.json describes. */
export async function decodeModelArtifacts(modelJson: unknown, weights: Uint8Array, jsonPath: string, weightsPath: string): Promise<tf.io.ModelArtifacts> {
  const bad = (detail: string) => new CheckpointCorruptError(jsonPath, detail);
  if (typeof modelJson !== 'object' || modelJson === null) throw bad('not a JSON object');
  const json = modelJson as tf.io.ModelJSON;
  if (typeof json.modelTopology !== 'object' || json.modelTopology === null) throw bad('modelTopology missing');
  if (!Array.isArray(json.weightsManifest) || json.weightsManifest.length !== 1) throw bad('weightsManifest must have one group');
  const group = json.weightsManifest[0];
  const paths = group.paths.map((p) => p.replace(/^\.\//, ''));
  if (paths.length !== 1 || paths[0] !== WEIGHTS_BIN) throw bad(`weightsManifest paths must be ['${WEIGHTS_BIN}'], got ${JSON.stringify(group.paths)}`);
  if (!Array.isArray(group.weights)) throw bad('weightsManifest weights missing');
  let expected = 0;
  for (const spec of group.weights) {
    const bytes = DTYPE_BYTES[spec.dtype];
    if (bytes === undefined || spec.quantization !== undefined) throw bad(`weight ${spec.name} has unsupported dtype ${spec.dtype}${spec.quantization ? ' (quantized)' : ''}`);
    expected += spec.shape.reduce((a, b) => a * b, 1) * bytes;
  }
  if (weights.byteLength !== expected) {
    throw new CheckpointCorruptError(weightsPath, `${weights.byteLength} bytes, but ${jsonPath} describes ${expected}${weights.byteLength < expected ? ' (truncated)' : ''}`);
  }
  const weightData = weights.buffer.slice(weights.byteOffset, weights.byteOffset + weights.byteLength) as ArrayBuffer;
  return tf.io.getModelArtifactsForJSON(json, async () => [group.weights, weightData]);
}

/**
 * Sets the saved weights into an existing model (built from the job spec). Weights are matched by
 * position in model.weights (names differ between model instances: tfjs numbers layer names per
 * process), and each must agree in shape and dtype.
 */
export function setWeightsInto(model: tf.LayersModel, artifacts: tf.io.ModelArtifacts, jsonPath: string): void {
  const specs = artifacts.weightSpecs ?? [];
  const targets = model.weights;
  if (specs.length !== targets.length) {
    throw new CheckpointCorruptError(jsonPath, `holds ${specs.length} weights, the model has ${targets.length}: checkpoint is for another model`);
  }
  specs.forEach((spec, i) => {
    const t = targets[i];
    if (spec.dtype !== t.dtype || spec.shape.length !== t.shape.length || spec.shape.some((d, k) => d !== t.shape[k])) {
      throw new CheckpointCorruptError(jsonPath, `weight ${i} (${spec.name}) is ${spec.dtype}[${spec.shape.join(',')}], the model's ${t.name} is ${t.dtype}[${t.shape.join(',')}]: checkpoint is for another model`);
    }
  });
  const data = artifacts.weightData;
  if (data === undefined) throw new CheckpointCorruptError(jsonPath, 'no weight data');
  const named = tf.io.decodeWeights(data, specs);
  const tensors = specs.map((s) => named[s.name]);
  try {
    model.setWeights(tensors);
  } finally {
    tf.dispose(Object.values(named));
  }
}
