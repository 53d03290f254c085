import { type Browser, chromium } from 'playwright-core';
import { type RequiredTool, requireTool } from './require-tool.js';

// Headless Chromium for browser tests: the Debian package, driven by
// playwright-core (which downloads nothing). CI installs it (`chromium`) and
// fails without it; locally the browser tests skip with `CHROMIUM.missing`.

/** Found the way `.ci/run`'s `command -v chromium` finds it (PATH plus sbin dirs). */
export const CHROMIUM: RequiredTool = requireTool('chromium');

/** Launch headless Chromium with no network side channels (no QUIC, sync, updates). */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM.path,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}
