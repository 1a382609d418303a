// Mean and (population) standard deviation per column, accumulated row by row in float64
// (Welford), so statistics of the training split never need the split in memory.

/** A column whose spread is below this is constant: it is centred but not scaled. */
export const MIN_STD = 1e-8;

export class RunningStats {
  private n = 0;
  private readonly m: Float64Array;
  private readonly s: Float64Array;

  constructor(readonly width: number) {
    this.m = new Float64Array(width);
    this.s = new Float64Array(width);
  }

  add(values: ArrayLike<number>): void {
    this.n++;
    for (let j = 0; j < this.width; j++) {
      const d = values[j] - this.m[j];
      this.m[j] += d / this.n;
      this.s[j] += d * (values[j] - this.m[j]);
    }
  }

  get count(): number { return this.n; }

  mean(): number[] { return Array.from(this.m); }

  std(): number[] {
    return Array.from(this.s, (s) => {
      const sd = this.n > 0 ? Math.sqrt(s / this.n) : 0;
      return sd < MIN_STD ? 1 : sd;
    });
  }
}

/**
 * (x - mean) / std per column, in place, on float32 rows of width `mean.length`. Training, the
 * test file, `dtrain predict` and the browser all call this, so they compute the same float32s.
 */
export function standardizeRows(xs: Float32Array, mean: readonly number[], std: readonly number[]): void {
  const width = mean.length;
  for (let k = 0; k < xs.length; k += width) {
    for (let f = 0; f < width; f++) xs[k + f] = (xs[k + f] - mean[f]) / std[f];
  }
}
