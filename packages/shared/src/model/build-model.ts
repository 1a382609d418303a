// Builds the tf.LayersModel of a job. Every kernel initializer is seeded from the job seed and
// the layer's position (deriveSeed), so every rank builds bit-identical starting weights.
import { ensureTypeScriptLoader, isTypeScriptModule } from './typescript-loader';
import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { DtrainError, JobSpecError } from '../errors';
import { deriveSeed } from '../data/rng';
import type { ActivationName, InitializerSpec, ModelSpec } from '../job-spec';
import type { DatasetInfo } from '../data/api';
import { activationLayer, isLayerActivation, tfActivationId } from './activations';
import type { CustomModelBuilder, ModelBuildContext } from './api';

export type { ModelBuildContext, CustomModelBuilder } from './api';

type InitializerName = 'glorotUniform' | 'glorotNormal' | 'heUniform' | 'heNormal' | 'leCunUniform' | 'leCunNormal';
type LayerInits = { kernelInitializer?: InitializerSpec; biasInitializer?: InitializerSpec };
type DenseSpec = { units: number; activation: ActivationName; dropout?: number } & LayerInits;
type TfInitializer = ReturnType<typeof tf.initializers.zeros>;

function modelError(problem: string): JobSpecError {
  return new JobSpecError('model', [problem]);
}

/** Hands out per-layer seeds in build order (same order on every rank). */
class Seeds {
  private n = 0;
  constructor(private readonly base: number) {}
  next(): number { return deriveSeed(this.base, 'layer', this.n++); }
}

/**
 * A job-spec initializer as a tfjs one. Random ones take the layer's seed (kernel: the layer seed;
 * recurrent and bias: seeds derived from it), so every rank builds the same weights.
 */
export function makeInitializer(spec: InitializerSpec, seed: number): TfInitializer {
  if (typeof spec !== 'string') {
    switch (spec.kind) {
      case 'uniform': return tf.initializers.randomUniform({ minval: spec.min, maxval: spec.max, seed });
      case 'normal': return tf.initializers.randomNormal({ mean: spec.mean, stddev: spec.stddev, seed });
      case 'constant': return tf.initializers.constant({ value: spec.value });
    }
  }
  switch (spec) {
    case 'orthogonal': return tf.initializers.orthogonal({ seed });
    case 'zeros': return tf.initializers.zeros();
    case 'ones': return tf.initializers.ones();
    default: return initializer(spec, seed);
  }
}

function biasInit(spec: InitializerSpec | undefined, layerSeed: number): TfInitializer | 'zeros' {
  return spec === undefined ? 'zeros' : makeInitializer(spec, deriveSeed(layerSeed, 'bias'));
}

function initializer(name: InitializerName, seed: number): TfInitializer {
  const args = { seed };
  switch (name) {
    case 'glorotUniform': return tf.initializers.glorotUniform(args);
    case 'glorotNormal': return tf.initializers.glorotNormal(args);
    case 'heUniform': return tf.initializers.heUniform(args);
    case 'heNormal': return tf.initializers.heNormal(args);
    case 'leCunUniform': return tf.initializers.leCunUniform(args);
    case 'leCunNormal': return tf.initializers.leCunNormal(args);
  }
}

/** Output activation: explicit, else softmax (>1 class), sigmoid (1 output), linear (regression). */
export function defaultOutputActivation(info: DatasetInfo, explicit?: ActivationName): ActivationName {
  if (explicit) return explicit;
  if (info.task === 'regression') return 'linear';
  return info.outputSize > 1 ? 'softmax' : 'sigmoid';
}

interface Builder {
  model: tf.Sequential;
  seeds: Seeds;
  init: InitializerName;
}

/** Dense layer; leakyRelu/prelu become a linear dense followed by that layer. */
function addDense(b: Builder, units: number, activation: ActivationName, inputShape?: number[], inits: LayerInits = {}): void {
  const layered = isLayerActivation(activation);
  const seed = b.seeds.next();
  b.model.add(tf.layers.dense({
    units,
    activation: layered ? 'linear' : tfActivationId(activation),
    kernelInitializer: makeInitializer(inits.kernelInitializer ?? b.init, seed),
    biasInitializer: biasInit(inits.biasInitializer, seed),
    ...(inputShape ? { inputShape } : {}),
  }));
  if (layered) b.model.add(activationLayer(activation));
}

function addDenseStack(b: Builder, layers: DenseSpec[], firstInputShape?: number[]): void {
  layers.forEach((l, i) => {
    addDense(b, l.units, l.activation, i === 0 ? firstInputShape : undefined, l);
    if (l.dropout) b.model.add(tf.layers.dropout({ rate: l.dropout, seed: b.seeds.next() }));
  });
}

function checkTask(spec: { task: 'classification' | 'regression' }, info: DatasetInfo): void {
  if (spec.task !== info.task) {
    throw modelError(`model.task: '${spec.task}' but the dataset is a ${info.task} dataset; set model.task: ${info.task}`);
  }
}

