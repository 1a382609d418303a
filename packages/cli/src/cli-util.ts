import { InvalidArgumentError } from 'commander';
import { JobSpecError } from '@dtrain/shared/errors';
import { loadJobSpec, type JobSpec } from '@dtrain/shared/job-spec';

export function exitWith(code: number, message: string): never {
  process.stderr.write(`dtrain: ${message}\n`);
  process.exit(code);
}

export function parsePositiveInt(flag: string): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`${flag} must be a positive integer, got '${value}'`);
    return n;
  };
}

export interface WorkerRange {
  min: number;
  max: number;
}

/**
 * `--workers MIN:MAX` (docs/elastic.md): start with MIN, admit up to MAX; a plain `N` means N:N.
 * Throws commander's InvalidArgumentError (exit 1 with the message) on anything else.
 */
export function parseWorkerRange(value: string): WorkerRange {
  const m = /^\s*(\d+)\s*(?::\s*(\d+)\s*)?$/.exec(value);
  const min = m ? Number(m[1]) : Number.NaN;
  const max = m ? Number(m[2] ?? m[1]) : Number.NaN;
  if (!m || !Number.isSafeInteger(min) || !Number.isSafeInteger(max) || min < 1 || max < min) {
    throw new InvalidArgumentError(`--workers must be N or MIN:MAX with 1 <= MIN <= MAX, got '${value}'`);
  }
  return { min, max };
}

/** Loads and validates a job file; a bad one ends the process with the named fields (exit 2). */
export function loadSpecOrExit(path: string): JobSpec {
  try {
    return loadJobSpec(path);
  } catch (err) {
    if (err instanceof JobSpecError) exitWith(2, err.message);
    throw err;
  }
}
