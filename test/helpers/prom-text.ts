// A small reader of the Prometheus text exposition format (0.0.4), for tests
// that scrape /metrics and check series by name and labels.

export interface PromSample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface PromScrape {
  readonly samples: readonly PromSample[];
  /** `# TYPE` by metric family name. */
  readonly types: ReadonlyMap<string, string>;
  readonly help: ReadonlyMap<string, string>;
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})?\s+(\S+)(?:\s+-?\d+)?$/;

function parseValue(text: string): number {
  if (text === '+Inf') return Number.POSITIVE_INFINITY;
  if (text === '-Inf') return Number.NEGATIVE_INFINITY;
  // prom-client writes `Nan`; Prometheus (Go's ParseFloat) reads any case.
  if (text.toLowerCase() === 'nan') return Number.NaN;
  const value = Number(text);
  if (Number.isNaN(value)) throw new Error(`bad sample value ${JSON.stringify(text)}`);
  return value;
}

/** `{a="x",b="y\"z"}` → { a: 'x', b: 'y"z' }, undoing the \\ \" \n escapes. */
function parseLabels(text: string): Record<string, string> {
  const labels: Record<string, string> = {};
  let i = 1;
  const end = text.length - 1;
  while (i < end) {
    const eq = text.indexOf('=', i);
    if (eq < 0 || text[eq + 1] !== '"') throw new Error(`bad labels ${text}`);
    const name = text.slice(i, eq).trim();
    let value = '';
    let j = eq + 2;
    for (; j < end && text[j] !== '"'; j++) {
      if (text[j] === '\\') {
        j++;
        value += text[j] === 'n' ? '\n' : text[j];
      } else value += text[j];
    }
    if (text[j] !== '"') throw new Error(`unterminated label value in ${text}`);
    labels[name] = value;
    i = j + 1;
    if (text[i] === ',') i++;
  }
  return labels;
}

export function parsePromText(text: string): PromScrape {
  const samples: PromSample[] = [];
  const types = new Map<string, string>();
  const help = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line.trim().length === 0) continue;
    if (line.startsWith('#')) {
      const m = /^# (TYPE|HELP) (\S+) ?(.*)$/.exec(line);
      if (m?.[1] === 'TYPE') types.set(m[2] ?? '', m[3] ?? '');
      else if (m?.[1] === 'HELP') help.set(m[2] ?? '', m[3] ?? '');
      continue;
    }
    const m = SAMPLE.exec(line);
    if (!m) throw new Error(`bad sample line ${JSON.stringify(line)}`);
    samples.push({
      name: m[1] ?? '',
      labels: m[2] === undefined ? {} : parseLabels(m[2]),
      value: parseValue(m[3] ?? ''),
    });
  }
  return { samples, types, help };
}

/** The samples named `name` whose labels include every one of `labels`. */
export function findSamples(
  scrape: PromScrape,
  name: string,
  labels: Record<string, string> = {},
): PromSample[] {
  return scrape.samples.filter(
    (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  );
}

/** The one sample named `name` with these labels; throws when there is none or several. */
export function sampleValue(
  scrape: PromScrape,
  name: string,
  labels: Record<string, string> = {},
): number {
  const found = findSamples(scrape, name, labels);
  if (found.length !== 1) {
    throw new Error(`${found.length} samples of ${name} ${JSON.stringify(labels)}`);
  }
  return (found[0] as PromSample).value;
}
