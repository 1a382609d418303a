#!/usr/bin/env node
// dtrain runs compiled JavaScript (packages/cli/dist, built by scripts/build.mjs, which `npm ci` runs as
// `prepare`): no TypeScript is compiled at run time, so `dtrain --help` and every worker start fast.
// Worker processes spawned by the launcher start from this same file.
import { existsSync } from 'node:fs';

const main = new URL('../dist/main.js', import.meta.url);
if (!existsSync(main)) {
  process.stderr.write('dtrain: packages/cli/dist is missing: build it with `npm run build` (npm ci does this)\n');
  process.exit(1);
}
// A job whose custom model is TypeScript: register tsx now, before this worker connects to anyone
// (packages/shared/src/model/typescript-loader.ts says why).
if (process.env.DTRAIN_PRELOAD_TSX === '1') {
  (await import('tsx/esm/api')).register();
  globalThis[Symbol.for('dtrain.tsx-registered')] = true;
}
await import(main.href);
