// The knowledge base's search tester (issue 18, item 5), in a real browser
// (Debian's Chromium driven by playwright-core, axe-core) against the real
// server: an editor opens a base, asks a question with a typo and a
// citizen's expression, and each result shows its document, score, excerpt
// and the question's words it holds, as labels saying how they matched
// (exact, corrected, synonym). Then the base's vocabulary of equivalences
// (item 4) edited from the same page: the provided one shown, the editor's
// own group saved and found by the tester, a bad line refused with its
// number and nothing changed, back to the provided one. axe finds nothing
// serious or critical.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer } from './lib/server.mjs';
import { launchChromium, axeCheck } from './lib/browser.mjs';

const STEP = 20000;

let srv, editor, tmp, ctx, page;
const pageErrors = [];

async function api(method, path, body, key) {
  const res = await fetch(srv.url + path, {
    method, headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: await res.json().catch(() => null) };
}

before(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'lair-browser-explain-'));
  srv = await startServer([]);
  const t = await api('POST', '/api/v1/tenants', { admin_key: true, slug: 'mairie', name: 'Mairie' }, srv.key);
  assert.equal(t.status, 201);
  editor = (await api('POST', '/api/v1/keys', { role: 'editor' }, t.body.admin_key)).body.key;
  assert.equal((await api('POST', '/api/v1/knowledge-bases', { slug: 'etat-civil' }, editor)).status, 201);
  const form = new FormData();
  form.append('file', new Blob(['L\'acte de naissance se demande à la mairie du lieu de naissance.\n']), 'naissance.txt');
  form.append('file', new Blob(['Le certificat d\'immatriculation se demande en ligne sur le site de l\'ANTS.\n']), 'immatriculation.txt');
  const up = await fetch(`${srv.url}/api/v1/knowledge-bases/etat-civil/documents`,
    { method: 'POST', headers: { Authorization: `Bearer ${editor}` }, body: form });
  const upBody = await up.json();
  assert.ok(up.ok, JSON.stringify(upBody));
  let state;
  for (let i = 0; i < 200; i++) {
    state = (await api('GET', `/api/v1/jobs/${upBody.job_id}`, undefined, editor)).body.state;
    if (state === 'done') break;
    assert.notEqual(state, 'failed');
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(state, 'done', 'ingestion');
  ctx = await launchChromium({
    profile: join(tmp, 'profile'),
    viewport: { width: 1280, height: 900 }, locale: 'fr-FR',
  });
  ctx.setDefaultTimeout(STEP);
  page = ctx.pages()[0] || await ctx.newPage();
  page.on('pageerror', (e) => pageErrors.push(e.message));
});

after(async () => {
  await ctx?.close();
  await srv?.stop();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

test('the search tester shows each result with the words it matched and how', async () => {
  await page.goto(srv.url + '/');
  await page.getByLabel("Clé d'API").fill(editor);
  await page.getByRole('button', { name: 'Se connecter' }).click();
  await page.locator('h1').filter({ hasNotText: 'Connexion' }).waitFor();
  await page.goto(srv.url + '/#kb');
  await page.getByRole('button', { name: 'Ouvrir etat-civil' }).click();
  const tester = page.getByRole('region', { name: 'Tester la recherche' });
  await tester.waitFor();
  await tester.getByLabel('Question').fill('acte de naissence');
  await tester.getByRole('button', { name: 'Rechercher' }).click();
  const first = tester.locator('.search-results > li').first();
  await first.waitFor();
  assert.match(await first.textContent(), /naissance\.txt — score \d/);
  const labels = first.getByRole('list', { name: 'Mots trouvés' }).getByRole('listitem');
  assert.deepEqual(await labels.allTextContents(), ['acte — exact', 'naissence → naissance — corrigé']);
  await axeCheck(page, 'search tester, corrected word');

  await tester.getByLabel('Question').fill('J\'ai perdu ma carte grise');
  await tester.getByRole('button', { name: 'Rechercher' }).click();
  await tester.getByText('immatriculation.txt').waitFor();
  const syn = tester.locator('.search-results > li').first().getByRole('listitem');
  assert.deepEqual(await syn.allTextContents(), ['carte grise → certificat d\'immatriculation — synonyme']);
  await tester.getByLabel('Question').fill('piscine municipale');
  await tester.getByRole('button', { name: 'Rechercher' }).click();
  await tester.getByText('Aucun passage trouvé.').waitFor();
  await axeCheck(page, 'search tester, no result');
  assert.deepEqual(pageErrors, []);
});

test('the base\'s vocabulary is edited from the console and the search follows it', async () => {
  const voc = page.getByRole('region', { name: 'Équivalences de vocabulaire' });
  const tester = page.getByRole('region', { name: 'Tester la recherche' });
  const area = voc.getByLabel('Groupes, un par ligne');
  // a search, its answer received (the panel may still show the last one)
  const search = async () => {
    const answered = page.waitForResponse((r) => r.url().endsWith('/search'));
    await tester.getByRole('button', { name: 'Rechercher' }).click();
    await answered;
  };
  await voc.getByText(/Le vocabulaire fourni avec LibreAIr s'applique \(groupes : \d+\)\./).waitFor();
  assert.match(await area.inputValue(), /^carte grise = certificat d'immatriculation/m);
  await axeCheck(page, 'vocabulary editor');

  // a citizen's word the provided vocabulary lacks: nothing, then found
  await tester.getByLabel('Question').fill('vignette auto');
  await search();
  await tester.getByText('Aucun passage trouvé.').waitFor();
  await area.fill('\nvignette auto = certificat d\'immatriculation\n');
  await voc.getByRole('button', { name: 'Enregistrer le vocabulaire' }).click();
  await voc.getByText('Vocabulaire enregistré (groupes : 1).').waitFor();
  await voc.getByText(/Vocabulaire propre à cette base \(groupes : 1\), modifié le /).waitFor();
  assert.equal(await area.inputValue(), 'vignette auto = certificat d\'immatriculation');
  await search();
  await tester.getByText('immatriculation.txt').waitFor();
  const syn = tester.locator('.search-results > li').first().getByRole('listitem');
  assert.deepEqual(await syn.allTextContents(), ['vignette auto → certificat d\'immatriculation — synonyme']);

  // a group of one expression, on the textarea's third line: refused with
  // its line, nothing changed
  await area.fill('vignette auto = certificat d\'immatriculation\n\nmairie\n');
  await voc.getByRole('button', { name: 'Enregistrer le vocabulaire' }).click();
  const err = voc.getByRole('alert');
  await err.waitFor();
  assert.match(await err.textContent(), /^Ligne 3 : /);
  const after = await api('GET', '/api/v1/knowledge-bases/etat-civil/synonyms', undefined, editor);
  assert.deepEqual(after.body.synonyms, [['vignette auto', 'certificat d\'immatriculation']]);
  await axeCheck(page, 'vocabulary editor, refused line');

  // back to the provided vocabulary, after a confirmation
  await voc.getByRole('button', { name: 'Revenir au vocabulaire fourni' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Confirmer' }).click();
  await voc.getByText('Le vocabulaire fourni s\'applique de nouveau.').waitFor();
  assert.equal(await voc.getByRole('button', { name: 'Revenir au vocabulaire fourni' }).isVisible(), false);
  const reset = await api('GET', '/api/v1/knowledge-bases/etat-civil/synonyms', undefined, editor);
  assert.equal(reset.body.default, true);
  await search();
  await tester.getByText('Aucun passage trouvé.').waitFor();
  assert.deepEqual(pageErrors, []);
});
