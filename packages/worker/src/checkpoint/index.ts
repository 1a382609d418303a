export * from './api';
export { saveCheckpoint, applyRetention, cleanStaleTemp } from './save-checkpoint';
export { loadCheckpoint, verifyCheckpoint } from './load-checkpoint';
export { findLatestCheckpoint, listCheckpoints, resolveResumePath } from './find-checkpoint';
export { exportModel } from './export-model';
export { restoreOptimizer, createOptimizer, optimizerWeightTensors, type RestoreOptimizerOptions } from './optimizer-state';
export { stepDirName } from './manifest';
