// The operator's page (#models): every model this server serves and, for a
// pool of upstream inference servers, each server's health, zone and
// traffic (GET /api/v1/upstreams, operator key), then where data goes
// (GET /api/v1/sovereignty). Refreshed every REFRESH_MS while the page is
// shown; nothing is asked while the tab is hidden or the refresh is paused.
// The tables are updated in place (patch), so that a screen reader reading
// them, or a focused table, is not thrown back to the top at each refresh.
import { h, t, clear, api, lang } from './lib.js';

export const REFRESH_MS = 5000;

const HEALTH = ['healthy', 'throttled', 'probing', 'ejected'];

const num = (n, digits = 0) => Number(n || 0).toLocaleString(lang() === 'en' ? 'en-GB' : 'fr-FR',
  { minimumFractionDigits: digits, maximumFractionDigits: digits });

const clock = () => new Date().toLocaleTimeString(lang() === 'en' ? 'en-GB' : 'fr-FR');

// Makes a (live) tree look like b, changing only what differs: text,
// attributes, and children where their number or kind changed. The "open"
// state of a <details> stays the reader's.
function patch(a, b) {
  if (a.nodeType !== b.nodeType || a.nodeName !== b.nodeName) {
    a.replaceWith(b);
    return;
  }
  if (a.nodeType === Node.TEXT_NODE) {
    if (a.nodeValue !== b.nodeValue) a.nodeValue = b.nodeValue;
    return;
  }
  for (const at of [...a.attributes]) if (at.name !== 'open' && !b.hasAttribute(at.name)) a.removeAttribute(at.name);
  for (const at of [...b.attributes]) if (at.name !== 'open' && a.getAttribute(at.name) !== at.value) a.setAttribute(at.name, at.value);
  const ac = [...a.childNodes];
  const bc = [...b.childNodes];
  if (ac.length !== bc.length) {
    a.replaceChildren(...bc);
    return;
  }
  ac.forEach((n, i) => patch(n, bc[i]));
}

// A table in a region that scrolls sideways on narrow screens (focusable, so
// that a keyboard can scroll it), with a visible caption.
function dataTable(caption, headers, rows) {
  return h('div', { class: 'table-wrap', tabindex: 0, role: 'region', 'aria-label': caption },
    h('table', { class: 'data' },
      h('caption', { text: caption }),
      h('thead', {}, h('tr', {}, headers.map((x) => h('th', { scope: 'col', text: x })))),
      h('tbody', {}, rows)));
}

function healthBadge(health) {
  const k = HEALTH.includes(health) ? health : 'ejected';
  return h('span', { class: 'health' }, h('span', { class: 'dot', 'aria-hidden': 'true', text: '●' }),
    ` ${t(`mo.h.${k}`)}`);
}

function counts(models) {
  const c = { total: 0 };
  for (const k of HEALTH) c[k] = 0;
  for (const m of models) {
    for (const u of m.upstreams || []) {
      c.total += 1;
      c[HEALTH.includes(u.health) ? u.health : 'ejected'] += 1;
    }
  }
  return c;
}

function summary(models) {
  const c = counts(models);
  if (!c.total) return h('p', { class: 'summary', 'data-kind': 'ok', text: t('mo.summary.none') });
  const parts = HEALTH.filter((k) => c[k]).map((k) => t(`mo.count.${k}`, { n: c[k] }));
  const kind = c.ejected || c.probing ? 'error' : c.throttled ? 'warn' : 'ok';
  return h('p', { class: 'summary', 'data-kind': kind, text: t('mo.summary', { n: c.total, list: parts.join(', ') }) });
}

function modelsTable(models) {
  return dataTable(t('mo.models.caption'),
    [t('mo.c.model'), t('mo.c.runs'), t('mo.c.servers'), t('mo.c.remote')],
    models.map((m) => {
      const ups = m.upstreams || [];
      const ok = ups.filter((u) => u.health === 'healthy').length;
      return h('tr', { 'data-model': m.name },
        h('th', { scope: 'row' }, h('code', { text: m.name })),
        h('td', { text: m.kind === 'upstream' ? t('mo.runs.upstream') : t('mo.runs.gguf') }),
        h('td', { text: m.kind === 'upstream' ? t('mo.servers', { ok, n: ups.length }) : '—' }),
        h('td', { text: m.remote ? t('mo.remote.yes') : t('mo.remote.no') }));
    }));
}

