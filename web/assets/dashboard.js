// The tenant's dashboard (#dashboard, editors and admins): conversations
// and tokens per assistant and per day as bar charts drawn here in SVG
// (DOM APIs only: the console's CSP allows no inline script or style),
// each with its numbers in a table for those who cannot see it; the gaps
// of the knowledge bases (questions refused or answered without sources,
// grouped by their words); and the feedback people gave answers, with
// personal data masked by the server (GET /api/v1/dashboard, /api/v1/feedback).
import { h, t, clear, id, api, fmtTime, errorBox } from './lib.js';

const SVG = 'http://www.w3.org/2000/svg';
// distinct on white, each at least 3:1 against it (WCAG 1.4.11)
const COLORS = ['#1d3f8f', '#b3541e', '#17663a', '#7b2d8b', '#a3112b', '#006d77', '#5c5c00', '#4d4d4d'];

function s(tag, attrs = {}, ...kids) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  for (const k of kids) if (k) e.append(k);
  return e;
}

// Every day from since (YYYY-MM-DD, UTC) for n days.
function dayList(since, n) {
  const out = [];
  const d0 = Date.parse(`${since}T00:00:00Z`);
  for (let i = 0; i < n; i++) out.push(new Date(d0 + i * 86400000).toISOString().slice(0, 10));
  return out;
}

function niceMax(v) {
  if (v <= 4) return 4;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

// A stacked bar chart of field per day, one colour per assistant; its
// numbers also in a table (the chart's text alternative).
function chart({ title, field, days, assistants, rows }) {
  const value = new Map(rows.map((r) => [`${r.day}|${r.assistant}`, r[field]]));
  const totals = days.map((d) => assistants.reduce((a, x) => a + (value.get(`${d}|${x}`) || 0), 0));
  const max = niceMax(Math.max(0, ...totals));
  const W = 720, H = 240, L = 56, R = 8, T = 10, B = 34;
  const bw = (W - L - R) / days.length;
  const y = (v) => T + (H - T - B) * (1 - v / max);
  const titleId = id('chart-t'), descId = id('chart-d');
  const sum = totals.reduce((a, b) => a + b, 0);
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-labelledby': `${titleId} ${descId}`,
    class: 'chart', preserveAspectRatio: 'xMidYMid meet' },
  s('title', { id: titleId }, title),
  s('desc', { id: descId }, t('dash.chart.desc', { total: sum, days: days.length, max: Math.max(0, ...totals) })));
  for (let i = 0; i <= 4; i++) {
    const v = (max * i) / 4;
    const yy = y(v);
    svg.append(s('line', { x1: L, x2: W - R, y1: yy, y2: yy, stroke: '#c9cfda', 'stroke-width': 1 }),
      s('text', { x: L - 6, y: yy + 4, 'text-anchor': 'end', 'font-size': 11, fill: '#1b1b1b' },
        String(Math.round(v))));
  }
  const every = Math.ceil(days.length / 10);
  days.forEach((d, i) => {
    let base = 0;
    const x = L + i * bw + bw * 0.15;
    assistants.forEach((a, k) => {
      const v = value.get(`${d}|${a}`) || 0;
      if (!v) return;
      const rect = s('rect', { x, width: Math.max(1, bw * 0.7), y: y(base + v), height: y(base) - y(base + v),
        fill: COLORS[k % COLORS.length], 'data-day': d, 'data-assistant': a });
      rect.append(s('title', {}, `${d} · ${a} : ${v}`));
      svg.append(rect);
      base += v;
    });
    if (i % every === 0) {
      svg.append(s('text', { x: L + i * bw + bw / 2, y: H - B + 16, 'text-anchor': 'middle', 'font-size': 11,
        fill: '#1b1b1b' }, d.slice(5)));
    }
  });
  svg.append(s('line', { x1: L, x2: W - R, y1: y(0), y2: y(0), stroke: '#1b1b1b', 'stroke-width': 1 }));
  const legend = h('ul', { class: 'legend' }, assistants.map((a, k) => h('li', {},
    h('span', { class: `swatch c${k % COLORS.length}`, 'aria-hidden': 'true' }), a)));
  // the numbers, for screen readers and for anyone who wants them
  const used = days.filter((d, i) => totals[i] > 0);
  const tbl = h('table', {}, h('caption', { text: title }),
    h('thead', {}, h('tr', {}, h('th', { scope: 'col', text: t('dash.day') }),
      assistants.map((a) => h('th', { scope: 'col', text: a })), h('th', { scope: 'col', text: t('dash.total') }))),
    h('tbody', {}, used.map((d) => h('tr', {}, h('th', { scope: 'row', text: d }),
      assistants.map((a) => h('td', { text: String(value.get(`${d}|${a}`) || 0) })),
      h('td', { text: String(totals[days.indexOf(d)]) })))));
  return h('figure', { class: 'card chart-card' }, h('figcaption', { text: title }), svg, legend,
    h('details', {}, h('summary', { text: t('dash.table') }), h('div', { class: 'table-wrap' }, tbl)));
}

function table(headers, rows, caption) {
  return h('div', { class: 'table-wrap' }, h('table', {},
    h('caption', { class: 'sr-only', text: caption }),
    h('thead', {}, h('tr', {}, headers.map((x) => h('th', { scope: 'col', text: x })))),
    h('tbody', {}, rows)));
}

const clip = (text, n = 160) => (text.length > n ? `${text.slice(0, n)}…` : text);

