// Chooses the tfjs backend a worker trains on.
//
// 'auto' tries, in order: @tensorflow/tfjs-node-gpu (libtensorflow with CUDA), @tensorflow/tfjs-node
// (libtensorflow on CPU), wasm (@tensorflow/tfjs-backend-wasm, a dependency), cpu (pure JS, always
// there). The native packages are NOT dependencies of dtrain: their install script downloads
// libtensorflow from outside the npm registry, so users install them themselves
// (`npm install @tensorflow/tfjs-node-gpu@4.22.0`, same version as @tensorflow/tfjs so tfjs-core is
// shared). They are loaded with a dynamic import and any failure falls through to the next one.
//
// GPUs: the launcher sets CUDA_VISIBLE_DEVICES=LOCAL_RANK for each local worker, so every worker
// sees exactly one GPU, as device 0, and libtensorflow places all ops there. Without it, every
// local worker would open all GPUs and put its ops on GPU 0.
import * as tf from '@tensorflow/tfjs';
import { BackendUnavailableError } from '@dtrain/shared/errors';
import type { BackendName } from '@dtrain/shared/job-spec';
import type { BackendChoice, ModuleImporter, SelectBackendOptions } from './api';
import { registerWasmTrainingKernels } from './wasm-training-kernels';

export const TFJS_NODE_GPU_PACKAGE = '@tensorflow/tfjs-node-gpu';
export const TFJS_NODE_PACKAGE = '@tensorflow/tfjs-node';
export const TFJS_WASM_PACKAGE = '@tensorflow/tfjs-backend-wasm';
export const TFJS_CPU_PACKAGE = '@tensorflow/tfjs-backend-cpu';

type ForcedBackend = Exclude<BackendName, 'auto'>;

export const AUTO_ORDER: readonly ForcedBackend[] = ['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'];

export const PACKAGE_OF: Readonly<Record<ForcedBackend, string>> = {
  'tensorflow-gpu': TFJS_NODE_GPU_PACKAGE,
  tensorflow: TFJS_NODE_PACKAGE,
  wasm: TFJS_WASM_PACKAGE,
  cpu: TFJS_CPU_PACKAGE,
};

const defaultImporter: ModuleImporter = (specifier) => import(specifier);

type Attempt = { ok: true; usingGpu?: boolean; wasmKernels?: string[] } | { ok: false; reason: string };

