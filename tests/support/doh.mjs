// A stand-in DNS-over-HTTPS resolver (the JSON form Cloudflare's and
// Google's serve: `GET /dns-query?name=<domain>&type=MX|A|AAAA` with
// `Accept: application/dns-json`), so no test depends on the internet.
//
// Fixed names, for the domain check's cases (docs/CONTRACT.md 3.5):
//   nowhere.invalid     NXDOMAIN (Status 3), any type
//   no-records.test     exists, no MX, A or AAAA
//   a-only.test         no MX, one A record
//   null-mx.test        the null MX "0 ." (RFC 7505)
//   dns-fails.test      HTTP 500 (the lookup fails)
//   dns-slow.test       answers after 5 s (past the worker's 1.5 s)
// Any other name has an MX record (so example.com and friends take mail).
// `answer(name, fn)` overrides a name: fn(type) -> {status?, body?, delayMs?}.
// `requests` records every question as {name, type, accept}.

import http from 'node:http';

const DNS_TYPES = { A: 1, AAAA: 28, MX: 15 };

function records(name, type, data) {
  return { Status: 0, Answer: [{ name: `${name}.`, type: DNS_TYPES[type], TTL: 300, data }] };
}

function fixed(name, type) {
  switch (name) {
    case 'nowhere.invalid':
      return { body: { Status: 3, Authority: [{ name: 'invalid.', type: 6, TTL: 900, data: 'a.root. nstld. 1 1800 900 604800 86400' }] } };
    case 'no-records.test':
      return { body: { Status: 0 } };
    case 'a-only.test':
      return { body: type === 'A' ? records(name, 'A', '192.0.2.10') : { Status: 0 } };
    case 'null-mx.test':
      return { body: type === 'MX' ? records(name, 'MX', '0 .') : { Status: 0 } };
    case 'dns-fails.test':
      return { status: 500, body: 'resolver failure' };
    case 'dns-slow.test':
      return { delayMs: 5000, body: records(name, 'MX', `10 mx.${name}.`) };
    default:
      return { body: type === 'MX' ? records(name, 'MX', `10 mx.${name}.`) : { Status: 0 } };
  }
}

/** Starts the stand-in on a free loopback port; `register(stop)` adds it to a cleanup list. */
export async function startDoh(register = () => {}) {
  const requests = [];
  const overrides = new Map();
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    const name = (url.searchParams.get('name') || '').toLowerCase().replace(/\.$/, '');
    const type = (url.searchParams.get('type') || '').toUpperCase();
    requests.push({ name, type, accept: req.headers.accept || null, path: url.pathname });
    if (url.pathname !== '/dns-query' || !(type in DNS_TYPES) || !name) {
      res.writeHead(400, { 'content-type': 'text/plain' });
      res.end('bad question');
      return;
    }
    const out = (overrides.get(name) || ((t) => fixed(name, t)))(type);
    const send = () => {
      if (res.destroyed) return;
      const body = typeof out.body === 'string' ? out.body : JSON.stringify(out.body ?? { Status: 0 });
      res.writeHead(out.status ?? 200, { 'content-type': 'application/dns-json' });
      res.end(body);
    };
    if (out.delayMs) setTimeout(send, out.delayMs).unref();
    else send();
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address();
  const stop = () =>
    new Promise((r) => {
      server.closeAllConnections?.();
      server.close(() => r());
    });
  register(stop);
  return {
    url: `http://127.0.0.1:${port}/dns-query`,
    requests,
    /** Questions asked about `name`. */
    asked: (name) => requests.filter((q) => q.name === name),
    answer: (name, fn) => overrides.set(name, fn),
    stop,
  };
}
