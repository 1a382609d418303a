// File helpers for crash-safe checkpoint writes: data is fsynced before the folder rename makes
// it visible, and the parent directory is fsynced so the rename itself survives a power loss.
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import type { ManifestEntry } from './api';

/** Writes `chunks` to a new file and fsyncs it; returns its size and sha256. */
export async function writeFileDurable(path: string, chunks: readonly Uint8Array[]): Promise<ManifestEntry> {
  const hash = createHash('sha256');
  let size = 0;
  const fh = await fsp.open(path, 'wx');
  try {
    for (const chunk of chunks) {
      let written = 0;
      while (written < chunk.byteLength) {
        const { bytesWritten } = await fh.write(chunk, written, chunk.byteLength - written);
        written += bytesWritten;
      }
      hash.update(chunk);
      size += chunk.byteLength;
    }
    await fh.sync();
  } finally {
    await fh.close();
  }
  return { size, sha256: hash.digest('hex') };
}

export function utf8(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

/** fsync on a directory makes renames/creations inside it durable. Some filesystems refuse it
 * (EINVAL/EISDIR/EPERM); there is nothing more to do on those, so it is skipped. */
export async function fsyncDir(path: string): Promise<void> {
  let fh: fsp.FileHandle | undefined;
  try {
    fh = await fsp.open(path, 'r');
    await fh.sync();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EINVAL' && code !== 'EISDIR' && code !== 'EPERM' && code !== 'EBADF') throw err;
  } finally {
    await fh?.close();
  }
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export { pathExists } from '@dtrain/shared/checkpoint-discovery';
