// One measured run of bench/instructions.mjs (which starts it under
// valgrind): loads a worker in Node with the handler benchmark's in-memory
// KV and Keap (bench/handler/stubs.js), connects ours by its own OAuth
// flow, warms the path up, then calls the fetch handler N times.
//
//   node run.mjs <folder with index.js + index_bg.wasm | worker .js> <scenario> <warm-up> <N>

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

import { connectOne, env, keap, SCENARIOS } from '../handler/stubs.js';

const [target, scenarioName, warmArg, countArg] = process.argv.slice(2);
const scenario = SCENARIOS[scenarioName];
if (!target || !scenario) throw new Error('usage: run.mjs <build folder | worker.js> <submission|preflight> <warm-up> <N>');
env.FORMS = JSON.parse(process.env.FORMS ?? '{}');
env.ALLOWED_ORIGINS = process.env.ALLOWED_ORIGINS ?? '';
globalThis.fetch = keap;

/** A worker build: its entry imports `./index_bg.wasm`, which workerd
 *  compiles; here the module is compiled from the file instead. */
async function loadBuild(folder) {
  const wasm = path.resolve(folder, 'index_bg.wasm');
  globalThis.__benchWasm = new WebAssembly.Module(fs.readFileSync(wasm));
  let source = fs.readFileSync(path.join(folder, 'index.js'), 'utf8');
  const imported = /import\s*(\w+)\s*from\s*"\.\/index_bg\.wasm";?/;
  if (!imported.test(source)) throw new Error(`${folder}/index.js does not import ./index_bg.wasm`);
  source = source.replace(imported, (_, name) => `const ${name} = globalThis.__benchWasm;`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kfw-bench-'));
  const file = path.join(dir, 'index.mjs');
  fs.writeFileSync(file, source);
  try {
    return (await import(pathToFileURL(file))).default;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const isBuild = fs.statSync(target).isDirectory();
const worker = isBuild ? await loadBuild(target) : (await import(pathToFileURL(path.resolve(target)))).default;
if (isBuild) await connectOne(worker);

async function one() {
  const response = await worker.fetch(scenario.make(), env);
  const text = await response.text();
  if (response.status !== scenario.status) throw new Error(`answered ${response.status}: ${text}`);
}
for (let i = 0; i < Number(warmArg); i++) await one();
for (let i = 0; i < Number(countArg); i++) await one();
