// Why: an A/B switch in the environment that is mistyped (DTRAIN_FLAT_OPTIMIZER=off, =false) must not
// quietly mean "on": a bench would then compare a configuration with itself. Such switches take exactly
// '1' (or nothing: the default) and '0', and anything else stops the process with the variable named.

/** What '1' and '0' mean, for the error message: `NAME must be 1 (${on}) or 0 (${off}), got '...'`. */
export interface SwitchMeaning {
  on: string;
  off: string;
}

/**
 * Whether the switch `name` is on: unset, empty or '1' is on, '0' is off.
 *
 * Raises:
 *   RangeError: the variable is set to anything else (the message names it and both meanings).
 */
export function envSwitchOn(env: NodeJS.ProcessEnv, name: string, meaning: SwitchMeaning): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '' || raw === '1') return true;
  if (raw === '0') return false;
  throw new RangeError(`${name} must be 1 (${meaning.on}) or 0 (${meaning.off}), got '${raw}'`);
}
