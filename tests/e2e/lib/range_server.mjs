// A small HTTP file server for download tests (Node.js 20, no dependencies).
//
//   node range_server.mjs ROOT
//
// Listens on 127.0.0.1 on a free port chosen by the system and writes that
// port to $RANGE_SERVER_PORT_FILE (atomically: the file appears complete) or,
// without it, prints it on stdout. Serves the files directly in ROOT by name,
// with Range support (206, 416). Each request is appended to
// $RANGE_SERVER_LOG, when set, as one JSON line {method, url, range, status}
// before the response is sent, so a client that has finished can read it.
//
// Query parameters change the behaviour of one request:
//   cut=N        send only the first N bytes of the body, then close the connection
//   norange=1    ignore the Range header (always 200 with the whole file)
//   redirect=K   answer 302 to the same URL with redirect=K-1, until K is 0
//   location=U   answer 302 to U (any scheme)
//   file=NAME    serve NAME whatever the path says
//   status=C     answer with status C and a short body
//   rate=B       send the body at about B bytes per second
//
// The server exits by itself after $RANGE_SERVER_TTL seconds (default 300),
// in case whoever started it could not stop it.
import { appendFileSync, createReadStream, renameSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { basename, join } from 'node:path';

const root = process.argv[2];
if (!root) {
  console.error('usage: node range_server.mjs ROOT');
  process.exit(2);
}
const logFile = process.env.RANGE_SERVER_LOG;
const ttl = Number(process.env.RANGE_SERVER_TTL || 300);

function log(entry) {
  if (logFile) appendFileSync(logFile, JSON.stringify(entry) + '\n');
}

// "bytes=A-", "bytes=A-B" or "bytes=-N" against a file of size; null when the
// header is absent or not one range we understand (then the whole file goes).
function parseRange(header, size) {
  const m = /^bytes=(\d*)-(\d*)$/.exec(header || '');
  if (!m || (m[1] === '' && m[2] === '')) return null;
  let start, end;
  if (m[1] === '') {
    start = Math.max(0, size - Number(m[2]));
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  }
  if (start >= size || end < start) return { unsatisfiable: true };
  return { start, end };
}

function plan(req, url) {
  const q = url.searchParams;
  if (q.has('status')) return { status: Number(q.get('status')) };
  if (q.has('location')) return { status: 302, location: q.get('location') };
  const k = Number(q.get('redirect') || 0);
  if (k > 0) {
    const next = new URL(url);
    next.searchParams.set('redirect', String(k - 1));
    return { status: 302, location: next.pathname + next.search };
  }
  const name = basename(q.get('file') || decodeURIComponent(url.pathname));
  let st;
  try {
    st = statSync(join(root, name));
  } catch {
    return { status: 404 };
  }
  if (!st.isFile()) return { status: 404 };
  const path = join(root, name);
  const size = st.size;
  const range = q.get('norange') === '1' ? null : parseRange(req.headers.range, size);
  if (range && range.unsatisfiable) return { status: 416, size };
  if (range) return { status: 206, path, size, start: range.start, end: range.end };
  return { status: 200, path, size, start: 0, end: size - 1 };
}

function respond(req, res, p, cut) {
  if (p.status === 302) {
    res.writeHead(302, { Location: p.location, 'Content-Length': 0 });
    return res.end();
  }
  if (p.status === 416) {
    res.writeHead(416, { 'Content-Range': `bytes */${p.size}`, 'Content-Length': 0 });
    return res.end();
  }
  if (p.status !== 200 && p.status !== 206) {
    const body = `status ${p.status}\n`;
    res.writeHead(p.status, { 'Content-Type': 'text/plain', 'Content-Length': body.length });
    return res.end(req.method === 'HEAD' ? undefined : body);
  }
  const len = p.size === 0 ? 0 : p.end - p.start + 1;
  const headers = {
    'Content-Type': 'application/octet-stream',
    'Content-Length': len,
    'Accept-Ranges': 'bytes',
  };
  if (p.status === 206) headers['Content-Range'] = `bytes ${p.start}-${p.end}/${p.size}`;
  res.writeHead(p.status, headers);
  if (req.method === 'HEAD' || len === 0) return res.end();
  if (cut !== null && cut < len) {
    // Send exactly `cut` bytes, then drop the connection as a failing network would.
    const stream = cut > 0 ? createReadStream(p.path, { start: p.start, end: p.start + cut - 1 }) : null;
    const drop = () => res.socket && res.socket.end(() => res.socket && res.socket.destroy());
    if (!stream) return drop();
    stream.on('data', (chunk) => res.write(chunk));
    stream.on('end', () => res.write('', drop));
    return;
  }
  const rate = Number(new URL(req.url, 'http://127.0.0.1').searchParams.get('rate') || 0);
  if (rate > 0) return throttle(createReadStream(p.path, { start: p.start, end: p.end }), res, rate);
  createReadStream(p.path, { start: p.start, end: p.end }).pipe(res);
}

// Writes the stream out in tenths of `rate` bytes, ten per second.
function throttle(stream, res, rate) {
  const step = Math.max(1, Math.floor(rate / 10));
  let pending = Buffer.alloc(0);
  let ended = false;
  stream.on('data', (chunk) => {
    pending = Buffer.concat([pending, chunk]);
    if (pending.length > 4 * step) stream.pause();
  });
  stream.on('end', () => (ended = true));
  const timer = setInterval(() => {
    if (pending.length > 0) {
      res.write(pending.subarray(0, step));
      pending = pending.subarray(step);
      if (pending.length <= 4 * step) stream.resume();
    } else if (ended) {
      clearInterval(timer);
      res.end();
    }
  }, 100);
  res.on('close', () => {
    clearInterval(timer);
    stream.destroy();
  });
}

const server = createServer((req, res) => {
  const url = new URL(req.url, 'http://127.0.0.1');
  let p;
  try {
    p = plan(req, url);
  } catch (e) {
    p = { status: 400 };
  }
  log({ method: req.method, url: req.url, range: req.headers.range || null, status: p.status });
  const cut = url.searchParams.has('cut') ? Number(url.searchParams.get('cut')) : null;
  respond(req, res, p, cut);
});

server.listen(0, '127.0.0.1', () => {
  const port = String(server.address().port);
  const portFile = process.env.RANGE_SERVER_PORT_FILE;
  if (portFile) {
    writeFileSync(portFile + '.tmp', port + '\n');
    renameSync(portFile + '.tmp', portFile);
  } else {
    process.stdout.write(port + '\n');
  }
});

setTimeout(() => process.exit(0), ttl * 1000).unref();
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
