// The browser build of the predictor: shared/src/data/predictor.ts (with its preprocessing)
// bundled by esbuild into one dependency-free ES module, written beside an exported model as
// dtrain-predictor.js. The page brings tfjs (`tf` from its script tag) and passes it in.
import { createRequire } from 'node:module';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';

export const BROWSER_PREDICTOR_FILE = 'dtrain-predictor.js';

export async function buildBrowserPredictor(): Promise<string> {
  const require = createRequire(import.meta.url);
  const entry = require.resolve('@dtrain/shared/data/predictor');
  const out = await build({
    entryPoints: [entry], bundle: true, format: 'esm', platform: 'browser', target: 'es2020',
    write: false, logLevel: 'silent', legalComments: 'none',
    banner: { js: '// dtrain model predictor for browsers: import { loadModelFromUrl } from "./dtrain-predictor.js"; pass the page\'s tf.' },
  });
  return out.outputFiles[0].text;
}

export async function writeBrowserPredictor(outDir: string): Promise<string> {
  const path = join(outDir, BROWSER_PREDICTOR_FILE);
  writeFileSync(path, await buildBrowserPredictor());
  return path;
}
