import type { Parameters } from 'fast-check';

/**
 * fast-check parameters for a property: a fresh random seed on every run (a
 * fixed seed re-checks the same cases forever), which fast-check prints with
 * the shrunk counterexample's path when the property fails. To replay that
 * failure: FC_SEED=<seed> [FC_PATH=<path>] npx vitest run <file>.
 */
export function fcParams<Ts>(params: Parameters<Ts> = {}): Parameters<Ts> {
  const seedText = process.env.FC_SEED;
  if (seedText === undefined || seedText === '') return params;
  const seed = Number(seedText);
  if (!Number.isSafeInteger(seed)) throw new Error(`FC_SEED must be an integer, got "${seedText}"`);
  const path = process.env.FC_PATH;
  return { ...params, seed, ...(path !== undefined && path !== '' ? { path } : {}) };
}
