// `dtrain predict MODEL INPUT.csv [--out FILE]`: the bundle's preprocessing, the model, and the
// outputs back in the label's terms: one CSV row per input row (class + probabilities, or values).
import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import type { Prediction } from '@dtrain/shared/data/preprocess';
import { exitWith } from '../cli-util';
import { csvCell, openModel, readCsvInput } from '../model-input';

export function registerPredictCommand(program: Command): void {
  program
    .command('predict')
    .description('predict INPUT.csv with a trained model (export or checkpoint folder): one output row per input row')
    .argument('<model>', 'an exported model, a checkpoint, or a folder of checkpoints (the newest valid one)')
    .argument('<input>', 'CSV with the training columns (the label may be left out); sequence models: the series column')
    .option('--out <file>', 'write the CSV here instead of stdout')
    .action(async (modelPath: string, input: string, flags: { out?: string }) => {
      try {
        const { model } = await openModel(modelPath);
        const { bundle } = model;
        const { rows, src } = readCsvInput(input, bundle, true);
        const preds = model.predict(rows, src);
        const label = bundle.labelName ?? 'prediction';
        let header: string[];
        let line: (p: Prediction | null) => (string | number)[];
        if (bundle.task === 'classification') {
          const names = bundle.classNames ?? [];
          header = [label, ...names.map((n) => `p_${n}`)];
          line = (p) => {
            const c = p as { label: string; probabilities: Record<string, number> };
            return [c.label, ...names.map((n) => c.probabilities[n])];
          };
        } else {
          const horizon = bundle.sequence?.horizon ?? 1;
          header = bundle.sequence ? Array.from({ length: horizon }, (_, h) => `${label}_t+${h + 1}`) : [label];
          line = (p) => (p ? (p as { values: number[] }).values : new Array<string>(horizon).fill(''));
        }
        const text = [header, ...preds.map(line)].map((r) => r.map(csvCell).join(',')).join('\n') + '\n';
        if (flags.out) {
          writeFileSync(flags.out, text);
          process.stderr.write(`dtrain: wrote ${preds.length} predictions to ${flags.out}\n`);
        } else {
          process.stdout.write(text);
        }
        model.dispose();
      } catch (err) {
        exitWith(1, (err as Error).message);
      }
    });
}