function upstreamTable(m) {
  const ups = m.upstreams || [];
  return dataTable(t('mo.pool.caption', { name: m.name }),
    [t('mo.c.server'), t('mo.c.health'), t('mo.c.zone'), t('mo.c.pii'), t('mo.c.inflight'), t('mo.c.requests'),
      t('mo.c.failures'), t('mo.c.ejections'), t('mo.c.ttfb'), t('mo.c.weight')],
    ups.map((u) => {
      const remote = u.zone === 'remote';
      return h('tr', { 'data-url': u.url, 'data-health': u.health, 'data-zone': remote ? 'remote' : 'local' },
        h('th', { scope: 'row' }, h('code', { class: 'url', text: u.url }),
          h('span', { class: 'sub', text: t('mo.remotemodel', { model: u.model }) })),
        h('td', {}, healthBadge(u.health)),
        h('td', { text: remote ? t('mo.zone.remote') : t('mo.zone.local') }),
        h('td', { text: remote ? t('mo.pii.masked') : t('mo.pii.sent') }),
        h('td', { class: 'num', text: t('mo.inflight', { n: num(u.in_flight), max: num(u.max_concurrent) }) }),
        h('td', { class: 'num', text: num(u.requests) }),
        h('td', { class: 'num', text: num(u.failures) }),
        h('td', { class: 'num', text: num(u.ejections) }),
        h('td', { class: 'num', text: u.first_byte_mean_s > 0 ? t('mo.seconds', { s: num(u.first_byte_mean_s, 2) }) : '—' }),
        h('td', { class: 'num', text: num(u.weight, Number.isInteger(u.weight) ? 0 : 1) }));
    }));
}

function legend() {
  return h('details', { class: 'legend' },
    h('summary', { text: t('mo.legend') }),
    h('dl', {}, HEALTH.map((k) => [h('dt', { 'data-health': k }, healthBadge(k)), h('dd', { text: t(`mo.h.${k}.help`) })]),
      h('dt', { text: t('mo.zone.remote') }), h('dd', { text: t('mo.zone.remote.help') }),
      h('dt', { text: t('mo.zone.local') }), h('dd', { text: t('mo.zone.local.help') })));
}

function drawUpstreams(r) {
  const models = r.models || [];
  const pools = models.filter((m) => m.kind === 'upstream');
  return h('div', { class: 'models-live' },
    summary(models),
    models.length ? modelsTable(models) : h('p', { class: 'hint', text: t('mo.nomodel') }),
    pools.length ? h('h2', { text: t('mo.pools') }) : null,
    pools.map(upstreamTable));
}

function drawSovereignty(s) {
  const out = s.outbound || [];
  const remote = out.some((d) => d.zone === 'remote');
  const statement = !out.length ? t('so.none') : remote ? t('so.remote') : t('so.local');
  return h('div', { class: 'sovereignty-live' },
    h('p', { class: 'statement', text: statement }),
    out.length ? dataTable(t('so.caption'), [t('mo.c.model'), t('so.c.url'), t('mo.c.zone'), t('mo.c.pii')],
      out.map((d) => h('tr', { 'data-zone': d.zone },
        h('td', {}, h('code', { text: d.model })),
        h('td', {}, h('code', { class: 'url', text: d.url })),
        h('td', { text: d.zone === 'remote' ? t('mo.zone.remote') : t('mo.zone.local') }),
        h('td', { text: d.personal_data === 'masked' ? t('mo.pii.masked') : t('mo.pii.sent') })))) : null,
    h('ul', { class: 'facts' },
      h('li', { text: s.telemetry ? t('so.telemetry.on') : t('so.telemetry.off') }),
      h('li', { text: s.model_downloads?.server ? t('so.downloads.server') : t('so.downloads.cli') })));
}

