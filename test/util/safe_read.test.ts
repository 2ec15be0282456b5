import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { firstInvalidUtf8, readInputText } from '../../src/util/safe_read.js';
import { loadPipelineSource } from '../../src/pipeline/sources.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'safe-read-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('firstInvalidUtf8', () => {
  const at = (...bytes: number[]) => firstInvalidUtf8(Uint8Array.from(bytes));
  it('finds the first byte that is not UTF-8, as strict decoders define it', () => {
    expect(at(0x61, 0xc3, 0xa9, 0xe2, 0x82, 0xac, 0xf0, 0x9f, 0x98, 0x80)).toBe(-1); // a é € 😀
    expect(at(0x61, 0xff)).toBe(1);
    expect(at(0x61, 0x62, 0xc0, 0xaf)).toBe(2); // overlong '/'
    expect(at(0xed, 0xa0, 0x80)).toBe(0); // UTF-16 surrogate
    expect(at(0x61, 0xe2, 0x82)).toBe(1); // truncated at the end
    expect(at(0xf4, 0x90, 0x80, 0x80)).toBe(0); // above U+10FFFF
    expect(at(0xe0, 0x80, 0x80)).toBe(0); // overlong 3-byte
  });
});

describe('readInputText', () => {
  const opts = { limit: 'maxYamlBytes', subject: 'pipeline file' } as const;
  it('reads a regular file, and a symlink to one', async () => {
    writeFileSync(join(dir, 'a.yaml'), 'x: é');
    symlinkSync(join(dir, 'a.yaml'), join(dir, 'link.yaml'));
    expect(await readInputText(join(dir, 'a.yaml'), opts)).toBe('x: é');
    expect(await readInputText(join(dir, 'link.yaml'), opts)).toBe('x: é');
  });

  it('refuses a FIFO without blocking, naming the path', async () => {
    const fifo = join(dir, 'p.yaml');
    execFileSync('mkfifo', [fifo]);
    await expect(readInputText(fifo, opts)).rejects.toMatchObject({ name: 'InputRefusedError', data: { path: fifo, kind: 'a FIFO (named pipe)' } });
  });

  it('refuses a pipeline file with bad UTF-8, giving the byte offset (over the wire: -32012)', async () => {
    const path = join(dir, 'bad.yaml');
    writeFileSync(path, Buffer.concat([Buffer.from('workflow:\n  name: caf'), Buffer.from([0xe9, 0x0a])]));
    await expect(loadPipelineSource({ path })).rejects.toMatchObject({ name: 'InputRefusedError', data: { path, offset: 21, kind: 'not-utf8' } });
  });

  it('refuses a file over its limit by its size', async () => {
    const path = join(dir, 'big.yaml');
    writeFileSync(path, 'x'.repeat(2000));
    const saved = process.env.ELEXIRION_MAX_YAML_BYTES;
    process.env.ELEXIRION_MAX_YAML_BYTES = '1000';
    try {
      await expect(readInputText(path, opts)).rejects.toMatchObject({ data: { limit: 'ELEXIRION_MAX_YAML_BYTES', max: 1000, actual: 2000, path } });
    } finally {
      if (saved === undefined) delete process.env.ELEXIRION_MAX_YAML_BYTES;
      else process.env.ELEXIRION_MAX_YAML_BYTES = saved;
    }
  });
});
