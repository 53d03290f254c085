// Types for bench/lib/results.mjs, so unit tests can import its pure helpers under strict TS.
export const RESULTS_DIR: string;
export function median(xs: readonly number[]): number;
export function machineFacts(): { cpu: string; cores: number; node: string; kernel: string };
export function interleaved<C, R>(
  runs: number,
  configs: readonly C[],
  measure: (config: C, run: number) => Promise<R> | R,
): Promise<R[][]>;
export function writeResults(name: string, data: Record<string, unknown>): string;
