// The job spec: what a user writes in JOB.yaml. Validated with zod; `dtrain schema` prints the
// JSON Schema derived from the same definition, so editors and the validator never disagree.
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { JobSpecError } from './errors';

export const BACKENDS = ['auto', 'tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'] as const;
export type BackendName = (typeof BACKENDS)[number];

/** Activations accepted per layer. leakyRelu and prelu become layers; the rest are tfjs strings. */
export const ACTIVATIONS = [
  'linear', 'sigmoid', 'tanh', 'relu', 'relu6', 'leakyRelu', 'prelu', 'elu', 'selu', 'swish',
  'mish', 'gelu', 'softplus', 'softsign', 'hardSigmoid', 'softmax',
] as const;
export type ActivationName = (typeof ACTIVATIONS)[number];

export const LOSSES = [
  'categoricalCrossentropy', 'sparseCategoricalCrossentropy', 'binaryCrossentropy',
  'meanSquaredError', 'meanAbsoluteError',
] as const;
export type LossName = (typeof LOSSES)[number];

const positiveInt = z.number().int().positive();
const nonNegativeInt = z.number().int().nonnegative();
const fraction = z.number().gt(0).lt(1);

/** Named tfjs initializers; seeded per layer from the job seed where random. */
export const INITIALIZERS = [
  'glorotUniform', 'glorotNormal', 'heUniform', 'heNormal', 'leCunUniform', 'leCunNormal', 'orthogonal',
  'zeros', 'ones',
] as const;

/**
 * A weight initializer: a name, or uniform/normal/constant with parameters. PyTorch's default for
 * recurrent and dense weights and biases is `{ kind: uniform, min: -1/sqrt(units), max: 1/sqrt(units) }`.
 */
export const initializerSpecSchema = z.union([
  z.enum(INITIALIZERS),
  z.strictObject({ kind: z.literal('uniform'), min: z.number(), max: z.number() })
    .refine((u) => u.min < u.max, { message: 'min must be below max' }),
  z.strictObject({ kind: z.literal('normal'), mean: z.number().default(0), stddev: z.number().positive() }),
  z.strictObject({ kind: z.literal('constant'), value: z.number() }),
]);
export type InitializerSpec = z.infer<typeof initializerSpecSchema>;

/** Per-layer initializers (dense and conv: kernel, bias; recurrent also recurrent). */
const layerInitializers = {
  kernelInitializer: initializerSpecSchema.optional(),
  biasInitializer: initializerSpecSchema.optional(),
};

const denseLayerSpec = z.strictObject({
  units: positiveInt,
  activation: z.enum(ACTIVATIONS).default('relu'),
  dropout: z.number().min(0).lt(1).optional(),
  ...layerInitializers,
});

/** A recurrent layer: its units, or units with initializers (and LSTM's unit forget bias). */
const recurrentLayerSpec = z.union([positiveInt, z.strictObject({
  units: positiveInt,
  ...layerInitializers,
  recurrentInitializer: initializerSpecSchema.optional(),
  unitForgetBias: z.boolean().optional(),
})]);

const taskSchema = z.enum(['classification', 'regression']);

const perceptronModel = z.strictObject({
  kind: z.literal('perceptron'),
  activation: z.enum(ACTIVATIONS).default('sigmoid'),
});

const mlpModel = z.strictObject({
  kind: z.literal('mlp'),
  task: taskSchema.default('classification'),
  hidden: z.array(denseLayerSpec).min(1),
  outputActivation: z.enum(ACTIVATIONS).optional(),
  /** Seeded per layer from the job seed, so every rank builds the same weights. */
  kernelInitializer: z.enum(['glorotUniform', 'glorotNormal', 'heUniform', 'heNormal', 'leCunUniform', 'leCunNormal']).optional(),
});

