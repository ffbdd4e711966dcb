// A small Markdown subset rendered as DOM nodes, for model output.
//
// Model output is untrusted (OWASP LLM05: a document or a user can make the
// model write anything, HTML and script included). So nothing here parses
// HTML: every piece of text becomes a text node, and the only elements made
// are the fixed ones below. Links keep only http(s) and mailto targets and
// open in a new tab without referrer or opener. Citation markers [n] become
// buttons that call onCite(n) when n is a known source.
//
// Blocks: paragraphs (line breaks kept), headings (#…), bullet and numbered
// lists, block quotes, fenced code. Inline: **bold**, *italic* / _italic_,
// `code`, [text](url), [n].

const SAFE_SCHEMES = ['http:', 'https:', 'mailto:'];

export function safeUrl(href) {
  try {
    const u = new URL(href, 'https://invalid.example/');
    if (!SAFE_SCHEMES.includes(u.protocol) || u.host === 'invalid.example') return null;
    return u.href;
  } catch {
    return null;
  }
}

function el(tag, cls) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  return e;
}

// Inline text → nodes appended to parent.
function inline(parent, text, opts, depth = 0) {
  const re = /(`+)([^`]+?)\1|\*\*(.+?)\*\*|__(.+?)__|\*([^*\s][^*]*?)\*|_([^_\s][^_]*?)_|\[([^\]\n]+)\]\(([^)\s]+)\)|\[(\d{1,3})\]/g;
  let last = 0;
  let m;
  while ((m = re.exec(text))) {
    if (m.index > last) parent.append(document.createTextNode(text.slice(last, m.index)));
    last = re.lastIndex;
    if (m[2] !== undefined) {
      const c = el('code');
      c.textContent = m[2];
      parent.append(c);
    } else if (m[3] !== undefined || m[4] !== undefined) {
      const b = el('strong');
      if (depth < 4) inline(b, m[3] ?? m[4], opts, depth + 1);
      else b.textContent = m[3] ?? m[4];
      parent.append(b);
    } else if (m[5] !== undefined || m[6] !== undefined) {
      const i = el('em');
      if (depth < 4) inline(i, m[5] ?? m[6], opts, depth + 1);
      else i.textContent = m[5] ?? m[6];
      parent.append(i);
    } else if (m[7] !== undefined) {
      const href = safeUrl(m[8]);
      if (href) {
        const a = el('a');
        a.href = href;
        a.target = '_blank';
        a.rel = 'noopener noreferrer nofollow';
        a.textContent = m[7];
        parent.append(a);
      } else {
        parent.append(document.createTextNode(m[7]));
      }
    } else if (m[9] !== undefined) {
      const n = Number(m[9]);
      const cite = opts.cite?.(n);
      if (cite) parent.append(cite);
      else parent.append(document.createTextNode(m[0]));
    }
  }
  if (last < text.length) parent.append(document.createTextNode(text.slice(last)));
}

function lines(parent, ls, opts) {
  ls.forEach((l, i) => {
    if (i) parent.append(el('br'));
    inline(parent, l, opts);
  });
}

// Renders text into a DocumentFragment. opts.cite(n) returns the node for
// the citation [n], or null to leave it as text.
export function renderMarkdown(text, opts = {}) {
  const frag = document.createDocumentFragment();
  const src = String(text).replace(/\r\n?/g, '\n').split('\n');
  let para = [];
  let list = null;
  let listKind = '';
  const flushPara = () => {
    if (para.length) {
      const p = el('p');
      lines(p, para, opts);
      frag.append(p);
      para = [];
    }
  };
  const flushList = () => {
    if (list) frag.append(list);
    list = null;
    listKind = '';
  };
  for (let i = 0; i < src.length; i++) {
    const line = src[i];
    const fence = line.match(/^\s*(```|~~~)/);
    if (fence) {
      flushPara();
      flushList();
      const body = [];
      for (i++; i < src.length && !src[i].trimStart().startsWith(fence[1]); i++) body.push(src[i]);
      const pre = el('pre');
      const code = el('code');
      code.textContent = body.join('\n');
      pre.append(code);
      frag.append(pre);
      continue;
    }
    if (!line.trim()) {
      flushPara();
      flushList();
      continue;
    }
    const head = line.match(/^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$/);
    if (head) {
      flushPara();
      flushList();
      const p = el('p', 'md-heading');
      const s = el('strong');
      inline(s, head[2], opts);
      p.append(s);
      frag.append(p);
      continue;
    }
    const bullet = line.match(/^\s*[-*+]\s+(.*)$/);
    const num = line.match(/^\s*(\d{1,9})[.)]\s+(.*)$/);
    if (bullet || num) {
      flushPara();
      const kind = bullet ? 'ul' : 'ol';
      if (listKind !== kind) {
        flushList();
        list = el(kind);
        listKind = kind;
        if (num && num[1] !== '1') list.start = Number(num[1]);
      }
      const li = el('li');
      inline(li, bullet ? bullet[1] : num[2], opts);
      list.append(li);
      continue;
    }
    const quote = line.match(/^\s*>\s?(.*)$/);
    if (quote) {
      flushPara();
      flushList();
      const q = el('blockquote');
      const ls = [quote[1]];
      while (i + 1 < src.length && /^\s*>/.test(src[i + 1])) ls.push(src[++i].replace(/^\s*>\s?/, ''));
      const p = el('p');
      lines(p, ls, opts);
      q.append(p);
      frag.append(q);
      continue;
    }
    if (list && /^\s{2,}\S/.test(line)) { // continuation of a list item
      const li = list.lastElementChild;
      li.append(el('br'));
      inline(li, line.trim(), opts);
      continue;
    }
    flushList();
    para.push(line);
  }
  flushPara();
  flushList();
  return frag;
}