function buildBuiltin(spec: Exclude<ModelSpec, { kind: 'custom' }>, info: DatasetInfo, seed: number): tf.LayersModel {
  const b: Builder = { model: tf.sequential(), seeds: new Seeds(seed), init: 'glorotUniform' };
  const inputShape = info.inputShape;
  switch (spec.kind) {
    case 'perceptron': {
      // One unit per output (one for binary labels): z = w.x + b, then the activation.
      if (inputShape.length > 1) throw modelError(`model.kind perceptron needs flat inputs, dataset gives [${inputShape.join(', ')}]`);
      addDense(b, info.outputSize, spec.activation, inputShape);
      break;
    }
    case 'mlp': {
      checkTask(spec, info);
      b.init = spec.kernelInitializer ?? 'glorotUniform';
      if (inputShape.length > 1) b.model.add(tf.layers.flatten({ inputShape }));
      addDenseStack(b, spec.hidden, inputShape.length > 1 ? undefined : inputShape);
      addDense(b, info.outputSize, defaultOutputActivation(info, spec.outputActivation));
      break;
    }
    case 'cnn': {
      checkTask(spec, info);
      if (inputShape.length !== 3) {
        throw modelError(`model.kind cnn needs image inputs [height, width, channels]; dataset gives [${inputShape.join(', ')}] (mnist: set dataset.shape: image)`);
      }
      spec.conv.forEach((c, i) => {
        const layered = isLayerActivation(c.activation);
        const seed = b.seeds.next();
        b.model.add(tf.layers.conv2d({
          filters: c.filters, kernelSize: c.kernelSize, strides: c.strides, padding: c.padding,
          activation: layered ? 'linear' : tfActivationId(c.activation),
          kernelInitializer: makeInitializer(c.kernelInitializer ?? 'glorotUniform', seed),
          biasInitializer: biasInit(c.biasInitializer, seed),
          ...(i === 0 ? { inputShape } : {}),
        }));
        if (layered) b.model.add(activationLayer(c.activation));
        if (c.pool > 1) b.model.add(tf.layers.maxPooling2d({ poolSize: c.pool, strides: c.pool }));
      });
      b.model.add(tf.layers.flatten());
      addDenseStack(b, spec.dense);
      addDense(b, info.outputSize, defaultOutputActivation(info, spec.outputActivation));
      break;
    }
    case 'lstm':
    case 'gru':
    case 'bilstm': {
      checkTask(spec, info);
      if (inputShape.length !== 2) {
        throw modelError(`model.kind ${spec.kind} needs sequence inputs [timesteps, features]; dataset gives [${inputShape.join(', ')}]`);
      }
      spec.units.forEach((layer, i) => {
        const s = b.seeds.next();
        const l = typeof layer === 'number' ? { units: layer } : layer;
        const cfg = {
          units: l.units,
          returnSequences: i < spec.units.length - 1,
          kernelInitializer: makeInitializer(l.kernelInitializer ?? 'glorotUniform', s),
          recurrentInitializer: makeInitializer(l.recurrentInitializer ?? 'orthogonal', deriveSeed(s, 'recurrent')),
          biasInitializer: biasInit(l.biasInitializer, s),
          ...(l.unitForgetBias !== undefined && spec.kind !== 'gru' ? { unitForgetBias: l.unitForgetBias } : {}),
        };
        const first = i === 0 ? { inputShape } : {};
        if (spec.kind === 'lstm') b.model.add(tf.layers.lstm({ ...cfg, ...first }));
        else if (spec.kind === 'gru') b.model.add(tf.layers.gru({ ...cfg, ...first }));
        // Both directions start from the same seeded weights (tfjs clones the layer config).
        else b.model.add(tf.layers.bidirectional({ layer: tf.layers.lstm(cfg) as tf.RNN, mergeMode: 'concat', ...first }));
      });
      addDenseStack(b, spec.dense);
      addDense(b, info.outputSize, defaultOutputActivation(info, spec.outputActivation));
      break;
    }
  }
  return b.model;
}

export class CustomModelError extends DtrainError {
  constructor(readonly module: string, detail: string) {
    super(`custom model module ${module}: ${detail}`);
  }
}

async function buildCustom(ctx: ModelBuildContext, spec: Extract<ModelSpec, { kind: 'custom' }>): Promise<tf.LayersModel> {
  const path = isAbsolute(spec.module) ? spec.module : resolve(spec.module);
  let mod: Record<string, unknown>;
  try {
    // dtrain itself runs compiled JavaScript; a TypeScript model module needs tsx's loader.
    if (isTypeScriptModule(path)) await ensureTypeScriptLoader();
    mod = await import(pathToFileURL(path).href) as Record<string, unknown>;
  } catch (err) {
    throw new CustomModelError(path, `cannot import: ${(err as Error).message}`);
  }
  const fn = (typeof mod.buildModel === 'function' ? mod.buildModel : mod.default) as CustomModelBuilder | undefined;
  if (typeof fn !== 'function') throw new CustomModelError(path, 'exports neither a buildModel function nor a default function');
  const model = await fn({ ...ctx, options: spec.options, tf });
  if (!model || typeof (model as tf.LayersModel).predict !== 'function' || !Array.isArray((model as tf.LayersModel).trainableWeights)) {
    throw new CustomModelError(path, 'builder did not return a tf.LayersModel');
  }
  return model;
}

/** Builds the job's model for the dataset's shapes; identical weights for the same ctx.seed. */
export async function buildModel(ctx: ModelBuildContext): Promise<tf.LayersModel> {
  const spec = ctx.spec.model;
  if (spec.kind === 'custom') return buildCustom(ctx, spec);
  return buildBuiltin(spec, ctx.info, ctx.seed);
}
