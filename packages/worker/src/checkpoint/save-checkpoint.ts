// Atomic checkpoint write: everything goes to `<dir>/.tmp-<step>-<pid>-<nonce>`, each file fsynced,
// manifest.json last; then one rename makes `<dir>/step-<step>` appear complete, and the parent
// directory is fsynced. A crash at any point leaves earlier checkpoints untouched and at worst a
// .tmp-* folder, which later saves remove.
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { CHECKPOINT_FORMAT_VERSION, type CheckpointInfo, type CheckpointManifest, type ManifestEntry, type SaveCheckpointOptions } from './api';
import { fsyncDir, pathExists, utf8, writeFileDurable } from './durable-fs';
import { MANIFEST_JSON, parseStepDirName, stepDirName } from './manifest';
import { encodeModel, MODEL_JSON, WEIGHTS_BIN } from './model-artifacts';
import { encodeOptimizerState } from './optimizer-state';
import { BUNDLE_FILE } from '@dtrain/shared/data/model-bundle';

const TMP_PREFIX = '.tmp-';
const TMP_RE = /^\.tmp-.*-(\d+)-[0-9a-f]+$/;
/** Temp folders of saves running in this process, which cleanStaleTemp must not touch. */
const inProgress = new Set<string>();

export async function saveCheckpoint(opts: SaveCheckpointOptions): Promise<CheckpointInfo> {
  const { dir, model, optimizer, state, keep } = opts;
  if (!Number.isInteger(keep) || keep < 1) throw new Error(`saveCheckpoint: keep must be an integer >= 1, got ${keep}`);
  if (!Number.isSafeInteger(state.globalStep) || state.globalStep < 0) {
    throw new Error(`saveCheckpoint: state.globalStep must be a non-negative integer, got ${state.globalStep}`);
  }
  // Capture everything from tfjs before touching the disk, so the model cannot change mid-write
  // if the caller keeps training after the awaits below.
  const encodedModel = await encodeModel(model);
  const encodedOptimizer = await encodeOptimizerState(optimizer);

  await fsp.mkdir(dir, { recursive: true });
  const name = stepDirName(state.globalStep);
  const finalPath = join(dir, name);
  const tmpPath = join(dir, `${TMP_PREFIX}${name}-${process.pid}-${randomBytes(4).toString('hex')}`);
  await fsp.mkdir(tmpPath);
  inProgress.add(tmpPath);
  try {
    const files: Record<string, ManifestEntry> = {};
    const write = async (file: string, chunks: Uint8Array[]) => {
      files[file] = await writeFileDurable(join(tmpPath, file), chunks);
    };
    await write(MODEL_JSON, [utf8(JSON.stringify(encodedModel.modelJson))]);
    await write(WEIGHTS_BIN, encodedModel.weightChunks);
    await write('optimizer.json', [utf8(JSON.stringify(encodedOptimizer.json))]);
    await write('optimizer.bin', encodedOptimizer.chunks);
    await write('state.json', [utf8(JSON.stringify(state, null, 2))]);
    if (opts.bundle) await write(BUNDLE_FILE, [utf8(JSON.stringify(opts.bundle, null, 2))]);
    const manifest: CheckpointManifest = {
      formatVersion: CHECKPOINT_FORMAT_VERSION,
      globalStep: state.globalStep,
      createdAt: new Date().toISOString(),
      files,
    };
    await writeFileDurable(join(tmpPath, MANIFEST_JSON), [utf8(JSON.stringify(manifest, null, 2))]);
    await fsyncDir(tmpPath);

    if (await pathExists(finalPath)) {
      // Same step saved again (e.g. after a resume): move the old one aside first, since rename
      // cannot replace a non-empty directory.
      const aside = join(dir, `${TMP_PREFIX}replaced-${name}-${process.pid}-${randomBytes(4).toString('hex')}`);
      await fsp.rename(finalPath, aside);
      await fsp.rename(tmpPath, finalPath);
      await fsp.rm(aside, { recursive: true, force: true });
    } else {
      await fsp.rename(tmpPath, finalPath);
    }
    await fsyncDir(dir);
  } catch (err) {
    await fsp.rm(tmpPath, { recursive: true, force: true }).catch(() => undefined);
    throw err;
  } finally {
    inProgress.delete(tmpPath);
  }

  await applyRetention(dir, keep, finalPath);
  await cleanStaleTemp(dir);
  return { path: finalPath, globalStep: state.globalStep };
}

/** Deletes the oldest step-* folders so that at most `keep` remain; `protect` (the checkpoint just
 * written) is never deleted, even when older-numbered than the others (a resume from an earlier step). */
export async function applyRetention(dir: string, keep: number, protect?: string): Promise<string[]> {
  const steps = (await fsp.readdir(dir, { withFileTypes: true }))
    .filter((e) => e.isDirectory())
    .map((e) => ({ name: e.name, step: parseStepDirName(e.name) }))
    .filter((e): e is { name: string; step: number } => e.step !== null)
    .sort((a, b) => {
      const pa = protect !== undefined && join(dir, a.name) === protect;
      const pb = protect !== undefined && join(dir, b.name) === protect;
      return pa !== pb ? (pa ? -1 : 1) : b.step - a.step;
    });
  const removed: string[] = [];
  for (const old of steps.slice(keep)) {
    const path = join(dir, old.name);
    await fsp.rm(path, { recursive: true, force: true });
    removed.push(path);
  }
  if (removed.length > 0) await fsyncDir(dir);
  return removed;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes `.tmp-*` folders left by crashed writes. A folder whose writer (pid in its name) is
 * still alive on this host and is not us is left alone: it may be a save in progress.
 */
export async function cleanStaleTemp(dir: string): Promise<string[]> {
  let entries: string[];
  try {
    entries = await fsp.readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const removed: string[] = [];
  for (const name of entries) {
    if (!name.startsWith(TMP_PREFIX)) continue;
    const m = TMP_RE.exec(name);
    const pid = m ? Number(m[1]) : null;
    if (pid !== null && pid !== process.pid && processAlive(pid)) continue;
    const path = join(dir, name);
    if (inProgress.has(path)) continue;
    await fsp.rm(path, { recursive: true, force: true });
    removed.push(path);
  }
  return removed;
}
