// Per-layer L2 norms of a fused gradient buffer. A layer's norm covers all its variables (kernel
// and bias), which is what the vanishing-gradient detector and the dashboard talk about.

export interface LayoutEntry {
  /** Layer name, e.g. 'dense_Dense1'; several entries (kernel, bias) may share one. */
  layer: string;
  /** Offset in float32 elements within the fused buffer. */
  offset: number;
  /** Length in float32 elements. */
  length: number;
}

export interface LayerNorm {
  layer: string;
  norm: number;
}

/** L2 norm per layer, in order of each layer's first appearance in the layout. */
export function layerGradientNorms(fused: Float32Array, layout: readonly LayoutEntry[]): LayerNorm[] {
  const sums = new Map<string, number>();
  for (const [i, entry] of layout.entries()) {
    const { layer, offset, length } = entry;
    if (!Number.isInteger(offset) || !Number.isInteger(length) || offset < 0 || length < 0 || offset + length > fused.length) {
      throw new RangeError(
        `gradient layout entry ${i} (layer '${layer}') spans [${offset}, ${offset + length}) outside the fused buffer of ${fused.length} floats`,
      );
    }
    // Accumulate in float64: float32 sums of squares lose the small layers we most care about.
    let sum = 0;
    for (let j = offset, end = offset + length; j < end; j++) sum += fused[j] * fused[j];
    sums.set(layer, (sums.get(layer) ?? 0) + sum);
  }
  return [...sums].map(([layer, sum]) => ({ layer, norm: Math.sqrt(sum) }));
}

/**
 * Layer name of a tfjs variable name: 'dense_Dense1/kernel' -> 'dense_Dense1'
 * (nested names keep their prefix: 'lstm/lstm_cell/kernel' -> 'lstm/lstm_cell').
 */
export function layerOfVariable(variableName: string): string {
  const cut = variableName.lastIndexOf('/');
  return cut > 0 ? variableName.slice(0, cut) : variableName;
}
