// Reads where a resumed job starts: the newest valid checkpoint's training state. Verification of
// checksums is shared code (no tfjs); the coordinator only reads the JSON it needs to plan.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { resolveResumePath } from '@dtrain/shared/checkpoint-discovery';
import { CheckpointCorruptError } from '@dtrain/shared/errors';
import type { JobSpec } from '@dtrain/shared/job-spec';
import { isPlanState, type ShardPlanState } from '@dtrain/shared/shard-plan';

export interface ResumeState {
  checkpointPath: string;
  globalStep: number;
  planState: ShardPlanState;
}

export async function readResumeState(pathOrDir: string, spec: JobSpec, trainSize: number): Promise<ResumeState> {
  const info = await resolveResumePath(pathOrDir, {
    onSkip: (skipped) => process.stderr.write(`[coordinator] skipping checkpoint ${skipped.path}: ${skipped.error.message}\n`),
  });
  if (!info) throw new Error(`no valid checkpoint found in ${pathOrDir}`);
  const statePath = join(info.path, 'state.json');
  let parsed: { globalStep?: unknown; planState?: unknown; jobName?: unknown };
  try {
    parsed = JSON.parse(await readFile(statePath, 'utf8')) as typeof parsed;
  } catch (err) {
    throw new CheckpointCorruptError(statePath, (err as Error).message);
  }
  if (typeof parsed.globalStep !== 'number') throw new CheckpointCorruptError(statePath, 'globalStep is missing');
  const plan = parsed.planState;
  if (!isPlanState(plan)) throw new CheckpointCorruptError(statePath, 'planState is missing or malformed');
  if (plan.datasetSize !== trainSize) {
    throw new Error(`checkpoint ${info.path} was taken on a training set of ${plan.datasetSize} samples; this job's has ${trainSize}`);
  }
  if (plan.seed !== spec.seed) {
    throw new Error(`checkpoint ${info.path} was taken with seed ${plan.seed}; this job's seed is ${spec.seed}`);
  }
  return { checkpointPath: info.path, globalStep: parsed.globalStep, planState: plan };
}
