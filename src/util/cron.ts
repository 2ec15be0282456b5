// A 5-field cron parser and a time-zone aware "next fire time" (no library: Intl only).
//
// Why not croner / cron-parser (checked against test/learning/cron.test.ts, croner 11.0,
// cron-parser 5.5): cron-parser fires a fixed-time job at the wrong instant on a spring-forward
// day (02:30 New York on 2026-03-08 -> 03:30 instead of the transition, 03:00). croner keeps
// every daylight-saving case below, but its errors do not name the field as the user wrote it
// ("configuration entry 4 (foo) contains illegal characters" where ours says "month: ..."),
// it refuses vixie's `8/2` (= 8-max/2) form and it accepts 6- and 7-field expressions a crontab
// line would not; wrapping it to restore all three would be as long as the parser itself.
//
//   minute hour day-of-month month day-of-week
//   fields: *  5  1-5  */10  1-30/7  8/2 (= 8-max/2)  lists a,b-c,...  names JAN-DEC, SUN-SAT
//   day-of-week 0 and 7 are Sunday. Macros: @hourly @daily @midnight @weekly @monthly @yearly
//   @annually. Day matching is vixie's: when both day-of-month and day-of-week are restricted
//   (neither starts with '*') a day matching EITHER fires; otherwise both must match.
//
// Daylight-saving semantics (those of vixie cron / cronie), decided per job:
//   - a "fixed-time" job is one whose minute and hour fields both do not start with '*'
//     (e.g. "0 2 * * *"); the others are "wildcard" jobs (e.g. "*/10 * * * *", "0 * * * *").
//   - spring forward (a wall time that does not exist that day, e.g. 02:30 on the US DST start):
//     a fixed-time job fires once at the first instant after the gap (the transition instant,
//     03:00 local); a wildcard job just skips the missing wall times.
//   - fall back (a wall time that happens twice): a fixed-time job fires once, at the first
//     occurrence; a wildcard job fires at both (so "every 10 minutes" stays every 10 real minutes).
// All instants are unix ms; wall times are handled as "naive" ms (a UTC Date holding local fields).
import { ElexirionError } from '../errors.js';

export class CronParseError extends ElexirionError {
  override readonly code: string = 'CRON_PARSE_ERROR';
}

export interface CronExpr {
  source: string;
  minutes: boolean[]; // 0..59
  hours: boolean[]; // 0..23
  daysOfMonth: boolean[]; // 1..31
  months: boolean[]; // 1..12
  daysOfWeek: boolean[]; // 0..6
  domRestricted: boolean;
  dowRestricted: boolean;
  fixedTime: boolean;
}

const MACROS: Record<string, string> = {
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
  '@monthly': '0 0 1 * *',
  '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@hourly': '0 * * * *',
};
const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];

interface FieldSpec {
  name: string;
  min: number;
  max: number;
  names?: string[];
  namesBase?: number;
}
const FIELDS: FieldSpec[] = [
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day-of-month', min: 1, max: 31 },
  { name: 'month', min: 1, max: 12, names: MONTHS, namesBase: 1 },
  { name: 'day-of-week', min: 0, max: 7, names: DAYS, namesBase: 0 },
];

function parseValue(s: string, f: FieldSpec): number {
  const lower = s.toLowerCase();
  if (f.names) {
    const i = f.names.indexOf(lower);
    if (i >= 0) return i + f.namesBase!;
  }
  if (!/^\d+$/.test(s)) throw new CronParseError(`${f.name}: "${s}" is not a number${f.names ? ' or name' : ''}`);
  const n = Number(s);
  if (n < f.min || n > f.max) throw new CronParseError(`${f.name}: ${n} is outside ${f.min}-${f.max}`);
  return n;
}

