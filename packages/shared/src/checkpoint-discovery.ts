// Finding checkpoints without loading them: step-* folder names, manifest.json (size + sha256 of
// every file), and "the newest one that verifies". Lives in shared so the coordinator can find the
// checkpoint to resume from without importing the worker package or tfjs; the worker's checkpoint
// module re-exports it and plugs in its deeper verification (which also decodes the tensors).
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { basename, join } from 'node:path';
import { CheckpointCorruptError } from './errors';

/** Version of the on-disk layout; bumped on incompatible changes, checked on load. */
export const CHECKPOINT_FORMAT_VERSION = 1;
/** Files every checkpoint holds, besides manifest.json. */
export const CHECKPOINT_FILES = ['model.json', 'weights.bin', 'optimizer.json', 'optimizer.bin', 'state.json'] as const;
export type CheckpointFileName = (typeof CHECKPOINT_FILES)[number];
export const MANIFEST_JSON = 'manifest.json';
export const MODEL_JSON = 'model.json';

export interface ManifestEntry {
  size: number;
  sha256: string;
}

/** manifest.json: written last, so its presence marks a complete checkpoint. */
export interface CheckpointManifest {
  formatVersion: number;
  globalStep: number;
  createdAt: string;
  files: Record<string, ManifestEntry>;
}

export interface CheckpointInfo {
  path: string;
  globalStep: number;
}

/** A step-* folder that findLatestCheckpoint skipped, and why. */
export interface SkippedCheckpoint {
  path: string;
  globalStep: number;
  error: Error;
}

export interface FindCheckpointOptions {
  /** Called for each newer checkpoint that failed verification; default logs with console.warn. */
  onSkip?: (skipped: SkippedCheckpoint) => void;
  /** How a candidate is verified; default: every file against the manifest (no tensors decoded). */
  verify?: (path: string) => Promise<CheckpointInfo>;
}

const STEP_DIR_RE = /^step-(\d+)$/;
const STEP_PAD_DIGITS = 10;

export function stepDirName(globalStep: number): string {
  return `step-${String(globalStep).padStart(STEP_PAD_DIGITS, '0')}`;
}

export function parseStepDirName(name: string): number | null {
  const m = STEP_DIR_RE.exec(name);
  return m ? Number(m[1]) : null;
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

export function parseJson(bytes: Uint8Array, path: string): unknown {
  try {
    return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (err) {
    throw new CheckpointCorruptError(path, `bad JSON: ${(err as Error).message}`);
  }
}

async function readFileOrCorrupt(path: string): Promise<Uint8Array> {
  try {
    return await fsp.readFile(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new CheckpointCorruptError(path, 'missing');
    throw new CheckpointCorruptError(path, `unreadable: ${(err as Error).message}`);
  }
}

export async function readManifest(checkpointPath: string): Promise<CheckpointManifest> {
  const path = join(checkpointPath, MANIFEST_JSON);
  const json = parseJson(await readFileOrCorrupt(path), path);
  const bad = (detail: string) => new CheckpointCorruptError(path, detail);
  if (!isRecord(json)) throw bad('not a JSON object');
  const { formatVersion, globalStep, createdAt, files } = json;
  if (formatVersion !== CHECKPOINT_FORMAT_VERSION) {
    throw bad(`formatVersion ${String(formatVersion)} is not supported (this build reads ${CHECKPOINT_FORMAT_VERSION})`);
  }
  if (typeof globalStep !== 'number' || !Number.isSafeInteger(globalStep) || globalStep < 0) {
    throw bad('globalStep is not a non-negative integer');
  }
  if (typeof createdAt !== 'string') throw bad('createdAt missing');
  if (!isRecord(files)) throw bad('files missing');
  const out: Record<string, ManifestEntry> = {};
  for (const [name, e] of Object.entries(files)) {
    if (!isRecord(e) || typeof e.size !== 'number' || typeof e.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(e.sha256)) {
      throw bad(`entry for ${name} needs a numeric size and a hex sha256`);
    }
    if (name.includes('/') || name.includes('\\') || name === '..' || name === '.') throw bad(`entry name ${name} is not a plain file name`);
    out[name] = { size: e.size, sha256: e.sha256 };
  }
  for (const name of CHECKPOINT_FILES) {
    if (out[name] === undefined) throw bad(`no entry for ${name}`);
  }
  return { formatVersion, globalStep, createdAt, files: out };
}

/** Reads one file and checks it against its manifest entry. */
export async function readVerifiedFile(checkpointPath: string, manifest: CheckpointManifest, name: string): Promise<Uint8Array> {
  const path = join(checkpointPath, name);
  const entry = manifest.files[name];
  if (entry === undefined) throw new CheckpointCorruptError(join(checkpointPath, MANIFEST_JSON), `no entry for ${name}`);
  const bytes = await readFileOrCorrupt(path);
  if (bytes.byteLength !== entry.size) {
    const truncated = bytes.byteLength < entry.size ? ' (truncated)' : '';
    throw new CheckpointCorruptError(path, `size ${bytes.byteLength} bytes, manifest says ${entry.size}${truncated}`);
  }
  const sha = sha256Hex(bytes);
  if (sha !== entry.sha256) throw new CheckpointCorruptError(path, `sha256 ${sha} does not match manifest ${entry.sha256}`);
  return bytes;
}

export interface VerifiedCheckpointFiles {
  manifest: CheckpointManifest;
  files: Record<CheckpointFileName, Uint8Array>;
}

/** Reads and verifies every file of a checkpoint. Throws CheckpointCorruptError naming the file. */
export async function readVerifiedCheckpoint(checkpointPath: string): Promise<VerifiedCheckpointFiles> {
  const manifest = await readManifest(checkpointPath);
  const dirStep = parseStepDirName(basename(checkpointPath));
  if (dirStep !== null && dirStep !== manifest.globalStep) {
    throw new CheckpointCorruptError(join(checkpointPath, MANIFEST_JSON),
      `globalStep ${manifest.globalStep} does not match folder ${basename(checkpointPath)}`);
  }
  const files = {} as Record<CheckpointFileName, Uint8Array>;
  for (const name of CHECKPOINT_FILES) files[name] = await readVerifiedFile(checkpointPath, manifest, name);
  return { manifest, files };
}

/** Every file checks out against the manifest, and state.json names the manifest's step. */
export async function verifyCheckpointFiles(path: string): Promise<CheckpointInfo> {
  const { manifest, files } = await readVerifiedCheckpoint(path);
  const statePath = join(path, 'state.json');
  const state = parseJson(files['state.json'], statePath);
  if (!isRecord(state) || state.globalStep !== manifest.globalStep) {
    throw new CheckpointCorruptError(statePath, `globalStep does not match manifest ${manifest.globalStep}`);
  }
  return { path, globalStep: manifest.globalStep };
}

/** Whether `path` exists (other stat errors propagate). */
export async function pathExists(path: string): Promise<boolean> {
  try {
    await fsp.stat(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

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

/** The newest step-* folder that verifies; newer broken ones are reported through onSkip. */
export async function findLatestCheckpoint(dir: string, options: FindCheckpointOptions = {}): Promise<CheckpointInfo | null> {
  const onSkip = options.onSkip ?? defaultOnSkip;
  const verify = options.verify ?? verifyCheckpointFiles;
  for (const candidate of await listCheckpoints(dir)) {
    try {
      return await verify(candidate.path);
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
  const verify = options.verify ?? verifyCheckpointFiles;
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
  if (looksLikeCheckpoint) return verify(pathOrDir);
  return findLatestCheckpoint(pathOrDir, options);
}
