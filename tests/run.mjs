// Runs the deploy, end-to-end and browser test files side by side, the
// slowest first, so the minute-long waits (a queue message delayed by
// design, leads waiting for their due time) overlap the rest instead of
// ending the run. Each file starts its own sandbox, workerd and Chromium
// on free ports, so files share nothing but the build.
//
//   node tests/run.mjs [file ...]     (default: every *.test.mjs below)
//
// KFW_TEST_CONCURRENCY sets how many files run at once (default 5). The
// exit code is 1 when any test failed.

import fs from 'node:fs';
import path from 'node:path';
import { run } from 'node:test';
import { spec } from 'node:test/reporters';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const GROUPS = ['deploy', 'e2e', 'browser'];

/** Started first, longest first: each waits a minute or more in all. */
const SLOWEST = ['e2e/soon.test.mjs', 'e2e/outbox.test.mjs', 'deploy/deploy.test.mjs', 'e2e/auth.test.mjs', 'e2e/timeout.test.mjs'];

function everyFile() {
  const all = GROUPS.flatMap((group) =>
    fs
      .readdirSync(path.join(HERE, group))
      .filter((f) => f.endsWith('.test.mjs'))
      .sort()
      .map((f) => `${group}/${f}`),
  );
  const rank = (f) => (SLOWEST.includes(f) ? SLOWEST.indexOf(f) : SLOWEST.length);
  return all.sort((a, b) => rank(a) - rank(b)).map((f) => path.join(HERE, f));
}

const files = process.argv.length > 2 ? process.argv.slice(2).map((f) => path.resolve(f)) : everyFile();
const concurrency = Number(process.env.KFW_TEST_CONCURRENCY) || 5;
// A file that hangs fails after five minutes (the slowest takes under
// two), and its workers are stopped with it, so a run always ends.
const timeout = 5 * 60_000;

run({ files, concurrency, timeout })
  .on('test:fail', () => {
    process.exitCode = 1;
  })
  .compose(spec)
  .pipe(process.stdout);