function parseField(text: string, f: FieldSpec): boolean[] {
  const out = new Array<boolean>(f.max + 1).fill(false);
  if (text === '') throw new CronParseError(`${f.name}: empty field`);
  for (const item of text.split(',')) {
    const [rangePart, stepPart, extra] = item.split('/');
    if (extra !== undefined || rangePart === undefined || rangePart === '') throw new CronParseError(`${f.name}: bad item "${item}"`);
    let step = 1;
    if (stepPart !== undefined) {
      if (!/^\d+$/.test(stepPart) || Number(stepPart) === 0) throw new CronParseError(`${f.name}: bad step "${stepPart}"`);
      step = Number(stepPart);
    }
    let lo: number;
    let hi: number;
    if (rangePart === '*') {
      lo = f.min;
      hi = f.name === 'day-of-week' ? 6 : f.max;
    } else if (rangePart.includes('-')) {
      const [a, b, more] = rangePart.split('-');
      if (more !== undefined || !a || !b) throw new CronParseError(`${f.name}: bad range "${rangePart}"`);
      lo = parseValue(a, f);
      hi = parseValue(b, f);
      if (hi < lo) throw new CronParseError(`${f.name}: range "${rangePart}" runs backwards`);
    } else {
      lo = parseValue(rangePart, f);
      hi = stepPart !== undefined ? (f.name === 'day-of-week' ? 6 : f.max) : lo;
    }
    for (let v = lo; v <= hi; v += step) out[v] = true;
  }
  return out;
}

export function parseCron(source: string): CronExpr {
  const src = source.trim();
  const expanded = MACROS[src.toLowerCase()] ?? src;
  const parts = expanded.split(/\s+/);
  if (parts.length !== 5) throw new CronParseError(`expected 5 fields (minute hour day-of-month month day-of-week), got ${parts.length}: "${source}"`);
  const [mi, h, dom, mon, dow] = parts.map((p, i) => parseField(p, FIELDS[i]!)) as [boolean[], boolean[], boolean[], boolean[], boolean[]];
  if (dow[7]) dow[0] = true;
  return {
    source,
    minutes: mi,
    hours: h,
    daysOfMonth: dom,
    months: mon,
    daysOfWeek: dow.slice(0, 7),
    domRestricted: !parts[2]!.startsWith('*'),
    dowRestricted: !parts[4]!.startsWith('*'),
    fixedTime: !parts[0]!.startsWith('*') && !parts[1]!.startsWith('*'),
  };
}

// ---- time zones ------------------------------------------------------------------------

const formatters = new Map<string, Intl.DateTimeFormat>();
function formatter(tz: string): Intl.DateTimeFormat {
  let f = formatters.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: tz,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
    formatters.set(tz, f);
  }
  return f;
}

/** Throws CronParseError for a time zone Intl does not know. */
export function assertTimeZone(tz: string): void {
  try {
    formatter(tz);
  } catch {
    throw new CronParseError(`unknown time zone "${tz}"`);
  }
}

/** UTC offset of `tz` at instant `u`, in ms (local = u + offset). */
export function offsetAt(tz: string, u: number): number {
  const secs = Math.floor(u / 1000) * 1000;
  const p: Record<string, number> = {};
  for (const part of formatter(tz).formatToParts(new Date(secs))) {
    if (part.type !== 'literal') p[part.type] = Number(part.value);
  }
  const wall = Date.UTC(p['year']!, p['month']! - 1, p['day']!, p['hour']! % 24, p['minute']!, p['second']!);
  return wall - secs;
}

/** Local wall time ("naive" ms) of instant `u` in `tz`. */
export function toWall(tz: string, u: number): number {
  return u + offsetAt(tz, u);
}

const MIN = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;
/** largest offset change we account for around one instant (DST moves 30 min to 2 h) */
const SLACK = 3 * HOUR;

/** The instants whose wall time is exactly `w` (0, 1 or 2 of them). */
function instantsOf(tz: string, w: number): number[] {
  const offs = new Set([offsetAt(tz, w - DAY), offsetAt(tz, w), offsetAt(tz, w + DAY)]);
  const out: number[] = [];
  for (const o of offs) {
    const u = w - o;
    if (offsetAt(tz, u) === o && !out.includes(u)) out.push(u);
  }
  return out.sort((a, b) => a - b);
}

