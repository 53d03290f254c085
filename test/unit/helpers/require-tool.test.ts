import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  findTool,
  isCi,
  requireTool,
  skipNote,
  toolSearchDirs,
} from '../../helpers/require-tool.js';

// The lookup behind every external-tool suite, on a fake filesystem layout:
// PATH first, then the extra (sbin) dirs; CI turns "missing" into a throw.

let root: string;
let onPath: string;
let sbin: string;

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'vproxy-require-tool-'));
  onPath = join(root, 'bin');
  sbin = join(root, 'sbin');
  mkdirSync(onPath);
  mkdirSync(sbin);
  const exe = (dir: string, name: string, mode = 0o755) => {
    writeFileSync(join(dir, name), '#!/bin/sh\n');
    chmodSync(join(dir, name), mode);
  };
  exe(onPath, 'both');
  exe(sbin, 'both');
  exe(sbin, 'daemond');
  exe(onPath, 'not-executable', 0o644);
  mkdirSync(join(onPath, 'a-directory'));
});

afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('requireTool', () => {
  it('finds a tool in an extra dir that PATH lacks (haproxy in /usr/sbin)', () => {
    expect(findTool('daemond', { path: onPath, extraDirs: [sbin] })).toBe(join(sbin, 'daemond'));
    expect(requireTool('daemond', { path: onPath, extraDirs: [sbin], ci: true })).toEqual({
      name: 'daemond',
      path: join(sbin, 'daemond'),
      missing: false,
      reason: '',
    });
  });

  it('prefers PATH, as a shell does', () => {
    expect(findTool('both', { path: onPath, extraDirs: [sbin] })).toBe(join(onPath, 'both'));
  });

  it('ignores non-executable files, directories and relative PATH entries', () => {
    const env = { path: `.:relative:${onPath}`, extraDirs: [] };
    expect(findTool('not-executable', env)).toBeUndefined();
    expect(findTool('a-directory', env)).toBeUndefined();
    expect(toolSearchDirs(env)).toEqual([onPath]);
  });

  it('in CI a missing tool throws, naming it and where it looked', () => {
    expect(() => requireTool('haproxy', { path: onPath, extraDirs: [sbin], ci: true })).toThrow(
      `required tool missing in CI: haproxy not found on PATH or in ${onPath}:${sbin} (apt-get install -y haproxy)`,
    );
  });

  it('locally a missing tool is a visible skip: missing, a warning and a title note', () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    try {
      const t = requireTool('nginx', { path: onPath, extraDirs: [], ci: false });
      expect(t.missing).toBe(true);
      expect(warn).toHaveBeenCalledWith(expect.stringContaining('SKIPPING tests that need nginx'));
      expect(skipNote(t)).toBe(
        ` (SKIPPED: nginx not found on PATH or in ${onPath} (apt-get install -y nginx))`,
      );
    } finally {
      warn.mockRestore();
    }
  });

  it('reads CI the way CI providers set it', () => {
    expect(isCi({ CI: 'true' })).toBe(true);
    expect(isCi({ CI: '1' })).toBe(true);
    expect(isCi({})).toBe(false);
    expect(isCi({ CI: '' })).toBe(false);
    expect(isCi({ CI: 'false' })).toBe(false);
    expect(isCi({ CI: '0' })).toBe(false);
  });
});