const cnnModel = z.strictObject({
  kind: z.literal('cnn'),
  task: taskSchema.default('classification'),
  conv: z.array(z.strictObject({
    filters: positiveInt,
    kernelSize: positiveInt.default(3),
    strides: positiveInt.default(1),
    padding: z.enum(['valid', 'same']).default('valid'),
    activation: z.enum(ACTIVATIONS).default('relu'),
    pool: nonNegativeInt.default(2),
    ...layerInitializers,
  })).min(1),
  dense: z.array(denseLayerSpec).default([]),
  outputActivation: z.enum(ACTIVATIONS).optional(),
});

const recurrentModel = z.strictObject({
  kind: z.enum(['lstm', 'gru', 'bilstm']),
  task: taskSchema.default('regression'),
  units: z.array(recurrentLayerSpec).min(1),
  dense: z.array(denseLayerSpec).default([]),
  outputActivation: z.enum(ACTIVATIONS).optional(),
});

const customModel = z.strictObject({
  kind: z.literal('custom'),
  task: taskSchema.default('classification'),
  /** A JS/TS module exporting `buildModel(ctx): tf.LayersModel` (default or named). */
  module: z.string().min(1),
  options: z.record(z.string(), z.unknown()).default({}),
});

export const modelSpecSchema = z.discriminatedUnion('kind', [
  perceptronModel, mlpModel, cnnModel, recurrentModel, customModel,
]);

/**
 * Held-out data of csv, json and sequence datasets. `testPath` is evaluated once, at the end;
 * the validation set (`validationPath`, or a seeded `validationFraction` of the training rows,
 * the last windows for sequences) every epoch. 0 means no validation set.
 */
const heldOutFields = {
  testPath: z.string().min(1).optional(),
  validationPath: z.string().min(1).optional(),
  validationFraction: z.number().min(0).lt(1).optional(),
};

function checkHeldOut(
  d: { testFraction?: number; testPath?: string; validationPath?: string; validationFraction?: number },
  ctx: z.core.$RefinementCtx,
): void {
  if (d.validationPath !== undefined && d.validationFraction !== undefined) {
    ctx.addIssue({ code: 'custom', path: ['validationFraction'], message: 'set either validationPath or validationFraction, not both' });
  }
  if (d.testFraction !== undefined && (d.testPath !== undefined || d.validationPath !== undefined || d.validationFraction !== undefined)) {
    ctx.addIssue({
      code: 'custom',
      path: ['testFraction'],
      message: `testFraction is the old per-epoch held-out share; with testPath/validationPath write validationFraction: ${d.testFraction} instead`,
    });
  }
}

const mnistDataset = z.strictObject({
  kind: z.literal('mnist'),
  /** 'flat' gives 784 features (MLPs); 'image' gives 28x28x1 (CNNs). */
  shape: z.enum(['flat', 'image']).default('flat'),
  /** Digits held out for testing, drawn per class by a seeded split of the package's 10,000. */
  testFraction: fraction.default(0.2),
  /** Use only the first N training samples (after the split; class-balanced); for quick runs. */
  limit: positiveInt.optional(),
});

const tabularDataset = z.strictObject({
  kind: z.enum(['csv', 'json']),
  path: z.string().min(1),
  features: z.array(z.string().min(1)).min(1).optional(),
  label: z.string().min(1),
  /**
   * Classification with this many classes; omit for regression. Labels that are all integers in
   * [0, classes) are class ids; otherwise distinct label texts get ids in sorted order.
   */
  classes: positiveInt.optional(),
  /** 'oneHot': `classes` outputs; 'binary' (classes: 2 only): one 0/1 output for a sigmoid unit. */
  labelEncoding: z.enum(['oneHot', 'binary']).default('oneHot'),
  /** Features (and regression targets) use mean/std of the training rows only. */
  standardize: z.boolean().default(true),
  /**
   * Legacy: a seeded share of `path` held out and evaluated every epoch (default 0.2 when no
   * testPath/validationPath/validationFraction is set). Prefer validationFraction + testPath.
   */
  testFraction: fraction.optional(),
  ...heldOutFields,
  /** Seed of the train/validation row split; default a fixed seed (7919), never the job seed. */
  splitSeed: nonNegativeInt.optional(),
  /** Missing/non-numeric cell or ragged row: 'error' stops with file, row and column; 'skipRow' drops the row. */
  onBadValue: z.enum(['error', 'skipRow']).default('error'),
}).refine((d) => d.labelEncoding !== 'binary' || d.classes === 2, {
  message: "labelEncoding 'binary' needs classes: 2", path: ['labelEncoding'],
}).superRefine(checkHeldOut);

