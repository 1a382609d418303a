import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { BackendUnavailableError } from '@dtrain/shared/errors';
import { describeImportFailure, selectBackend, TFJS_NODE_GPU_PACKAGE, TFJS_NODE_PACKAGE } from '../src/backend/select-backend';

// The native packages are not installed on this machine (their install downloads libtensorflow),
// so these tests load them for real and see them fail.
describe('selectBackend', () => {
  it("'auto' falls through both native packages to wasm, says why, and registers the wasm kernels", async () => {
    const lines: string[] = [];
    const choice = await selectBackend({ requested: 'auto', localRank: 0, log: (l) => lines.push(l) });
    expect(choice.name).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
    expect(choice.packageName).toBe('@tensorflow/tfjs-backend-wasm');
    expect(choice.requested).toBe('auto');
    expect(choice.skipped.map((s) => s.candidate)).toEqual(['tensorflow-gpu', 'tensorflow']);
    expect(choice.skipped[0].reason).toContain(`${TFJS_NODE_GPU_PACKAGE} is not installed`);
    expect(choice.skipped[1].reason).toContain(`${TFJS_NODE_PACKAGE} is not installed`);
    expect(choice.wasmKernels).toContain('Conv2DBackpropFilter');
    expect(tf.getKernel('Conv2DBackpropFilter', 'wasm')).toBeDefined();
    // One short line (local rank 0 only) names the choice and why.
    expect(lines).toEqual([`backend wasm (@tensorflow/tfjs-backend-wasm), chosen by 'auto': ${TFJS_NODE_GPU_PACKAGE} and ` +
      `${TFJS_NODE_PACKAGE} are not installed (optional, see README: Backends)`]);
    const quiet: string[] = [];
    await selectBackend({ requested: 'auto', localRank: 1, log: (l) => quiet.push(l) });
    expect(quiet).toEqual([]);
    // The chosen backend computes: a conv filter gradient, which wasm could not do before.
    const g = tf.grad((w: tf.Tensor) => tf.conv2d(tf.ones([1, 3, 3, 1]) as tf.Tensor4D, w as tf.Tensor4D, 1, 'valid').sum())(tf.ones([2, 2, 1, 1]));
    expect(Array.from(g.dataSync())).toEqual([4, 4, 4, 4]);
  });

  it("forcing 'tensorflow' or 'tensorflow-gpu' throws BackendUnavailableError naming the package", async () => {
    await expect(selectBackend({ requested: 'tensorflow', localRank: 0 })).rejects.toThrow(BackendUnavailableError);
    await expect(selectBackend({ requested: 'tensorflow', localRank: 0 })).rejects.toThrow(
      `tfjs backend 'tensorflow' is unavailable: ${TFJS_NODE_PACKAGE} is not installed`);
    await expect(selectBackend({ requested: 'tensorflow-gpu', localRank: 0 })).rejects.toThrow(TFJS_NODE_GPU_PACKAGE);
  });

  it("forcing 'cpu' and 'wasm' activates them with nothing skipped", async () => {
    const cpu = await selectBackend({ requested: 'cpu', localRank: 0 });
    expect([cpu.name, tf.getBackend(), cpu.skipped.length]).toEqual(['cpu', 'cpu', 0]);
    const wasm = await selectBackend({ requested: 'wasm', localRank: 0 });
    expect([wasm.name, tf.getBackend(), wasm.skipped.length]).toEqual(['wasm', 'wasm', 0]);
    expect(wasm.wasmKernels).toEqual([]); // registered once already by the first test: idempotent
  });

  it('skips a native package that loads but registers its backend in another tfjs-core copy', async () => {
    // An importer that succeeds without registering anything, as a package with its own nested
    // @tensorflow/tfjs-core does from this copy's point of view.
    const choice = await selectBackend({ requested: 'auto', localRank: 0, importModule: async () => ({}) });
    expect(choice.name).toBe('wasm');
    expect(choice.skipped[1].reason).toContain(`${TFJS_NODE_PACKAGE} loaded but registered no 'tensorflow' backend`);
  });
});

describe('describeImportFailure', () => {
  it('reads a real missing-package error', async () => {
    const error = await import(TFJS_NODE_PACKAGE).then(() => null, (e: unknown) => e);
    expect((error as { code?: string }).code).toBe('ERR_MODULE_NOT_FOUND');
    expect(describeImportFailure(TFJS_NODE_PACKAGE, error)).toMatch(/not installed .*npm install @tensorflow\/tfjs-node@4\.22\.0/);
  });

  it('recognises an installed package without its native binding', () => {
    // The text tfjs-node's binding loader throws when the install script did not run.
    const error = new Error('The Node.js native addon module (tfjs_binding.node) can not be found at path: /x/lib/napi-v8/tfjs_binding.node.');
    expect(describeImportFailure(TFJS_NODE_PACKAGE, error)).toContain('installed but its native binding is missing');
  });

  it('does not call a missing dependency of the package "not installed"', () => {
    const error = Object.assign(new Error("Cannot find package 'adm-zip' imported from /x/node_modules/@tensorflow/tfjs-node/dist/index.js"), { code: 'ERR_MODULE_NOT_FOUND' });
    expect(describeImportFailure(TFJS_NODE_PACKAGE, error)).toBe(
      `${TFJS_NODE_PACKAGE} failed to load: ERR_MODULE_NOT_FOUND: Cannot find package 'adm-zip' imported from /x/node_modules/@tensorflow/tfjs-node/dist/index.js`);
  });
});
