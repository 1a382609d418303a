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
}

export interface SelectBackendOptions {
  requested: BackendName;
  localRank: number;
  log?: (line: string) => void;
}
