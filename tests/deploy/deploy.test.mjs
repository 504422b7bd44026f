// scripts/deploy.mjs (`make deploy`) against a stand-in wrangler: what it
// puts, keeps, refuses and prints, on a fresh clone, with no Cloudflare
// account. The real wrangler's dry run is in wrangler-dry-run.test.mjs.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, test } from 'node:test';
import { ROOT, count, filesContaining, freshClone } from './fixture.mjs';

// Made per run, so that finding it in the clone's files means the script wrote it.
const API_KEY = `KeapAK-${randomBytes(12).toString('hex')}`;
const ORIGINS = 'https://www.example.com,https://example.com';
const ADMIN_URL = 'https://keap-form-worker.owner-sub.workers.dev/admin';
const API_KEY_ENV = { KFW_AUTH_MODE: 'api_key', KEAP_API_KEY: API_KEY, KFW_ALLOWED_ORIGINS: ORIGINS };

let clones = [];
function clone() {
  const c = freshClone();
  clones.push(c);
  return c;
}
afterEach(() => {
  for (const c of clones) c.remove();
  clones = [];
});

const commands = (c) =>
  c.calls().map(({ args }) => (args[0] === 'secret' || args[0] === 'queues' ? args.slice(0, 2).join(' ') : args[0]));
const deploys = (c) => c.calls().filter((call) => call.args[0] === 'deploy');
const bulks = (c) => c.calls().filter((call) => call.args[0] === 'secret' && call.args[1] === 'bulk');

/** base64 that decodes to exactly `bytes` bytes and is written canonically. */
function assertBase64Key(value, bytes) {
  assert.match(value, /^[A-Za-z0-9+/]+={0,2}$/);
  const raw = Buffer.from(value, 'base64');
  assert.equal(raw.length, bytes);
  assert.equal(raw.toString('base64'), value);
}

/** The only difference from the commit is the ALLOWED_ORIGINS line of wrangler.toml. */
function assertOnlyOriginsChanged(c, origins) {
  assert.equal(c.git('status', '--porcelain', '--untracked-files=all'), ' M wrangler.toml\n');
  const changed = c
    .git('diff', '-U0', '--', 'wrangler.toml')
    .split('\n')
    .filter((l) => /^[-+]/.test(l) && !/^(---|\+\+\+) /.test(l));
  assert.equal(changed.length, 2, changed.join('\n'));
  assert.match(changed[0], /^-ALLOWED_ORIGINS = /);
  assert.equal(changed[1], `+ALLOWED_ORIGINS = "${origins}"`);
}

function assertTempGone(c) {
  assert.deepEqual(fs.readdirSync(c.tmp), [], 'the temporary folder holds what the script left behind');
}

