/**
 * CRC-32C (Castagnoli, RFC 4960 Appendix B), the checksum of the PROXY v2
 * PP2_TYPE_CRC32C TLV. Node's zlib only offers plain CRC-32, hence this table.
 */
const TABLE = (() => {
  const table = new Int32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    table[n] = c;
  }
  return table;
})();

/** Continue a running CRC (`crc` as returned before, 0 to start) over `buf[start..end)`. */
export function crc32cUpdate(crc: number, buf: Uint8Array, start = 0, end = buf.length): number {
  let c = ~crc;
  for (let i = start; i < end; i++) {
    c = (TABLE[(c ^ (buf[i] as number)) & 0xff] as number) ^ (c >>> 8);
  }
  return ~c >>> 0;
}

export function crc32c(buf: Uint8Array): number {
  return crc32cUpdate(0, buf);
}
