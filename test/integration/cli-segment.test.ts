/** `medseg segment` as a user runs it: with the embedded backend it starts itself, and against a gateway. */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { main } from '../../gateway/src/cli/main.ts';
import { dice } from '../../gateway/src/core/metrics.ts';
import { generatePhantom } from '../../gateway/src/core/phantoms.ts';
import { decodeImage } from '../../gateway/src/imaging/decode-image.ts';
import { encodePng } from '../../gateway/src/imaging/encode-png.ts';
import { REPO_ROOT, startTestGateway } from '../helpers/gateway.ts';
import { tempDir } from '../helpers/temp-dir.ts';
import { ApiKeyStore } from '../../gateway/src/security/api-keys.ts';
import { loadSecurityConfig } from '../../gateway/src/security/security-config.ts';

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { stdout: (t: string) => out.push(t), stderr: (t: string) => err.push(t) }, out, err };
}

test('segments a phantom with a box, starting the embedded backend itself, and with --url', async () => {
  const dir = tempDir('medseg-cli-');
  const phantom = generatePhantom({ seed: 21, width: 160, height: 120, shapes: ['disc'] });
  const obj = phantom.objects[0].mask;
  let x0 = 1e9,
    y0 = 1e9,
    x1 = -1,
    y1 = -1;
  for (let i = 0; i < obj.data.length; i++) {
    if (!obj.data[i]) continue;
    const x = i % obj.width,
      y = Math.floor(i / obj.width);
    x0 = Math.min(x0, x);
    y0 = Math.min(y0, y);
    x1 = Math.max(x1, x);
    y1 = Math.max(y1, y);
  }
  const image = join(dir, 'phantom.png');
  writeFileSync(image, encodePng(phantom.image));
  process.env.MODEL_REPOSITORY = join(REPO_ROOT, 'triton-models');
  process.env.STATE_DIR = join(dir, 'state');

  const c = capture();
  const code = await main(
    [
      'segment',
      '--image',
      image,
      '--box',
      `${x0},${y0},${x1 + 1},${y1 + 1}`,
      '--out',
      join(dir, 'out', 'm.png'),
      '--json',
    ],
    c.io,
  );
  assert.equal(code, 0, c.err.join(''));
  // Starting the embedded backend says what it is doing, step by step, before the result.
  assert.match(
    c.err.join(''),
    /^\[\d+\.\d s\] no --url: starting a gateway[\s\S]*loading the models[\s\S]*\[\d+\.\d s\] ready at http:\/\/127\.0\.0\.1:\d+; segmenting\n$/,
  );
  const json = JSON.parse(c.out.join('')) as { rle: { size: number[] }; area: number; predictedIou: number };
  assert.deepEqual(json.rle.size, [120, 160]);
  const png = decodeImage(readFileSync(join(dir, 'out', 'm.png')));
  const mask = { width: 160, height: 120, data: Uint8Array.from(png.data, (v) => (v > 0 ? 1 : 0)) };
  assert.ok(dice(mask, obj) >= 0.9, `Dice ${dice(mask, obj)}`);

  const gw = await startTestGateway();
  try {
    const c2 = capture();
    const code2 = await main(
      ['segment', '--url', gw.url, '--image', image, '--point', `${(x0 + x1) / 2},${(y0 + y1) / 2},1`],
      c2.io,
    );
    assert.equal(code2, 0, c2.err.join(''));
    assert.match(c2.out.join(''), /^mask: area \d+ px, predicted IoU [\d.]+, bbox/);
  } finally {
    await gw.close();
  }
});

test('bad invocations exit 2 with a message, an unreachable gateway exits 1', async () => {
  const dir = tempDir('medseg-cli-bad-');
  const image = join(dir, 'p.png');
  writeFileSync(image, encodePng(generatePhantom({ seed: 1, width: 32, height: 32 }).image));
  const cases: Array<[string[], number, RegExp]> = [
    [['segment', '--box', '1,1,5,5'], 2, /--image is required/],
    [['segment', '--image', image], 2, /at least one --point or a --box/],
    [['segment', '--image', image, '--point', '1,2,5'], 2, /label must be 1 or 0/],
    [['segment', '--image', image, '--box', '1,2,3'], 2, /--box must be 4 comma-separated numbers/],
    [['segment', '--image', join(dir, 'missing.png'), '--box', '1,1,5,5'], 2, /cannot read --image/],
    [['segment', '--image', image, '--box', '1,1,5,5', '--bogus'], 2, /unknown option '--bogus'/],
    [['segment', '--image', image, '--box', '1,1,5,5', '--api-key', ' '], 2, /--api-key .* is empty/],
    [
      ['segment', '--url', 'http://127.0.0.1:1', '--image', image, '--box', '1,1,5,5'],
      1,
      /cannot reach the gateway at http:\/\/127.0.0.1:1/,
    ],
  ];
  for (const [args, expected, message] of cases) {
    const c = capture();
    assert.equal(await main(args, c.io), expected, args.join(' '));
    assert.match(c.err.join(''), message);
  }
});

test('--api-key and MEDSEG_API_KEY authenticate against a gateway that has keys', async () => {
  const dir = tempDir('medseg-cli-key-');
  const image = join(dir, 'p.png');
  writeFileSync(image, encodePng(generatePhantom({ seed: 4, width: 64, height: 64 }).image));
  const file = join(dir, 'keys.json');
  const { key } = new ApiKeyStore(file).create('cli', ['segment']);
  const gw = await startTestGateway({ security: loadSecurityConfig({ API_KEYS_FILE: file }, dir) });
  const args = ['segment', '--url', gw.url, '--image', image, '--box', '8,8,40,40'];
  try {
    const none = capture();
    assert.equal(await main(args, none.io), 2);
    assert.match(none.err.join(''), /UNAUTHENTICATED/);
    const wrong = capture();
    assert.equal(await main([...args, '--api-key', 'msk_nope'], wrong.io), 2);
    assert.match(wrong.err.join(''), /UNAUTHENTICATED/);
    const flag = capture();
    assert.equal(await main([...args, '--api-key', key], flag.io), 0, flag.err.join(''));
    assert.match(flag.out.join(''), /^mask: area \d+ px/);
    process.env.MEDSEG_API_KEY = key;
    try {
      const env = capture();
      assert.equal(await main(args, env.io), 0, env.err.join(''));
    } finally {
      delete process.env.MEDSEG_API_KEY;
    }
  } finally {
    await gw.close();
  }
});
