// The console's evaluation page (issue 17, item 4), in a real browser
// (Debian's Chromium driven by playwright-core, axe-core) against the real
// server and the stories model: an editor picks an assistant, launches its
// suite against the draft, sees the progress then the report (each case
// with its answer, sources, pass or fail and reasons; the pass rate per
// category), the run history, the server-drawn SVG chart inlined with its
// title and the same numbers in a table, and the comparison of the
// published version's run with the draft's (better: the case the draft's
// knowledge base fixes). axe: no serious or critical violation.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, STORIES } from './lib/server.mjs';
import { launchChromium, axeCheck } from './lib/browser.mjs';

const STEP = 20000;

let srv, admin, editor, tmp, ctx, page;
const pageErrors = [];

async function api(method, path, body, key) {
  const res = await fetch(srv.url + path, {
    method, headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: await res.json().catch(() => null) };
}

before(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'lair-browser-eval-'));
  srv = await startServer(['--model', `stories=${STORIES}`, '--slots', '2', '--ctx', '1024', '--threads', '1']);
  const t = await api('POST', '/api/v1/tenants', { admin_key: true, slug: 'mairie', name: 'Mairie' }, srv.key);
  assert.equal(t.status, 201);
  admin = t.body.admin_key;
  editor = (await api('POST', '/api/v1/keys', { role: 'editor' }, admin)).body.key;
  assert.equal((await api('POST', '/api/v1/knowledge-bases', { slug: 'demarches' }, admin)).status, 201);
  const form = new FormData();
  form.append('file', new Blob(['Acte de naissance\n\nL\'acte de naissance se demande à la mairie du lieu de naissance. La demande est gratuite.\n']), 'naissance.txt');
  const up = await fetch(`${srv.url}/api/v1/knowledge-bases/demarches/documents`,
    { method: 'POST', headers: { Authorization: `Bearer ${admin}` }, body: form });
  const upBody = await up.json();
  assert.ok(up.ok, JSON.stringify(upBody));
  let state;
  for (let i = 0; i < 200; i++) {
    state = (await api('GET', `/api/v1/jobs/${upBody.job_id}`, undefined, admin)).body.state;
    if (state === 'done') break;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(state, 'done', 'ingestion');
  // v1, published: no knowledge base, so the "naissance" case cites nothing
  const base = { slug: 'etat-civil', name: 'État civil', model: 'stories', params: { max_tokens: 16 },
    instructions: 'Tu réponds aux habitants sur l’état civil.' };
  assert.equal((await api('POST', '/api/v1/assistants', base, admin)).status, 201);
  assert.equal((await api('POST', '/api/v1/assistants/etat-civil/publish', {}, admin)).status, 200);
  const suite = { cases: [
    { id: 'naissance', category: 'faits', question: 'Comment demander un acte de naissance ?',
      expect: { sources: ['naissance.txt'] } },
    { id: 'introuvable', category: 'exigeant', question: 'Quel est le code secret ?',
      expect: { contains: ['ZZZ-INTROUVABLE'] } }] };
  assert.equal((await api('PUT', '/api/v1/assistants/etat-civil/eval-suites/base', suite, editor)).status, 201);
  // run 1: the published v1
  const r1 = await api('POST', '/api/v1/assistants/etat-civil/eval-runs', { suite: 'base', version: 'published' }, editor);
  assert.equal(r1.status, 202, JSON.stringify(r1.body));
  for (let i = 0; i < 600; i++) {
    state = (await api('GET', `/api/v1/assistants/etat-civil/eval-runs/${r1.body.id}`, undefined, editor)).body.state;
    if (state !== 'running') break;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(state, 'done');
  // v2, the draft: the knowledge base, citations required
  const v2 = await api('PUT', '/api/v1/assistants/etat-civil', { ...base, knowledge_bases: ['demarches'],
    citations: 'required' }, editor);
  assert.equal(v2.status, 200, JSON.stringify(v2.body));

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

test('launch a run of the draft, follow it, read the report, the chart and the comparison', async () => {
  await page.goto(srv.url + '/');
  await page.getByLabel("Clé d'API").fill(editor);
  await page.getByRole('button', { name: 'Se connecter' }).click();
  await page.locator('h1').filter({ hasNotText: 'Connexion' }).waitFor();
  await page.getByRole('link', { name: 'Évaluation' }).click();
  await page.getByRole('heading', { name: 'Évaluation', level: 1 }).waitFor();
  // the history already holds run 1, and the chart version 1
  await page.locator('table.ev-runs tr[data-run="1"]').waitFor();
  await page.locator('figure.ev-chart svg[role="img"]').waitFor();
  await page.getByLabel('Suite ou pack').selectOption('suite:base');
  await page.getByLabel('Version', { exact: true }).selectOption('draft');
  await page.getByRole('button', { name: 'Lancer' }).click();
  // progress, then the end
  const bar = page.getByRole('progressbar', { name: "Progression de l'évaluation" });
  await bar.waitFor();
  await page.getByText(/Évaluation n° 2 terminée : 1 cas réussis sur 2\./).waitFor();
  assert.equal(await bar.getAttribute('value') ?? String(await bar.evaluate((b) => b.value)), '2');
  // the report: each case with its answer, sources and reasons; the categories
  const report = page.locator('.ev-report[data-run="2"]');
  await report.waitFor();
  const ok = report.locator('details[data-case="naissance"]');
  assert.match(await ok.locator('summary').textContent(), /Réussi/);
  await ok.locator('summary').click();
  await ok.getByText('naissance.txt').waitFor();
  const ko = report.locator('details[data-case="introuvable"]');
  assert.match(await ko.locator('summary').textContent(), /Échec/);
  await ko.locator('summary').click();
  await ko.getByText('the answer does not contain "ZZZ-INTROUVABLE"').waitFor();
  const cats = report.getByRole('table', { name: 'Taux de réussite par catégorie' });
  assert.deepEqual(await cats.locator('tbody tr').allInnerTexts(), ['faits\t1/1\t100 %', 'exigeant\t0/1\t0 %']);
  // the chart: the server's SVG inlined, named, and the same numbers in a table
  const svg = page.locator('figure.ev-chart svg[role="img"]');
  await page.waitForFunction(() => document.querySelector('figure.ev-chart svg desc')?.textContent.includes('version 2'));
  assert.match(await svg.locator('title#eval-chart-title').textContent(), /^Taux de réussite par catégorie et par version : etat-civil/);
  assert.equal(await page.locator('figure.ev-chart script, figure.ev-chart [onload]').count(), 0);
  const chartTable = page.getByRole('table', { name: 'Taux de réussite par catégorie et par version' });
  assert.deepEqual(await chartTable.locator('thead th').allInnerTexts(), ['Catégorie', 'Version 1', 'Version 2']);
  assert.deepEqual(await chartTable.locator('tbody tr').allInnerTexts(),
    ['faits\t0 % (0/1)\t100 % (1/1)', 'exigeant\t0 % (0/1)\t0 % (0/1)']);
  await axeCheck(page, 'the evaluation page with a report and the chart');
  // the comparison: run 1 (v1) -> run 2 (the draft v2)
  await page.getByLabel('Avant', { exact: true }).selectOption('1');
  await page.getByLabel('Après', { exact: true }).selectOption('2');
  await page.getByRole('button', { name: 'Comparer' }).click();
  const cmp = page.getByTestId('ev-compare');
  await cmp.waitFor();
  await cmp.getByRole('heading', { name: 'Mieux (1)' }).waitFor();
  assert.deepEqual(await cmp.locator('.ev-better li').allInnerTexts(), ['naissance']);
  await cmp.getByRole('heading', { name: 'En régression (0)' }).waitFor();
  await cmp.getByText('Inchangés : 0 réussis, 1 en échec.').waitFor();
  await axeCheck(page, 'the evaluation page with a comparison');
  assert.deepEqual(pageErrors, []);
});
