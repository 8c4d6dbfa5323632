/** Query depth/cost/alias/directive rules and the token limit, the token bucket, and the bounded backend queue with retries. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildSchema, getIntrospectionQuery, parse, specifiedRules, validate } from 'graphql';
import { graphqlLimits } from '../../../gateway/src/api/limits.ts';
import { RateLimiter } from '../../../gateway/src/api/rate-limit.ts';
import { readSchemaSdl } from '../../../gateway/src/api/http-server.ts';
import { InferenceError } from '../../../gateway/src/inference/errors.ts';
import { GuardedBackend } from '../../../gateway/src/inference/backpressure.ts';
import type { SamBackend } from '../../../gateway/src/sam/session.ts';
import type { InferRequest, InferResponse } from '../../../gateway/src/protocol/types.ts';

const schema = buildSchema(readSchemaSdl());
const limits = graphqlLimits({ maxQueryDepth: 15, maxQueryCost: 2000, maxQueryTokens: 20_000 });
const check = (q: string, rules = limits.validationRules) =>
  validate(schema, parse(q), [...specifiedRules, ...rules]);
const refusals = (q: string, rules = limits.validationRules) =>
  check(q, rules).map(
    (e) => ({ message: e.message, ...e.extensions }) as { message: string; limit?: string; max?: number },
  );

test('depth and cost: fragments count where they are used; a fragment bomb is priced at its full expansion', () => {
  const q = `query { ...A } fragment A on Query { models { name profile { name } } ...B }
    fragment B on Query { m2: models { name } }`;
  // Six fields three levels deep, plus two per fragment spread: at the limits it passes, one below it fails.
  assert.deepEqual(
    check(q, graphqlLimits({ maxQueryDepth: 3, maxQueryCost: 10, maxQueryTokens: 1000 }).validationRules),
    [],
  );
  assert.deepEqual(
    refusals(q, graphqlLimits({ maxQueryDepth: 2, maxQueryCost: 9, maxQueryTokens: 1000 }).validationRules),
    [
      { message: 'Query depth limit of 2 exceeded, found 3.', limit: 'depth', max: 2 },
      { message: 'Query Cost limit of 9 exceeded, found 10.', limit: 'cost', max: 9 },
    ],
  );
  // Twelve fragments that each use the previous one twice expand to 2^12 selections; armor prices each
  // fragment once and multiplies, so the whole expansion is counted without being walked.
  const defs = ['fragment F0 on Model { name }'];
  for (let i = 1; i <= 12; i++)
    defs.push(`fragment F${i} on Model { ...F${i - 1} a${i}: name ...F${i - 1} }`);
  const bomb = refusals(`query { models { ...F12 } } ${defs.join(' ')}`);
  const cost = bomb.find((e) => e.limit === 'cost');
  const found = Number(/found (\d+)/.exec(String(cost?.message))?.[1]);
  assert.ok(found > 4096 * 2, `priced at ${found}`);
  assert.ok(
    bomb.some((e) => e.limit === 'aliases'),
    'the 4095 expanded aliases are refused too',
  );
});

test('the real schema: ordinary and introspection queries pass; deep, costly, aliased and long ones are refused', () => {
  assert.deepEqual(check('{ models { name ready profile { name inputSize } } }'), []);
  assert.deepEqual(check(getIntrospectionQuery()), [], 'GraphiQL and codegen keep working');
  // Introspection is not exempt: ofType nests as deep as a client likes.
  const deep = `{ __schema { types { fields { type ${'{ ofType '.repeat(14)}{ name }${' }'.repeat(14)} } } } }`;
  assert.deepEqual(refusals(deep), [
    { message: 'Query depth limit of 15 exceeded, found 19.', limit: 'depth', max: 15 },
  ]);
  const wide = `{ ${Array.from({ length: 2001 }, (_, i) => `a${i}: __typename`).join(' ')} }`;
  const wideRefusals = refusals(wide);
  assert.deepEqual(
    wideRefusals.find((e) => e.limit === 'cost'),
    { message: 'Query Cost limit of 2000 exceeded, found 2001.', limit: 'cost', max: 2000 },
  );
  // __typename aliases are allowed by armor's alias rule; a field aliased 51 times is not.
  assert.equal(wideRefusals.filter((e) => e.limit === 'aliases').length, 0);
  const aliased = `{ ${Array.from({ length: 51 }, (_, i) => `m${i}: models { name }`).join(' ')} }`;
  assert.deepEqual(refusals(aliased), [
    { message: 'Aliases limit of 50 exceeded, found 51.', limit: 'aliases', max: 50 },
  ]);
  const directives = `{ models ${'@include(if: true) '.repeat(51)}{ name } }`;
  assert.ok(
    refusals(directives).some((e) => e.limit === 'directives' && e.max === 50),
    JSON.stringify(refusals(directives)),
  );
  assert.throws(
    () => parse(`{ ${'__typename '.repeat(30_000)} }`, limits.parseOptions),
    /Document contains more tha[nt] 20000 tokens/,
  );
  assert.doesNotThrow(() => parse(`{ ${'__typename '.repeat(19_990)} }`, limits.parseOptions));
});

test('rate limiter: burst, then one request per 1/rate seconds, per caller, with Retry-After', () => {
  let now = 0;
  const rl = new RateLimiter({ ratePerSecond: 2, burst: 3, now: () => now, maxCallers: 2 });
  assert.deepEqual(
    [1, 2, 3].map(() => rl.take('a').allowed),
    [true, true, true],
  );
  assert.deepEqual(rl.take('a'), { allowed: false, retryAfterSeconds: 1 });
  assert.equal(rl.take('b').allowed, true, 'another caller has its own bucket');
  now = 500;
  assert.equal(rl.take('a').allowed, true, 'one token back after 1/rate seconds');
  assert.equal(rl.take('a').allowed, false);
  rl.take('c');
  assert.equal(rl.size, 2, 'the least recently seen caller is forgotten');
  assert.equal(new RateLimiter({ ratePerSecond: 0, burst: 1 }).take('x').allowed, true, '0 = off');
  assert.throws(() => new RateLimiter({ ratePerSecond: 1, burst: 0 }), RangeError);
  const slow = new RateLimiter({ ratePerSecond: 0.1, burst: 1, now: () => 0 });
  slow.take('x');
  assert.deepEqual(slow.take('x'), { allowed: false, retryAfterSeconds: 10 });
});

/** A fake backend whose infer calls wait until released, and that fails on demand. */
function fakeBackend() {
  const pending: Array<() => void> = [];
  let failures: string[] = [];
  let calls = 0;
  let maxConcurrent = 0;
  let concurrent = 0;
  const backend: SamBackend = {
    repositoryIndex: async () => [],
    modelReady: async () => {
      calls++;
      const f = failures.shift();
      if (f) throw new InferenceError(f as 'BACKEND_UNAVAILABLE', f);
      return true;
    },
    modelConfig: async () => {
      throw new InferenceError('MODEL_NOT_FOUND', 'nope');
    },
    modelMetadata: async () => {
      throw new InferenceError('MODEL_NOT_FOUND', 'nope');
    },
    infer: (req: InferRequest): Promise<InferResponse> => {
      calls++;
      const f = failures.shift();
      if (f) return Promise.reject(new InferenceError(f as 'BACKEND_UNAVAILABLE', f));
      concurrent++;
      maxConcurrent = Math.max(maxConcurrent, concurrent);
      return new Promise((resolve) =>
        pending.push(() => {
          concurrent--;
          resolve({ modelName: req.modelName, modelVersion: '1', id: '', outputs: [], parameters: {} });
        }),
      );
    },
  };
  return {
    backend,
    release: () => pending.splice(0).forEach((r) => r()),
    fail: (codes: string[]) => (failures = codes),
    stats: () => ({ calls, maxConcurrent, pending: pending.length }),
  };
}

