/**
 * Go's time.Format for the local time zone: kcptun formats `--snmplog`'s file name with it
 * (`./snmp-20060102.log` → `./snmp-20261207.log`), so a name must come out as Go writes it.
 * The layout tokens and their precedence are Go's nextStdChunk (time/format.go); anything
 * else is copied as it is. JavaScript clocks have milliseconds, so fractions below them are 0.
 */

const LONG_MONTHS = [
  'January',
  'February',
  'March',
  'April',
  'May',
  'June',
  'July',
  'August',
  'September',
  'October',
  'November',
  'December',
];
const LONG_DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];

type Token = (d: Date) => string;

const pad = (n: number, width: number, fill = '0'): string => String(n).padStart(width, fill);
const hour12 = (d: Date): number => d.getHours() % 12 || 12;

function dayOfYear(d: Date): number {
  const start = new Date(d.getFullYear(), 0, 1);
  const utc = (x: Date): number => Date.UTC(x.getFullYear(), x.getMonth(), x.getDate());
  return (utc(d) - utc(start)) / 86_400_000 + 1;
}

/** Go's -0700 family: `colon` between fields, `seconds` too, `z`: Z for UTC. */
function zone(colon: boolean, withMinutes: boolean, withSeconds: boolean, z: boolean): Token {
  return (d) => {
    const offset = -d.getTimezoneOffset() * 60; // seconds east of UTC
    if (z && offset === 0) return 'Z';
    const abs = Math.abs(offset);
    const sep = colon ? ':' : '';
    let s = `${offset < 0 ? '-' : '+'}${pad(Math.floor(abs / 3600), 2)}`;
    if (withMinutes) s += sep + pad(Math.floor(abs / 60) % 60, 2);
    if (withSeconds) s += sep + pad(abs % 60, 2);
    return s;
  };
}

/** Go's MST: the zone's abbreviation, or -0700 when the zone has none. */
function zoneName(d: Date): string {
  const name = new Intl.DateTimeFormat('en-US', { timeZoneName: 'short' })
    .formatToParts(d)
    .find((p) => p.type === 'timeZoneName')?.value;
  return name !== undefined && /^[A-Z]{3,5}$/.test(name)
    ? name
    : zone(false, true, false, false)(d);
}

/** .000 / ,999: `digits` of the second's fraction; the 9s trim trailing zeros (and the dot). */
function fraction(sep: string, digits: number, trim: boolean): Token {
  return (d) => {
    let f = pad(d.getMilliseconds(), 3).padEnd(9, '0').slice(0, digits);
    if (trim) {
      f = f.replace(/0+$/, '');
      return f === '' ? '' : sep + f;
    }
    return sep + f;
  };
}

const isLower = (c: string | undefined): boolean => c !== undefined && c >= 'a' && c <= 'z';
const isDigit = (c: string | undefined): boolean => c !== undefined && c >= '0' && c <= '9';

/** The token at `layout[i]`: its length and formatter, or null for a literal character. */
function tokenAt(layout: string, i: number): [number, Token] | null {
  const at = (s: string): boolean => layout.startsWith(s, i);
  const next = layout[i + 1];
  switch (layout[i]) {
    case 'J':
      if (at('January')) return [7, (d) => LONG_MONTHS[d.getMonth()] as string];
      if (at('Jan') && !isLower(layout[i + 3]))
        return [3, (d) => (LONG_MONTHS[d.getMonth()] as string).slice(0, 3)];
      return null;
    case 'M':
      if (at('Monday')) return [6, (d) => LONG_DAYS[d.getDay()] as string];
      if (at('Mon') && !isLower(layout[i + 3]))
        return [3, (d) => (LONG_DAYS[d.getDay()] as string).slice(0, 3)];
      if (at('MST')) return [3, zoneName];
      return null;
    case '0':
      if (next !== undefined && next >= '1' && next <= '6') {
        const zero: Token[] = [
          (d) => pad(d.getMonth() + 1, 2),
          (d) => pad(d.getDate(), 2),
          (d) => pad(hour12(d), 2),
          (d) => pad(d.getMinutes(), 2),
          (d) => pad(d.getSeconds(), 2),
          (d) => pad(d.getFullYear() % 100, 2),
        ];
        return [2, zero[Number(next) - 1] as Token];
      }
      if (at('002')) return [3, (d) => pad(dayOfYear(d), 3)];
      return null;
    case '1':
      if (next === '5') return [2, (d) => pad(d.getHours(), 2)];
      return [1, (d) => String(d.getMonth() + 1)];
    case '2':
      if (at('2006')) return [4, (d) => pad(d.getFullYear(), 4)];
      return [1, (d) => String(d.getDate())];
    case '_':
      // `_2006` is a literal underscore, then the year: leave the `_` to the caller.
      if (next === '2' && !at('_2006')) return [2, (d) => pad(d.getDate(), 2, ' ')];
      if (at('__2')) return [3, (d) => pad(dayOfYear(d), 3, ' ')];
      return null;
    case '3':
      return [1, (d) => String(hour12(d))];
    case '4':
      return [1, (d) => String(d.getMinutes())];
    case '5':
      return [1, (d) => String(d.getSeconds())];
    case 'P':
      return next === 'M' ? [2, (d) => (d.getHours() >= 12 ? 'PM' : 'AM')] : null;
    case 'p':
      return next === 'm' ? [2, (d) => (d.getHours() >= 12 ? 'pm' : 'am')] : null;
    case '-':
    case 'Z': {
      const z = layout[i] === 'Z';
      const forms: [string, boolean, boolean, boolean][] = [
        ['070000', false, true, true],
        ['07:00:00', true, true, true],
        ['0700', false, true, false],
        ['07:00', true, true, false],
        ['07', false, false, false],
      ];
      for (const [f, colon, minutes, seconds] of forms) {
        if (layout.startsWith(f, i + 1)) return [1 + f.length, zone(colon, minutes, seconds, z)];
      }
      return null;
    }
    case '.':
    case ',': {
      if (next !== '0' && next !== '9') return null;
      let j = i + 1;
      while (layout[j] === next) j++;
      // Only a run of digits that ends there is a fraction (Go: !isDigit(layout, j)).
      if (isDigit(layout[j])) return null;
      return [j - i, fraction(layout[i] as string, j - i - 1, next === '9')];
    }
    default:
      return null;
  }
}

/** `date` (local time) formatted with Go's `layout`. */
export function goTimeFormat(layout: string, date: Date): string {
  let out = '';
  for (let i = 0; i < layout.length; ) {
    const t = tokenAt(layout, i);
    if (t === null) {
      out += layout[i];
      i++;
      continue;
    }
    out += t[1](date);
    i += t[0];
  }
  return out;
}

/**
 * kcptun's log file name: filepath.Split into directory and file, and only the file part
 * goes through time.Format (a directory named `2006` stays `2006`).
 */
export function snmpLogPath(pattern: string, date: Date): string {
  const slash = pattern.lastIndexOf('/');
  return pattern.slice(0, slash + 1) + goTimeFormat(pattern.slice(slash + 1), date);
}
