import { existsSync } from 'node:fs';
import { type Browser, chromium } from 'playwright-core';

// Headless Chromium for browser tests: the Debian package, driven by
// playwright-core (which downloads nothing). CI installs it (`chromium`).

export const CHROMIUM_PATH = '/usr/bin/chromium';

/** Whether the browser is installed; tests skip their browser part when not. */
export const HAVE_CHROMIUM = existsSync(CHROMIUM_PATH);

export const NO_CHROMIUM_MESSAGE = `${CHROMIUM_PATH} is missing: browser checks skipped (apt-get install chromium)`;

/** Launch headless Chromium with no network side channels (no QUIC, sync, updates). */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
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