describe('a first deploy, API key, answers from the environment', () => {
  test('puts well-formed secrets once, deploys, prints the admin password once and leaves no secret behind', () => {
    const c = clone();
    const r = c.run([], API_KEY_ENV);
    assert.equal(r.code, 0, r.output);

    assert.deepEqual(commands(c), ['whoami', 'secret list', 'queues list', 'queues create', 'deploy', 'secret bulk']);
    assert.equal(deploys(c)[0].args.includes('--dry-run'), false);
    assert.match(deploys(c)[0].wranglerToml, /^ALLOWED_ORIGINS = "https:\/\/www\.example\.com,https:\/\/example\.com"$/m);

    const bulk = c.bulk();
    assert.deepEqual(Object.keys(bulk.secrets).sort(), ['ADMIN_TOKEN', 'ENCRYPTION_KEY', 'KEAP_API_KEY']);
    assertBase64Key(bulk.secrets.ENCRYPTION_KEY, 32);
    assert.match(bulk.secrets.ADMIN_TOKEN, /^[A-Za-z0-9_-]{43}$/);
    assert.equal(bulk.secrets.KEAP_API_KEY, API_KEY);

    // The file: only its owner could read it, outside the repository, gone now.
    assert.equal(bulk.mode, 0o600);
    assert.equal(bulk.dirMode, 0o700);
    assert.ok(bulk.path.startsWith(`${fs.realpathSync(c.tmp)}${path.sep}`), bulk.path);
    assert.equal(fs.existsSync(bulk.path), false);
    assertTempGone(c);

    // Nothing secret in the repository; the only change is the origins.
    assertOnlyOriginsChanged(c, ORIGINS);
    for (const value of [bulk.secrets.ADMIN_TOKEN, bulk.secrets.ENCRYPTION_KEY, API_KEY]) {
      assert.deepEqual(filesContaining(c.repo, value), []);
    }

    // Printed: the admin URL and password (once); never the other secrets.
    assert.equal(count(r.output, bulk.secrets.ADMIN_TOKEN), 1);
    assert.equal(count(r.output, bulk.secrets.ENCRYPTION_KEY), 0);
    assert.equal(count(r.output, API_KEY), 0);
    assert.ok(r.stdout.includes(ADMIN_URL), r.stdout);
    assert.match(r.stdout, /Next:/);
  });

  test('a second fresh deploy gets a different admin token and encryption key', () => {
    const a = clone();
    const b = clone();
    assert.equal(a.run([], API_KEY_ENV).code, 0);
    assert.equal(b.run([], API_KEY_ENV).code, 0);
    const [sa, sb] = [a.bulk().secrets, b.bulk().secrets];
    assert.notEqual(sa.ADMIN_TOKEN, sb.ADMIN_TOKEN);
    assert.notEqual(sa.ENCRYPTION_KEY, sb.ENCRYPTION_KEY);
  });

  test('`make deploy` on a fresh clone completes', () => {
    const c = clone();
    // The clone uses the repository's installed tools (scripts/setup.sh finds them in place).
    fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(c.repo, 'node_modules'));
    const r = c.run([], API_KEY_ENV, { cmd: ['make', '--no-print-directory', 'deploy'] });
    assert.equal(r.code, 0, r.output);
    assert.deepEqual(commands(c), ['whoami', 'secret list', 'queues list', 'queues create', 'deploy', 'secret bulk']);
    assert.ok(r.stdout.includes(ADMIN_URL), r.stdout);
    assert.equal(count(r.output, c.bulk().secrets.ADMIN_TOKEN), 1);
    fs.unlinkSync(path.join(c.repo, 'node_modules'));
    assertOnlyOriginsChanged(c, ORIGINS);
  });
});

describe('a later deploy', () => {
  test('keeps the worker\'s ENCRYPTION_KEY and ADMIN_TOKEN and prints no password', () => {
    const c = clone();
    const r = c.run([], { ...API_KEY_ENV, STANDIN_SECRETS: '["ADMIN_TOKEN","ENCRYPTION_KEY","KEAP_API_KEY"]' });
    assert.equal(r.code, 0, r.output);
    assert.deepEqual(Object.keys(c.bulk().secrets), ['KEAP_API_KEY']);
    assert.match(r.stdout, /ENCRYPTION_KEY\s+kept/);
    assert.doesNotMatch(r.stdout, /Admin password\s+[A-Za-z0-9_-]{43}/);
    assertTempGone(c);
  });

  test('with nothing new to put, runs no `secret bulk` at all', () => {
    const c = clone();
    const r = c.run([], {
      KFW_AUTH_MODE: 'api_key',
      KFW_ALLOWED_ORIGINS: ORIGINS,
      STANDIN_SECRETS: '["ADMIN_TOKEN","ENCRYPTION_KEY","KEAP_API_KEY"]',
    });
    assert.equal(r.code, 0, r.output);
    assert.deepEqual(commands(c), ['whoami', 'secret list', 'queues list', 'queues create', 'deploy']);
  });

  test('an existing ENCRYPTION_KEY is kept when only ADMIN_TOKEN is missing', () => {
    const c = clone();
    const r = c.run([], { ...API_KEY_ENV, STANDIN_SECRETS: '["ENCRYPTION_KEY"]' });
    assert.equal(r.code, 0, r.output);
    const { secrets } = c.bulk();
    assert.deepEqual(Object.keys(secrets).sort(), ['ADMIN_TOKEN', 'KEAP_API_KEY']);
    assert.equal(count(r.output, secrets.ADMIN_TOKEN), 1);
  });

  for (const [how, args, env] of [
    ['--rotate-encryption-key', ['--rotate-encryption-key'], {}],
    ['KFW_ROTATE_ENCRYPTION_KEY=1', [], { KFW_ROTATE_ENCRYPTION_KEY: '1' }],
  ]) {
    test(`${how} replaces ENCRYPTION_KEY, with a warning`, () => {
      const c = clone();
      const r = c.run(args, { ...API_KEY_ENV, ...env, STANDIN_SECRETS: '["ADMIN_TOKEN","ENCRYPTION_KEY","KEAP_API_KEY"]' });
      assert.equal(r.code, 0, r.output);
      const { secrets } = c.bulk();
      assertBase64Key(secrets.ENCRYPTION_KEY, 32);
      assert.equal('ADMIN_TOKEN' in secrets, false);
      assert.match(r.stderr, /replacing ENCRYPTION_KEY: .*unreadable/);
      assert.equal(count(r.output, secrets.ENCRYPTION_KEY), 0);
    });
  }

  test('--new-admin-token replaces a lost admin password and prints the new one once', () => {
    const c = clone();
    const r = c.run(['--new-admin-token'], { ...API_KEY_ENV, STANDIN_SECRETS: '["ADMIN_TOKEN","ENCRYPTION_KEY","KEAP_API_KEY"]' });
    assert.equal(r.code, 0, r.output);
    const { secrets } = c.bulk();
    assert.deepEqual(Object.keys(secrets).sort(), ['ADMIN_TOKEN', 'KEAP_API_KEY']);
    assert.equal(count(r.output, secrets.ADMIN_TOKEN), 1);
  });

  test('keeps wrangler.toml\'s own origins when none are given', () => {
    const c = clone();
    fs.writeFileSync(
      path.join(c.repo, 'wrangler.toml'),
      c.wranglerToml().replace(/^ALLOWED_ORIGINS = .*$/m, 'ALLOWED_ORIGINS = "https://shop.example.org"'),
    );
    const r = c.run([], { KFW_AUTH_MODE: 'api_key', KEAP_API_KEY: API_KEY });
    assert.equal(r.code, 0, r.output);
    assert.match(deploys(c)[0].wranglerToml, /^ALLOWED_ORIGINS = "https:\/\/shop\.example\.org"$/m);
  });
});

