// Builds the `dtrain` executable: packages/cli/src/main.ts and everything it reaches in @dtrain/* become
// ES modules under packages/cli/dist/, so no process compiles TypeScript at run time (tsx took 2-4 s per
// process). esbuild, not tsc: it bundles the workspace packages (whose sources keep extensionless imports)
// and splits every lazily imported command into its own chunk, in well under a second, which is cheap
// enough to run before every test run (vitest globalSetup) so tests never run stale JavaScript.
// Type checking stays with `tsc --noEmit` (npm run typecheck). npm dependencies stay external: they are
// loaded from node_modules as usual, and only by the chunks that need them (tfjs only in workers).
//
//   node scripts/build.mjs          (also: npm run build; npm ci runs it as `prepare`)
import { build as esbuild } from 'esbuild';
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const DIST = `${ROOT}packages/cli/dist`;

/** Bundle our own workspace packages and relative files; everything else (npm, node:) stays an import. */
const externalNpmPackages = {
  name: 'external-npm-packages',
  setup(b) {
    b.onResolve({ filter: /^[^./]/ }, (args) => {
      if (args.path.startsWith('@dtrain/') || args.path === 'dtrain' || args.path.startsWith('dtrain/')) return undefined;
      return { path: args.path, external: true };
    });
  },
};

export async function build({ quiet = false } = {}) {
  const started = performance.now();
  rmSync(DIST, { recursive: true, force: true });
  const result = await esbuild({
    absWorkingDir: ROOT,
    entryPoints: { main: 'packages/cli/src/main.ts' },
    outdir: DIST,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    // Chunks sit directly in dist/, one level below the package root like src/ files, so the few
    // `new URL('../…', import.meta.url)` paths in the sources (proto file, bin) still resolve.
    chunkNames: '[name]-[hash]',
    sourcemap: 'linked',
    plugins: [externalNpmPackages],
    logLevel: quiet ? 'error' : 'warning',
    metafile: true,
  });
  const files = Object.keys(result.metafile.outputs).filter((f) => f.endsWith('.js')).length;
  if (!quiet) console.log(`dtrain build: ${files} modules in packages/cli/dist (${Math.round(performance.now() - started)} ms)`);
  return result;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  await build();
}
