// What the console and the chat page share: words (i18n), building DOM nodes
// (never from HTML text), the API client (a key kept in sessionStorage, or
// the sign-in session's cookie with its CSRF token), and the reader of
// OpenAI-style Server-Sent Events streams.
import { dict } from './i18n.js';

const LANG_KEY = 'lair.lang';
const KEY_KEY = 'lair.key';

// ---- words ----

export function lang() {
  const l = localStorage.getItem(LANG_KEY);
  return l === 'en' ? 'en' : 'fr';
}

export function setLang(l) {
  localStorage.setItem(LANG_KEY, l);
  document.documentElement.lang = l;
}

export function t(key, vars = {}) {
  const s = dict[lang()][key] ?? dict.fr[key] ?? key;
  return s.replace(/\{(\w+)\}/g, (m, k) => (k in vars ? String(vars[k]) : m));
}

// ---- DOM ----

// h('button', {class: 'x', onclick: f, 'aria-label': '…'}, 'text', node…)
// Text children become text nodes: nothing here ever parses HTML.
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = v;
    else if (k === 'value') el.value = v;
    else if (k in el && typeof v !== 'string') el[k] = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

let uid = 0;
export function id(prefix = 'id') {
  uid += 1;
  return `${prefix}-${uid}`;
}

export function bytes(s) {
  return new TextEncoder().encode(s).length;
}

export function fmtTime(unix) {
  if (!unix) return '—';
  return new Date(unix * 1000).toLocaleString(lang() === 'en' ? 'en-GB' : 'fr-FR');
}