describe('OAuth', () => {
  const OAUTH_ENV = {
    KFW_AUTH_MODE: 'oauth',
    KEAP_CLIENT_ID: 'client-id-7f3a',
    KEAP_CLIENT_SECRET: 'client-secret-91bd0c',
    KFW_ALLOWED_ORIGINS: 'https://www.example.com',
  };

  test('puts the client id and secret and shows the exact callback URL', () => {
    const c = clone();
    const r = c.run([], OAUTH_ENV);
    assert.equal(r.code, 0, r.output);
    const { secrets } = c.bulk();
    assert.deepEqual(Object.keys(secrets).sort(), ['ADMIN_TOKEN', 'ENCRYPTION_KEY', 'KEAP_CLIENT_ID', 'KEAP_CLIENT_SECRET']);
    assert.equal(secrets.KEAP_CLIENT_SECRET, OAUTH_ENV.KEAP_CLIENT_SECRET);
    assert.ok(r.stdout.includes('https://keap-form-worker.owner-sub.workers.dev/oauth/callback'), r.stdout);
    assert.equal(count(r.output, OAUTH_ENV.KEAP_CLIENT_SECRET), 0);
  });

  test('OAUTH_REDIRECT_URI in wrangler.toml is the callback shown', () => {
    const c = clone();
    fs.writeFileSync(
      path.join(c.repo, 'wrangler.toml'),
      c.wranglerToml().replace(/^\[vars\]$/m, '[vars]\nOAUTH_REDIRECT_URI = "https://forms.example.com/oauth/callback"'),
    );
    const r = c.run([], OAUTH_ENV);
    assert.equal(r.code, 0, r.output);
    assert.match(r.stdout, /OAuth callback\s+https:\/\/forms\.example\.com\/oauth\/callback/);
  });

  test('a KEAP_API_KEY left on the worker is removed in the same bulk (it would win over OAuth)', () => {
    const c = clone();
    const r = c.run([], { ...OAUTH_ENV, STANDIN_SECRETS: '["ADMIN_TOKEN","ENCRYPTION_KEY","KEAP_API_KEY"]' });
    assert.equal(r.code, 0, r.output);
    const { secrets } = c.bulk();
    assert.equal(secrets.KEAP_API_KEY, null);
    assert.equal('ENCRYPTION_KEY' in secrets, false);
  });
});

