// A small HTTP proxy for the upstream tests: it stands between LibreAIr and
// a real upstream (llama-server, another LibreAIr) and injects the faults a
// network and a server can produce, and records what it forwards.
//
//   const p = await startProxy(targetUrl);   // p.url: http://127.0.0.1:PORT
//   p.fault({ status: 500, count: 2 });       // the next 2 requests get HTTP 500
//   p.fault({ status: 429, retryAfter: 5 });  // with Retry-After
//   p.fault({ cutAfter: 600, count: 1 });     // forward, then cut the answer after 600 bytes
//   p.fault({ delayMs: 3000 });               // hold the answer back
//   p.fault({ refuse: true });                // reset every connection
//   (faults apply to POST requests; allMethods: true for the health checks too)
//   p.fault(null);                            // back to plain forwarding
//   p.recorded                                // [{method, path, body}] every request seen
//   p.aborted                                 // requests whose client went away mid-answer
//
// Only the answer is tampered with; requests are forwarded as they came.
import http from 'node:http';

export async function startProxy(target) {
  const t = new URL(target);
  const state = { fault: null, recorded: [], aborted: 0, served: 0 };
  // faults hit the model requests (POST), not the health checks (GET
  // /models), which would otherwise use them up at random
  const take = (method) => {
    const f = state.fault;
    if (!f || (method !== 'POST' && !f.allMethods)) return null;
    if (f.count !== undefined && --f.count <= 0) state.fault = null;
    return f;
  };
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (d) => chunks.push(d));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      state.recorded.push({ method: req.method, path: req.url, body: body.toString('utf8') });
      const f = take(req.method);
      if (f?.refuse) { req.socket.destroy(); return; }
      if (f?.status) {
        const h = { 'Content-Type': 'application/json' };
        if (f.retryAfter) h['Retry-After'] = String(f.retryAfter);
        res.writeHead(f.status, h);
        res.end(JSON.stringify({ error: { message: `injected ${f.status}`, type: 'server_error' } }));
        return;
      }
      const headers = { ...req.headers, host: t.host };
      const up = http.request({ host: t.hostname, port: t.port, path: req.url, method: req.method, headers },
        (ur) => {
          const go = () => {
            res.writeHead(ur.statusCode, ur.headers);
            let sent = 0;
            ur.on('data', (d) => {
              if (f?.cutAfter !== undefined && sent + d.length > f.cutAfter) {
                res.write(d.subarray(0, Math.max(0, f.cutAfter - sent)));
                ur.destroy();
                res.socket?.destroy(); // the connection drops mid-answer
                return;
              }
              sent += d.length;
              res.write(d);
            });
            ur.on('end', () => { state.served++; res.end(); });
          };
          if (f?.delayMs) setTimeout(go, f.delayMs); else go();
        });
      up.on('error', () => { if (!res.headersSent) { res.writeHead(502); } res.end(); });
      res.on('close', () => { if (!res.writableFinished) { state.aborted++; up.destroy(); } });
      up.end(body);
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    fault(f) { state.fault = f ? { ...f } : null; },
    get recorded() { return state.recorded; },
    get aborted() { return state.aborted; },
    get served() { return state.served; },
    clear() { state.recorded = []; state.aborted = 0; state.served = 0; },
    close() { return new Promise((r) => { server.closeAllConnections?.(); server.close(r); }); },
  };
}

// A stand-in for a model, for the one thing a real model cannot be asked to
// do reliably: answer with the placeholders it was given. It streams back,
// in chunks of `chunk` bytes, "Noted: " followed by the last user message as
// received, and records every request. Used only by the privacy test, which
// says so.
export async function startEchoUpstream({ chunk = 3 } = {}) {
  const state = { recorded: [] };
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (d) => chunks.push(d));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      state.recorded.push({ method: req.method, path: req.url, body });
      if (req.method === 'GET') {
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ object: 'list', data: [{ id: 'echo', object: 'model' }] }));
        return;
      }
      const o = JSON.parse(body);
      const last = [...o.messages].reverse().find((m) => m.role === 'user')?.content ?? '';
      const text = `Noted: ${last}`;
      res.writeHead(200, { 'Content-Type': 'text/event-stream' });
      const ev = (x) => res.write(`data: ${JSON.stringify(x)}\n\n`);
      for (let i = 0; i < text.length; i += chunk)
        ev({ choices: [{ index: 0, delta: { content: text.slice(i, i + chunk) }, finish_reason: null }] });
      ev({ choices: [{ index: 0, delta: {}, finish_reason: 'stop' }],
        usage: { prompt_tokens: 10, completion_tokens: text.length } });
      res.end('data: [DONE]\n\n');
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    get recorded() { return state.recorded; },
    close() { return new Promise((r) => { server.closeAllConnections?.(); server.close(r); }); },
  };
}