const sequenceDataset = z.strictObject({
  kind: z.literal('sequence'),
  /** A CSV with a numeric column, or a built-in series. */
  path: z.string().min(1).optional(),
  /** Column of the CSV holding the series; default the last column. */
  column: z.string().optional(),
  /** 'sine': 1000 generated steps; 'airline-passengers': monthly totals 1949-1960 (144 values). */
  builtin: z.enum(['sine', 'airline-passengers']).optional(),
  window: positiveInt,
  horizon: positiveInt.default(1),
  standardize: z.boolean().default(true),
  /** Legacy: the last windows (chronologically) are held out and evaluated every epoch (default 0.2). */
  testFraction: fraction.optional(),
  /** Sequence files (validationPath, testPath) are CSVs with the same column as `path`. */
  ...heldOutFields,
}).refine((d) => (d.path === undefined) !== (d.builtin === undefined), {
  message: 'set exactly one of path (a CSV series) and builtin', path: ['builtin'],
}).superRefine(checkHeldOut);

export const datasetSpecSchema = z.discriminatedUnion('kind', [mnistDataset, tabularDataset, sequenceDataset]);

const scheduleSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('exponential'), decayRate: fraction, decaySteps: positiveInt }),
  z.strictObject({ kind: z.literal('step'), factor: fraction, everySteps: positiveInt }),
]);

export const optimizerSpecSchema = z.strictObject({
  kind: z.enum(['sgd', 'momentum', 'adam', 'rmsprop', 'adagrad']),
  learningRate: z.number().positive().max(10),
  momentum: z.number().min(0).lt(1).optional(),
  schedule: scheduleSchema.optional(),
});

export const jobSpecSchema = z.strictObject({
  /** Job name: used in metric labels, NATS subjects and checkpoint paths. */
  name: z.string().regex(/^[a-z0-9][a-z0-9-_]{0,62}$/, 'lowercase letters, digits, - and _ (max 63)'),
  seed: nonNegativeInt.default(42),
  backend: z.enum(BACKENDS).default('auto'),
  model: modelSpecSchema,
  dataset: datasetSpecSchema,
  loss: z.enum(LOSSES),
  optimizer: optimizerSpecSchema,
  training: z.strictObject({
    /** Per worker: the global batch is batchSize x workers. */
    batchSize: positiveInt.max(65536),
    epochs: positiveInt.default(1),
    maxSteps: positiveInt.optional(),
    /**
     * Samples left after the last full global batch of the LAST epoch: 'drop' (they were carried
     * to an epoch that never comes) or 'train' (one final smaller step, gradient weighted exactly).
     */
    finalRemainder: z.enum(['drop', 'train']).default('drop'),
  }),
  validation: z.strictObject({
    metrics: z.array(z.enum(['accuracy', 'mse', 'mae'])).default([]),
  }).default({ metrics: [] }),
  checkpoint: z.strictObject({
    dir: z.string().min(1),
    everySteps: positiveInt.optional(),
    keep: positiveInt.default(3),
  }).optional(),
  collective: z.strictObject({
    /**
     * Wire bytes per chunk. Unset: the coordinator chooses per world (collective-chunking.ts: 1 MiB, or one
     * chunk per ring segment on tcp when a host runs more ranks than it has CPUs).
     */
    chunkBytes: positiveInt.min(4096).max(16 * 1024 * 1024).optional(),
    timeoutMs: positiveInt.default(30_000),
    /** Wire format of all-reduce chunks: fp16 halves the bytes at ~1e-3 relative error per hop. */
    compression: z.enum(['none', 'fp16']).default('none'),
    /** Data path between workers: grpc (Peer/Pull streams) or tcp (framed TCP negotiated over Peer). */
    transport: z.enum(['grpc', 'tcp']).default('grpc'),
  }).default({ timeoutMs: 30_000, compression: 'none', transport: 'grpc' }),
  observability: z.strictObject({
    natsUrl: z.string().optional(),
    gradientNormEverySteps: positiveInt.default(10),
    vanishingThreshold: z.number().positive().default(1e-5),
    vanishingSteps: positiveInt.default(5),
    stragglerFactor: z.number().gt(1).default(1.5),
    stragglerWindow: positiveInt.default(10),
    /** Compare a digest of every rank's weights this often (0: never); a mismatch fails the job. */
    weightsDigestEverySteps: nonNegativeInt.default(100),
  }).default({
    gradientNormEverySteps: 10, vanishingThreshold: 1e-5, vanishingSteps: 5,
    stragglerFactor: 1.5, stragglerWindow: 10, weightsDigestEverySteps: 100,
  }),
});

