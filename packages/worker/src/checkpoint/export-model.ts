// Export of the serving artefacts (model.json + weights.bin) from a checkpoint: the source is
// verified against its manifest, the copies are fsynced, then re-read and checked by sha256.
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { CheckpointCorruptError } from '@dtrain/shared/errors';
import { BUNDLE_FILE } from '@dtrain/shared/data/model-bundle';
import type { ExportedModel } from './api';
import { fsyncDir, sha256Hex, writeFileDurable } from './durable-fs';
import { readManifest, readVerifiedFile } from './manifest';
import { MODEL_JSON, WEIGHTS_BIN } from './model-artifacts';

export async function exportModel(checkpointPath: string, outDir: string): Promise<ExportedModel> {
  const manifest = await readManifest(checkpointPath);
  await fsp.mkdir(outDir, { recursive: true });
  const files = {} as ExportedModel['files'];
  // The bundle travels with the model when the checkpoint has one (older checkpoints do not).
  const names = manifest.files[BUNDLE_FILE] ? [MODEL_JSON, WEIGHTS_BIN, BUNDLE_FILE] as const : [MODEL_JSON, WEIGHTS_BIN] as const;
  for (const name of names) {
    const bytes = await readVerifiedFile(checkpointPath, manifest, name);
    const target = join(outDir, name);
    // Write beside the target, then rename: an existing export is replaced whole or not at all.
    const tmp = `${target}.tmp-${process.pid}`;
    await fsp.rm(tmp, { force: true });
    await writeFileDurable(tmp, [bytes]);
    await fsp.rename(tmp, target);
    const copy = await fsp.readFile(target);
    const sha = sha256Hex(copy);
    const expected = manifest.files[name];
    if (copy.byteLength !== expected.size || sha !== expected.sha256) {
      throw new CheckpointCorruptError(target, `exported copy has ${copy.byteLength} bytes, sha256 ${sha}; expected ${expected.size}, ${expected.sha256}`);
    }
    files[name] = { size: copy.byteLength, sha256: sha };
  }
  await fsyncDir(outDir);
  return {
    modelJsonPath: join(outDir, MODEL_JSON),
    weightsPath: join(outDir, WEIGHTS_BIN),
    files,
    ...(files[BUNDLE_FILE] ? { bundlePath: join(outDir, BUNDLE_FILE) } : {}),
  };
}
