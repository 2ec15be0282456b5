import { describe, it, expect } from 'vitest';
import { parseCron, nextFireAfter, CronParseError, offsetAt } from '../../src/util/cron.js';

const iso = (t: number | null) => (t === null ? null : new Date(t).toISOString());
const at = (s: string) => Date.parse(s);

/** successive fire times starting after `from` */
function fires(expr: string, tz: string, from: string, n: number): string[] {
  const out: string[] = [];
  let t = at(from);
  for (let i = 0; i < n; i++) {
    const next = nextFireAfter(expr, tz, t);
    if (next === null) break;
    out.push(iso(next)!);
    t = next;
  }
  return out;
}

describe('parseCron', () => {
  it('parses ranges, steps, lists and names', () => {
    const c = parseCron('0,30 9-17/4 * JAN-mar mon-FRI');
    expect(c.minutes.flatMap((v, i) => (v ? [i] : []))).toEqual([0, 30]);
    expect(c.hours.flatMap((v, i) => (v ? [i] : []))).toEqual([9, 13, 17]);
    expect(c.months.flatMap((v, i) => (v ? [i] : []))).toEqual([1, 2, 3]);
    expect(c.daysOfWeek.flatMap((v, i) => (v ? [i] : []))).toEqual([1, 2, 3, 4, 5]);
    expect(parseCron('5/20 * * * 7').minutes.flatMap((v, i) => (v ? [i] : []))).toEqual([5, 25, 45]);
    expect(parseCron('* * * * 7').daysOfWeek[0]).toBe(true);
    expect(parseCron('@weekly').source).toBe('@weekly');
  });

  it('rejects bad expressions with the field named', () => {
    expect(() => parseCron('60 * * * *')).toThrow(/minute: 60 is outside 0-59/);
    expect(() => parseCron('* * * *')).toThrow(CronParseError);
    expect(() => parseCron('*/0 * * * *')).toThrow(/step/);
    expect(() => parseCron('* 5-2 * * *')).toThrow(/backwards/);
    expect(() => parseCron('* * * foo *')).toThrow(/month/);
  });
});

describe('nextFireAfter', () => {
  it('daily, weekly and every-10-minutes in UTC', () => {
    expect(fires('0 2 * * *', 'UTC', '2026-01-01T02:00:00Z', 2)).toEqual(['2026-01-02T02:00:00.000Z', '2026-01-03T02:00:00.000Z']);
    // 2026-01-04 is a Sunday
    expect(fires('0 3 * * 0', 'UTC', '2026-01-01T00:00:00Z', 2)).toEqual(['2026-01-04T03:00:00.000Z', '2026-01-11T03:00:00.000Z']);
    expect(fires('*/10 * * * *', 'UTC', '2026-01-01T00:05:00Z', 3)).toEqual([
      '2026-01-01T00:10:00.000Z',
      '2026-01-01T00:20:00.000Z',
      '2026-01-01T00:30:00.000Z',
    ]);
  });

  it('vixie day matching: dom OR dow when both restricted', () => {
    // the 13th, or any Friday; 2026-02-06 is a Friday
    expect(fires('0 0 13 * 5', 'UTC', '2026-02-01T00:00:00Z', 3)).toEqual([
      '2026-02-06T00:00:00.000Z',
      '2026-02-13T00:00:00.000Z',
      '2026-02-20T00:00:00.000Z',
    ]);
    expect(nextFireAfter('0 0 30 2 *', 'UTC', at('2026-01-01T00:00:00Z'))).toBeNull();
  });

  it('uses the time zone', () => {
    // Berlin is UTC+1 in winter: 02:00 local = 01:00Z
    expect(fires('0 2 * * *', 'Europe/Berlin', '2026-01-10T00:00:00Z', 1)).toEqual(['2026-01-10T01:00:00.000Z']);
    expect(offsetAt('America/New_York', at('2026-07-01T00:00:00Z'))).toBe(-4 * 3600_000);
  });

  it('spring forward, New York (2026-03-08 02:00 -> 03:00): fixed-time job runs at the transition, once', () => {
    expect(fires('30 2 * * *', 'America/New_York', '2026-03-07T00:00:00Z', 3)).toEqual([
      '2026-03-07T07:30:00.000Z', // 02:30 EST
      '2026-03-08T07:00:00.000Z', // 02:30 does not exist: 03:00 EDT, the first instant after the gap
      '2026-03-09T06:30:00.000Z', // 02:30 EDT
    ]);
  });

  it('spring forward: a wildcard job skips the missing wall times', () => {
    expect(fires('*/30 * * * *', 'America/New_York', '2026-03-08T06:00:00Z', 4)).toEqual([
      '2026-03-08T06:30:00.000Z', // 01:30 EST
      '2026-03-08T07:00:00.000Z', // 03:00 EDT (02:00 and 02:30 do not exist)
      '2026-03-08T07:30:00.000Z',
      '2026-03-08T08:00:00.000Z',
    ]);
  });

  it('fall back, New York (2026-11-01 01:00-02:00 twice): fixed-time runs once, wildcard runs in both', () => {
    expect(fires('30 1 * * *', 'America/New_York', '2026-10-31T12:00:00Z', 3)).toEqual([
      '2026-11-01T05:30:00.000Z', // 01:30 EDT (first occurrence only)
      '2026-11-02T06:30:00.000Z', // 01:30 EST next day
      '2026-11-03T06:30:00.000Z',
    ]);
    expect(fires('*/30 * * * *', 'America/New_York', '2026-11-01T05:00:00Z', 5)).toEqual([
      '2026-11-01T05:30:00.000Z', // 01:30 EDT
      '2026-11-01T06:00:00.000Z', // 01:00 EST
      '2026-11-01T06:30:00.000Z', // 01:30 EST
      '2026-11-01T07:00:00.000Z', // 02:00 EST
      '2026-11-01T07:30:00.000Z',
    ]);
  });

  it('Berlin: spring forward 2026-03-29 02:00->03:00 and fall back 2026-10-25 03:00->02:00', () => {
    expect(fires('0 2 * * *', 'Europe/Berlin', '2026-03-28T00:00:00Z', 3)).toEqual([
      '2026-03-28T01:00:00.000Z', // 02:00 CET
      '2026-03-29T01:00:00.000Z', // 02:00 missing: 03:00 CEST = 01:00Z
      '2026-03-30T00:00:00.000Z', // 02:00 CEST
    ]);
    expect(fires('30 2 * * *', 'Europe/Berlin', '2026-10-24T00:00:00Z', 3)).toEqual([
      '2026-10-24T00:30:00.000Z', // 02:30 CEST
      '2026-10-25T00:30:00.000Z', // 02:30 CEST, first of two
      '2026-10-26T01:30:00.000Z', // 02:30 CET
    ]);
  });
});
