// Column and label checks shared by training (test/validation files), `dtrain evaluate`,
// `dtrain predict`, the Node library and the browser: a file read against a trained model must
// have the training file's columns in the training order, and only classes seen in training.
// No Node imports: this module is bundled for browsers too.
import { DataFileError } from '../errors';

/** A class label that the training file did not have. */
export class UnseenLabelError extends DataFileError {
  constructor(file: string, row: number | null, column: string, readonly label: string, readonly classNames: string[]) {
    super(file, row, column, `unseen class label ${JSON.stringify(label)}; the model knows: ${classNames.join(', ')}`);
  }
}

/** A header that is not the training header (missing, extra or reordered columns). */
export class ColumnMismatchError extends DataFileError {
  constructor(file: string, column: string, readonly problem: 'missing' | 'extra' | 'reordered', detail: string) {
    super(file, 1, column, detail);
  }
}

/**
 * Checks `header` against `expected`. `optional` columns (the label, for prediction input) may
 * be absent. JSON objects have no column order, so `ordered: false` checks only the names.
 */
export function checkHeader(
  file: string,
  header: readonly string[],
  expected: readonly string[],
  opts: { ordered: boolean; optional?: readonly string[] } = { ordered: true },
): void {
  const optional = new Set(opts.optional ?? []);
  const want = expected.filter((c) => !optional.has(c) || header.includes(c));
  for (const c of want) {
    if (!header.includes(c)) {
      throw new ColumnMismatchError(file, c, 'missing', `column missing; the model was trained on columns: ${expected.join(', ')}`);
    }
  }
  for (const c of header) {
    if (!expected.includes(c)) {
      throw new ColumnMismatchError(file, c, 'extra', `column not in the training data; the model was trained on columns: ${expected.join(', ')}`);
    }
  }
  if (!opts.ordered) return;
  for (let i = 0; i < want.length; i++) {
    if (header[i] !== want[i]) {
      throw new ColumnMismatchError(file, header[i], 'reordered', `column ${i + 1} is ${header[i]}, expected ${want[i]}: columns must be in the training order: ${want.join(', ')}`);
    }
  }
}
