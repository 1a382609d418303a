// A rendezvous through files, for collective tests and benchmarks that run ranks without a
// coordinator: each rank publishes its peer address atomically (write + rename) and reads all others'.
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export const FILE_RENDEZVOUS_POLL_MS = 10;

export async function fileRendezvous(dir: string, rank: number, worldSize: number, address: string): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, `addr-${rank}.tmp`), address);
  await rename(join(dir, `addr-${rank}.tmp`), join(dir, `addr-${rank}`));
  const ring: string[] = [];
  for (let r = 0; r < worldSize; r++) {
    for (;;) {
      try {
        ring.push(await readFile(join(dir, `addr-${r}`), 'utf8'));
        break;
      } catch {
        await new Promise((resolve) => setTimeout(resolve, FILE_RENDEZVOUS_POLL_MS));
      }
    }
  }
  return ring;
}