function gapsBox(gaps) {
  const groups = gaps.groups || [];
  if (!groups.length) return h('p', { class: 'hint', text: t('dash.gaps.none') });
  return table([t('dash.gaps.question'), t('dash.gaps.count'), t('dash.gaps.refused'), t('dash.gaps.nosources'),
    t('dash.assistant'), t('dash.gaps.last')],
  groups.map((g) => h('tr', { class: 'gap' }, h('td', { text: g.question || '—' }), h('td', { text: String(g.count) }),
    h('td', { text: String(g.refused) }), h('td', { text: String(g.no_sources) }),
    h('td', { text: (g.assistants || []).join(', ') }), h('td', { text: fmtTime(g.last_at) }))),
  t('dash.gaps.title'));
}

function feedbackRows(items) {
  return items.map((f) => h('tr', { class: `fb-row fb-${f.rating}` },
    h('td', { text: fmtTime(f.created_at) }), h('td', { text: f.assistant }),
    h('td', {}, h('span', { class: `rating ${f.rating}`, text: t(`dash.fb.${f.rating}`) })),
    h('td', { class: 'fb-comment', text: f.comment || '—' }),
    h('td', { text: clip(f.question || '') }), h('td', { text: clip(f.answer || '') })));
}

export async function viewDashboard(me, main, token, alive) {
  const daysId = id('dash-days');
  const daysSel = h('select', { id: daysId }, [7, 30, 90].map((n) => h('option', { value: n, text: t('dash.days', { n }) })));
  daysSel.value = '30';
  const ratingId = id('dash-rating');
  const ratingSel = h('select', { id: ratingId }, [['', t('dash.fb.all')], ['down', t('dash.fb.down')],
    ['up', t('dash.fb.up')]].map(([v, l]) => h('option', { value: v, text: l })));
  const summary = h('div', {}, h('p', { class: 'hint', text: t('app.loading') }));
  const charts = h('div', { class: 'charts' });
  const gaps = h('div', {});
  const fb = h('div', {});
  const root = h('div', { class: 'dashboard-page' },
    h('h1', { text: t('dash.title') }),
    h('p', { text: t('dash.intro') }),
    h('div', { class: 'toolbar' }, h('label', { for: daysId, text: t('dash.period') }), daysSel),
    h('section', { 'aria-labelledby': 'dash-sum-h' }, h('h2', { id: 'dash-sum-h', text: t('dash.summary') }), summary),
    charts,
    h('section', { class: 'card', 'aria-labelledby': 'dash-gaps-h' }, h('h2', { id: 'dash-gaps-h', text: t('dash.gaps.title') }),
      h('p', { class: 'hint', text: t('dash.gaps.intro') }), gaps),
    h('section', { class: 'card', 'aria-labelledby': 'dash-fb-h' }, h('h2', { id: 'dash-fb-h', text: t('dash.fb.title') }),
      h('p', { class: 'hint', text: t('dash.fb.intro') }),
      h('div', { class: 'toolbar' }, h('label', { for: ratingId, text: t('dash.fb.filter') }), ratingSel), fb));
  main.append(root);

  async function loadStats() {
    const n = Number(daysSel.value);
    let d;
    try {
      d = await api('GET', `/api/v1/dashboard?days=${n}`);
    } catch (e) {
      if (alive(root)) clear(summary).append(errorBox(e));
      return;
    }
    if (!alive(root)) return;
    const assistants = (d.assistants || []).map((a) => a.assistant).sort();
    clear(summary).append(assistants.length
      ? table([t('dash.assistant'), t('dash.conversations'), t('dash.answers'), t('dash.tokens'), t('dash.fb.up'),
        t('dash.fb.down')], (d.assistants || []).map((a) => h('tr', {}, h('th', { scope: 'row', text: a.assistant }),
        h('td', { text: String(a.conversations) }), h('td', { text: String(a.answers) }),
        h('td', { text: String(a.tokens) }), h('td', { text: String(a.up) }), h('td', { text: String(a.down) }))),
      t('dash.summary'))
      : h('p', { class: 'hint', text: t('dash.empty') }));
    const days = dayList(d.since, d.days);
    clear(charts);
    if (assistants.length) {
      charts.append(chart({ title: t('dash.chart.conversations'), field: 'conversations', days, assistants, rows: d.by_day }),
        chart({ title: t('dash.chart.tokens'), field: 'tokens', days, assistants, rows: d.by_day }));
    }
    clear(gaps).append(gapsBox(d.gaps || {}));
  }

  async function loadFeedback() {
    const r = ratingSel.value;
    let list;
    try {
      list = await api('GET', `/api/v1/feedback?limit=100${r ? `&rating=${r}` : ''}`);
    } catch (e) {
      if (alive(root)) clear(fb).append(errorBox(e));
      return;
    }
    if (!alive(root)) return;
    clear(fb).append(list.data?.length
      ? table([t('dash.fb.date'), t('dash.assistant'), t('dash.fb.rating'), t('dash.fb.comment'), t('dash.fb.question'),
        t('dash.fb.answer')], feedbackRows(list.data), t('dash.fb.title'))
      : h('p', { class: 'hint', text: t('dash.fb.none') }));
  }

  daysSel.addEventListener('change', loadStats);
  ratingSel.addEventListener('change', loadFeedback);
  await Promise.all([loadStats(), loadFeedback()]);
}