export async function viewModels(me, main, token, alive) {
  const liveId = 'models-refresh';
  const updated = h('p', { class: 'updated hint' });
  const live = h('p', { id: liveId, class: 'status refresh', 'aria-live': 'polite' });
  const upBox = h('div', {}, h('p', { class: 'hint', text: t('app.loading') }));
  const sovBox = h('div', {}, h('p', { class: 'hint', text: t('app.loading') }));
  const rawStatement = h('p', { lang: 'en' });
  const rawBox = h('details', { class: 'raw-statement', hidden: true },
    h('summary', { text: t('so.raw') }), rawStatement);
  let paused = false;
  const pauseBtn = h('button', { type: 'button', class: 'secondary', text: t('mo.pause') });
  const nowBtn = h('button', { type: 'button', class: 'secondary', text: t('mo.refresh') });
  const root = h('div', { class: 'models-page' },
    h('h1', { text: t('mo.title') }),
    h('p', { class: 'intro', text: t('mo.intro', { s: REFRESH_MS / 1000 }) }),
    h('div', { class: 'toolbar' }, pauseBtn, nowBtn, updated),
    live,
    h('section', { 'aria-labelledby': 'models-h' }, h('h2', { id: 'models-h', text: t('mo.models') }), upBox,
      legend()),
    h('section', { 'aria-labelledby': 'sov-h' }, h('h2', { id: 'sov-h', text: t('so.title') }), sovBox, rawBox));
  main.append(root);

  let timer = null;
  let busy = false;
  let failing = false;
  let lastOk = null;
  let sovJson = '';

  const say = (text) => { if (live.textContent !== text) live.textContent = text; };
  const stop = () => {
    clearTimeout(timer);
    timer = null;
    document.removeEventListener('visibilitychange', onVisibility);
  };
  const schedule = () => {
    clearTimeout(timer);
    timer = null;
    if (!alive(root)) { stop(); return; }
    if (!paused && !document.hidden) timer = setTimeout(tick, REFRESH_MS);
  };
  const put = (box, node) => {
    const old = box.firstElementChild;
    if (old && old.className === node.className && box.childElementCount === 1) patch(old, node);
    else clear(box).append(node);
  };

  async function tick() {
    timer = null;
    if (!alive(root)) { stop(); return; }
    if (busy) return;
    busy = true;
    const [up, sov] = await Promise.allSettled([api('GET', '/api/v1/upstreams'), api('GET', '/api/v1/sovereignty')]);
    busy = false;
    if (!alive(root)) { stop(); return; }
    if (up.status === 'fulfilled') {
      put(upBox, drawUpstreams(up.value));
      lastOk = clock();
      updated.textContent = t('mo.updated', { time: lastOk });
      say(failing ? t('mo.recovered') : '');
      failing = false;
    } else {
      failing = true;
      const msg = up.reason?.message || String(up.reason);
      say(lastOk ? t('mo.failed', { msg, time: lastOk, s: REFRESH_MS / 1000 })
        : t('mo.failed.first', { msg, s: REFRESH_MS / 1000 }));
      if (!lastOk) clear(upBox).append(h('p', { class: 'error', text: t('app.error', { msg }) }));
    }
    if (sov.status === 'fulfilled') {
      const json = JSON.stringify(sov.value);
      if (json !== sovJson) {
        sovJson = json;
        put(sovBox, drawSovereignty(sov.value));
        rawStatement.textContent = sov.value.statement || '';
        rawBox.hidden = !sov.value.statement;
      }
    } else if (!sovJson) {
      clear(sovBox).append(h('p', { class: 'error', text: t('app.error', { msg: sov.reason?.message || '' }) }));
    }
    schedule();
  }

  function onVisibility() {
    if (!alive(root)) { stop(); return; }
    if (document.hidden) {
      clearTimeout(timer);
      timer = null;
    } else if (!paused) {
      tick();
    }
  }

  pauseBtn.addEventListener('click', () => {
    paused = !paused;
    pauseBtn.textContent = paused ? t('mo.resume') : t('mo.pause');
    say(paused ? t('mo.paused') : '');
    if (paused) schedule();
    else tick();
  });
  nowBtn.addEventListener('click', () => tick());
  document.addEventListener('visibilitychange', onVisibility);
  await tick();
}
