// Types for scripts/bench-tables.mjs, so the TypeScript test can import it under strict mode.

export interface BenchTable {
  readonly caption: string;
  readonly columns: readonly string[];
  readonly rows: readonly (readonly string[])[];
  readonly notes?: readonly string[];
}

export interface BenchResults {
  readonly bench: string;
  /** 'measured' when a bench wrote it; otherwise how the figures got here. */
  readonly source: string;
  /** ISO date the bench wrote it (measured results). */
  readonly date?: string;
  /** When pasted figures were measured, if known. */
  readonly measured?: string | null;
  readonly machine: {
    readonly cpu?: string;
    readonly cores?: number;
    readonly node?: string;
    readonly kernel?: string;
    readonly description?: string;
  };
  readonly runs: number;
  readonly seconds?: number;
  readonly settings?: Readonly<Record<string, string>>;
  readonly table: BenchTable;
  readonly results?: unknown;
}

export const RESULTS_DIR: URL;
export function startMarker(name: string): string;
export function endMarker(name: string): string;
export function benchNamesIn(readme: string): string[];
export function loadResults(name: string): BenchResults;
export function renderBenchTable(json: BenchResults): string;
export function regenerateBenchTables(
  readme: string,
  load?: (name: string) => BenchResults,
): string;
