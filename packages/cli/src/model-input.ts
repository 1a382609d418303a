// What `dtrain predict` and `dtrain evaluate` share: finding the model (an export folder, a
// checkpoint, or a folder of checkpoints) and reading an input CSV checked against the bundle.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseCsv } from 'csv-parse/sync';
import { checkHeader } from '@dtrain/shared/data/columns';
import { BUNDLE_FILE } from '@dtrain/shared/data/model-bundle';
import type { ModelBundle } from '@dtrain/shared/data/model-bundle';
import type { InputRow, RowSource } from '@dtrain/shared/data/preprocess';
import { DataFileError } from '@dtrain/shared/errors';
import { loadModel, type DtrainModel } from '@dtrain/shared/model/load-model';
import { resolveResumePath } from '@dtrain/worker/checkpoint/index';

/** An export folder or checkpoint folder as given; else the newest valid checkpoint in a folder of them. */
export async function openModel(path: string): Promise<{ model: DtrainModel; dir: string }> {
  let dir = path;
  if (!existsSync(join(path, BUNDLE_FILE)) && !existsSync(join(path, 'model.json'))) {
    const found = await resolveResumePath(path);
    if (found) dir = found.path;
  }
  return { model: await loadModel(dir), dir };
}

export interface CsvInput {
  rows: InputRow[];
  header: string[];
  src: RowSource;
}

/**
 * Reads a CSV whose header must be the training file's (the label may be left out when
 * `labelOptional`); sequence models need only their series column.
 */
export function readCsvInput(file: string, bundle: ModelBundle, labelOptional: boolean): CsvInput {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new DataFileError(file, null, null, `cannot open data file: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  let records: { record: string[]; info: { lines: number } }[];
  try {
    records = parseCsv(text, { bom: true, skip_empty_lines: true, trim: true, relax_column_count: true, info: true }) as unknown as typeof records;
  } catch (err) {
    throw new DataFileError(file, (err as { lines?: number }).lines ?? null, null, `CSV parse error: ${(err as Error).message}`);
  }
  if (records.length === 0) throw new DataFileError(file, null, null, 'empty file (no header row)');
  const header = records[0].record;
  if (bundle.sequence) {
    const column = bundle.labelName ?? '';
    if (!header.includes(column)) throw new DataFileError(file, 1, column, `series column missing; columns are: ${header.join(', ')}`);
  } else {
    checkHeader(file, header, bundle.columns ?? [], { ordered: true, optional: labelOptional && bundle.labelName ? [bundle.labelName] : [] });
  }
  const lines: number[] = [];
  const rows: InputRow[] = records.slice(1).map(({ record, info }) => {
    if (record.length !== header.length) throw new DataFileError(file, info.lines, null, `has ${record.length} fields, header has ${header.length}`);
    lines.push(info.lines);
    return Object.fromEntries(header.map((h, i) => [h, record[i]]));
  });
  if (rows.length === 0) throw new DataFileError(file, null, null, 'no data rows');
  return { rows, header, src: { source: file, rowNumber: (i) => lines[i] } };
}

export function csvCell(v: string | number): string {
  const s = String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}
