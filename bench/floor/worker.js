// The floor: answers every request with a constant, so what `wrangler dev`
// and workerd cost per request on their own can be subtracted.
export default {
  fetch() {
    return new Response('ok');
  },
};
