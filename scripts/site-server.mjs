// Serves the example site (site/) over loopback for `make dev` and the
// browser tests, with the form's action pointed at a local worker: the
// one line a site owner edits is rewritten on the fly, so site/ itself
// stays exactly what owners copy. node:http only, no dependency.

import fs from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const SITE_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../site');

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
};

/** Points every `action=".../forms/<id>"` of a page at `workerUrl`. */
export function pointFormsAt(html, workerUrl) {
  return html.replace(/action="[^"]*\/forms\//g, `action="${workerUrl.replace(/\/$/, '')}/forms/`);
}

/**
 * Starts the server on `host:port` (port 0: any free one). Returns
 * `{ url, origin, port, close() }`.
 */
export async function startSiteServer({ workerUrl, host = '127.0.0.1', port = 0, dir = SITE_DIR } = {}) {
  const server = http.createServer(async (req, res) => {
    try {
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { allow: 'GET, HEAD' }).end();
        return;
      }
      let rel = decodeURIComponent(new URL(req.url, 'http://x').pathname);
      if (rel.endsWith('/')) rel += 'index.html';
      const file = path.join(dir, path.normalize(rel));
      if (!file.startsWith(dir + path.sep)) {
        res.writeHead(403).end();
        return;
      }
      let body = await fs.readFile(file);
      const type = TYPES[path.extname(file)] || 'application/octet-stream';
      if (type.startsWith('text/html') && workerUrl) body = Buffer.from(pointFormsAt(body.toString('utf8'), workerUrl));
      res.writeHead(200, { 'content-type': type, 'cache-control': 'no-store', 'content-length': body.length });
      res.end(req.method === 'HEAD' ? undefined : body);
    } catch {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found\n');
    }
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  const actual = server.address().port;
  const origin = `http://${host}:${actual}`;
  return {
    url: `${origin}/`,
    origin,
    port: actual,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
