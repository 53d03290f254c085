import fc from 'fast-check';

/** Labels from a small alphabet, so generated rules and hosts often meet. */
export const label = fc.constantFrom(
  'a',
  'b',
  'ab',
  'ba',
  'com',
  'cn',
  'x-y',
  'goo',
  'google',
  'o',
);
export const domain = fc.array(label, { minLength: 1, maxLength: 4 }).map((l) => l.join('.'));
export const ipv4 = fc.constantFrom('10.0.0.1', '10.1.2.3', '192.168.1.1', '8.8.8.8', '1.2.3.4');
export const ipv6 = fc.constantFrom(
  '::1',
  '2001:db8::1',
  '2001:db8:1::5',
  'fe80::1',
  '::ffff:10.0.0.1',
  '::1.2.3.4',
  '0:0:0:0:0:0:0:1',
  '2001:db8:0:0:1:0:0:1',
  '::',
  '1::',
);
export const host = fc.oneof(
  { weight: 6, arbitrary: domain },
  { weight: 1, arbitrary: ipv4 },
  { weight: 1, arbitrary: ipv6 },
  { weight: 1, arbitrary: ipv6.map((h) => `[${h.toUpperCase()}]`) },
  { weight: 1, arbitrary: domain.map((d) => `${d.toUpperCase()}.`) },
);
export const port = fc.constantFrom(80, 443, 8080, 14000);

/** Domain-list entries (§4.4 forms). */
export const domainEntry = fc.oneof(
  domain,
  domain.map((d) => `.${d}`),
  domain.map((d) => `*.${d}`),
  ipv4,
  ipv6,
  fc.constantFrom('10.0.0.0/8', '192.168.0.0/16', '2001:db8::/32', 'fe80::/10', '0.0.0.0/0'),
  port.map((p) => `:${p}`),
  fc.constantFrom('/goo.*/', '/.*\\.cn/', '/a|b/', '/[0-9.]+/'),
);

/** ABP lines of every shape the parser understands. */
export const abpLine = fc
  .tuple(
    fc.boolean(),
    fc.oneof(
      domain.map((d) => `||${d}`),
      domain.map((d) => `||${d}^`),
      domain.map((d) => `|http://${d}/`),
      domain.map((d) => `|https://${d}`),
      domain.map((d) => `.${d}`),
      domain.map((d) => `${d}/path`),
      domain.map((d) => `${d}^`),
      label,
      domain,
      domain.map((d) => `||*.${d}^`),
      fc.constantFrom(
        '/^https?:\\/\\/[^\\/]+\\.cn/',
        '/google/',
        'goo*le',
        '|http://10.1.2.3/',
        '||[::1]',
      ),
    ),
  )
  .map(([exception, rule]) => (exception ? `@@${rule}` : rule));
