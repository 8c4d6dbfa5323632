import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { gaussian, generatePhantom, seededRandom } from '../../../gateway/src/core/phantoms.ts';

describe('seededRandom', () => {
  it('repeats for a seed, differs between seeds, stays in [0, 1)', () => {
    const a = seededRandom(42);
    const b = seededRandom(42);
    const c = seededRandom(43);
    const xs = Array.from({ length: 1000 }, () => a());
    assert.deepEqual(
      xs.slice(0, 5),
      Array.from({ length: 5 }, () => b()),
    );
    assert.notEqual(xs[0], c());
    assert.ok(xs.every((x) => x >= 0 && x < 1));
    const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
    assert.ok(Math.abs(mean - 0.5) < 0.05, `mean ${mean}`);
  });

  it('gives standard normal samples through gaussian()', () => {
    const r = seededRandom(7);
    const xs = Array.from({ length: 4000 }, () => gaussian(r));
    const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
    const sd = Math.sqrt(xs.reduce((s, x) => s + (x - mean) ** 2, 0) / xs.length);
    assert.ok(Math.abs(mean) < 0.06, `mean ${mean}`);
    assert.ok(Math.abs(sd - 1) < 0.06, `sd ${sd}`);
  });
});

describe('generatePhantom', () => {
  it('is deterministic for a seed and differs between seeds', () => {
    const a = generatePhantom({ seed: 3, width: 96, height: 80 });
    const b = generatePhantom({ seed: 3, width: 96, height: 80 });
    const c = generatePhantom({ seed: 4, width: 96, height: 80 });
    assert.deepEqual(a.image.data, b.image.data);
    assert.notDeepEqual(a.image.data, c.image.data);
  });

  it('returns a grey 8-bit raster and one non-empty, non-overlapping mask per shape', () => {
    const p = generatePhantom({
      seed: 1,
      width: 128,
      height: 96,
      shapes: ['disc', 'ellipse', 'ring', 'disc'],
    });
    assert.equal(p.image.channels, 1);
    assert.ok(p.image.data instanceof Uint8Array);
    assert.equal(p.image.data.length, 128 * 96);
    assert.deepEqual(
      p.objects.map((o) => o.label),
      ['disc-0', 'ellipse-1', 'ring-2', 'disc-3'],
    );
    const owner = new Uint8Array(128 * 96);
    for (const o of p.objects) {
      assert.equal(o.mask.width, 128);
      assert.equal(o.mask.height, 96);
      let area = 0;
      for (let i = 0; i < owner.length; i++) {
        if (!o.mask.data[i]) continue;
        area++;
        assert.equal(owner[i], 0, `${o.label} overlaps another object`);
        owner[i] = 1;
      }
      assert.ok(area > 50, `${o.label} area ${area}`);
    }
  });

  it('draws objects brighter than the background, near their grey level, and rings with a hollow centre', () => {
    const p = generatePhantom({ seed: 2, width: 160, height: 128, noiseSigma: 0, biasStrength: 0 });
    const bgValues: number[] = [];
    const inAny = new Uint8Array(160 * 128);
    for (const o of p.objects) {
      let sum = 0;
      let n = 0;
      let x0 = Infinity;
      let x1 = -1;
      let y0 = Infinity;
      let y1 = -1;
      for (let i = 0; i < inAny.length; i++) {
        if (!o.mask.data[i]) continue;
        inAny[i] = 1;
        sum += p.image.data[i];
        n++;
        const x = i % 160;
        const y = Math.floor(i / 160);
        x0 = Math.min(x0, x);
        x1 = Math.max(x1, x);
        y0 = Math.min(y0, y);
        y1 = Math.max(y1, y);
      }
      assert.equal(Math.round(sum / n), o.grey);
      if (o.shape === 'ring') {
        const cx = Math.round((x0 + x1) / 2);
        const cy = Math.round((y0 + y1) / 2);
        assert.equal(o.mask.data[cy * 160 + cx], 0, 'ring centre is background');
      }
    }
    for (let i = 0; i < inAny.length; i++) if (!inAny[i]) bgValues.push(p.image.data[i]);
    const bg = bgValues[0];
    assert.ok(bgValues.every((v) => v === bg));
    assert.ok(p.objects.every((o) => o.grey - bg >= 60));
  });

  it('adds noise and a bias field when asked', () => {
    const clean = generatePhantom({ seed: 9, width: 64, height: 64, noiseSigma: 0, biasStrength: 0 });
    const noisy = generatePhantom({ seed: 9, width: 64, height: 64, noiseSigma: 10, biasStrength: 0.2 });
    let diff = 0;
    for (let i = 0; i < clean.image.data.length; i++)
      diff += Math.abs(clean.image.data[i] - noisy.image.data[i]);
    assert.ok(diff / clean.image.data.length > 5);
  });

  it('rejects sizes too small to hold objects', () => {
    assert.throws(
      () => generatePhantom({ seed: 1, width: 8, height: 64 }),
      /width and height >= 16, got 8x64/,
    );
    assert.throws(
      () => generatePhantom({ seed: 1, width: 32, height: 32, shapes: Array(20).fill('disc') }),
      /no room for object/,
    );
  });
});
