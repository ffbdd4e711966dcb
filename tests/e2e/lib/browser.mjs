// What the browser tests (t_browser*.mjs) share: Debian's Chromium driven by
// playwright-core, and axe-core's accessibility check.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { existsSync, readFileSync } from 'node:fs';
import { chromium } from 'playwright-core';

const require = createRequire(import.meta.url);
const AXE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

// The browser: Debian's chromium (scripts/deps.sh), or $LAIR_CHROMIUM.
export const CHROMIUM = process.env.LAIR_CHROMIUM || '/usr/bin/chromium';

// Headless, no sandbox and nothing in the background (no network of its own,
// no component update, no sync, no first-run page).
export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run'];

// launchChromium([{ profile, ...options }]): Chromium with CHROMIUM_ARGS,
// after asserting that it is installed. Without `profile`, the browser
// (chromium.launch; the options are the launch's); with `profile`, a
// directory, a persistent context on that profile (launchPersistentContext;
// the options may also be the context's: viewport, locale...). Both have
// newPage() and close().
export async function launchChromium({ profile, ...options } = {}) {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: scripts/deps.sh installs Debian's chromium`);
  const launch = { executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, ...options };
  return profile === undefined ? chromium.launch(launch) : chromium.launchPersistentContext(profile, launch);
}

// axeCheck(page, label): runs axe-core in the page (page.evaluate is not
// subject to the page's CSP, so the pages keep their strict policy while
// being checked) and asserts that no violation is serious or critical, the
// message naming the label and those violations. Returns all the violations
// ({ id, impact, help, nodes: the first three targets }), minor ones included.
export async function axeCheck(page, label) {
  await page.evaluate(AXE);
  const violations = await page.evaluate(async () => {
    const res = await window.axe.run(document, { resultTypes: ['violations'] });
    return res.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help,
      nodes: v.nodes.slice(0, 3).map((n) => n.target.join(' ')) }));
  });
  const bad = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(bad, [], `${label}: axe found ${JSON.stringify(bad, null, 1)}`);
  return violations;
}
