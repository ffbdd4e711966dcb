// The evaluation page (#evals, docs/evaluation.md): for one assistant, its
// suites and the shipped red-team packs, a button that starts a run against
// the draft or the published version (POST .../eval-runs) and follows its
// progress (GET .../eval-runs/{id}), the run history, one run's report (each
// case's answer, sources, pass or fail and reasons, the judge's verdict; the
// pass rate per category), the comparison of two runs case by case, and the
// chart of the pass rate per category across versions.
//
// The chart is drawn by the server (GET .../eval-chart.svg). The page's CSP
// (default-src 'self') lets an <img src> of the same origin load, but the
// API wants the key in a header, which an <img> cannot send; a blob: URL is
// not allowed by default-src 'self' either. So the SVG is fetched with the
// key, parsed with DOMParser as XML (never as HTML), checked (an <svg> root,
// no script, no foreignObject, no event or link attribute: the server puts
// none, this is defence in depth) and imported into the page. It is inert
// and names itself for screen readers (role="img", its <title> and <desc>);
// the same numbers follow in a table (GET .../eval-chart.json).
import { h, t, lang, clear, api, fmtTime, statusLine, status, errorBox, errText } from './lib.js';

const enc = encodeURIComponent;
const pct = (r) => `${Math.round((Number(r) || 0) * 100)} %`;
const base = (slug) => `/api/v1/assistants/${enc(slug)}`;
const wait = (ms) => new Promise((r) => { setTimeout(r, ms); });

function table(caption, headers, rows, cls) {
  return h('div', { class: 'table-wrap' }, h('table', { class: cls },
    h('caption', { text: caption }),
    h('thead', {}, h('tr', {}, headers.map((x) => h('th', { scope: 'col', text: x })))),
    h('tbody', {}, rows)));
}

// ---- the chart ----

const SVG_NS = 'http://www.w3.org/2000/svg';

// The server's SVG, parsed as XML and made inert; null when it is not one.
export function importSvg(text) {
  const doc = new DOMParser().parseFromString(text, 'image/svg+xml');
  const root = doc.documentElement;
  if (!root || root.namespaceURI !== SVG_NS || root.localName !== 'svg'
      || doc.getElementsByTagName('parsererror').length) return null;
  for (const el of [...root.querySelectorAll('script, foreignObject, a, style, iframe, image, use')]) el.remove();
  for (const el of [root, ...root.querySelectorAll('*')]) {
    for (const a of [...el.attributes]) {
      if (/^on/i.test(a.name) || /href$/i.test(a.name) || a.name === 'style') el.removeAttribute(a.name);
    }
  }
  return document.importNode(root, true);
}

async function drawChart(slug, box, alive) {
  clear(box).append(h('p', { class: 'hint', text: t('app.loading') }));
  let svgText;
  let data;
  try {
    const res = await api('GET', `${base(slug)}/eval-chart.svg?lang=${lang()}`, undefined, { raw: true });
    svgText = await res.text();
    data = await api('GET', `${base(slug)}/eval-chart.json`);
  } catch (e) {
    if (alive(box)) clear(box).append(errorBox(e));
    return;
  }
  if (!alive(box)) return;
  clear(box);
  const svg = importSvg(svgText);
  box.append(h('figure', { class: 'ev-chart', 'data-testid': 'ev-chart' },
    svg || h('p', { class: 'error', text: t('ev.chart.bad') }),
    h('figcaption', { class: 'hint', text: t('ev.chart.caption') })));
  const versions = data.versions || [];
  if (!versions.length) {
    box.append(h('p', { class: 'hint', text: t('ev.chart.none') }));
    return;
  }
  const cats = [];
  for (const v of versions) for (const c of v.categories || []) if (!cats.includes(c.category)) cats.push(c.category);
  const rate = (v, name) => (v.categories || []).find((c) => c.category === name);
  box.append(table(t('ev.chart.table'), [t('ev.category'), ...versions.map((v) => t('ev.version.n', { v: v.version }))],
    cats.map((name) => h('tr', {}, h('th', { scope: 'row', text: name }),
      versions.map((v) => {
        const c = rate(v, name);
        return h('td', { text: c ? `${pct(c.pass_rate)} (${c.passed}/${c.total})` : '—' });
      }))), 'ev-chart-table'));
}

