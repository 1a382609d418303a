// Contract of backend selection: which tfjs backend a worker trains on.
import type { BackendName } from '@dtrain/shared/job-spec';

export interface BackendChoice {
  /** The backend tfjs reports after selection: 'tensorflow' (native, CPU or GPU), 'wasm' or 'cpu'. */
  name: string;
  /** What was requested. */
  requested: BackendName;
  /** The package that provided it, e.g. '@tensorflow/tfjs-node-gpu'. */
  packageName: string;
  /** Why earlier candidates were skipped (for the log). */
  skipped: { candidate: string; reason: string }[];
  /** Native backend only: whether libtensorflow runs on a GPU device (false for wasm/cpu). */
  usingGpu?: boolean;
  /** wasm only: the kernels registerWasmTrainingKernels added or replaced in this call. */
  wasmKernels?: string[];
}

/** Loads a module by specifier; the default is the runtime's dynamic `import()`. */
export type ModuleImporter = (specifier: string) => Promise<unknown>;

export interface SelectBackendOptions {
  requested: BackendName;
  localRank: number;
  log?: (line: string) => void;
  /** For tests of load failures that cannot be produced for real here. Default: dynamic import. */
  importModule?: ModuleImporter;
}