const req = (model: string): InferRequest => ({ modelName: model, inputs: [] }) as unknown as InferRequest;
const tick = () => new Promise((r) => setTimeout(r, 5));

test('backend guard: at most maxInflight run, maxQueued wait, the rest get RESOURCE_EXHAUSTED with a retry hint', async () => {
  const fake = fakeBackend();
  const guard = new GuardedBackend(fake.backend, {
    maxInflight: 2,
    maxQueued: 3,
    retries: 0,
    deadlineMs: 120_000, // never reached: the fake backend answers when the test releases it
  });
  const calls = Array.from({ length: 8 }, () =>
    guard.infer(req('dec')).then(
      () => 'ok',
      (e: { code: string; retryAfterSeconds?: number }) => `${e.code}:${e.retryAfterSeconds}`,
    ),
  );
  await tick();
  assert.deepEqual(guard.stats('dec'), { inflight: 2, queued: 3, rejected: 3, retries: 0 });
  assert.equal(fake.stats().pending, 2);
  // Another model has its own queue.
  const other = guard.infer(req('enc'));
  await tick();
  assert.equal(guard.stats('enc').inflight, 1);
  for (let i = 0; i < 4; i++) {
    fake.release();
    await tick();
  }
  await other;
  const outcomes = await Promise.all(calls);
  assert.equal(outcomes.filter((o) => o === 'ok').length, 5);
  assert.deepEqual(
    outcomes.filter((o) => o !== 'ok'),
    ['RESOURCE_EXHAUSTED:1', 'RESOURCE_EXHAUSTED:1', 'RESOURCE_EXHAUSTED:1'],
  );
  assert.equal(fake.stats().maxConcurrent, 3, "two of 'dec' plus the one of 'enc'");
  assert.deepEqual(guard.stats('dec'), { inflight: 0, queued: 0, rejected: 3, retries: 0 });
});