// ---- one run ----

function caseBlock(c) {
  const ok = c.passed === true;
  const sources = (c.sources || []).map((s) => (s.page ? `${s.document} (p. ${s.page})` : s.document)).filter(Boolean);
  return h('details', { class: `ev-case ${ok ? 'ev-pass' : 'ev-fail'}`, 'data-case': c.id },
    h('summary', {},
      h('span', { class: 'ev-verdict', text: ok ? t('ev.pass') : t('ev.fail') }),
      ` ${c.id} `, h('span', { class: 'hint', text: `[${c.category}] · ${c.latency_ms} ms · ${c.answer_mode}` })),
    h('dl', { class: 'ev-case-body' },
      h('dt', { text: t('ev.question') }), h('dd', { text: c.question || '' }),
      h('dt', { text: t('ev.answer') }), h('dd', { class: 'ev-answer', text: c.answer || '—' }),
      h('dt', { text: t('ev.sources') }), h('dd', { text: sources.length ? sources.join(', ') : '—' }),
      c.judge ? [h('dt', { text: t('ev.judge') }),
        h('dd', { text: t(`ev.judge.${c.judge.verdict}`, { model: c.judge.model || '', reason: c.judge.reason || '' }) })] : null,
      h('dt', { text: t('ev.reasons') }),
      h('dd', {}, (c.reasons || []).length
        ? h('ul', {}, c.reasons.map((r) => h('li', { text: r })))
        : t('ev.noreason'))));
}

function report(r) {
  const cats = r.categories || [];
  return h('div', { class: 'ev-report', 'data-run': r.id },
    h('p', { class: 'ev-summary', text: t('ev.summary', { id: r.id, v: r.assistant_version, suite: r.suite,
      passed: r.passed, total: r.total, rate: pct(r.pass_rate), ms: r.duration_ms ?? '—', model: r.model || '—' }) }),
    table(t('ev.cats.caption'), [t('ev.category'), t('ev.passed'), t('ev.rate')],
      cats.map((c) => h('tr', {}, h('th', { scope: 'row', text: c.category }),
        h('td', { text: `${c.passed}/${c.total}` }), h('td', { text: pct(c.pass_rate) }))), 'ev-cats'),
    h('h3', { text: t('ev.cases') }),
    h('div', { class: 'ev-cases' }, (r.cases || []).map(caseBlock)));
}

// ---- the comparison ----

function comparison(c) {
  const list = (ids) => (ids.length ? h('ul', {}, ids.map((x) => h('li', { text: x }))) : h('p', { class: 'hint', text: '—' }));
  return h('div', { class: 'ev-compare', 'data-testid': 'ev-compare' },
    h('p', { text: t('ev.cmp.head', { a: c.a.id, av: c.a.assistant_version, b: c.b.id, bv: c.b.assistant_version }) }),
    h('h3', { text: t('ev.cmp.better', { n: c.better.length }) }), h('div', { class: 'ev-better' }, list(c.better)),
    h('h3', { text: t('ev.cmp.regressed', { n: c.regressed.length }) }), h('div', { class: 'ev-regressed' }, list(c.regressed)),
    h('p', { text: t('ev.cmp.same', { pass: c.unchanged_pass, fail: c.unchanged_fail }) }),
    table(t('ev.cmp.cats'), [t('ev.category'), t('ev.run.n', { id: c.a.id }), t('ev.run.n', { id: c.b.id })],
      (c.categories || []).map((x) => h('tr', {}, h('th', { scope: 'row', text: x.category }),
        h('td', { text: x.a_pass_rate == null ? '—' : pct(x.a_pass_rate) }),
        h('td', { text: x.b_pass_rate == null ? '—' : pct(x.b_pass_rate) })))));
}