/** Turns a failed import of a native tfjs package into a reason a user can act on. */
export function describeImportFailure(packageName: string, error: unknown): string {
  const err = error instanceof Error ? error : new Error(String(error));
  const code = (err as { code?: unknown }).code;
  const message = err.message.split('\n')[0] ?? '';
  // Only the package itself missing counts: a missing dependency of it names the package in a path.
  const missingItself = message.includes(`package '${packageName}'`) || message.includes(`module '${packageName}'`);
  if ((code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') && missingItself) {
    return `${packageName} is not installed (install it yourself: npm install ${packageName}@${tf.version.tfjs}; ` +
      'its install script downloads libtensorflow)';
  }
  if (message.includes('tfjs_binding.node')) {
    return `${packageName} is installed but its native binding is missing (tfjs_binding.node can not be found: ` +
      `the install script that downloads libtensorflow did not run or failed; run npm rebuild ${packageName} with network access)`;
  }
  return `${packageName} failed to load: ${code !== undefined ? `${String(code)}: ` : ''}${message}`;
}

async function activate(tfjsName: string): Promise<string | null> {
  if (tf.findBackendFactory(tfjsName) === null) return `no '${tfjsName}' backend is registered`;
  let ok: boolean;
  try {
    ok = await tf.setBackend(tfjsName);
  } catch (error) {
    return `initialising '${tfjsName}' threw: ${error instanceof Error ? error.message : String(error)}`;
  }
  if (!ok || tf.getBackend() !== tfjsName) return `initialising '${tfjsName}' failed`;
  return null;
}

async function tryNative(candidate: 'tensorflow-gpu' | 'tensorflow', importer: ModuleImporter, log: (line: string) => void): Promise<Attempt> {
  const packageName = PACKAGE_OF[candidate];
  try {
    await importer(packageName);
  } catch (error) {
    return { ok: false, reason: describeImportFailure(packageName, error) };
  }
  if (tf.findBackendFactory('tensorflow') === null) {
    // The package brought its own copy of tfjs-core and registered its backend there.
    return {
      ok: false,
      reason: `${packageName} loaded but registered no 'tensorflow' backend with this copy of tfjs-core ` +
        `(${tf.version_core}); install the version matching @tensorflow/tfjs ${tf.version.tfjs}`,
    };
  }
  const failure = await activate('tensorflow');
  if (failure !== null) return { ok: false, reason: `${packageName}: ${failure}` };
  const usingGpu = (tf.backend() as { isUsingGpuDevice?: unknown }).isUsingGpuDevice === true;
  if (usingGpu && process.env.CUDA_VISIBLE_DEVICES === undefined) {
    log(`backend: CUDA_VISIBLE_DEVICES is not set; every local worker will see all GPUs and use GPU 0 ` +
      '(the dtrain launcher sets CUDA_VISIBLE_DEVICES=LOCAL_RANK)');
  }
  return { ok: true, usingGpu };
}

async function tryCandidate(candidate: ForcedBackend, importer: ModuleImporter, log: (line: string) => void): Promise<Attempt> {
  switch (candidate) {
    case 'tensorflow-gpu':
    case 'tensorflow':
      return tryNative(candidate, importer, log);
    case 'wasm': {
      // Before setBackend, so the engine runs the wrapped kernels' setup on initialisation.
      const wasmKernels = registerWasmTrainingKernels();
      const failure = await activate('wasm');
      return failure === null ? { ok: true, wasmKernels } : { ok: false, reason: `${TFJS_WASM_PACKAGE}: ${failure}` };
    }
    case 'cpu': {
      const failure = await activate('cpu');
      return failure === null ? { ok: true } : { ok: false, reason: failure };
    }
  }
}

function isNotInstalled(reason: string): boolean {
  return reason.includes(' is not installed ');
}

/**
 * The log line for a choice, e.g. "backend wasm (@tensorflow/tfjs-backend-wasm), chosen by 'auto':
 * @tensorflow/tfjs-node-gpu and @tensorflow/tfjs-node are not installed (optional, see README: Backends)".
 */
export function describeChoice(choice: BackendChoice): string {
  const head = `backend ${choice.name} (${choice.packageName})`;
  if (choice.requested !== 'auto') return `${head}, as requested`;
  const missing = choice.skipped.filter((s) => isNotInstalled(s.reason)).map((s) => PACKAGE_OF[s.candidate as ForcedBackend] ?? s.candidate);
  const failed = choice.skipped.filter((s) => !isNotInstalled(s.reason)).map((s) => `${s.candidate} failed: ${s.reason}`);
  const why = [
    ...(missing.length > 0 ? [`${missing.join(' and ')} ${missing.length > 1 ? 'are' : 'is'} not installed (optional, see README: Backends)`] : []),
    ...failed,
  ];
  return `${head}, chosen by 'auto'${why.length > 0 ? `: ${why.join('; ')}` : ''}`;
}

/**
 * Selects and activates the tfjs backend. 'auto' takes the first candidate that loads; a forced
 * backend that cannot be used throws BackendUnavailableError with the reason.
 */
export async function selectBackend(opts: SelectBackendOptions): Promise<BackendChoice> {
  const log = opts.log ?? (() => {});
  const importer = opts.importModule ?? defaultImporter;
  const candidates: readonly ForcedBackend[] = opts.requested === 'auto' ? AUTO_ORDER : [opts.requested];
  const skipped: BackendChoice['skipped'] = [];
  for (const candidate of candidates) {
    const attempt = await tryCandidate(candidate, importer, log);
    if (!attempt.ok) {
      if (opts.requested !== 'auto') throw new BackendUnavailableError(candidate, attempt.reason);
      skipped.push({ candidate, reason: attempt.reason });
      continue;
    }
    if (candidate === 'tensorflow-gpu' && !attempt.usingGpu) {
      if (opts.requested === 'tensorflow-gpu') {
        throw new BackendUnavailableError(candidate, `${TFJS_NODE_GPU_PACKAGE} loaded but libtensorflow found no usable GPU ` +
          `(CUDA_VISIBLE_DEVICES=${process.env.CUDA_VISIBLE_DEVICES ?? '<unset>'}, local rank ${opts.localRank})`);
      }
      // Loaded natives cannot be swapped for @tensorflow/tfjs-node in this process; libtensorflow
      // on CPU is still the fastest choice left.
      log(`backend: ${TFJS_NODE_GPU_PACKAGE} found no GPU; libtensorflow runs on CPU`);
    }
    const choice: BackendChoice = {
      name: tf.getBackend(),
      requested: opts.requested,
      packageName: PACKAGE_OF[candidate],
      skipped,
      ...(attempt.usingGpu !== undefined ? { usingGpu: attempt.usingGpu } : {}),
      ...(attempt.wasmKernels !== undefined ? { wasmKernels: attempt.wasmKernels } : {}),
    };
    // One line per machine, not per worker: local rank 0 says what was chosen and why. Another local
    // rank speaks only when something other than a missing optional package made it skip a backend.
    if (opts.localRank <= 0 || skipped.some((s) => !isNotInstalled(s.reason))) log(describeChoice(choice));
    return choice;
  }
  // cpu ships with @tensorflow/tfjs, so only a broken install gets here.
  throw new BackendUnavailableError(opts.requested, skipped.map((s) => `${s.candidate}: ${s.reason}`).join('; '));
}
