/** Session bounds across replicas: two SharedHandles on one SQLite file race for the last slots. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { SessionStore } from '../../../gateway/src/api/annotation-sessions.ts';
import { LowResStore } from '../../../gateway/src/api/low-res-store.ts';
import { SpacingMemo } from '../../../gateway/src/api/medical/services.ts';
import { SharedHandles } from '../../../gateway/src/api/shared-handles.ts';
import type { SamSession } from '../../../gateway/src/sam/session.ts';
import { SqliteStore } from '../../../gateway/src/store/sqlite/sqlite-store.ts';

/** Two replicas sharing `file`, each with its own in-memory sessions; the SAM session is never reached here. */
function replicas(file: string, maxSessions: number, maxSessionsPerCaller: number) {
  return [0, 1].map(() => {
    const store = new SqliteStore(file);
    const sessions = new SessionStore({ maxSessions, ttlMs: 60_000 });
    const handles = new SharedHandles({
      store,
      sam: {} as SamSession,
      lowRes: new LowResStore({ maxBytes: 1 << 20, ttlMs: 60_000 }),
      sessions,
      spacings: new SpacingMemo(),
      embeddingTtlMs: 60_000,
      sessionTtlMs: 60_000,
      maxSessions,
      maxSessionsPerCaller,
    });
    return { store, sessions, handles };
  });
}

/** Opens a session on replica `r` for `owner`, as startSession does: locally, then claimed in the store. */
async function open(r: ReturnType<typeof replicas>[number], owner: string) {
  const s = r.sessions.create('m', 'emb', 8, 8, owner);
  await r.handles.claimSession(s);
  return s;
}

test("of replicas racing for a caller's last session slot exactly one opens a session", async () => {
  const dir = mkdtempSync(join(tmpdir(), 'medseg-session-race-'));
  const rs = replicas(join(dir, 's.sqlite'), 100, 1);
  try {
    for (let round = 0; round < 5; round++) {
      const tries = await Promise.allSettled([0, 1, 0, 1].map((i) => open(rs[i], `key:r${round}`)));
      const opened = tries.filter((t) => t.status === 'fulfilled');
      assert.equal(opened.length, 1, JSON.stringify(tries));
      for (const t of tries)
        if (t.status === 'rejected') assert.match(String(t.reason), /limit 1 per caller/);
      // A refused session is dropped on the replica that created it: only the winners are held anywhere.
      assert.equal(rs[0].sessions.size + rs[1].sessions.size, round + 1);
    }
    // Closing the winner frees the caller's slot on the other replica.
    const again = await Promise.allSettled([open(rs[0], 'key:free')]);
    assert.equal(again[0].status, 'fulfilled');
    const s = (again[0] as PromiseFulfilledResult<{ id: string }>).value;
    await assert.rejects(open(rs[1], 'key:free'), /limit 1 per caller/);
    assert.equal(await rs[0].handles.deleteSession(s.id), true);
    await open(rs[1], 'key:free');
  } finally {
    for (const r of rs) await r.store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the deployment-wide session bound holds across replicas under a race, and a refusal frees its caller slot', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'medseg-session-race-'));
  const rs = replicas(join(dir, 's.sqlite'), 3, 3);
  try {
    const tries = await Promise.allSettled([0, 1, 0, 1, 0, 1, 0, 1].map((i, k) => open(rs[i], `key:c${k}`)));
    assert.equal(tries.filter((t) => t.status === 'fulfilled').length, 3, JSON.stringify(tries));
    for (const t of tries)
      if (t.status === 'rejected') assert.match(String(t.reason), /too many open sessions \(limit 3\)/);
    // The refused callers hold no owner record: each still opens one once a slot is free.
    const winner = tries.findIndex((t) => t.status === 'fulfilled');
    const loser = tries.findIndex((t) => t.status === 'rejected');
    const won = (tries[winner] as PromiseFulfilledResult<{ id: string }>).value;
    assert.equal(await rs[0].handles.deleteSession(won.id), true);
    await open(rs[1], `key:c${loser}`);
  } finally {
    for (const r of rs) await r.store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