export function fmtSize(n) {
  if (n < 1024) return `${n} o`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} Kio`;
  return `${(n / 1024 / 1024).toFixed(1)} Mio`;
}

// A polite status line for screen readers and eyes.
export function status(el, text, kind = 'info') {
  el.textContent = text;
  el.dataset.kind = kind;
}

// A status line for a form or a page: read out politely when it changes.
export const statusLine = () => h('p', { class: 'status', role: 'status' });

// An API error as a paragraph: "not available" for a route this server
// lacks, else the server's message (an alert).
// What a person reads for an API error: the sentence for its error.code
// (i18n.js, 'err.<code>'), with the server's own detail after it; the bare
// detail for an error without a code (a network failure).
export function errText(e) {
  const key = e?.code ? `err.${e.code}` : null;
  const own = key ? (dict[lang()][key] ?? dict.fr[key]) : undefined;
  const detail = e?.message || '';
  if (!own) return t('app.error', { msg: detail });
  return detail && detail !== own ? t('app.errdetail', { sentence: own, detail }) : own;
}

export function errorBox(e) {
  if (e instanceof ApiError && (e.status === 404 || e.status === 405) && !e.code?.endsWith('_not_found')) {
    return h('p', { class: 'hint', text: t('app.unavailable') });
  }
  return h('p', { class: 'error', role: 'alert', text: errText(e) });
}

// ---- the key ----

export function getKey() {
  return sessionStorage.getItem(KEY_KEY);
}

export function setKey(k) {
  if (k) sessionStorage.setItem(KEY_KEY, k);
  else sessionStorage.removeItem(KEY_KEY);
}

// ---- API ----

export class ApiError extends Error {
  constructor(status, body, retryAfter) {
    const e = body?.error || {};
    super(e.message || `HTTP ${status}`);
    this.status = status;
    this.param = e.param || null;
    this.code = e.code || null;
    this.assistants = Array.isArray(e.assistants) ? e.assistants : null; // code in_use
    this.retryAfter = retryAfter;
  }
}

// The sign-in session's CSRF token (GET /auth/me gives it): every request
// that changes something carries it when the session cookie authenticates.
let csrf = null;

const SAFE = new Set(['GET', 'HEAD', 'OPTIONS']);

export async function api(method, path, body, { signal, raw } = {}) {
  const headers = {};
  const key = getKey();
  // without a key, the session cookie goes by itself (same origin)
  if (key) headers.Authorization = `Bearer ${key}`;
  else if (csrf && !SAFE.has(method)) headers['X-CSRF-Token'] = csrf;
  let payload;
  if (body instanceof FormData) payload = body;
  else if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, { method, headers, body: payload, signal, cache: 'no-store', credentials: 'same-origin' });
  } catch (err) {
    if (err.name === 'AbortError') throw err;
    throw new ApiError(0, { error: { message: t('app.network') } });
  }
  if (raw && res.ok) return res;
  const text = await res.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  if (!res.ok) throw new ApiError(res.status, json, Number(res.headers.get('Retry-After')) || 0);
  return json;
}

// Who is signed in: with a key, the key ({id, role, tenant, tenant_name,
// assistants}); with a sign-in session, the same for the chosen
// organisation plus {name, email, provider, provider_name, session: true}
// (id is then the member's id); a session whose organisation is not chosen
// yet gives {session: true, choose: true, tenants: [{tenant, name, role}],
// name, email}. null when nobody is signed in (or the key is refused).
export async function whoami() {
  if (getKey()) {
    try {
      return await api('GET', '/api/v1/me');
    } catch (e) {
      if (e.status === 401) return null;
      throw e;
    }
  }
  let s;
  try {
    s = await api('GET', '/auth/me');
  } catch (e) {
    csrf = null;
    if (e.status === 401 || e.status === 404) return null; // not signed in, or no sessions here
    throw e;
  }
  if (!s?.signed_in) return null;
  csrf = s.csrf_token || null;
  const person = { session: true, name: s.name || '', email: s.email || '', provider: s.provider,
    provider_name: s.provider_name || s.provider };
  if (!s.chosen) return { ...person, choose: true, tenants: s.tenants || [] };
  try {
    return { ...(await api('GET', '/api/v1/me')), ...person };
  } catch (e) {
    if (e.status === 401) return null; // ended meanwhile (removed, timed out)
    throw e;
  }
}

// The identity providers this server offers ([{id, name, login_url}]);
// [] when none (or the server predates them).
export async function providers() {
  try {
    return (await api('GET', '/auth/providers'))?.providers || [];
  } catch {
    return [];
  }
}

// Enters organisation tenant with the signed-in session (POST /auth/choose).
export async function chooseTenant(tenant) {
  return api('POST', '/auth/choose', { tenant });
}

// Ends the session (everywhere: every device of the person). Resolves to the
// provider's logout address when it has one (RP-initiated logout), else null.
export async function endSession(everywhere = false) {
  const r = await api('POST', everywhere ? '/auth/logout-all' : '/auth/logout');
  csrf = null;
  return r?.logout_url || null;
}

// ---- chat streams ----

// Reads an OpenAI-style SSE stream from a fetch Response and calls onEvent
// with each JSON chunk. Resolves to true when the stream ended with [DONE],
// false when it stopped before (a lost connection, a server that died).
export async function readSSE(res, onEvent) {
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return false;
    buf += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buf.search(/\r?\n\r?\n/)) >= 0) {
      const block = buf.slice(0, cut);
      buf = buf.slice(cut + (buf[cut] === '\r' ? 4 : 2));
      const data = block
        .split(/\r?\n/)
        .filter((l) => l.startsWith('data:'))
        .map((l) => l.slice(5).replace(/^ /, ''))
        .join('\n');
      if (!data) continue;
      if (data === '[DONE]') {
        reader.cancel().catch(() => {});
        return true;
      }
      let obj;
      try {
        obj = JSON.parse(data);
      } catch {
        continue;
      }
      onEvent(obj);
    }
  }
}

// A language switch button: flips the language and calls rerender.
export function langButton(rerender) {
  const b = h('button', { type: 'button', class: 'lang', lang: lang() === 'fr' ? 'en' : 'fr' });
  const label = () => {
    b.textContent = t('app.lang');
    b.setAttribute('aria-label', t('app.lang.label'));
    b.lang = lang() === 'fr' ? 'en' : 'fr';
  };
  label();
  b.addEventListener('click', () => {
    setLang(lang() === 'fr' ? 'en' : 'fr');
    label();
    rerender();
  });
  return b;
}

// Fills [data-i18n] elements of root with their words.
export function applyI18n(root = document) {
  for (const el of root.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
}

// A modal confirmation with <dialog>: resolves true when confirmed.
export function confirmDialog(text) {
  return new Promise((resolve) => {
    const titleId = id('dlg');
    const dlg = h('dialog', { class: 'confirm', 'aria-labelledby': titleId },
      h('p', { id: titleId, text }),
      h('div', { class: 'actions' },
        h('button', { type: 'button', class: 'secondary', value: 'no', text: t('app.cancel'),
          onclick: () => dlg.close('no') }),
        h('button', { type: 'button', class: 'danger', value: 'yes', text: t('app.confirm'),
          onclick: () => dlg.close('yes') })));
    dlg.addEventListener('close', () => {
      resolve(dlg.returnValue === 'yes');
      dlg.remove();
    });
    document.body.append(dlg);
    dlg.showModal();
  });
}