export type JobSpec = z.infer<typeof jobSpecSchema>;
export type ModelSpec = z.infer<typeof modelSpecSchema>;
export type DatasetSpec = z.infer<typeof datasetSpecSchema>;
export type OptimizerSpec = z.infer<typeof optimizerSpecSchema>;

function formatIssues(issues: readonly z.core.$ZodIssue[]): string[] {
  return issues.map((issue) => {
    const path = issue.path.length > 0 ? issue.path.map(String).join('.') : '(root)';
    if (issue.code === 'unrecognized_keys') {
      const prefix = issue.path.length > 0 ? `${path}.` : '';
      return issue.keys.map((k) => `${prefix}${k}: unknown field`).join('; ');
    }
    return `${path}: ${issue.message}`;
  });
}

/** Validates an already-parsed object; throws JobSpecError naming every bad field. */
export function validateJobSpec(raw: unknown, source = 'job spec'): JobSpec {
  const result = jobSpecSchema.safeParse(raw);
  if (!result.success) {
    throw new JobSpecError(source, formatIssues(result.error.issues));
  }
  return result.data;
}

/**
 * Reads a YAML or JSON job file. Relative dataset, checkpoint and module paths are resolved
 * against the file's folder, so a job runs the same from any working directory.
 */
export function loadJobSpec(path: string): JobSpec {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new JobSpecError(path, [`cannot read file: ${(err as Error).message}`]);
  }
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (err) {
    throw new JobSpecError(path, [`not valid YAML/JSON: ${(err as Error).message}`]);
  }
  const spec = validateJobSpec(raw, path);
  return resolveSpecPaths(spec, dirname(resolve(path)));
}

export function resolveSpecPaths(spec: JobSpec, baseDir: string): JobSpec {
  const abs = (p: string): string => resolve(baseDir, p);
  const out: JobSpec = structuredClone(spec);
  if ((out.dataset.kind === 'csv' || out.dataset.kind === 'json')) out.dataset.path = abs(out.dataset.path);
  if (out.dataset.kind === 'sequence' && out.dataset.path) out.dataset.path = abs(out.dataset.path);
  if (out.dataset.kind !== 'mnist') {
    if (out.dataset.testPath) out.dataset.testPath = abs(out.dataset.testPath);
    if (out.dataset.validationPath) out.dataset.validationPath = abs(out.dataset.validationPath);
  }
  if (out.checkpoint) out.checkpoint.dir = abs(out.checkpoint.dir);
  if (out.model.kind === 'custom') out.model.module = abs(out.model.module);
  return out;
}

export function jobJsonSchema(): unknown {
  return z.toJSONSchema(jobSpecSchema, { io: 'input' });
}
