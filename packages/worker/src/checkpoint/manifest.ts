// manifest.json: size + sha256 of every file, written last. Reading a checkpoint goes through
// readVerifiedCheckpoint, which returns the files' bytes only once all of them check out. The code
// lives in @dtrain/shared/checkpoint-discovery (the coordinator verifies checkpoints without tfjs).
export {
  MANIFEST_JSON, stepDirName, parseStepDirName, parseJson, readManifest, readVerifiedFile, readVerifiedCheckpoint,
  type VerifiedCheckpointFiles,
} from '@dtrain/shared/checkpoint-discovery';
