// `dtrain export CHECKPOINT OUT`: the serving artefacts (model.json + weights.bin, tfjs Layers format)
// of a checkpoint, verified by checksum; `tf.loadLayersModel('.../model.json')` loads them anywhere.
import type { Command } from 'commander';
import { exportModel, resolveResumePath } from '@dtrain/worker/checkpoint/index';
import { exitWith } from '../cli-util';
import { writeBrowserPredictor } from '../browser-predictor';

export function registerExportCommand(program: Command): void {
  program
    .command('export')
    .description('write the model of a checkpoint (or the newest valid one in a folder) for serving')
    .argument('<checkpoint>', 'a checkpoint folder, or a folder of checkpoints')
    .argument('<out>', 'output folder for model.json + weights.bin')
    .action(async (checkpoint: string, out: string) => {
      try {
        const info = await resolveResumePath(checkpoint);
        if (!info) exitWith(1, `no valid checkpoint in ${checkpoint}`);
        const exported = await exportModel(info.path, out);
        // With its bundle, the model also gets the browser predictor (same preprocessing as dtrain predict).
        const browserPredictor = exported.bundlePath ? await writeBrowserPredictor(out) : undefined;
        process.stdout.write(`${JSON.stringify({ checkpoint: info.path, globalStep: info.globalStep, ...exported, ...(browserPredictor ? { browserPredictor } : {}) })}\n`);
      } catch (err) {
        exitWith(1, (err as Error).message);
      }
    });
}