/** For a wall time inside a spring-forward gap: the transition instant that skips it. */
function gapEnd(tz: string, w: number): number {
  const before = offsetAt(tz, w - DAY);
  const after = offsetAt(tz, w + DAY);
  let lo = w - Math.max(before, after); // offset still `before` here
  let hi = w - Math.min(before, after); // already past the transition
  while (hi - lo > MIN) {
    const mid = Math.floor((lo + hi) / 2 / MIN) * MIN;
    if (mid <= lo) break;
    if (offsetAt(tz, mid) === offsetAt(tz, lo)) lo = mid;
    else hi = mid;
  }
  return hi;
}

// ---- matching ---------------------------------------------------------------------------

function dayMatches(c: CronExpr, d: Date): boolean {
  const dom = c.daysOfMonth[d.getUTCDate()]!;
  const dow = c.daysOfWeek[d.getUTCDay()]!;
  if (c.domRestricted && c.dowRestricted) return dom || dow;
  return dom && dow;
}

/** The first matching wall time strictly after wall time `w`, or null within 30 years. */
export function nextWallMatch(c: CronExpr, w: number): number | null {
  let t = Math.floor(w / MIN) * MIN + MIN;
  const lastYear = new Date(t).getUTCFullYear() + 30;
  for (;;) {
    const d = new Date(t);
    const y = d.getUTCFullYear();
    if (y > lastYear) return null;
    const mo = d.getUTCMonth();
    if (!c.months[mo + 1]) {
      t = Date.UTC(y, mo + 1, 1);
      continue;
    }
    const day = d.getUTCDate();
    if (!dayMatches(c, d)) {
      t = Date.UTC(y, mo, day + 1);
      continue;
    }
    const h = d.getUTCHours();
    if (!c.hours[h]) {
      t = Date.UTC(y, mo, day, h + 1);
      continue;
    }
    let mi = d.getUTCMinutes();
    while (mi < 60 && !c.minutes[mi]) mi++;
    if (mi === 60) {
      t = Date.UTC(y, mo, day, h + 1);
      continue;
    }
    return Date.UTC(y, mo, day, h, mi);
  }
}

/** The instants at which wall time `w` (a match) fires, per the DST rules above. */
function firesFor(c: CronExpr, tz: string, w: number): number[] {
  const us = instantsOf(tz, w);
  if (us.length === 0) return c.fixedTime ? [gapEnd(tz, w)] : [];
  if (us.length > 1 && c.fixedTime) return [us[0]!];
  return us;
}

/**
 * The first instant strictly after `instant` at which `expr` fires in time zone `tz`
 * (IANA name, e.g. "Europe/Berlin"; "UTC" by default), or null if it never does.
 */
export function nextFireAfter(expr: string | CronExpr, tz: string, instant: number): number | null {
  const c = typeof expr === 'string' ? parseCron(expr) : expr;
  const o0 = offsetAt(tz, instant);
  const l0 = instant + o0;
  // An earlier wall time can map to a later instant only if the offset drops soon (fall back).
  let w = offsetAt(tz, instant + SLACK) < o0 ? l0 - SLACK : l0 - MIN;
  let best: number | null = null;
  let stopAfterWall = Infinity;
  for (let guard = 0; guard < 100_000; guard++) {
    const W = nextWallMatch(c, w);
    if (W === null || W > stopAfterWall) break;
    for (const u of firesFor(c, tz, W)) if (u > instant && (best === null || u < best)) best = u;
    if (best !== null && stopAfterWall === Infinity) {
      // A later wall time can only map to an earlier instant if the offset rises near `best`.
      const risesNearby = offsetAt(tz, best - SLACK) !== offsetAt(tz, best + SLACK);
      stopAfterWall = risesNearby ? W + SLACK : W;
    }
    w = W;
  }
  return best;
}
