// Export of the serving artefacts (model.json + weights.bin) from a checkpoint: the source is
// verified against its manifest, the copies are fsynced, then re-read and checked by sha256.
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { CheckpointCorruptError } from '@dtrain/shared/errors';
import type { ExportedModel, ManifestEntry } from './api';
import { fsyncDir, sha256Hex, writeFileDurable } from './durable-fs';
import { readManifest, readVerifiedFile } from './manifest';
import { MODEL_JSON, WEIGHTS_BIN } from './model-artifacts';

export async function exportModel(checkpointPath: string, outDir: string): Promise<ExportedModel> {
  const manifest = await readManifest(checkpointPath);
  await fsp.mkdir(outDir, { recursive: true });
  const files = {} as Record<'model.json' | 'weights.bin', ManifestEntry>;
  for (const name of [MODEL_JSON, WEIGHTS_BIN] as const) {
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
  return { modelJsonPath: join(outDir, MODEL_JSON), weightsPath: join(outDir, WEIGHTS_BIN), files };
}
