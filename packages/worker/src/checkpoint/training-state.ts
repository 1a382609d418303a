// state.json: the TrainingState, checked field by field on load.
import { CheckpointCorruptError } from '@dtrain/shared/errors';
import type { TrainingState } from './api';

function isNonNegativeInt(x: unknown): x is number {
  return typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
}

export function validateTrainingState(json: unknown, path: string): TrainingState {
  const bad = (detail: string) => new CheckpointCorruptError(path, detail);
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw bad('not a JSON object');
  const s = json as Record<string, unknown>;
  for (const key of ['globalStep', 'epoch', 'stepInEpoch'] as const) {
    if (!isNonNegativeInt(s[key])) throw bad(`${key} is not a non-negative integer`);
  }
  if (!isNonNegativeInt(s.worldSize) || s.worldSize === 0) throw bad('worldSize is not a positive integer');
  if (typeof s.jobName !== 'string') throw bad('jobName is not a string');
  if (typeof s.createdAt !== 'string') throw bad('createdAt is not a string');
  if (!('planState' in s)) throw bad('planState missing');
  return s as unknown as TrainingState;
}
