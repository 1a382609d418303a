// Runs once before every `vitest run`: rebuilds packages/cli/dist from the current sources, so tests that
// spawn the real `dtrain` executable never run JavaScript older than the TypeScript being tested.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export default function setup(): void {
  const root = fileURLToPath(new URL('..', import.meta.url));
  execFileSync(process.execPath, ['scripts/build.mjs'], { cwd: root, stdio: 'inherit' });
}
