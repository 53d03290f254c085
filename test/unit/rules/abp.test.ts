import { describe, expect, it } from 'vitest';
import { decodeAbpText, parseAbpLine, parseAbpList } from '../../../src/protocols/rules/index.js';

const GFW = `[AutoProxy 0.2.9]
! Checksum: abc
! Title: GFWList4LL
!---------------------
||google.com
.youtube.com
|http://85.17.73.31/
@@||cn.bing.com
/^https?:\\/\\/[^\\/]+blogspot\\.(.*)/
example.org/path
example.net##.ad
`;

describe('ABP list parsing', () => {
  it('reads a base64-wrapped gfwlist exactly as its plain text', () => {
    const wrapped = Buffer.from(GFW).toString('base64').replace(/.{64}/g, '$&\n');
    expect(decodeAbpText(wrapped)).toBe(GFW);
    const plain = parseAbpList(GFW, 'gfw');
    const fromBase64 = parseAbpList(wrapped, 'gfw');
    expect(fromBase64.rules.map((r) => r.text)).toEqual(plain.rules.map((r) => r.text));
    expect(plain.rules.map((r) => [r.line, r.action, r.pattern.kind])).toEqual([
      [5, 'proxy', 'domain'],
      [6, 'proxy', 'subdomain'],
      [7, 'proxy', 'exact'],
      [8, 'direct', 'domain'],
      [9, 'proxy', 'regex'],
      [10, 'proxy', 'ends-with'],
    ]);
    expect(plain.skipped).toEqual([
      { line: 11, text: 'example.net##.ad', reason: 'element hiding rule' },
    ]);
  });

  it('keeps plain text that merely looks like base64', () => {
    expect(decodeAbpText('abcd')).toBe('abcd');
    expect(decodeAbpText('example\ngoogle')).toBe('example\ngoogle');
    expect(decodeAbpText('||a.com')).toBe('||a.com');
  });

  it('reports unusable lines instead of failing the list', () => {
    const list = parseAbpList('/(bad/\n/path-only\n||\n|http:///x\n$image\n||ok.example', 'l');
    expect(list.rules.map((r) => r.text)).toEqual(['||ok.example']);
    expect(list.skipped.map((s) => s.line)).toEqual([1, 2, 3, 4, 5]);
  });

  it('maps each rule shape to its host pattern', () => {
    const kind = (t: string) => {
      const p = parseAbpLine(t);
      return p.kind === 'rule' ? [p.action, p.pattern] : p.kind;
    };
    expect(kind('||Example.com^')).toEqual(['proxy', { kind: 'domain', domain: 'example.com' }]);
    expect(kind('||example.com:8080/x')).toEqual([
      'proxy',
      { kind: 'domain', domain: 'example.com' },
    ]);
    expect(kind('@@|https://[::1]:443/')).toEqual(['direct', { kind: 'exact', host: '::1' }]);
    expect(kind('.example.com')).toEqual(['proxy', { kind: 'subdomain', domain: 'example.com' }]);
    expect(kind('example.com^')).toEqual(['proxy', { kind: 'ends-with', text: 'example.com' }]);
    expect(kind('example.com|')).toEqual(['proxy', { kind: 'ends-with', text: 'example.com' }]);
    expect(kind('exam')).toEqual(['proxy', { kind: 'contains', text: 'exam' }]);
    expect(kind('! comment')).toBe('comment');
    expect(kind('[Adblock Plus 2.0]')).toBe('comment');
    expect(kind('   ')).toBe('comment');
  });
});
