// `dtrain evaluate MODEL TEST.csv [--json]`: metrics in the label's units on a labelled file.
// Classification: accuracy, per-class precision and recall, confusion matrix. Regression: RMSE,
// MAE and R². With --json the last stdout line is the report as one JSON object.
import type { Command } from 'commander';
import type { EvaluationReport } from '@dtrain/shared/data/preprocess';
import { exitWith } from '../cli-util';
import { openModel, readCsvInput } from '../model-input';

export function formatReport(r: EvaluationReport, labelName: string): string {
  if (r.task === 'regression') {
    return [`${r.count} values of ${labelName}:`, `  rmse ${r.rmse.toPrecision(5)}  mae ${r.mae.toPrecision(5)}  (${labelName} units)`, `  r2   ${r.r2.toFixed(4)}`].join('\n');
  }
  const width = Math.max(9, ...r.classes.map((c) => c.name.length));
  const lines = [`accuracy ${(100 * r.accuracy).toFixed(2)}% (${r.count} rows)`, '', `${'class'.padEnd(width)}  precision  recall  support`];
  for (const c of r.classes) {
    lines.push(`${c.name.padEnd(width)}  ${c.precision.toFixed(3).padStart(9)}  ${c.recall.toFixed(3).padStart(6)}  ${String(c.support).padStart(7)}`);
  }
  lines.push('', `confusion (rows: true ${labelName}, columns: predicted)`);
  lines.push(`${''.padEnd(width)}  ${r.classes.map((c) => c.name.padStart(width)).join(' ')}`);
  r.confusion.forEach((row, i) => lines.push(`${r.classes[i].name.padEnd(width)}  ${row.map((v) => String(v).padStart(width)).join(' ')}`));
  return lines.join('\n');
}

export function registerEvaluateCommand(program: Command): void {
  program
    .command('evaluate')
    .description('metrics of a trained model on a labelled CSV, in the label\'s units')
    .argument('<model>', 'an exported model, a checkpoint, or a folder of checkpoints (the newest valid one)')
    .argument('<test>', 'CSV with the training columns, label included (sequence models: the series column)')
    .option('--json', 'make the last stdout line the report as JSON')
    .action(async (modelPath: string, testFile: string, flags: { json?: boolean }) => {
      try {
        const { model } = await openModel(modelPath);
        const { rows, src } = readCsvInput(testFile, model.bundle, false);
        const report = model.evaluate(rows, src);
        process.stdout.write(`${formatReport(report, model.bundle.labelName ?? 'label')}\n`);
        if (flags.json) process.stdout.write(`${JSON.stringify(report)}\n`);
        model.dispose();
      } catch (err) {
        exitWith(1, (err as Error).message);
      }
    });
}
