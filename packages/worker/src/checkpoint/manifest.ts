// manifest.json: size + sha256 of every file, written last. Reading a checkpoint goes through
// readVerifiedCheckpoint, which returns the files' bytes only once all of them check out.
import { promises as fsp } from 'node:fs';
import { basename, join } from 'node:path';
import { CheckpointCorruptError } from '@dtrain/shared/errors';
import { CHECKPOINT_FILES, CHECKPOINT_FORMAT_VERSION, type CheckpointFileName, type CheckpointManifest, type ManifestEntry } from './api';
import { sha256Hex } from './durable-fs';

export const MANIFEST_JSON = 'manifest.json';

const STEP_DIR_RE = /^step-(\d+)$/;
const STEP_PAD_DIGITS = 10;

export function stepDirName(globalStep: number): string {
  return `step-${String(globalStep).padStart(STEP_PAD_DIGITS, '0')}`;
}

export function parseStepDirName(name: string): number | null {
  const m = STEP_DIR_RE.exec(name);
  return m ? Number(m[1]) : null;
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
  if (formatVersion !== CHECKPOINT_FORMAT_VERSION) throw bad(`formatVersion ${String(formatVersion)} is not supported (this build reads ${CHECKPOINT_FORMAT_VERSION})`);
  if (typeof globalStep !== 'number' || !Number.isSafeInteger(globalStep) || globalStep < 0) throw bad('globalStep is not a non-negative integer');
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
    throw new CheckpointCorruptError(path, `size ${bytes.byteLength} bytes, manifest says ${entry.size}${bytes.byteLength < entry.size ? ' (truncated)' : ''}`);
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
    throw new CheckpointCorruptError(join(checkpointPath, MANIFEST_JSON), `globalStep ${manifest.globalStep} does not match folder ${basename(checkpointPath)}`);
  }
  const files = {} as Record<CheckpointFileName, Uint8Array>;
  for (const name of CHECKPOINT_FILES) files[name] = await readVerifiedFile(checkpointPath, manifest, name);
  return { manifest, files };
}
