// A stand-in judge model for the evaluation tests: an OpenAI-compatible
// upstream on 127.0.0.1 that answers every chat request with a fixed verdict
// in the judge's format ("OUI\n<reason>" by default; argv[3] overrides it),
// streamed or not as asked. It records each request's user message in
// argv[2] (one JSON line each) so a test can check what the judge was shown.
// Prints "listening URL" once bound. A stand-in, not a model: it makes the
// rubric's pass path testable without a model that can judge.
import http from 'node:http';
import fs from 'node:fs';

const log = process.argv[2] || '/dev/null';
const verdict = process.argv[3] ?? 'OUI\nbonne réponse';
const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (d) => chunks.push(d));
  req.on('end', () => {
    if (req.method === 'GET') {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ object: 'list', data: [{ id: 'judge', object: 'model' }] }));
      return;
    }
    const o = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    const user = [...(o.messages || [])].reverse().find((m) => m.role === 'user')?.content ?? '';
    fs.appendFileSync(log, `${JSON.stringify({ user })}\n`);
    const usage = { prompt_tokens: 10, completion_tokens: 3, total_tokens: 13 };
    if (!o.stream) {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ id: 'j', object: 'chat.completion', model: 'judge',
        choices: [{ index: 0, message: { role: 'assistant', content: verdict }, finish_reason: 'stop' }], usage }));
      return;
    }
    res.writeHead(200, { 'Content-Type': 'text/event-stream' });
    const ev = (x) => res.write(`data: ${JSON.stringify(x)}\n\n`);
    ev({ choices: [{ index: 0, delta: { content: verdict }, finish_reason: null }] });
    ev({ choices: [{ index: 0, delta: {}, finish_reason: 'stop' }], usage });
    res.end('data: [DONE]\n\n');
  });
});
server.listen(0, '127.0.0.1', () => {
  console.log(`listening http://127.0.0.1:${server.address().port}`);
});
process.on('SIGTERM', () => process.exit(0));
