import assert from 'node:assert/strict';
import { test } from 'node:test';
import { groupOf, splitDataset, SplitError } from '../../../gateway/src/finetune/split.ts';

const HEART = [
  '2_4',
  '2_8',
  '2_9',
  '2_10',
  '3_2',
  '4_2',
  '4_5',
  '4_6',
  '4_7',
  '4_9',
  '5_2',
  '5_5',
  '5_9',
  '5_11',
].map((s) => `22_Heart_${s}`);

test('groups: the volume of a cardiac slice, the volume of a NIfTI slice, else the image itself', () => {
  assert.equal(groupOf('22_Heart_5_11'), '22_Heart_5');
  assert.equal(groupOf('brats@2:77'), 'brats');
  assert.equal(groupOf('amos_0001'), 'amos_0001');
});

test('an explicit split names volumes by number; no volume is on two sides', () => {
  const s = splitDataset(HEART, 'train=2,4;val=3;test=5', 1);
  assert.deepEqual(s.groups, {
    train: ['22_Heart_2', '22_Heart_4'],
    val: ['22_Heart_3'],
    test: ['22_Heart_5'],
  });
  assert.equal(s.train.length, 9);
  assert.deepEqual(s.val, ['22_Heart_3_2']);
  assert.deepEqual(s.test, ['22_Heart_5_11', '22_Heart_5_2', '22_Heart_5_5', '22_Heart_5_9']);
});

test('auto splits by volume, depends only on the seed, and never puts a slice of one volume on two sides', () => {
  const a = splitDataset(HEART, 'auto', 7);
  assert.deepEqual(splitDataset([...HEART].reverse(), 'auto', 7), a);
  for (const seed of [1, 2, 3, 4, 5]) {
    const s = splitDataset(HEART, 'auto', seed);
    const side = new Map<string, string>();
    for (const part of ['train', 'val', 'test'] as const) {
      for (const id of s[part]) {
        const prev = side.get(groupOf(id));
        assert.ok(prev === undefined || prev === part, `${id} of ${groupOf(id)} in ${prev} and ${part}`);
        side.set(groupOf(id), part);
      }
    }
    assert.equal(s.train.length + s.val.length + s.test.length, HEART.length);
    assert.ok(s.groups.val.length === 1 && s.groups.test.length === 1);
  }
});

test('bad splits are typed errors', () => {
  const code = (fn: () => unknown) => {
    try {
      fn();
    } catch (e) {
      assert.ok(e instanceof SplitError);
      return e.code;
    }
    assert.fail('no error');
  };
  assert.equal(
    code(() => splitDataset([], 'auto', 1)),
    'EMPTY_DATASET',
  );
  assert.equal(
    code(() => splitDataset(HEART, 'val=2;test=3', 1)),
    'EMPTY_DATASET',
  );
  assert.equal(
    code(() => splitDataset(HEART, 'train=2;test=2', 1)),
    'BAD_SPLIT',
  );
  assert.equal(
    code(() => splitDataset(HEART, 'train=9', 1)),
    'BAD_SPLIT',
  );
  assert.equal(
    code(() => splitDataset(HEART, 'train 2', 1)),
    'BAD_SPLIT',
  );
});
