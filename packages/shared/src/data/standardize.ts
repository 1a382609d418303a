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
