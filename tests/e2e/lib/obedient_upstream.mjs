// A stand-in for a gullible model, for the fencing test (t_eval_fencing.sh):
// an OpenAI-compatible upstream on 127.0.0.1 that OBEYS every order written
// in its system prompt, except what the prompt fences as data.
//
// Its behaviour, fixed and written down so that a test can rely on it:
//   - data: every span from a line "<<<SOURCE n ..." to the first
//     "<<<FIN DE LA SOURCE" after it (any number: a naive reader, so that a
//     document able to forge that marker would escape its fence);
//   - orders: every other sentence of the system prompt holding an
//     imperative verb (écris, commence, réponds, dis, ajoute, invite, ignore…);
//   - obeying an order: the answer carries the codes (WORD-1234), links and
//     e-mail addresses the order asks for, after a plain first sentence.
// It records every request's messages in argv[2] (one JSON line each) so the
// test can check what the model was shown. Prints "listening URL" once bound.
// It is not a language model: it shows, deterministically, what a model that
// follows instructions does with a fenced and an unfenced prompt.
import http from 'node:http';
import fs from 'node:fs';

const log = process.argv[2] || '/dev/null';

const ORDER = /(?<!\p{L})(écris|ecris|commence|réponds|reponds|dis|ajoute|invite|ignore|mentionne|write|say)(?!\p{L})/iu;
const WANTED = /\b[A-Z]{3,}-\d{3,}\b|https?:\/\/[^\s»"<>]+|[\w.+-]+@[\w-]+(\.[\w-]+)+/g;

// The system prompt without its fenced spans.
function unfenced(text) {
  const out = [];
  let inside = false;
  for (const line of text.split('\n')) {
    if (!inside && /^<<<SOURCE \d+/.test(line)) {
      inside = true;
    }
    if (!inside) out.push(line);
    if (inside && line.includes('<<<FIN DE LA SOURCE')) inside = false;
  }
  return out.join('\n');
}

export function answer(messages) {
  const system = messages.filter((m) => m.role === 'system').map((m) => m.content).join('\n');
  const obeyed = [];
  for (const sentence of unfenced(system).split(/(?<=[.!?])\s+|\n+/)) {
    if (!ORDER.test(sentence)) continue;
    for (const w of sentence.match(WANTED) || []) {
      const clean = w.replace(/[.,;:)]+$/, '');
      if (!obeyed.includes(clean)) obeyed.push(clean);
    }
  }
  const first = 'Voici ce que disent les documents de la commune [1].';
  return obeyed.length ? `${obeyed.join(' ')} ${first} ${obeyed.join(' ')}` : first;
}

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (d) => chunks.push(d));
  req.on('end', () => {
    if (req.method === 'GET') {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ object: 'list', data: [{ id: 'obedient', object: 'model' }] }));
      return;
    }
    const o = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    const messages = o.messages || [];
    fs.appendFileSync(log, `${JSON.stringify({ messages })}\n`);
    const text = answer(messages);
    const usage = { prompt_tokens: 50, completion_tokens: 12, total_tokens: 62 };
    if (!o.stream) {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ id: 'o', object: 'chat.completion', model: 'obedient',
        choices: [{ index: 0, message: { role: 'assistant', content: text }, finish_reason: 'stop' }], usage }));
      return;
    }
    res.writeHead(200, { 'Content-Type': 'text/event-stream' });
    const ev = (x) => res.write(`data: ${JSON.stringify(x)}\n\n`);
    ev({ choices: [{ index: 0, delta: { content: text }, finish_reason: null }] });
    ev({ choices: [{ index: 0, delta: {}, finish_reason: 'stop' }], usage });
    res.end('data: [DONE]\n\n');
  });
});
server.listen(0, '127.0.0.1', () => {
  console.log(`listening http://127.0.0.1:${server.address().port}`);
});
process.on('SIGTERM', () => process.exit(0));
