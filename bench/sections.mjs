// Prints a wasm file's section sizes (custom sections by name), so size
// work can see where the bytes are without extra tools.
import fs from 'node:fs';

export function sections(buf) {
  const names = ['custom', 'type', 'import', 'function', 'table', 'memory', 'global', 'export', 'start', 'element', 'code', 'data', 'datacount', 'tag'];
  const out = [];
  let i = 8;
  const leb = () => {
    let result = 0;
    let shift = 0;
    for (;;) {
      const b = buf[i++];
      result += (b & 0x7f) * 2 ** shift;
      shift += 7;
      if (!(b & 0x80)) return result;
    }
  };
  while (i < buf.length) {
    const id = buf[i++];
    const size = leb();
    const start = i;
    let name = names[id] ?? `id${id}`;
    if (id === 0) {
      const len = leb();
      name = `custom:${buf.subarray(i, i + len).toString('utf8')}`;
    }
    out.push({ name, size });
    i = start + size;
  }
  return out;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const s of sections(fs.readFileSync(process.argv[2]))) console.log(`${s.name.padEnd(28)} ${s.size}`);
}
