// Warns when a layer's gradient norm stays below a threshold for several consecutive samples:
// the layer has (nearly) stopped learning, typically saturating activations deep in a network.

export interface VanishingGradientDetectorOptions {
  /** Norm below which a layer counts as vanishing, e.g. 1e-5. */
  threshold: number;
  /** Consecutive observations below the threshold before warning. */
  steps: number;
}

export interface VanishingGradientWarning {
  layer: string;
  /** Norm at the observation that triggered the warning. */
  norm: number;
  /** Largest norm over the episode so far (all below threshold). */
  maxNorm: number;
  threshold: number;
  consecutive: number;
  globalStep: number;
}

interface LayerState {
  below: number;
  maxNorm: number;
  warned: boolean;
}

export class VanishingGradientDetector {
  private readonly threshold: number;
  private readonly steps: number;
  private readonly layers = new Map<string, LayerState>();

  constructor(options: VanishingGradientDetectorOptions) {
    if (!(options.threshold > 0) || !Number.isFinite(options.threshold)) {
      throw new RangeError(`vanishing-gradient threshold must be a finite number > 0, got ${options.threshold}`);
    }
    if (!Number.isInteger(options.steps) || options.steps < 1) {
      throw new RangeError(`vanishing-gradient steps must be an integer >= 1, got ${options.steps}`);
    }
    this.threshold = options.threshold;
    this.steps = options.steps;
  }

  reset(): void {
    this.layers.clear();
  }

  /**
   * Record one sample of per-layer norms. Returns a warning for each layer whose episode (a run of
   * consecutive samples below the threshold) just reached `steps`; once per episode, re-armed when
   * the norm comes back above the threshold. A non-finite norm ends an episode (it is not small).
   */
  observe(globalStep: number, norms: readonly { layer: string; norm: number }[]): VanishingGradientWarning[] {
    const warnings: VanishingGradientWarning[] = [];
    for (const { layer, norm } of norms) {
      let state = this.layers.get(layer);
      if (state === undefined) {
        state = { below: 0, maxNorm: 0, warned: false };
        this.layers.set(layer, state);
      }
      if (Number.isFinite(norm) && norm < this.threshold) {
        state.maxNorm = state.below === 0 ? norm : Math.max(state.maxNorm, norm);
        state.below += 1;
        if (state.below >= this.steps && !state.warned) {
          state.warned = true;
          warnings.push({ layer, norm, maxNorm: state.maxNorm, threshold: this.threshold, consecutive: state.below, globalStep });
        }
      } else {
        state.below = 0;
        state.maxNorm = 0;
        state.warned = false;
      }
    }
    return warnings;
  }
}
