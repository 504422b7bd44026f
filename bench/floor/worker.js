// The floor: answers every request with a constant (a bodiless 204 to a
// preflight, like the real ones; a small 200 otherwise), so what
// `wrangler dev` and workerd cost per request on their own can be
// subtracted.
export default {
  fetch(request) {
    if (request.method === 'OPTIONS') return new Response(null, { status: 204 });
    return new Response('{"ok":true}', { headers: { 'content-type': 'application/json' } });
  },
};