// ---- the page ----

async function viewAssistant(slug, box, alive) {
  const runMsg = statusLine();
  const progress = h('progress', { max: 1, value: 0, hidden: true, 'aria-label': t('ev.progress') });
  const what = h('select', { id: 'ev-what' });
  const version = h('select', { id: 'ev-version' },
    h('option', { value: 'draft', text: t('ev.v.draft') }), h('option', { value: 'published', text: t('ev.v.published') }));
  const launch = h('button', { type: 'submit', class: 'primary', text: t('ev.launch') });
  const historyBox = h('div', {});
  const detailBox = h('div', { id: 'ev-detail', tabindex: '-1' });
  const cmpA = h('select', { id: 'ev-cmp-a' });
  const cmpB = h('select', { id: 'ev-cmp-b' });
  const cmpBox = h('div', {});
  const chartBox = h('div', {});
  const section = (idh, title, ...kids) => h('section', { class: 'card', 'aria-labelledby': idh },
    h('h2', { id: idh, text: title }), ...kids);
  clear(box).append(
    section('ev-run-h', t('ev.run.title'),
      h('form', { class: 'ev-launch', onsubmit: (e) => { e.preventDefault(); start(); } },
        h('label', { for: 'ev-what', text: t('ev.what') }), what,
        h('label', { for: 'ev-version', text: t('ev.version') }), version, launch),
      progress, runMsg),
    section('ev-hist-h', t('ev.history'), historyBox),
    section('ev-detail-h', t('ev.detail'), detailBox),
    section('ev-cmp-h', t('ev.cmp.title'),
      h('form', { class: 'ev-launch', onsubmit: (e) => { e.preventDefault(); compare(); } },
        h('label', { for: 'ev-cmp-a', text: t('ev.cmp.a') }), cmpA,
        h('label', { for: 'ev-cmp-b', text: t('ev.cmp.b') }), cmpB,
        h('button', { type: 'submit', text: t('ev.cmp.go') })), cmpBox),
    section('ev-chart-h', t('ev.chart.title'), chartBox));

  try {
    const s = await api('GET', `${base(slug)}/eval-suites`);
    if (!alive(box)) return;
    what.append(
      h('optgroup', { label: t('ev.suites') }, (s.data || []).map((x) =>
        h('option', { value: `suite:${x.name}`, text: t('ev.suite.opt', { name: x.name, n: x.cases, v: x.version }) }))),
      h('optgroup', { label: t('ev.packs') }, (s.packs || []).map((x) =>
        h('option', { value: `pack:${x.name}`, text: t('ev.pack.opt', { name: x.name, n: x.cases }) }))));
  } catch (e) {
    if (alive(box)) runMsg.replaceWith(errorBox(e));
    return;
  }

  async function showRun(id) {
    clear(detailBox).append(h('p', { class: 'hint', text: t('app.loading') }));
    try {
      const r = await api('GET', `${base(slug)}/eval-runs/${id}`);
      if (!alive(detailBox)) return;
      clear(detailBox).append(r.state === 'running'
        ? h('p', { text: t('ev.running', { done: r.done, total: r.total }) }) : report(r));
      detailBox.focus();
    } catch (e) {
      if (alive(detailBox)) clear(detailBox).append(errorBox(e));
    }
  }

  async function history() {
    let runs;
    try {
      runs = (await api('GET', `${base(slug)}/eval-runs`)).data || [];
    } catch (e) {
      if (alive(historyBox)) clear(historyBox).append(errorBox(e));
      return;
    }
    if (!alive(historyBox)) return;
    clear(historyBox);
    if (!runs.length) {
      historyBox.append(h('p', { class: 'hint', text: t('ev.none') }));
    } else {
      historyBox.append(table(t('ev.history'), [t('ev.run'), t('ev.version'), t('ev.what'), t('ev.state'),
        t('ev.passed'), t('ev.when'), ''], runs.map((r) => h('tr', { 'data-run': r.id },
        h('td', { text: `#${r.id}` }), h('td', { text: `v${r.assistant_version}` }),
        h('td', { text: `${t(`ev.kind.${r.kind}`)} ${r.suite}` }), h('td', { text: t(`ev.st.${r.state}`) }),
        h('td', { text: `${r.passed}/${r.total}` }), h('td', { text: fmtTime(r.created_at) }),
        h('td', {}, h('button', { type: 'button', text: t('ev.show'), 'aria-label': t('ev.show.n', { id: r.id }),
          onclick: () => showRun(r.id) })))), 'ev-runs'));
    }
    const done = runs.filter((r) => r.state === 'done');
    for (const [sel, pick] of [[cmpA, done[1]], [cmpB, done[0]]]) {
      clear(sel).append(...done.map((r) => h('option', { value: r.id,
        text: t('ev.cmp.opt', { id: r.id, v: r.assistant_version, suite: r.suite, passed: r.passed, total: r.total }) })));
      if (pick) sel.value = String(pick.id);
    }
  }

  async function compare() {
    if (!cmpA.value || !cmpB.value) {
      clear(cmpBox).append(h('p', { class: 'hint', text: t('ev.cmp.need') }));
      return;
    }
    try {
      const c = await api('GET', `${base(slug)}/eval-runs/${cmpA.value}/compare/${cmpB.value}`);
      if (alive(cmpBox)) clear(cmpBox).append(comparison(c));
    } catch (e) {
      if (alive(cmpBox)) clear(cmpBox).append(errorBox(e));
    }
  }

  async function start() {
    const [kind, name] = what.value.split(/:(.*)/s);
    if (!name) return;
    launch.disabled = true;
    status(runMsg, t('ev.starting'));
    try {
      let r = await api('POST', `${base(slug)}/eval-runs`, { [kind]: name, version: version.value });
      progress.hidden = false;
      while (alive(progress)) {
        progress.max = r.total || 1;
        progress.value = r.done || 0;
        status(runMsg, t('ev.running', { done: r.done || 0, total: r.total }));
        if (r.state !== 'running') break;
        await wait(700);
        r = await api('GET', `${base(slug)}/eval-runs/${r.id}`);
      }
      if (!alive(progress)) return;
      status(runMsg, t('ev.finished', { id: r.id, state: t(`ev.st.${r.state}`), passed: r.passed, total: r.total }),
        r.passed === r.total ? 'info' : 'error');
      await history();
      await showRun(r.id);
      await drawChart(slug, chartBox, alive);
    } catch (e) {
      if (alive(runMsg)) status(runMsg, errText(e), 'error');
    } finally {
      launch.disabled = false;
    }
  }

  await history();
  await drawChart(slug, chartBox, alive);
}

export async function viewEvals(me, main, token, alive) {
  const pick = h('select', { id: 'ev-assistant' });
  const box = h('div', {});
  const root = h('div', { class: 'evals-page' },
    h('h1', { text: t('ev.title') }),
    h('p', { class: 'hint', text: t('ev.intro') }),
    h('p', {}, h('label', { for: 'ev-assistant', text: t('ev.assistant') }), ' ', pick),
    box);
  main.append(root);
  let list;
  try {
    list = (await api('GET', '/api/v1/assistants')).data || [];
  } catch (e) {
    if (alive(root)) box.append(errorBox(e));
    return;
  }
  if (!alive(root)) return;
  if (!list.length) {
    box.append(h('p', { class: 'hint', text: t('ev.noassistant') }));
    return;
  }
  pick.append(...list.map((a) => h('option', { value: a.slug, text: a.name ? `${a.name} (${a.slug})` : a.slug })));
  const want = new URLSearchParams(location.search).get('assistant');
  if (want && list.some((a) => a.slug === want)) pick.value = want;
  pick.addEventListener('change', () => viewAssistant(pick.value, box, alive));
  await viewAssistant(pick.value, box, alive);
}
