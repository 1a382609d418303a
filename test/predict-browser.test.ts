// The exported model works in a browser, with the same preprocessing as Node: headless Chromium
// (Debian's, driven by playwright-core; no browser download) loads tfjs's browser build and the
// export's dtrain-predictor.js from a local HTTP server, predicts raw rows, and gets the class
// names and probabilities that loadModel() gives in Node.
import { existsSync, promises as fsp, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDataset } from '@dtrain/shared/data/dataset';
import { modelBundle } from '@dtrain/shared/data/model-bundle';
import { validateJobSpec } from '@dtrain/shared/job-spec';
import { buildModel } from '@dtrain/shared/model/build-model';
import { loadModel } from '@dtrain/shared/model/load-model';
import { exportModel, saveCheckpoint } from '@dtrain/worker/checkpoint/index';
import { writeBrowserPredictor } from '../packages/cli/src/browser-predictor';
import { REPO_ROOT, tempDir } from './harness/dtrain-cli';

const CHROMIUM = '/usr/bin/chromium';
const TFJS_BROWSER_BUILD = join(REPO_ROOT, 'node_modules/@tensorflow/tfjs/dist/tf.min.js');
const DATA = join(REPO_ROOT, 'examples/data');

let server: Server;
let browser: Browser | null = null;
let baseUrl: string;
let exported: string;

function serve(root: string): Promise<Server> {
  const types: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.json': 'application/json', '.bin': 'application/octet-stream' };
  const s = createServer((req, res) => {
    const path = decodeURIComponent((req.url ?? '/').split('?')[0]);
    const file = path === '/tf.min.js' ? TFJS_BROWSER_BUILD : join(root, normalize(path).replace(/^(\.\.[/\\])+/, ''));
    fsp.readFile(file).then((body) => {
      res.writeHead(200, { 'content-type': types[extname(file)] ?? 'application/octet-stream' });
      res.end(body);
    }, () => {
      res.writeHead(404);
      res.end();
    });
  });
  return new Promise((resolve) => s.listen(0, '127.0.0.1', () => resolve(s)));
}

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} not found: this test drives Debian's chromium (apt-get install -y chromium; .ci/run installs it). Browsers are never downloaded.`);
  }
  await tf.setBackend('cpu');
  // A model + bundle written the way training writes them: checkpoint, then dtrain export.
  const root = tempDir('dtrain-browser-');
  const spec = validateJobSpec({
    name: 'iris-browser', model: { kind: 'mlp', task: 'classification', hidden: [{ units: 8, activation: 'tanh' }] },
    dataset: { kind: 'csv', path: join(DATA, 'iris-train.csv'), testPath: join(DATA, 'iris-test.csv'), label: 'species', classes: 3 },
    loss: 'categoricalCrossentropy', optimizer: { kind: 'sgd', learningRate: 0.1 }, training: { batchSize: 8 },
  });
  const ds = await openDataset(spec.dataset, spec.seed);
  const model = await buildModel({ spec, info: ds.info, seed: 4 });
  const optimizer = tf.train.sgd(0.1);
  const ckpt = await saveCheckpoint({
    dir: join(root, 'ckpt'), model, optimizer, keep: 1, bundle: modelBundle(spec, ds.info),
    state: { globalStep: 1, epoch: 0, stepInEpoch: 1, planState: null, jobName: spec.name, worldSize: 1, createdAt: new Date().toISOString() },
  });
  ds.close();
  model.dispose();
  exported = join(root, 'site', 'model');
  await exportModel(ckpt.path, exported);
  await writeBrowserPredictor(exported);
  // The page a user would write (README "Bring your own data"): tfjs from a script tag, then the predictor.
  await fsp.writeFile(join(root, 'site', 'index.html'), `<!doctype html>
<script src="/tf.min.js"></script>
<script type="module">
  import { loadModelFromUrl } from './model/dtrain-predictor.js';
  await tf.setBackend('cpu');
  const model = await loadModelFromUrl(tf, './model/');
  window.dtrainModel = model;
  document.body.dataset.ready = 'yes';
</script>
<body>dtrain</body>`);
  server = await serve(join(root, 'site'));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
});

describe('exported model in a browser', () => {
  it('predicts raw rows with the bundle\'s preprocessing, as loadModel() does in Node', async () => {
    const text = readFileSync(join(DATA, 'iris-test.csv'), 'utf8').trim().split('\n');
    const cols = text[0].split(',');
    const rows = text.slice(1).map((l) => Object.fromEntries(l.split(',').map((v, i) => [cols[i], v])));

    const node = await loadModel(exported);
    const expected = node.predict(rows) as { label: string; probabilities: Record<string, number> }[];
    const nodeReport = node.evaluate(rows);
    node.dispose();

    const page = await browser!.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${baseUrl}/index.html`);
    await page.waitForSelector('body[data-ready="yes"]', { timeout: 60_000 });
    const got = await page.evaluate((input) => {
      type Model = { predict(r: unknown): unknown; evaluate(r: unknown): unknown; bundle: { classNames: string[] } };
      const m = (globalThis as unknown as { dtrainModel: Model }).dtrainModel;
      return { predictions: m.predict(input) as { label: string; probabilities: Record<string, number> }[], report: m.evaluate(input), classNames: m.bundle.classNames };
    }, rows);
    expect(errors).toEqual([]);
    expect(got.classNames).toEqual(['setosa', 'versicolor', 'virginica']);
    expect(got.predictions).toHaveLength(30);
    got.predictions.forEach((p, i) => {
      expect(p.label).toBe(expected[i].label);
      for (const c of got.classNames) expect(p.probabilities[c]).toBeCloseTo(expected[i].probabilities[c], 6);
    });
    expect(got.report).toMatchObject({ task: 'classification', count: 30, accuracy: (nodeReport as { accuracy: number }).accuracy });
    await page.close();
  }, 120_000);
});
