/* LibreAIr widget: a public assistant on a website, with one tag:
 *
 *   <script src="https://HOST/widget.js" data-assistant="TENANT.ASSISTANT" async></script>
 *
 * Optional: data-lang="en" (default: the page's language, else French).
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
    },
  };
  const t = (k, v = {}) => WORDS[lang][k].replace(/\{(\w+)\}/g, (m, x) => (x in v ? String(v[x]) : m));

  const CSS = `
:host { all: initial; }
* { box-sizing: border-box; }
.root { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; font-size: 16px;
  line-height: 1.45; color: #1b1b1b; }
button { font: inherit; cursor: pointer; }
:focus-visible { outline: 3px solid #f2a900; outline-offset: 2px; }
.launcher { position: fixed; right: 1.25rem; bottom: 1.25rem; width: 3.75rem; height: 3.75rem; border-radius: 50%;
  border: 2px solid #fff; background: #1d3f8f; color: #fff; box-shadow: 0 4px 14px #0005; display: flex;
  align-items: center; justify-content: center; z-index: 2147483000; }
.launcher:hover { background: #142d66; }
.launcher svg { width: 1.9rem; height: 1.9rem; }
.panel { position: fixed; right: 1.25rem; bottom: 5.75rem; width: min(25rem, calc(100vw - 2rem));
  height: min(38rem, calc(100vh - 7.5rem)); background: #fff; border: 1px solid #9aa3b2; border-radius: 12px;
  box-shadow: 0 8px 30px #0004; display: flex; flex-direction: column; overflow: hidden; z-index: 2147483000; }
.panel[hidden] { display: none; }
.head { display: flex; align-items: center; gap: 0.5rem; background: #1d3f8f; color: #fff; padding: 0.6rem 0.75rem 0.6rem 1rem; }
.head h2 { font-size: 1.05rem; margin: 0; flex: 1; font-weight: 700; }
.close { background: transparent; color: #fff; border: 2px solid transparent; border-radius: 6px; width: 2.25rem;
  height: 2.25rem; font-size: 1.4rem; line-height: 1; }
.close:hover { border-color: #fff; }
.messages { flex: 1; overflow-y: auto; padding: 0.75rem; display: flex; flex-direction: column; gap: 0.6rem; }
.welcome { margin: 0; white-space: pre-wrap; }
.starters { list-style: none; margin: 0; padding: 0; display: flex; flex-direction: column; gap: 0.4rem; }
.starters-label { font-size: 0.85rem; font-weight: 700; color: #4d4d4d; margin: 0.25rem 0 0; }
.starter { text-align: left; background: #fff; color: #1d3f8f; border: 1px solid #1d3f8f; border-radius: 16px; padding: 0.35rem 0.8rem; }
.starter:hover { background: #e6ecf8; }
.msg { border-radius: 10px; padding: 0.45rem 0.75rem; max-width: 92%; }
.msg > p { margin: 0; white-space: pre-wrap; }
.msg .who { font-size: 0.75rem; font-weight: 700; color: #4d4d4d; margin: 0 0 0.15rem; }
.msg.user { align-self: flex-end; background: #e6ecf8; }
.msg.bot { align-self: flex-start; background: #f3f5f9; border: 1px solid #c9cfda; }
.body p { margin: 0 0 0.45rem; } .body p:last-child { margin: 0; }
.body ul, .body ol { margin: 0 0 0.45rem; padding-left: 1.3rem; }
.body pre { white-space: pre-wrap; background: #fff; padding: 0.4rem; border-radius: 6px; }
.body a { color: #1d3f8f; }
.cite { font-size: 0.72rem; padding: 0 0.3rem; border: 1px solid #1d3f8f; color: #1d3f8f; background: #fff;
  border-radius: 4px; vertical-align: super; line-height: 1.2; margin: 0 0.1rem; }
.sources { margin-top: 0.4rem; font-size: 0.88rem; }
.sources p { font-weight: 700; margin: 0 0 0.15rem; font-size: 0.8rem; }
.sources summary { cursor: pointer; color: #1d3f8f; text-decoration: underline; }
.sources blockquote { margin: 0.25rem 0 0.4rem; padding: 0.3rem 0.6rem; border-left: 3px solid #1d3f8f; background: #fff; }
.note { font-weight: 600; margin-top: 0.35rem; }
.note.error { color: #a3112b; }
.note:empty { display: none; }
.retry { margin-left: 0.4rem; background: #fff; color: #a3112b; border: 2px solid #a3112b; border-radius: 6px; padding: 0.1rem 0.6rem; }
form { display: flex; gap: 0.4rem; padding: 0.6rem; border-top: 1px solid #c9cfda; align-items: flex-end; }
textarea { flex: 1; font: inherit; resize: none; padding: 0.4rem 0.5rem; border: 1px solid #6b7280; border-radius: 6px; color: #1b1b1b; background: #fff; }
.send, .stop { border-radius: 6px; padding: 0.45rem 0.8rem; border: 2px solid #1d3f8f; background: #1d3f8f; color: #fff; }
.stop { background: #fff; color: #a3112b; border-color: #a3112b; }
.send[hidden], .stop[hidden] { display: none; }
.foot { font-size: 0.75rem; color: #4d4d4d; padding: 0 0.75rem 0.5rem; margin: 0; }
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
    const root = h('div', { class: 'root', lang });
    const launcher = h('button', { type: 'button', class: 'launcher', 'aria-expanded': 'false',
      'aria-controls': ids.panel, 'aria-label': t('open', { name: info.name }) }, icon());
    const messages = h('div', { class: 'messages', role: 'region', tabindex: '0', 'aria-label': t('messages') });
    const live = h('div', { class: 'sr-only', 'aria-live': 'polite' });
    const input = h('textarea', { id: ids.input, rows: '2', maxlength: '4000' });
    const send = h('button', { type: 'submit', class: 'send', text: t('send') });
    const stop = h('button', { type: 'button', class: 'stop', text: t('stop'), hidden: true });
    const form = h('form', {}, h('label', { for: ids.input, class: 'sr-only', text: t('input') }), input, send, stop);
    const close = h('button', { type: 'button', class: 'close', 'aria-label': t('close') }, '×');
    const panel = h('div', { id: ids.panel, class: 'panel', role: 'dialog', 'aria-modal': 'false',
      'aria-labelledby': ids.title, hidden: true },
    h('div', { class: 'head' }, h('h2', { id: ids.title, text: info.name }), close),
    messages, form, h('p', { class: 'foot', text: `${t('privacy')} ${t('powered')}.` }), live);

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
      for (const s of bot.sources) {
        const d = h('details', {}, h('summary', { text: `[${s.index}] ${s.document}${s.page ? `, ${t('page', { p: s.page })}` : ''}` }),
          h('blockquote', { text: s.excerpt || '' }));
        bot.details.set(s.index, d);
        bot.srcBox.append(d);
      }
    };

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
        if (complete) say(text.slice(said).trim());
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
