// Helpers for wasm kernels that are composed from other registered kernels. Kernels run below the
// engine (no tape, no tidy), so they call kernel functions directly and free their intermediates
// with disposeData themselves.
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

export const WASM_BACKEND = 'wasm';

export type ConvPad = 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;

export interface KernelArgs {
  inputs: tf.NamedTensorInfoMap;
  backend: BackendWasm;
  attrs: tf.NamedAttrMap;
}

// Marks configs registered by this module so a second registration neither double-wraps a kernel
// (which would recurse into itself) nor loses the original. Symbol.for survives duplicate copies of
// this module (e.g. test isolation).
const OWN_KERNEL = Symbol.for('dtrain.wasmTrainingKernel');

type MarkedConfig = tf.KernelConfig & { [OWN_KERNEL]?: true };

export function isOwnKernel(config: tf.KernelConfig | undefined): boolean {
  return config !== undefined && (config as MarkedConfig)[OWN_KERNEL] === true;
}

export function asWasmBackend(backend: object): BackendWasm {
  return backend as BackendWasm;
}

/** Calls the kernel currently registered for wasm under `name`. */
export function runWasmKernel(name: string, inputs: tf.NamedTensorInfoMap, attrs: tf.NamedAttrMap, backend: BackendWasm): tf.TensorInfo {
  const config = tf.getKernel(name, WASM_BACKEND);
  if (config === undefined) throw new Error(`kernel '${name}' is not registered for backend 'wasm'`);
  return single(config.kernelFunc({ inputs, attrs, backend }), name);
}

/** The named input of a kernel call; tfjs types every input as optional. */
export function input(inputs: tf.NamedTensorInfoMap, key: string, kernel: string): tf.TensorInfo {
  const info = inputs[key];
  if (info === undefined) throw new Error(`kernel '${kernel}' was called without input '${key}'`);
  return info;
}

export function single(out: tf.TensorInfo | tf.TensorInfo[], name: string): tf.TensorInfo {
  if (Array.isArray(out)) {
    if (out.length !== 1) throw new Error(`kernel '${name}' returned ${out.length} outputs, expected 1`);
    return out[0];
  }
  return out;
}

export function transpose(x: tf.TensorInfo, perm: number[], backend: BackendWasm): tf.TensorInfo {
  return runWasmKernel('Transpose', { x }, { perm }, backend);
}

export function dispose(backend: BackendWasm, ...infos: (tf.TensorInfo | null)[]): void {
  for (const info of infos) if (info !== null) backend.disposeData(info.dataId);
}

// Originals displaced by replaceWasmKernel, by kernel name (null: there was none), for restore.
const originals = new Map<string, tf.KernelConfig | null>();

/**
 * Registers `make(original)` for wasm in place of the kernel registered under `name`; `original` is
 * the config captured before unregistering (null if there was none), so the new kernel delegates
 * to it directly instead of through the registry (which now holds the new kernel: infinite
 * recursion). No-op, returning false, if our kernel is already registered.
 * The original setupFunc is kept: if the wasm backend is initialised after this call, the engine runs
 * it and the original kernelFunc finds its wasm function bindings.
 */
export function replaceWasmKernel(name: string, make: (original: tf.KernelConfig | null) => tf.KernelFunc): boolean {
  const existing = tf.getKernel(name, WASM_BACKEND);
  if (isOwnKernel(existing)) return false;
  const original = existing === undefined ? null : { ...existing };
  originals.set(name, original);
  if (existing !== undefined) tf.unregisterKernel(name, WASM_BACKEND);
  const config: MarkedConfig = {
    kernelName: name,
    backendName: WASM_BACKEND,
    kernelFunc: make(original),
    setupFunc: original?.setupFunc,
    disposeFunc: original?.disposeFunc,
    [OWN_KERNEL]: true,
  };
  tf.registerKernel(config);
  return true;
}

/** Puts back the original wasm kernel for `name` (or removes ours if there was none). */
export function restoreWasmKernel(name: string): boolean {
  const existing = tf.getKernel(name, WASM_BACKEND);
  if (!isOwnKernel(existing) || !originals.has(name)) return false;
  tf.unregisterKernel(name, WASM_BACKEND);
  const original = originals.get(name) ?? null;
  originals.delete(name);
  if (original !== null) tf.registerKernel(original);
  return true;
}

export function requireOriginal(original: tf.KernelConfig | null, name: string): tf.KernelFunc {
  if (original === null) throw new Error(`wasm backend has no '${name}' kernel to wrap (is @tensorflow/tfjs-backend-wasm 4.22 loaded?)`);
  return original.kernelFunc;
}