test('backend guard: a queued call whose deadline passes fails DEADLINE_EXCEEDED and frees its place', async () => {
  const fake = fakeBackend();
  const guard = new GuardedBackend(fake.backend, {
    maxInflight: 1,
    maxQueued: 1,
    retries: 0,
    deadlineMs: 120_000, // never reached: the fake backend answers when the test releases it
  });
  const first = guard.infer(req('m'));
  const queued = guard.infer(req('m'), { deadlineMs: 30 });
  await assert.rejects(queued, (e: { code: string }) => e.code === 'DEADLINE_EXCEEDED');
  assert.equal(guard.stats('m').queued, 0);
  fake.release();
  await first;
  assert.equal(guard.stats('m').inflight, 0);
});

test('backend guard: unavailable backends are retried with jittered backoff a bounded number of times', async () => {
  const fake = fakeBackend();
  const events: string[] = [];
  const guard = new GuardedBackend(fake.backend, {
    maxInflight: 4,
    maxQueued: 4,
    retries: 2,
    deadlineMs: 120_000, // never reached: the fake backend answers when the test releases it
    backoffMs: 5,
    random: () => 0.5,
    onEvent: (e) => events.push(`${e.type}:${e.code}`),
  });
  fake.fail(['BACKEND_UNAVAILABLE', 'MODEL_NOT_READY']);
  assert.equal(await guard.modelReady('m'), true);
  assert.deepEqual(events, ['retry:BACKEND_UNAVAILABLE', 'retry:MODEL_NOT_READY']);
  fake.fail(['BACKEND_UNAVAILABLE', 'BACKEND_UNAVAILABLE', 'BACKEND_UNAVAILABLE']);
  await assert.rejects(guard.modelReady('m'), (e: { code: string }) => e.code === 'BACKEND_UNAVAILABLE');
  // Errors that retrying cannot fix pass straight through.
  const before = fake.stats().calls;
  await assert.rejects(guard.modelConfig('m'), (e: { code: string }) => e.code === 'MODEL_NOT_FOUND');
  fake.fail(['INVALID_INPUT']);
  await assert.rejects(guard.infer(req('m')), (e: { code: string }) => e.code === 'INVALID_INPUT');
  assert.equal(fake.stats().calls, before + 1, 'modelConfig is not counted; infer ran once');
  // Infer retried after a dropped connection succeeds once the backend is back.
  fake.fail(['BACKEND_UNAVAILABLE']);
  const p = guard.infer(req('m'));
  await new Promise((r) => setTimeout(r, 30));
  fake.release();
  await p;
  assert.equal(guard.stats('m').inflight, 0);
  assert.throws(
    () => new GuardedBackend(fake.backend, { maxInflight: 0, maxQueued: 0, retries: 0, deadlineMs: 1 }),
    RangeError,
  );
});