describe('refusals: nothing is deployed, put or written', () => {
  const BAD_ORIGINS = [
    ['https://example.com/', /"https:\/\/example\.com\/" is not an origin \(no path, query or trailing slash\): write https:\/\/example\.com/],
    ['https://example.com/contact', /not an origin \(no path, query or trailing slash\)/],
    ['https://example.com?x=1', /not an origin \(no path, query or trailing slash\)/],
    ['https://www.example.com,https://example.com/', /"https:\/\/example\.com\/" is not an origin/],
    ['example.com', /"example\.com" is not an origin: write it as scheme:\/\/host\[:port\]/],
    ['ftp://example.com', /only http:\/\/ and https:\/\//],
    ['https://Example.com', /write https:\/\/example\.com/],
    ['https://example.com:443', /write https:\/\/example\.com/],
    ['https://user:pw@example.com', /no user name or password/],
    [' , ', /no origin given/],
  ];

  test('bad origins are refused with a clear message', () => {
    const c = clone();
    const before = c.wranglerToml();
    for (const [origins, message] of BAD_ORIGINS) {
      const r = c.run([], { ...API_KEY_ENV, KFW_ALLOWED_ORIGINS: origins });
      assert.equal(r.code, 1, `${origins}: ${r.output}`);
      assert.match(r.stderr, message, origins);
      assert.doesNotMatch(r.stderr, /at .*\.mjs:\d+/, 'a stack trace instead of a message');
    }
    assert.deepEqual(deploys(c), []);
    assert.deepEqual(bulks(c), []);
    assert.equal(c.wranglerToml(), before);
    assert.equal(c.git('status', '--porcelain', '--untracked-files=all'), '');
    assertTempGone(c);
  });

  test('not logged in: says how to log in', () => {
    const c = clone();
    const r = c.run([], { ...API_KEY_ENV, STANDIN_LOGGED_IN: '0' });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /not logged in.*npx wrangler login.*CLOUDFLARE_API_TOKEN/);
    assert.deepEqual(commands(c), ['whoami']);
  });

  test('an answer missing with no terminal to ask on names its variable', () => {
    const c = clone();
    const r = c.run([], { KFW_ALLOWED_ORIGINS: ORIGINS });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /set KFW_AUTH_MODE/);
    const r2 = c.run([], { KFW_AUTH_MODE: 'api_key', KFW_ALLOWED_ORIGINS: ORIGINS });
    assert.equal(r2.code, 1);
    assert.match(r2.stderr, /set KEAP_API_KEY/);
    const r3 = c.run([], { KFW_AUTH_MODE: 'api_key', KEAP_API_KEY: API_KEY });
    assert.equal(r3.code, 1);
    assert.match(r3.stderr, /set KFW_ALLOWED_ORIGINS/);
    assert.deepEqual(deploys(c), []);
  });

  test('a failed `secret list` is never taken for "no ENCRYPTION_KEY yet"', () => {
    const c = clone();
    const r = c.run([], { ...API_KEY_ENV, STANDIN_SECRETS: '["ENCRYPTION_KEY"]', STANDIN_FAIL: 'secret list' });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /`wrangler secret list` failed/);
    assert.deepEqual(deploys(c), []);
    assert.deepEqual(bulks(c), []);
  });

  test('several accounts and no CLOUDFLARE_ACCOUNT_ID: says which to choose', () => {
    const c = clone();
    const r = c.run([], { ...API_KEY_ENV, STANDIN_ACCOUNTS: '2' });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /set CLOUDFLARE_ACCOUNT_ID/);
    assert.deepEqual(deploys(c), []);
  });

  test('a failed `secret bulk`: an error, the temporary file gone, no password printed', () => {
    const c = clone();
    const r = c.run([], { ...API_KEY_ENV, STANDIN_FAIL: 'secret bulk' });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /`wrangler secret bulk` failed/);
    assert.doesNotMatch(r.stdout, /Admin password/);
    assertTempGone(c);
  });

  test('a failed deploy puts no secret', () => {
    const c = clone();
    const r = c.run([], { ...API_KEY_ENV, STANDIN_FAIL: 'deploy' });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /`wrangler deploy` failed/);
    assert.deepEqual(bulks(c), []);
    assertTempGone(c);
  });
});

