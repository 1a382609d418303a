// Finding the checkpoint to resume from: the newest step-* folder that verifies. The discovery code
// lives in @dtrain/shared/checkpoint-discovery (the coordinator needs it without tfjs); here it is
// re-exported with the worker's full verification (checksums AND decodable tensors) as the default.
import {
  findLatestCheckpoint as findLatest, listCheckpoints, resolveResumePath as resolveResume,
} from '@dtrain/shared/checkpoint-discovery';
import type { CheckpointInfo, FindCheckpointOptions } from './api';
import { verifyCheckpoint } from './load-checkpoint';

export { listCheckpoints };

export async function findLatestCheckpoint(dir: string, options: FindCheckpointOptions = {}): Promise<CheckpointInfo | null> {
  return findLatest(dir, { verify: verifyCheckpoint, ...options });
}

/**
 * Accepts a checkpoint folder (verified; throws CheckpointCorruptError if damaged, since the user
 * picked it) or a parent folder (newest valid checkpoint, or null if it has none).
 */
export async function resolveResumePath(pathOrDir: string, options: FindCheckpointOptions = {}): Promise<CheckpointInfo | null> {
  return resolveResume(pathOrDir, { verify: verifyCheckpoint, ...options });
}
