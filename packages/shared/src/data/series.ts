// Numeric series for sequence datasets: built-ins, or one column of a CSV (a series is one
// number per row, so it is read whole).
import { createReadStream } from 'node:fs';
import { closeSync, openSync } from 'node:fs';
import { parse as parseCsvStream } from 'csv-parse';
import { DataFileError } from '../errors';
import { numericCell } from './tabular-file';

/**
 * Monthly international airline passengers (thousands), Jan 1949 - Dec 1960: the classic
 * Box & Jenkins series G (public domain; also examples/data/airline-passengers.csv).
 */
export const AIRLINE_PASSENGERS: readonly number[] = [
  112, 118, 132, 129, 121, 135, 148, 148, 136, 119, 104, 118,
  115, 126, 141, 135, 125, 149, 170, 170, 158, 133, 114, 140,
  145, 150, 178, 163, 172, 178, 199, 199, 184, 162, 146, 166,
  171, 180, 193, 181, 183, 218, 230, 242, 209, 191, 172, 194,
  196, 196, 236, 235, 229, 243, 264, 272, 237, 211, 180, 201,
  204, 188, 235, 227, 234, 264, 302, 293, 259, 229, 203, 229,
  242, 233, 267, 269, 270, 315, 364, 347, 312, 274, 237, 278,
  284, 277, 317, 313, 318, 374, 413, 405, 355, 306, 271, 306,
  315, 301, 356, 348, 355, 422, 465, 467, 404, 347, 305, 336,
  340, 318, 362, 348, 363, 435, 491, 505, 404, 359, 310, 337,
  360, 342, 406, 396, 420, 472, 548, 559, 463, 407, 362, 405,
  417, 391, 419, 461, 472, 535, 622, 606, 508, 461, 390, 432,
];

export const SINE_LENGTH = 1000;

/** Two superposed sines (periods 50 and 17 steps): deterministic, no noise. */
export function sineSeries(length = SINE_LENGTH): number[] {
  return Array.from({ length }, (_, t) => Math.sin((2 * Math.PI * t) / 50) + 0.5 * Math.sin((2 * Math.PI * t) / 17));
}

/** Reads one numeric column of a CSV; `column` defaults to the last column. */
export async function readCsvSeries(file: string, column?: string): Promise<number[]> {
  return (await readCsvSeriesNamed(file, column)).values;
}

/** Like readCsvSeries, and says which column it read (the default is the last one). */
export async function readCsvSeriesNamed(file: string, column?: string): Promise<{ values: number[]; column: string }> {
  try {
    closeSync(openSync(file, 'r'));
  } catch (err) {
    throw new DataFileError(file, null, null, `cannot open data file: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const parser = createReadStream(file).pipe(parseCsvStream({ bom: true, skip_empty_lines: true, trim: true, relax_column_count: true, info: true }));
  const out: number[] = [];
  let col = -1;
  let name = '';
  let width = 0;
  try {
    for await (const { record, info } of parser as AsyncIterable<{ record: string[]; info: { lines: number } }>) {
      if (col < 0) {
        width = record.length;
        name = column ?? record[record.length - 1];
        col = record.indexOf(name);
        if (col < 0) throw new DataFileError(file, null, name, `column not found; columns are: ${record.join(', ')}`);
        continue;
      }
      if (record.length !== width) throw new DataFileError(file, info.lines, null, `has ${record.length} fields, header has ${width}`);
      const v = numericCell(record[col]);
      if (v === null) throw new DataFileError(file, info.lines, name, 'missing value');
      if (Number.isNaN(v)) throw new DataFileError(file, info.lines, name, `not a number: ${JSON.stringify(record[col])}`);
      out.push(v);
    }
  } catch (err) {
    if (err instanceof DataFileError) throw err;
    throw new DataFileError(file, (err as { lines?: number }).lines ?? null, null, `CSV parse error: ${(err as Error).message}`);
  }
  if (col < 0) throw new DataFileError(file, null, null, 'empty file (no header row)');
  return { values: out, column: name };
}
