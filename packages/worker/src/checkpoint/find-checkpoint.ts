// Finding the checkpoint to resume from: the newest step-* folder that verifies. A newer one that
// does not (a torn disk, a truncated copy) is reported and skipped, never silently used.
import { promises as fsp } from 'node:fs';
import { basename, join } from 'node:path';
import type { CheckpointInfo, FindCheckpointOptions, SkippedCheckpoint } from './api';
import { pathExists } from './durable-fs';
import { MANIFEST_JSON, parseStepDirName } from './manifest';
import { MODEL_JSON } from './model-artifacts';
import { verifyCheckpoint } from './load-checkpoint';

/** step-* folders under `dir`, newest first; `[]` when `dir` does not exist. .tmp-* are ignored. */
export async function listCheckpoints(dir: string): Promise<CheckpointInfo[]> {
  let entries;
  try {
    entries = await fsp.readdir(dir, { withFileTypes: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  return entries
    .filter((e) => e.isDirectory())
    .map((e) => ({ path: join(dir, e.name), globalStep: parseStepDirName(e.name) }))
    .filter((c): c is CheckpointInfo => c.globalStep !== null)
    .sort((a, b) => b.globalStep - a.globalStep);
}

function defaultOnSkip(s: SkippedCheckpoint): void {
  console.warn(`checkpoint ${s.path} (step ${s.globalStep}) skipped: ${s.error.message}`);
}

export async function findLatestCheckpoint(dir: string, options: FindCheckpointOptions = {}): Promise<CheckpointInfo | null> {
  const onSkip = options.onSkip ?? defaultOnSkip;
  for (const candidate of await listCheckpoints(dir)) {
    try {
      return await verifyCheckpoint(candidate.path);
    } catch (err) {
      onSkip({ path: candidate.path, globalStep: candidate.globalStep, error: err as Error });
    }
  }
  return null;
}

/**
 * Accepts a checkpoint folder (verified; throws CheckpointCorruptError if damaged, since the user
 * picked it) or a parent folder (newest valid checkpoint, or null if it has none).
 */
export async function resolveResumePath(pathOrDir: string, options: FindCheckpointOptions = {}): Promise<CheckpointInfo | null> {
  let stat;
  try {
    stat = await fsp.stat(pathOrDir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new Error(`resume path ${pathOrDir} does not exist`);
    throw err;
  }
  if (!stat.isDirectory()) throw new Error(`resume path ${pathOrDir} is not a directory`);
  const looksLikeCheckpoint = parseStepDirName(basename(pathOrDir)) !== null
    || (await pathExists(join(pathOrDir, MANIFEST_JSON)))
    || (await pathExists(join(pathOrDir, MODEL_JSON)));
  if (looksLikeCheckpoint) return verifyCheckpoint(pathOrDir);
  return findLatestCheckpoint(pathOrDir, options);
}