describe('--dry-run', () => {
  for (const [how, args, env] of [
    ['--dry-run', ['--dry-run'], {}],
    ['KFW_DRY_RUN=1', [], { KFW_DRY_RUN: '1' }],
  ]) {
    test(`${how} changes nothing: no secret, no real deploy, wrangler.toml as it was`, () => {
      const c = clone();
      const before = c.wranglerToml();
      const r = c.run(args, { ...API_KEY_ENV, ...env });
      assert.equal(r.code, 0, r.output);
      assert.deepEqual(commands(c), ['whoami', 'secret list', 'queues list', 'deploy']);
      assert.match(r.stdout, /Delivery queue: keap-form-worker would be created/);
      const deploy = deploys(c)[0].args;
      assert.ok(deploy.includes('--dry-run'), deploy.join(' '));
      assert.ok(deploy.includes(`ALLOWED_ORIGINS:${ORIGINS}`), 'the origins go to the dry run on the command line');
      assert.equal(c.wranglerToml(), before);
      assert.equal(c.git('status', '--porcelain', '--untracked-files=all'), '');
      assert.match(r.stdout, /would put ADMIN_TOKEN, ENCRYPTION_KEY, KEAP_API_KEY/);
      assert.match(r.stdout, /nothing was changed/);
      assert.doesNotMatch(r.stdout, /Admin password/);
      assertTempGone(c);
    });
  }

  test('runs without a login, taking the worker as new', () => {
    const c = clone();
    const r = c.run(['--dry-run'], { ...API_KEY_ENV, STANDIN_LOGGED_IN: '0' });
    assert.equal(r.code, 0, r.output);
    assert.deepEqual(commands(c), ['whoami', 'deploy']);
    assert.match(r.stderr, /not logged in; the dry run takes the worker as new/);
  });

  test('still refuses bad origins', () => {
    const c = clone();
    const r = c.run(['--dry-run'], { ...API_KEY_ENV, KFW_ALLOWED_ORIGINS: 'https://example.com/' });
    assert.equal(r.code, 1);
    assert.deepEqual(deploys(c), []);
  });
});

test('--help lists every variable it reads', () => {
  const r = clone().run(['--help']);
  assert.equal(r.code, 0);
  for (const name of ['KFW_AUTH_MODE', 'KEAP_API_KEY', 'KEAP_CLIENT_ID', 'KEAP_CLIENT_SECRET', 'KFW_ALLOWED_ORIGINS', 'KFW_DRY_RUN', 'KFW_ROTATE_ENCRYPTION_KEY', 'KFW_NEW_ADMIN_TOKEN']) {
    assert.ok(r.stdout.includes(name), name);
  }
});

test("without KFW_WRANGLER it runs the repository's own wrangler, and says when that is not installed", () => {
  // A clone has no node_modules, so nothing here can reach the real wrangler.
  const c = clone();
  const r = c.run([], { ...API_KEY_ENV, KFW_WRANGLER: '' });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /wrangler is not installed \(node_modules\/wrangler\/bin\/wrangler\.js\)/);
  assert.deepEqual(c.calls(), []);
});

describe('the delivery queue', () => {
  test('is created on a first deploy, before the deploy that needs it', () => {
    const c = clone();
    const r = c.run([], API_KEY_ENV);
    assert.equal(r.code, 0, r.output);
    const create = c.calls().find((call) => call.args[0] === 'queues' && call.args[1] === 'create');
    assert.deepEqual(create.args, ['queues', 'create', 'keap-form-worker']);
    assert.match(r.stdout, /Delivery queue: creating keap-form-worker/);
  });

  test('is left alone when the account has it', () => {
    const c = clone();
    const r = c.run([], { ...API_KEY_ENV, STANDIN_QUEUES: '["other-queue","keap-form-worker"]' });
    assert.equal(r.code, 0, r.output);
    assert.deepEqual(commands(c), ['whoami', 'secret list', 'queues list', 'deploy', 'secret bulk']);
    assert.match(r.stdout, /Delivery queue: keap-form-worker \(exists\)/);
  });

  test('a failed create stops before the deploy, with wrangler\'s message', () => {
    const c = clone();
    const r = c.run([], { ...API_KEY_ENV, STANDIN_FAIL: 'queues create' });
    assert.notEqual(r.code, 0);
    assert.match(r.output, /wrangler queues create keap-form-worker` failed/);
    assert.equal(deploys(c).length, 0);
    assert.equal(bulks(c).length, 0);
  });

  test('without a queue in wrangler.toml, nothing is asked about queues', () => {
    const c = clone();
    const toml = c.wranglerToml().replace(/\[\[queues\.(producers|consumers)\]\]\n(?:[^\n[]*\n)*/g, '');
    assert.doesNotMatch(toml, /\[\[queues\./);
    fs.writeFileSync(path.join(c.repo, 'wrangler.toml'), toml);
    c.git('commit', '-qam', 'no queue');
    const r = c.run([], API_KEY_ENV);
    assert.equal(r.code, 0, r.output);
    assert.deepEqual(commands(c), ['whoami', 'secret list', 'deploy', 'secret bulk']);
  });
});
