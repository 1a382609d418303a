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
import { readdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const DIST = `${ROOT}packages/cli/dist`;

/**
 * npm packages loaded with require(), lazily: all are CommonJS, and Node's ESM loader parses a CommonJS
 * package (and every file it re-exports) once more to find its export names; for @tensorflow/tfjs that
 * costs ~0.5 s per process (import 0.77 s, require 0.29 s here), for grpc-js, nats, commander 50-120 ms.
 * Each becomes a module of getters (export names read here, at build time) that requires the package on
 * first use, so a process loads only what it touches: the launcher and coordinator never load tfjs
 * (shared modules import it for types and data helpers), `dtrain status` never loads grpc. require()
 * also keeps one tfjs-core instance: the wasm backend requires it too.
 */
const LAZY_REQUIRED_PACKAGES = new Set([
  '@tensorflow/tfjs', '@tensorflow/tfjs-backend-wasm', '@grpc/grpc-js', '@grpc/proto-loader', 'prom-client', 'nats',
  'commander', 'csv-parse', 'csv-parse/sync',
]);
/** Imported for its side effects (it registers the 'wasm' backend), so required as soon as imported. */
const EAGER_REQUIRED_PACKAGES = new Set(['@tensorflow/tfjs-backend-wasm']);
const buildRequire = createRequire(import.meta.url);

function lazyRequireModule(specifier) {
  if (EAGER_REQUIRED_PACKAGES.has(specifier)) return `module.exports = require(${JSON.stringify(specifier)});`;
  const names = Object.keys(buildRequire(specifier)).filter((n) => n !== '__esModule' && n !== 'default');
  return [
    `let loaded;`,
    `const load = () => (loaded ??= require(${JSON.stringify(specifier)}));`,
    `for (const name of ${JSON.stringify(names)}) {`,
    `  Object.defineProperty(exports, name, { enumerable: true, get: () => load()[name] });`,
    `}`,
  ].join('\n');
}

/** Bundle our own workspace packages and relative files; everything else (npm, node:) stays external. */
const externalNpmPackages = {
  name: 'external-npm-packages',
  setup(b) {
    b.onResolve({ filter: /^[^./]/ }, (args) => {
      if (args.path.startsWith('@dtrain/') || args.path === 'dtrain' || args.path.startsWith('dtrain/')) return undefined;
      if (LAZY_REQUIRED_PACKAGES.has(args.path) && args.kind !== 'require-call') return { path: args.path, namespace: 'lazy' };
      return { path: args.path, external: true };
    });
    b.onLoad({ filter: /.*/, namespace: 'lazy' }, (args) => ({ contents: lazyRequireModule(args.path), loader: 'js' }));
  },
};

export async function build({ quiet = false } = {}) {
  const started = performance.now();
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
    // What esbuild's require() of an external package calls in an ES module: Node's own, per output file.
    banner: {
      js: "import { createRequire as __dtrainCreateRequire } from 'node:module';\n" +
        'const require = __dtrainCreateRequire(import.meta.url);',
    },
    logLevel: quiet ? 'error' : 'warning',
    metafile: true,
  });
  // Drop chunks of earlier builds only now: a dtrain process started before this build keeps its files
  // until the new ones are complete (chunk names carry a content hash, so unchanged chunks stay).
  const outputs = new Set(Object.keys(result.metafile.outputs).map((f) => f.split('/').pop()));
  for (const name of readdirSync(DIST)) if (!outputs.has(name)) rmSync(`${DIST}/${name}`, { recursive: true, force: true });
  const files = [...outputs].filter((f) => f.endsWith('.js')).length;
  if (!quiet) console.log(`dtrain build: ${files} modules in packages/cli/dist (${Math.round(performance.now() - started)} ms)`);
  return result;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  await build();
}
