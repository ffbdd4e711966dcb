/* LibreAIr widget: a public assistant on a website, with one tag:
 *
 *   <script src="https://HOST/widget.js" data-assistant="TENANT.ASSISTANT" async></script>
 *
 * Optional: data-lang="en" (default: the page's language, else French);
 * the theme, which the assistant sets (its "widget" field) and the tag may
 * override: data-color="#0b5394" (refused, with a console warning, when
 * white text on it falls below the WCAG AA contrast of 4.5:1),
 * data-position="bottom-left" (or "bottom-right"), data-title="…" (the
 * panel's title), data-launcher-label="…" (text beside the button's icon).
 *
 * It adds a floating button and a chat panel inside a Shadow DOM, so that
 * the site's styles and the widget's do not mix. It talks only to the
 * LibreAIr server it was loaded from, without cookies or keys: the server
 * checks the page's origin against the assistant's allow-list. Answers are
 * streamed; model output is never inserted as HTML (OWASP LLM05): a small
 * Markdown subset is turned into DOM nodes. Keyboard: the button opens the
 * panel and focuses the question field; Escape closes it and gives focus
 * back to the button. Finished sentences of an answer are read out through
 * an ARIA live region. docs/web.md describes it. */
(() => {
  'use strict';
  const script = document.currentScript;
  if (!script || !script.src) return;
  const pid = script.getAttribute('data-assistant') || '';
  if (!/^[a-z0-9][a-z0-9-]{0,62}\.[a-z0-9][a-z0-9-]{0,62}$/.test(pid)) {
    console.warn('LibreAIr widget: data-assistant must be a public id like "ville.etat-civil"');
    return;
  }
  const base = new URL(script.src).origin;
  const endpoint = `${base}/public/v1/assistants/${pid}`;
  const want = script.getAttribute('data-lang') || document.documentElement.lang || 'fr';
  const lang = want.toLowerCase().startsWith('en') ? 'en' : 'fr';

  const WORDS = {
    fr: {
      open: 'Ouvrir l’assistant {name}',
      close: 'Fermer l’assistant',
      input: 'Votre question',
      send: 'Envoyer',
      stop: 'Arrêter',
      you: 'Vous',
      bot: 'Assistant',
      starters: 'Questions fréquentes',
      sources: 'Sources',
      page: 'page {p}',
      source: 'Source {n}',
      passages: '{n} extraits',
      messages: 'Conversation',
      stopped: 'Réponse interrompue.',
      lost: 'La connexion a été perdue. Vérifiez votre connexion puis réessayez.',
      retry: 'Réessayer',
      rate: 'Vous avez posé beaucoup de questions en peu de temps. Merci de patienter {s} secondes avant de réessayer.',
      busy: 'Le service est très sollicité en ce moment. Réessayez dans quelques instants.',
      error: 'Désolé, une erreur est survenue. Réessayez un peu plus tard.',
      privacy: 'Ne communiquez pas d’informations personnelles (nom, adresse, numéro de dossier…).',
      powered: 'Assistant propulsé par LibreAIr',
      degraded: 'Réponse en mode dégradé : extraits des documents.',
      up: 'Réponse utile',
      down: 'Réponse pas utile',
      comment: 'Un commentaire ? (facultatif)',
      fbsend: 'Envoyer',
      thanks: 'Merci pour votre avis.',
      reference: 'Référence de cette conversation : {ref}. Notez-la pour demander l’accès à vos échanges ou leur effacement.',
    },
    en: {
      open: 'Open the assistant {name}',
      close: 'Close the assistant',
      input: 'Your question',
      send: 'Send',
      stop: 'Stop',
      you: 'You',
      bot: 'Assistant',
      starters: 'Frequent questions',
      sources: 'Sources',
      page: 'page {p}',
      source: 'Source {n}',
      passages: '{n} excerpts',
      messages: 'Conversation',
      stopped: 'Answer stopped.',
      lost: 'The connection was lost. Check your connection, then retry.',
      retry: 'Retry',
      rate: 'You asked many questions in a short time. Please wait {s} seconds before trying again.',
      busy: 'The service is very busy right now. Please retry in a moment.',
      error: 'Sorry, something went wrong. Please try again later.',
      privacy: 'Do not share personal information (name, address, case number…).',
      powered: 'Assistant powered by LibreAIr',
      degraded: 'Degraded answer: excerpts from the documents.',
      up: 'Helpful answer',
      down: 'Unhelpful answer',
      comment: 'A comment? (optional)',
      fbsend: 'Send',
      thanks: 'Thank you for your feedback.',
      reference: 'Reference of this conversation: {ref}. Note it down to ask for a copy of your exchanges or their erasure.',
    },
  };
  const t = (k, v = {}) => WORDS[lang][k].replace(/\{(\w+)\}/g, (m, x) => (x in v ? String(v[x]) : m));

  // ---- theme: the assistant's, then the tag's data- attributes ----
  // WCAG 2 relative luminance and contrast ratio, as the server computes
  // them (src/assist/assistant.c): a colour under white text needs 4.5:1.
  const MIN_CONTRAST = 4.5;
  const rgbOf = (hex) => {
    const m = /^#([0-9a-f]{3}|[0-9a-f]{6})$/i.exec(String(hex || '').trim());
    if (!m) return null;
    const x = m[1].length === 3 ? m[1].replace(/./g, '$&$&') : m[1];
    return [0, 2, 4].map((i) => parseInt(x.slice(i, i + 2), 16));
  };
  const luminance = (rgb) => {
    const [r, g, b] = rgb.map((v) => { const c = v / 255; return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const contrast = (a, b) => {
    const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
    return (hi + 0.05) / (lo + 0.05);
  };
  const hexOf = (rgb) => `#${rgb.map((v) => Math.round(v).toString(16).padStart(2, '0')).join('')}`;
  const darker = (rgb, f) => rgb.map((v) => v * f);
  // The theme: defaults, the server's (already checked there), then each
  // data- attribute that passes the same checks; one that does not is
  // ignored with a warning that says why.
  const theme = (info) => {
    const w = info.widget || {};
    const th = { color: '#1d3f8f', position: 'bottom-right', title: info.name, label: '' };
    const warn = (attr, why) => console.warn(`LibreAIr widget: ${attr} ignored: ${why}`);
    const color = (v, attr) => {
      const rgb = rgbOf(v);
      if (!rgb) return warn(attr, `"${v}" is not a colour written #rrggbb or #rgb`);
      const r = contrast(rgb, [255, 255, 255]);
      if (r < MIN_CONTRAST) {
        return warn(attr, `"${v}" has a contrast ratio of ${(Math.floor(r * 100) / 100).toFixed(2)}:1 with the widget's `
          + `white text; WCAG AA asks for at least ${MIN_CONTRAST}:1 (insufficient_contrast)`);
      }
      th.color = hexOf(rgb);
    };
    const position = (v, attr) => {
      if (v === 'bottom-right' || v === 'bottom-left') th.position = v;
      else warn(attr, `"${v}" is not "bottom-right" or "bottom-left"`);
    };
    if (w.color) color(w.color, 'widget.color');
    if (w.position) position(w.position, 'widget.position');
    if (w.title) th.title = String(w.title);
    if (w.launcher_label) th.label = String(w.launcher_label);
    const attr = (name) => {
      const v = script.getAttribute(name);
      return v === null || !v.trim() ? null : v.trim();
    };
    const dc = attr('data-color');
    if (dc !== null) color(dc, 'data-color');
    const dp = attr('data-position');
    if (dp !== null) position(dp, 'data-position');
    const dt = attr('data-title');
    if (dt !== null) {
      if (dt.length > 200) warn('data-title', 'it is longer than 200 characters');
      else th.title = dt;
    }
    const dl = attr('data-launcher-label');
    if (dl !== null) {
      if (dl.length > 60) warn('data-launcher-label', 'it is longer than 60 characters');
      else th.label = dl;
    }
    // text in the colour on the light backgrounds of the panel (#f3f5f9 the
    // darkest) keeps 4.5:1 too: darkened until it does
    let ink = rgbOf(th.color);
    for (let i = 0; i < 20 && contrast(ink, [243, 245, 249]) < MIN_CONTRAST; i++) ink = darker(ink, 0.9);
    th.ink = hexOf(ink);
    th.hover = hexOf(darker(rgbOf(th.color), 0.75));
    return th;
  };

  const CSS = `
:host { all: initial; --accent: #1d3f8f; --accent-hover: #142d66; --ink: #1d3f8f; }
* { box-sizing: border-box; }
.root { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; font-size: 16px;
  line-height: 1.45; color: #1b1b1b; }
button { font: inherit; cursor: pointer; }
:focus-visible { outline: 3px solid #f2a900; outline-offset: 2px; }
.launcher { position: fixed; right: 1.25rem; bottom: 1.25rem; width: 3.75rem; height: 3.75rem; border-radius: 50%;
  border: 2px solid #fff; background: var(--accent); color: #fff; box-shadow: 0 4px 14px #0005; display: flex;
  align-items: center; justify-content: center; z-index: 2147483000; }
.launcher:hover { background: var(--accent-hover); }
.launcher.labelled { width: auto; border-radius: 1.875rem; padding: 0 1.1rem 0 0.9rem; gap: 0.5rem; font-weight: 700; }
.left .launcher, .left .panel { right: auto; left: 1.25rem; }
.launcher svg { width: 1.9rem; height: 1.9rem; }
.panel { position: fixed; right: 1.25rem; bottom: 5.75rem; width: min(25rem, calc(100vw - 2rem));
  height: min(38rem, calc(100vh - 7.5rem)); background: #fff; border: 1px solid #9aa3b2; border-radius: 12px;
  box-shadow: 0 8px 30px #0004; display: flex; flex-direction: column; overflow: hidden; z-index: 2147483000; }
.panel[hidden] { display: none; }
.head { display: flex; align-items: center; gap: 0.5rem; background: var(--accent); color: #fff; padding: 0.6rem 0.75rem 0.6rem 1rem; }
.head h2 { font-size: 1.05rem; margin: 0; flex: 1; font-weight: 700; }
.close { background: transparent; color: #fff; border: 2px solid transparent; border-radius: 6px; width: 2.25rem;
  height: 2.25rem; font-size: 1.4rem; line-height: 1; }
.close:hover { border-color: #fff; }
.messages { flex: 1; overflow-y: auto; padding: 0.75rem; display: flex; flex-direction: column; gap: 0.6rem; }
.welcome { margin: 0; white-space: pre-wrap; }
.starters { list-style: none; margin: 0; padding: 0; display: flex; flex-direction: column; gap: 0.4rem; }
.starters-label { font-size: 0.85rem; font-weight: 700; color: #4d4d4d; margin: 0.25rem 0 0; }
.starter { text-align: left; background: #fff; color: var(--ink); border: 1px solid var(--ink); border-radius: 16px; padding: 0.35rem 0.8rem; }
.starter:hover { text-decoration: underline; }
.msg { border-radius: 10px; padding: 0.45rem 0.75rem; max-width: 92%; }
.msg > p { margin: 0; white-space: pre-wrap; }
.msg .who { font-size: 0.75rem; font-weight: 700; color: #4d4d4d; margin: 0 0 0.15rem; }
.msg.user { align-self: flex-end; background: #e6ecf8; }
.msg.bot { align-self: flex-start; background: #f3f5f9; border: 1px solid #c9cfda; }
.body p { margin: 0 0 0.45rem; } .body p:last-child { margin: 0; }
.body ul, .body ol { margin: 0 0 0.45rem; padding-left: 1.3rem; }
.body pre { white-space: pre-wrap; background: #fff; padding: 0.4rem; border-radius: 6px; }
.body a { color: var(--ink); }
.cite { font-size: 0.72rem; padding: 0 0.3rem; border: 1px solid var(--ink); color: var(--ink); background: #fff;
  border-radius: 4px; vertical-align: super; line-height: 1.2; margin: 0 0.1rem; }
.sources { margin-top: 0.4rem; font-size: 0.88rem; }
.sources p { font-weight: 700; margin: 0 0 0.15rem; font-size: 0.8rem; }
.sources summary { cursor: pointer; color: var(--ink); text-decoration: underline; }
.sources blockquote { margin: 0.25rem 0 0.4rem; padding: 0.3rem 0.6rem; border-left: 3px solid var(--ink); background: #fff; }
.sources .section { display: block; font-size: 0.78rem; font-weight: 700; color: #4d4d4d; }
.note { font-weight: 600; margin-top: 0.35rem; }
.note.error { color: #a3112b; }
.note:empty { display: none; }
.feedback { display: flex; flex-wrap: wrap; gap: 0.3rem; align-items: center; margin-top: 0.3rem; }
.feedback > button { background: #fff; border: 1px solid #555; border-radius: 6px; padding: 0.1rem 0.5rem; }
.feedback > button[aria-pressed="true"] { border: 2px solid #000; font-weight: 700; }
.feedback form { display: flex; flex-wrap: wrap; gap: 0.3rem; width: 100%; border: 0; padding: 0; }
.feedback form[hidden] { display: none; }
.fb-send { border-radius: 6px; padding: 0.2rem 0.7rem; border: 2px solid var(--accent); background: var(--accent); color: #fff; }
.feedback textarea { flex: 1; min-width: 10rem; font: inherit; }
.retry { margin-left: 0.4rem; background: #fff; color: #a3112b; border: 2px solid #a3112b; border-radius: 6px; padding: 0.1rem 0.6rem; }
form { display: flex; gap: 0.4rem; padding: 0.6rem; border-top: 1px solid #c9cfda; align-items: flex-end; }
textarea { flex: 1; font: inherit; resize: none; padding: 0.4rem 0.5rem; border: 1px solid #6b7280; border-radius: 6px; color: #1b1b1b; background: #fff; }
.send, .stop { border-radius: 6px; padding: 0.45rem 0.8rem; border: 2px solid var(--accent); background: var(--accent); color: #fff; }
.stop { background: #fff; color: #a3112b; border-color: #a3112b; }
.send[hidden], .stop[hidden] { display: none; }
.foot { font-size: 0.75rem; color: #4d4d4d; padding: 0 0.75rem 0.5rem; margin: 0; }
.reference { font-size: 0.8rem; color: #1b1b1b; padding: 0 0.75rem 0.25rem; margin: 0; user-select: all; }
.reference[hidden] { display: none; }
.sr-only { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; margin: -1px; }
@media (prefers-reduced-motion: no-preference) { .panel { animation: up 0.15s ease-out; } }
@keyframes up { from { transform: translateY(0.5rem); opacity: 0; } to { transform: none; opacity: 1; } }
`;

  let uid = 0;
  const h = (tag, props = {}, ...kids) => {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(props)) {
      if (v === null || v === undefined || v === false) continue;
      if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else if (k === 'text') e.textContent = v;
      else if (k === 'class') e.className = v;
      else if (k === 'hidden') e.hidden = true;
      else e.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of kids.flat()) if (c !== null && c !== undefined) e.append(c);
    return e;
  };
  const clear = (e) => { while (e.firstChild) e.firstChild.remove(); return e; };

  // ---- Markdown subset → DOM (the same rules as the console's md.js) ----
  const safeUrl = (href) => {
    try {
      const u = new URL(href);
      return ['http:', 'https:', 'mailto:'].includes(u.protocol) ? u.href : null;
    } catch { return null; }
  };
  const inline = (parent, text, cite, depth = 0) => {
    const re = /(`+)([^`]+?)\1|\*\*(.+?)\*\*|__(.+?)__|\*([^*\s][^*]*?)\*|_([^_\s][^_]*?)_|\[([^\]\n]+)\]\(([^)\s]+)\)|\[(\d{1,3})\]/g;
    let last = 0;
    let m;
    while ((m = re.exec(text))) {
      if (m.index > last) parent.append(text.slice(last, m.index));
      last = re.lastIndex;
      if (m[2] !== undefined) parent.append(h('code', { text: m[2] }));
      else if (m[3] !== undefined || m[4] !== undefined) {
        const b = h('strong');
        if (depth < 4) inline(b, m[3] ?? m[4], cite, depth + 1); else b.textContent = m[3] ?? m[4];
        parent.append(b);
      } else if (m[5] !== undefined || m[6] !== undefined) {
        const i = h('em');
        if (depth < 4) inline(i, m[5] ?? m[6], cite, depth + 1); else i.textContent = m[5] ?? m[6];
        parent.append(i);
      } else if (m[7] !== undefined) {
        const href = safeUrl(m[8]);
        parent.append(href ? h('a', { href, target: '_blank', rel: 'noopener noreferrer nofollow', text: m[7] }) : m[7]);
      } else {
        parent.append(cite(Number(m[9])) || m[0]);
      }
    }
    if (last < text.length) parent.append(text.slice(last));
  };
  const markdown = (text, cite) => {
    const frag = document.createDocumentFragment();
    const src = String(text).replace(/\r\n?/g, '\n').split('\n');
    let para = [];
    let list = null;
    const flush = () => {
      if (para.length) {
        const p = h('p');
        para.forEach((l, i) => { if (i) p.append(h('br')); inline(p, l, cite); });
        frag.append(p);
        para = [];
      }
      if (list) frag.append(list);
      list = null;
    };
    for (let i = 0; i < src.length; i++) {
      const line = src[i];
      if (/^\s*```/.test(line)) {
        flush();
        const body = [];
        for (i++; i < src.length && !/^\s*```/.test(src[i]); i++) body.push(src[i]);
        frag.append(h('pre', {}, h('code', { text: body.join('\n') })));
        continue;
      }
      if (!line.trim()) { flush(); continue; }
      const head = line.match(/^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$/);
      if (head) { flush(); const s = h('strong'); inline(s, head[1], cite); frag.append(h('p', {}, s)); continue; }
      const item = line.match(/^\s*(?:[-*+]|(\d{1,9})[.)])\s+(.*)$/);
      if (item) {
        const kind = item[1] ? 'OL' : 'UL';
        if (para.length || (list && list.tagName !== kind)) flush();
        if (!list) list = h(kind.toLowerCase());
        const li = h('li');
        inline(li, item[2], cite);
        list.append(li);
        continue;
      }
      if (list) flush();
      para.push(line.replace(/^\s*>\s?/, ''));
    }
    flush();
    return frag;
  };

  // ---- SSE over fetch ----
  const readSSE = async (res, onEvent) => {
    const reader = res.body.getReader();
    const dec = new TextDecoder();
    let buf = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return false;
      buf += dec.decode(value, { stream: true });
      let cut;
      while ((cut = buf.search(/\r?\n\r?\n/)) >= 0) {
        const block = buf.slice(0, cut);
        buf = buf.slice(cut + (buf[cut] === '\r' ? 4 : 2));
        const data = block.split(/\r?\n/).filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trim()).join('\n');
        if (!data) continue;
        if (data === '[DONE]') { reader.cancel().catch(() => {}); return true; }
        let ev;
        try { ev = JSON.parse(data); } catch { continue; }
        onEvent(ev);
      }
    }
  };

  const icon = () => {
    const ns = 'http://www.w3.org/2000/svg';
    const svg = document.createElementNS(ns, 'svg');
    svg.setAttribute('viewBox', '0 0 24 24');
    svg.setAttribute('aria-hidden', 'true');
    svg.setAttribute('focusable', 'false');
    const p = document.createElementNS(ns, 'path');
    p.setAttribute('d', 'M4 4h16a1 1 0 0 1 1 1v11a1 1 0 0 1-1 1H9l-5 4v-4H4a1 1 0 0 1-1-1V5a1 1 0 0 1 1-1z');
    p.setAttribute('fill', 'none');
    p.setAttribute('stroke', 'currentColor');
    p.setAttribute('stroke-width', '2');
    p.setAttribute('stroke-linejoin', 'round');
    svg.append(p);
    return svg;
  };

  function build(info) {
    const th = theme(info);
    uid += 1;
    const ids = { panel: `lair-panel-${uid}`, title: `lair-title-${uid}`, input: `lair-input-${uid}` };
    const host = document.createElement('div');
    host.setAttribute('data-libreair-widget', pid);
    const shadow = host.attachShadow({ mode: 'open' });
    try {
      const sheet = new CSSStyleSheet();
      sheet.replaceSync(CSS);
      shadow.adoptedStyleSheets = [sheet];
    } catch {
      shadow.append(h('style', { text: CSS })); // older browsers
    }
    const root = h('div', { class: th.position === 'bottom-left' ? 'root left' : 'root', lang });
    root.style.setProperty('--accent', th.color);
    root.style.setProperty('--accent-hover', th.hover);
    root.style.setProperty('--ink', th.ink);
    // with a label, the button's name is the text it shows (WCAG 2.5.3)
    const launcher = th.label
      ? h('button', { type: 'button', class: 'launcher labelled', 'aria-expanded': 'false',
        'aria-controls': ids.panel, title: t('open', { name: th.title }) }, icon(), h('span', { text: th.label }))
      : h('button', { type: 'button', class: 'launcher', 'aria-expanded': 'false',
        'aria-controls': ids.panel, 'aria-label': t('open', { name: th.title }) }, icon());
    const messages = h('div', { class: 'messages', role: 'region', tabindex: '0', 'aria-label': t('messages') });
    const live = h('div', { class: 'sr-only', 'aria-live': 'polite' });
    const input = h('textarea', { id: ids.input, rows: '2', maxlength: '4000' });
    const send = h('button', { type: 'submit', class: 'send', text: t('send') });
    const stop = h('button', { type: 'button', class: 'stop', text: t('stop'), hidden: true });
    const form = h('form', {}, h('label', { for: ids.input, class: 'sr-only', text: t('input') }), input, send, stop);
    const close = h('button', { type: 'button', class: 'close', 'aria-label': t('close') }, '×');
    // the conversation's reference, for the person's requests (access,
    // erasure): the organisation's DPO finds them with it
    const refNote = h('p', { class: 'reference', hidden: true });
    const panel = h('div', { id: ids.panel, class: 'panel', role: 'dialog', 'aria-modal': 'false',
      'aria-labelledby': ids.title, hidden: true },
    h('div', { class: 'head' }, h('h2', { id: ids.title, text: th.title }), close),
    messages, form, refNote, h('p', { class: 'foot', text: `${t('privacy')} ${t('powered')}.` }), live);

    if (info.welcome) messages.append(h('p', { class: 'welcome', text: info.welcome }));
    let startersBox = null;
    if (info.starters && info.starters.length) {
      startersBox = h('div', {}, h('p', { class: 'starters-label', text: t('starters') }),
        h('ul', { class: 'starters' }, info.starters.map((q) => h('li', {},
          h('button', { type: 'button', class: 'starter', text: q, onclick: () => ask(q) })))));
      messages.append(startersBox);
    }

    const open = () => {
      panel.hidden = false;
      launcher.setAttribute('aria-expanded', 'true');
      input.focus();
    };
    const hide = () => {
      panel.hidden = true;
      launcher.setAttribute('aria-expanded', 'false');
      launcher.focus();
    };
    launcher.addEventListener('click', () => (panel.hidden ? open() : hide()));
    close.addEventListener('click', hide);
    panel.addEventListener('keydown', (e) => {
      if (e.key === 'Escape') {
        e.stopPropagation();
        hide();
      }
    });
    input.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        form.requestSubmit();
      }
    });
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      const q = input.value.trim();
      if (q && !busy) {
        input.value = '';
        ask(q);
      }
    });

    let conversation = null;
    let busy = false;
    let ctrl = null;
    let stopped = false;
    stop.addEventListener('click', () => { stopped = true; if (ctrl) ctrl.abort(); });

    const scroll = () => { messages.scrollTop = messages.scrollHeight; };
    const say = (piece) => {
      if (!piece) return;
      live.append(h('p', { text: piece }));
      while (live.childElementCount > 4) live.firstElementChild.remove();
    };

    function ask(q, bot = null) {
      if (busy) return;
      if (startersBox) { startersBox.remove(); startersBox = null; }
      if (!bot) {
        messages.append(h('div', { class: 'msg user' }, h('p', { class: 'who', text: t('you') }), h('p', { text: q })));
        const body = h('div', { class: 'body' });
        const srcBox = h('div', { class: 'sources' });
        const note = h('div', { class: 'note', role: 'status' });
        const el = h('div', { class: 'msg bot' }, h('p', { class: 'who', text: t('bot') }), body, srcBox, note);
        messages.append(el);
        bot = { el, body, srcBox, note, sources: [], details: new Map() };
      }
      run(q, bot);
    }

    const setNote = (bot, text, error, retry) => {
      clear(bot.note);
      bot.note.className = error ? 'note error' : 'note';
      if (!text) return;
      bot.note.append(text);
      if (retry) bot.note.append(h('button', { type: 'button', class: 'retry', text: t('retry'), onclick: retry }));
      say(text);
    };

    const cite = (bot) => (n) => {
      const s = bot.sources.find((x) => x.index === n);
      if (!s) return null;
      return h('button', { type: 'button', class: 'cite', 'aria-label': `${t('source', { n })} : ${s.document}`,
        text: String(n), onclick: () => {
          const d = bot.details.get(n);
          if (d) { d.open = true; d.querySelector('summary').focus(); }
        } });
    };

    const showSources = (bot) => {
      clear(bot.srcBox);
      bot.details.clear();
      if (!bot.sources.length) return;
      bot.srcBox.append(h('p', { text: t('sources') }));
      // one entry per document page, its passages inside (docs/grounding.md §5)
      for (const s of bot.sources) {
        const ps = Array.isArray(s.passages) && s.passages.length ? s.passages : [{ excerpt: s.excerpt, section: s.section }];
        const many = ps.length > 1;
        const d = h('details', {}, h('summary', { text: `[${s.index}] ${s.document}${s.page ? `, ${t('page', { p: s.page })}` : ''}`
          + `${many ? ` (${t('passages', { n: ps.length })})` : ''}` }),
        ps.map((p) => h('blockquote', {}, many && p.section ? h('span', { class: 'section', text: p.section }) : null,
          p.excerpt || '')));
        bot.details.set(s.index, d);
        bot.srcBox.append(d);
      }
    };

    // Thumbs up or down on the last answer, then an optional comment
    // (POST …/feedback: the server accepts it for a conversation this
    // widget created only; a later rating replaces the first).
    let fbBox = null;
    function addFeedback(bot) {
      if (fbBox) fbBox.remove();
      if (!conversation) return;
      const status = h('span', { role: 'status' });
      const cid = `${ids.input}-fb`;
      const comment = h('textarea', { id: cid, rows: '2', maxlength: '2000' });
      let rating = null;
      const post = (withComment) => {
        const b = { conversation_id: conversation, rating };
        if (withComment) b.comment = comment.value.trim();
        return fetch(`${endpoint}/feedback`, { method: 'POST', mode: 'cors', credentials: 'omit',
          headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(b) })
          .then((r) => {
            status.textContent = r.ok ? t('thanks') : t('error');
            if (r.ok && withComment) form.hidden = true;
          })
          .catch(() => { status.textContent = t('error'); });
      };
      const thumb = (v, icon) => h('button', { type: 'button', 'aria-pressed': 'false', 'aria-label': t(v),
        title: t(v), text: icon, onclick: () => {
          rating = v;
          for (const x of [upB, downB]) x.setAttribute('aria-pressed', String(x === (v === 'up' ? upB : downB)));
          form.hidden = false;
          post(false);
        } });
      const upB = thumb('up', '👍');
      const downB = thumb('down', '👎');
      const form = h('form', { hidden: true }, h('label', { for: cid, text: t('comment') }), comment,
        h('button', { type: 'submit', class: 'fb-send', text: t('fbsend') }));
      form.addEventListener('submit', (e) => { e.preventDefault(); if (rating) post(true); });
      fbBox = h('div', { class: 'feedback' }, upB, downB, status, form);
      bot.el.append(fbBox);
    }

    async function run(q, bot) {
      busy = true;
      stopped = false;
      ctrl = new AbortController();
      if (shadow.activeElement === send) input.focus();
      send.hidden = true;
      stop.hidden = false;
      setNote(bot, '');
      let text = '';
      let said = 0;
      let frame = 0;
      const draw = () => {
        frame = 0;
        clear(bot.body).append(markdown(text, cite(bot)));
        scroll();
      };
      const retry = () => ask(q, bot);
      const body = { messages: [{ role: 'user', content: q }], stream: true };
      if (conversation) body.conversation_id = conversation;
      try {
        const res = await fetch(`${endpoint}/chat`, {
          method: 'POST', mode: 'cors', credentials: 'omit', signal: ctrl.signal,
          headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body),
        });
        if (!res.ok) {
          let err = null;
          try { err = (await res.json()).error; } catch { err = null; }
          const e = new Error(err?.message || `HTTP ${res.status}`);
          e.status = res.status;
          e.code = err?.code;
          e.retryAfter = Number(res.headers.get('Retry-After')) || 30;
          throw e;
        }
        const ref = res.headers.get('X-Conversation-Reference');
        if (ref && /^[0-9A-F]{4}(-[0-9A-F]{4}){3}$/.test(ref)) {
          refNote.textContent = t('reference', { ref });
          refNote.hidden = false;
        }
        const complete = await readSSE(res, (ev) => {
          if (ev.error) {
            const e = new Error(ev.error.message);
            e.status = 500;
            throw e;
          }
          if (ev.conversation_id) conversation = ev.conversation_id;
          if (Array.isArray(ev.sources)) { bot.sources = ev.sources; showSources(bot); }
          if (ev.answer_mode === 'degraded') setNote(bot, t('degraded'));
          const d = ev.choices && ev.choices[0] && ev.choices[0].delta && ev.choices[0].delta.content;
          if (d) {
            text += d;
            if (!frame) frame = requestAnimationFrame(draw);
            const m = text.slice(said).match(/^[\s\S]*[.!?…:](\s|$)/);
            if (m) { say(m[0].trim()); said += m[0].length; }
          }
        });
        if (frame) cancelAnimationFrame(frame);
        draw();
        if (complete) { say(text.slice(said).trim()); addFeedback(bot); }
        else setNote(bot, t('lost'), true, retry);
      } catch (e) {
        if (frame) cancelAnimationFrame(frame);
        draw();
        if (e.name === 'AbortError' && stopped) setNote(bot, t('stopped'));
        else if (e.status === 429) setNote(bot, t('rate', { s: e.retryAfter }), true, retry);
        else if (e.status === 503) setNote(bot, t('busy'), true, retry);
        else if (e.code === 'conversation_not_found') { conversation = null; setNote(bot, t('error'), true, retry); }
        else if (e.status) setNote(bot, t('error'), true, e.status >= 500 ? retry : null);
        else setNote(bot, t('lost'), true, retry);
      } finally {
        ctrl.abort();
        ctrl = null;
        busy = false;
        const hadFocus = shadow.activeElement === stop;
        send.hidden = false;
        stop.hidden = true;
        if (hadFocus) input.focus();
        scroll();
      }
    }

    root.append(launcher, panel);
    shadow.append(root);
    document.body.append(host);
  }

  const start = () => {
    fetch(endpoint, { mode: 'cors', credentials: 'omit' })
      .then((r) => (r.ok ? r.json() : Promise.reject(new Error(`HTTP ${r.status}`))))
      .then(build)
      .catch((e) => console.warn(`LibreAIr widget: the assistant ${pid} is not available on this site (${e.message})`));
  };
  if (document.body) start();
  else document.addEventListener('DOMContentLoaded', start);
})();
