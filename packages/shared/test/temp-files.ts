// A scratch folder for a test file: created before its tests, removed after them, with a helper
// that writes one file into it. The data and model-bundle tests each had their own copy of this.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';

export interface TempFiles {
  /** The folder; set once the file's beforeAll hooks ran. */
  readonly dir: string;
  /** Writes `text` to `name` in the folder; returns its path. */
  file(name: string, text: string): string;
}

/** Registers the folder's beforeAll/afterAll in the calling test file. */
export function useTempFiles(prefix: string): TempFiles {
  let dir = '';
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), prefix));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  return {
    get dir() {
      return dir;
    },
    file(name: string, text: string): string {
      const p = join(dir, name);
      writeFileSync(p, text);
      return p;
    },
  };
}
