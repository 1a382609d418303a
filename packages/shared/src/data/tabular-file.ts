// Row-indexed access to CSV, JSON Lines and JSON-array files. One streaming pass validates every
// row and records its byte range, so a worker later reads (fs.readSync) and parses only the rows
// it is asked for. CSV parsing (quotes, embedded delimiters/newlines, BOM) is csv-parse's:
// `info.bytes_records` gives the exact byte offset where each record ends.
import { closeSync, createReadStream, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { parse as parseCsvStream } from 'csv-parse';
import { parse as parseCsvSync } from 'csv-parse/sync';
import { DataFileError } from '../errors';
import { checkHeader, UnseenLabelError } from './columns';

export type Cell = string | number | boolean | null | undefined;
export type TabularFormat = 'csv' | 'jsonl' | 'json';

export interface ColumnSelection {
  /** Feature columns; default: every column but the label. */
  features?: string[];
  label: string;
  /** Classification with this many classes; omit for regression (numeric label). */
  classes?: number;
  onBadValue: 'error' | 'skipRow';
  /**
   * A file read against a training file (test, validation, evaluate): its header must be the
   * training header, and its labels the training classes.
   */
  expect?: { columns: string[]; labelIds: Map<string, number> | null; classNames: string[] | undefined };
}

export interface TabularIndex {
  file: string;
  format: TabularFormat;
  columns: string[];
  featureNames: string[];
  featureCols: number[];
  labelCol: number;
  /** Good rows (after skipRow), in file order. */
  rowCount: number;
  skippedRows: number;
  /** Byte range [start, end) and 1-based line of each good row (csv, jsonl). */
  starts: Float64Array;
  ends: Float64Array;
  lines: Uint32Array;
  /** Rows of a JSON-array file (loaded whole: JSON arrays cannot be read by offset). */
  jsonRows: Cell[][] | null;
  /** Classification: label text -> class id (see resolveLabelIds). */
  labelIds: Map<string, number> | null;
  classNames: string[] | undefined;
}

const CSV_OPTIONS = { bom: true, relax_column_count: true, skip_empty_lines: true, trim: true } as const;
const READ_CHUNK_BYTES = 4 * 1024 * 1024;

class GrowableF64 {
  data = new Float64Array(1024);
  length = 0;
  push(v: number): void {
    if (this.length === this.data.length) {
      const next = new Float64Array(this.data.length * 2);
      next.set(this.data);
      this.data = next;
    }
    this.data[this.length++] = v;
  }
  toArray(): Float64Array { return this.data.slice(0, this.length); }
}

export function detectFormat(file: string, declared: 'csv' | 'json'): TabularFormat {
  if (declared === 'csv') return 'csv';
  // JSON: an array `[{...}, ...]` or JSON Lines (one object per line). Peek the first byte.
  const fd = openFile(file);
  try {
    const buf = Buffer.alloc(4096);
    const n = readSync(fd, buf, 0, buf.length, 0);
    const first = buf.subarray(0, n).toString('utf8').replace(/^\uFEFF/, '').trimStart()[0];
    return first === '[' ? 'json' : 'jsonl';
  } finally {
    closeSync(fd);
  }
}

function openFile(file: string): number {
  try {
    return openSync(file, 'r');
  } catch (err) {
    throw new DataFileError(file, null, null, `cannot open data file: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/** Parses a numeric cell; null when missing, NaN when not a number. */
export function numericCell(cell: Cell): number | null {
  if (cell === null || cell === undefined) return null;
  if (typeof cell === 'number') return Number.isFinite(cell) ? cell : Number.NaN;
  if (typeof cell === 'boolean') return Number.NaN;
  const text = cell.trim();
  if (text === '') return null;
  const v = Number(text);
  return Number.isFinite(v) ? v : Number.NaN;
}

/** Validates one row; returns a problem (column, detail) or null, plus the label text. */
function checkRow(cells: Cell[], idx: Pick<TabularIndex, 'columns' | 'featureCols' | 'labelCol'>, classification: boolean, ragged: boolean): { column: string | null; detail: string } | null {
  if (ragged) return { column: null, detail: `has ${cells.length} fields, header has ${idx.columns.length}` };
  for (const c of [...idx.featureCols, ...(classification ? [] : [idx.labelCol])]) {
    const v = numericCell(cells[c]);
    if (v === null) return { column: idx.columns[c], detail: 'missing value' };
    if (Number.isNaN(v)) return { column: idx.columns[c], detail: `not a number: ${JSON.stringify(cells[c])}` };
  }
  if (classification) {
    const label = cells[idx.labelCol];
    if (label === null || label === undefined || String(label).trim() === '') {
      return { column: idx.columns[idx.labelCol], detail: 'missing label' };
    }
  }
  return null;
}

function selectColumns(file: string, columns: string[], sel: ColumnSelection): Pick<TabularIndex, 'featureNames' | 'featureCols' | 'labelCol'> {
  const labelCol = columns.indexOf(sel.label);
  if (labelCol < 0) {
    throw new DataFileError(file, null, sel.label, `label column not found; columns are: ${columns.join(', ')}`);
  }
  const featureNames = sel.features ?? columns.filter((c) => c !== sel.label);
  const featureCols = featureNames.map((name) => {
    const c = columns.indexOf(name);
    if (c < 0) throw new DataFileError(file, null, name, `feature column not found; columns are: ${columns.join(', ')}`);
    if (c === labelCol) throw new DataFileError(file, null, name, 'the label column cannot also be a feature');
    return c;
  });
  if (featureCols.length === 0) throw new DataFileError(file, null, null, 'no feature columns');
  return { featureNames, featureCols, labelCol };
}

/**
 * Label text -> class id. If every label is an integer in [0, classes), the id is that integer.
 * Otherwise labels are names: ids follow the sorted (code-point order) list of distinct names,
 * e.g. {fail, pass} -> fail=0, pass=1. More distinct labels than `classes` is an error.
 */
export function resolveLabelIds(file: string, labels: Set<string>, classes: number, labelColumn: string): { ids: Map<string, number>; names: string[] } {
  const all = [...labels];
  const asInts = all.map((l) => Number(l));
  if (all.every((l, i) => /^-?\d+(\.0*)?$/.test(l) && Number.isInteger(asInts[i]) && asInts[i] >= 0 && asInts[i] < classes)) {
    return {
      ids: new Map(all.map((l, i) => [l, asInts[i]])),
      names: Array.from({ length: classes }, (_, k) => String(k)),
    };
  }
  const names = all.sort();
  if (names.length > classes) {
    throw new DataFileError(file, null, labelColumn, `${names.length} distinct labels (${names.slice(0, 12).join(', ')}${names.length > 12 ? ', ...' : ''}) but classes is ${classes}`);
  }
  return { ids: new Map(names.map((l, i) => [l, i])), names };
}

interface ScanState {
  index: TabularIndex;
  starts: GrowableF64;
  ends: GrowableF64;
  lines: GrowableF64;
  labels: Set<string>;
  classification: boolean;
}

function acceptRow(st: ScanState, sel: ColumnSelection, cells: Cell[], line: number, ragged: boolean, start: number, end: number): boolean {
  const problem = checkRow(cells, st.index, st.classification, ragged);
  if (problem) {
    if (sel.onBadValue === 'skipRow') {
      st.index.skippedRows++;
      return false;
    }
    throw new DataFileError(st.index.file, line, problem.column, problem.detail);
  }
  if (st.classification && sel.expect?.labelIds) {
    const label = String(cells[st.index.labelCol]).trim();
    if (!sel.expect.labelIds.has(label)) {
      throw new UnseenLabelError(st.index.file, line, st.index.columns[st.index.labelCol], label, sel.expect.classNames ?? []);
    }
  }
  if (st.classification) {
    st.labels.add(String(cells[st.index.labelCol]).trim());
    if (st.labels.size > Math.max(sel.classes ?? 0, 1) + 1000) {
      throw new DataFileError(st.index.file, line, st.index.columns[st.index.labelCol], `too many distinct labels for classes=${sel.classes}`);
    }
  }
  st.starts.push(start);
  st.ends.push(end);
  st.lines.push(line);
  return true;
}

function newState(file: string, format: TabularFormat, columns: string[], sel: ColumnSelection): ScanState {
  if (sel.expect) checkHeader(file, columns, sel.expect.columns, { ordered: format !== 'json' && format !== 'jsonl' });
  const cols = selectColumns(file, columns, sel);
  return {
    index: {
      file, format, columns, ...cols, rowCount: 0, skippedRows: 0,
      starts: new Float64Array(0), ends: new Float64Array(0), lines: new Uint32Array(0),
      jsonRows: null, labelIds: null, classNames: undefined,
    },
    starts: new GrowableF64(), ends: new GrowableF64(), lines: new GrowableF64(),
    labels: new Set(), classification: sel.classes !== undefined,
  };
}

function finish(st: ScanState, sel: ColumnSelection): TabularIndex {
  const idx = st.index;
  idx.starts = st.starts.toArray();
  idx.ends = st.ends.toArray();
  idx.lines = Uint32Array.from(st.lines.toArray());
  idx.rowCount = idx.starts.length;
  if (idx.jsonRows) idx.rowCount = idx.jsonRows.length;
  if (st.classification && sel.expect?.labelIds) {
    idx.labelIds = sel.expect.labelIds;
    idx.classNames = sel.expect.classNames;
  } else if (st.classification && sel.classes !== undefined) {
    const { ids, names } = resolveLabelIds(idx.file, st.labels, sel.classes, idx.columns[idx.labelCol]);
    idx.labelIds = ids;
    idx.classNames = names;
  }
  if (idx.rowCount === 0) throw new DataFileError(idx.file, null, null, 'no usable data rows');
  return idx;
}

async function scanCsv(file: string, sel: ColumnSelection): Promise<TabularIndex> {
  closeSync(openFile(file)); // fail early with a clear message when missing
  const parser = createReadStream(file).pipe(parseCsvStream({ ...CSV_OPTIONS, info: true }));
  let st: ScanState | null = null;
  let prevEnd = 0;
  let prevLines = 0;
  let prevEmpty = 0;
  try {
    for await (const item of parser as AsyncIterable<{ record: string[]; info: { bytes_records: number; lines: number; empty_lines: number } }>) {
      const { record, info } = item;
      if (!st) {
        st = newState(file, 'csv', record, sel);
      } else {
        // `info.lines` is the line where the record ENDS; errors name the line where it starts.
        const line = prevLines + 1 + (info.empty_lines - prevEmpty);
        acceptRow(st, sel, record, line, record.length !== st.index.columns.length, prevEnd, info.bytes_records);
      }
      prevEnd = info.bytes_records;
      prevLines = info.lines;
      prevEmpty = info.empty_lines;
    }
  } catch (err) {
    if (err instanceof DataFileError) throw err;
    const e = err as Error & { lines?: number };
    throw new DataFileError(file, e.lines ?? null, null, `CSV parse error: ${e.message}`);
  }
  if (!st) throw new DataFileError(file, null, null, 'empty file (no header row)');
  return finish(st, sel);
}

async function scanJsonLines(file: string, sel: ColumnSelection): Promise<TabularIndex> {
  closeSync(openFile(file));
  let st: ScanState | null = null;
  let offset = 0;
  let line = 0;
  let pending: Buffer = Buffer.alloc(0);
  const handleLine = (bytes: Buffer, start: number, end: number): void => {
    line++;
    const text = bytes.toString('utf8').replace(/^\uFEFF/, '').trim();
    if (text === '') return;
    let obj: unknown;
    try {
      obj = JSON.parse(text);
    } catch (err) {
      if (sel.onBadValue === 'skipRow' && st) { st.index.skippedRows++; return; }
      throw new DataFileError(file, line, null, `not valid JSON: ${(err as Error).message}`);
    }
    if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) {
      throw new DataFileError(file, line, null, 'each line must be a JSON object');
    }
    const record = obj as Record<string, Cell>;
    if (!st) st = newState(file, 'jsonl', Object.keys(record), sel);
    acceptRow(st, sel, st.index.columns.map((c) => record[c]), line, false, start, end);
  };
  for await (const chunk of createReadStream(file) as AsyncIterable<Buffer>) {
    let buf = pending.length > 0 ? Buffer.concat([pending, chunk]) : chunk;
    let base = offset - pending.length;
    let nl: number;
    while ((nl = buf.indexOf(0x0a)) >= 0) {
      handleLine(buf.subarray(0, nl), base, base + nl + 1);
      buf = buf.subarray(nl + 1);
      base += nl + 1;
    }
    pending = Buffer.from(buf);
    offset += chunk.length;
  }
  if (pending.length > 0) handleLine(pending, offset - pending.length, offset);
  if (!st) throw new DataFileError(file, null, null, 'no JSON rows');
  return finish(st, sel);
}

function scanJsonArray(file: string, sel: ColumnSelection): TabularIndex {
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(file, 'utf8').replace(/^\uFEFF/, ''));
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new DataFileError(file, null, null, e.code ? `cannot open data file: ${e.code}` : `not valid JSON: ${e.message}`);
  }
  if (!Array.isArray(data) || data.length === 0) throw new DataFileError(file, null, null, 'expected a non-empty JSON array of objects');
  const first = data[0] as Record<string, Cell>;
  if (first === null || typeof first !== 'object') throw new DataFileError(file, 1, null, 'array items must be objects');
  const st = newState(file, 'json', Object.keys(first), sel);
  const rows: Cell[][] = [];
  data.forEach((item: unknown, i) => {
    if (item === null || typeof item !== 'object' || Array.isArray(item)) {
      throw new DataFileError(file, i + 1, null, 'array items must be objects');
    }
    const cells = st.index.columns.map((c) => (item as Record<string, Cell>)[c]);
    if (acceptRow(st, sel, cells, i + 1, false, i, i + 1)) rows.push(cells);
  });
  st.index.jsonRows = rows;
  return finish(st, sel);
}

/** One streaming pass over the file (JSON arrays: one parse). Row numbers in errors are 1-based
 *  file lines for CSV/JSON Lines (the header is line 1) and 1-based array positions for JSON. */
export async function scanTabularFile(file: string, declared: 'csv' | 'json', sel: ColumnSelection): Promise<TabularIndex> {
  const format = detectFormat(file, declared);
  if (format === 'csv') return scanCsv(file, sel);
  if (format === 'jsonl') return scanJsonLines(file, sel);
  return scanJsonArray(file, sel);
}

const indexCache = new Map<string, Promise<TabularIndex>>();

/** Cached per (file, size, mtime, selection): describe and open in one process scan once. */
export function indexTabularFile(file: string, declared: 'csv' | 'json', sel: ColumnSelection): Promise<TabularIndex> {
  let stamp = 'missing';
  try {
    const s = statSync(file);
    stamp = `${s.size}:${s.mtimeMs}`;
  } catch {
    // scan reports the missing file with a DataFileError
  }
  const expect = sel.expect ? { ...sel.expect, labelIds: sel.expect.labelIds ? [...sel.expect.labelIds] : null } : undefined;
  const key = JSON.stringify([file, declared, { ...sel, expect }, stamp]);
  let p = indexCache.get(key);
  if (!p) {
    p = scanTabularFile(file, declared, sel);
    p.catch(() => indexCache.delete(key));
    indexCache.set(key, p);
  }
  return p;
}

/** Reads good rows by their index, in the given order. Contiguous rows share one read. */
export class TabularRowReader {
  private fd: number | null = null;
  constructor(private readonly index: TabularIndex) {}

  readCells(rows: ArrayLike<number>): Cell[][] {
    const idx = this.index;
    for (let k = 0; k < rows.length; k++) {
      const r = rows[k];
      if (!Number.isInteger(r) || r < 0 || r >= idx.rowCount) throw new RangeError(`row ${r} out of range [0, ${idx.rowCount}) in ${idx.file}`);
    }
    if (idx.jsonRows) return Array.from(rows, (r) => idx.jsonRows![r]);
    if (this.fd === null) this.fd = openFile(idx.file);
    // Read each row's bytes, merging runs that are adjacent in the file.
    const texts: Buffer[] = new Array(rows.length);
    let k = 0;
    while (k < rows.length) {
      let j = k;
      while (j + 1 < rows.length && idx.starts[rows[j + 1]] === idx.ends[rows[j]] && idx.ends[rows[j + 1]] - idx.starts[rows[k]] <= READ_CHUNK_BYTES) j++;
      const start = idx.starts[rows[k]];
      const buf = Buffer.alloc(idx.ends[rows[j]] - start);
      let got = 0;
      while (got < buf.length) {
        const n = readSync(this.fd, buf, got, buf.length - got, start + got);
        if (n === 0) throw new DataFileError(idx.file, idx.lines[rows[k]], null, 'file shrank since it was indexed');
        got += n;
      }
      for (let m = k; m <= j; m++) texts[m] = buf.subarray(idx.starts[rows[m]] - start, idx.ends[rows[m]] - start);
      k = j + 1;
    }
    if (idx.format === 'jsonl') {
      return texts.map((t) => {
        const obj = JSON.parse(t.toString('utf8')) as Record<string, Cell>;
        return idx.columns.map((c) => obj[c]);
      });
    }
    // One csv-parse call for the whole batch; each slice holds exactly one record.
    const joined = Buffer.concat(texts.flatMap((t) => (t.length > 0 && t[t.length - 1] === 0x0a ? [t] : [t, Buffer.from('\n')])));
    const records = parseCsvSync(joined, CSV_OPTIONS) as string[][];
    if (records.length !== rows.length) {
      throw new DataFileError(idx.file, null, null, `expected ${rows.length} records at indexed offsets, parsed ${records.length}: file changed since it was indexed?`);
    }
    return records;
  }

  close(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }
}
