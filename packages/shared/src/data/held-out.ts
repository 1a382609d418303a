// Which rows are validated every epoch and which are tested once at the end. New jobs name files
// (testPath, validationPath) or a validationFraction; a job with only the old testFraction (or
// none of these) keeps its old meaning: one seeded held-out share, evaluated every epoch.

export interface HeldOutFields {
  testFraction?: number;
  testPath?: string;
  validationPath?: string;
  validationFraction?: number;
}

export type ValidationSource =
  | { kind: 'fraction'; fraction: number }
  | { kind: 'file'; path: string }
  | { kind: 'none' };

export interface HeldOutPlan {
  validation: ValidationSource;
  /** 'file': evaluated once at the end; 'same-as-validation': legacy, one share for both roles. */
  test: { kind: 'file'; path: string } | { kind: 'same-as-validation' } | { kind: 'none' };
}

export const DEFAULT_HELD_OUT_FRACTION = 0.2;

export function heldOutPlan(spec: HeldOutFields): HeldOutPlan {
  const modern = spec.testPath !== undefined || spec.validationPath !== undefined || spec.validationFraction !== undefined;
  if (!modern) {
    return {
      validation: { kind: 'fraction', fraction: spec.testFraction ?? DEFAULT_HELD_OUT_FRACTION },
      test: { kind: 'same-as-validation' },
    };
  }
  let validation: ValidationSource;
  if (spec.validationPath !== undefined) validation = { kind: 'file', path: spec.validationPath };
  else if (spec.validationFraction === 0) validation = { kind: 'none' };
  else validation = { kind: 'fraction', fraction: spec.validationFraction ?? DEFAULT_HELD_OUT_FRACTION };
  return {
    validation,
    test: spec.testPath !== undefined ? { kind: 'file', path: spec.testPath } : { kind: 'none' },
  };
}
