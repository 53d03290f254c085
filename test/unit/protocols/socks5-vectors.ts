import { hexBytes } from './frame-helpers.js';

// Byte vectors written by hand from RFC 1928 / RFC 1929, not produced by our encoders.
export const V = {
  greetingNoAuth: hexBytes('05 01 00'),
  greetingBoth: hexBytes('05 02 00 02'),
  selectNoAuth: hexBytes('05 00'),
  selectUserPass: hexBytes('05 02'),
  selectNone: hexBytes('05 ff'),
  // VER=1 ULEN=4 "user" PLEN=6 "secret"
  auth: hexBytes('01 04 75736572 06 736563726574'),
  authOk: hexBytes('01 00'),
  authFail: hexBytes('01 01'),
  connectV4: hexBytes('05 01 00 01 7f000001 0050'),
  connectDomain: hexBytes('05 01 00 03 09 6c6f63616c686f7374 01bb'),
  connectV6: hexBytes('05 01 00 04 00000000000000000000000000000001 1f90'),
  bindV4: hexBytes('05 02 00 01 0a000001 0000'),
  udpAssociate: hexBytes('05 03 00 01 00000000 0000'),
  udpAssociateV6: hexBytes('05 03 00 04 20010db8000000000000000000000001 d431'),
};
