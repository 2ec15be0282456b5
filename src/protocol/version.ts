/**
 * Wire protocol version, `MAJOR.MINOR`. A client with a different MAJOR is refused at
 * `initialize`; MINOR additions are backward compatible (new optional fields, new methods).
 * Keep `protocol/VERSION` equal to this (a test checks).
 */
export const PROTOCOL_VERSION = '1.0';

export function parseProtocolVersion(v: string): { major: number; minor: number } | undefined {
  const m = /^(\d+)\.(\d+)$/.exec(v);
  return m ? { major: Number(m[1]), minor: Number(m[2]) } : undefined;
}

/** True when a client speaking `v` can talk to this sidecar. */
export function isCompatibleProtocolVersion(v: string): boolean {
  const theirs = parseProtocolVersion(v);
  const ours = parseProtocolVersion(PROTOCOL_VERSION)!;
  return theirs !== undefined && theirs.major === ours.major;
}
