/** `medseg rle encode|decode`: COCO RLE (pycocotools-compatible) from and to mask PNGs. */
import { RleError, decodeRle, encodeRle, rleArea, rleToBbox, type RleInput } from '../../core/rle.ts';
import { parseCliArgs, CliError, EXIT, type CliCommand } from '../command.ts';
import { maskRule, readMaskFile, writeMaskPng } from '../mask-files.ts';

const USAGE = `usage: medseg rle encode MASK [--value V | --threshold T] [--json]
       medseg rle decode --rle RLE [--size H,W] --out MASK.png

encode: prints the COCO RLE compressed counts string of the mask (PNG, GIF, JPEG or TIFF): its nonzero
        pixels when it is binary, the pixels equal to --value of a label image, or the pixels above
        --threshold of a greyscale or lossy (JPEG) mask; --json prints
        {"size":[H,W],"counts":"...","area":N,"bbox":[x,y,w,h]}.
decode: RLE is a JSON object {"size":[H,W],"counts":"..." or [..]}, a JSON array of run lengths, or a bare
        counts string; --size H,W is needed unless the JSON gives it. Writes a 0/255 PNG.`;

function parseSize(text: string): [number, number] {
  const parts = text.split(',').map((s) => Number(s.trim()));
  if (parts.length !== 2 || !parts.every((v) => Number.isInteger(v) && v >= 0)) {
    throw new CliError(`--size must be H,W with two non-negative integers, got '${text}'`);
  }
  return [parts[0], parts[1]];
}

function parseRle(text: string, size: [number, number] | undefined): RleInput {
  const trimmed = text.trim();
  let counts: unknown = trimmed;
  let jsonSize: unknown;
  if (trimmed.startsWith('{') || trimmed.startsWith('[')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(trimmed);
    } catch (err: unknown) {
      throw new CliError(`--rle looks like JSON but does not parse: ${(err as Error).message}`);
    }
    if (Array.isArray(parsed)) {
      counts = parsed;
    } else if (parsed !== null && typeof parsed === 'object') {
      counts = (parsed as { counts?: unknown }).counts;
      jsonSize = (parsed as { size?: unknown }).size;
    }
  }
  const finalSize = size ?? jsonSize;
  if (finalSize === undefined)
    throw new CliError('--size H,W is required when the RLE does not carry its size');
  if (typeof counts !== 'string' && !Array.isArray(counts)) {
    throw new CliError('--rle must have counts as a string or an array of integers');
  }
  return { size: finalSize, counts } as RleInput;
}

export const command: CliCommand = {
  name: 'rle',
  summary: 'encode a mask PNG as COCO RLE, or decode COCO RLE to a PNG',
  usage: USAGE,
  async run(args, io) {
    const [sub, ...rest] = args;
    const { values, positionals } = parseCliArgs(
      rest,
      {
        allowPositionals: true,
        options: {
          value: { type: 'string' },
          threshold: { type: 'string' },
          json: { type: 'boolean' },
          rle: { type: 'string' },
          size: { type: 'string' },
          out: { type: 'string' },
        },
      },
      USAGE,
    );
    switch (sub) {
      case 'encode': {
        if (positionals.length !== 1) throw new CliError(`encode needs exactly one mask file\n${USAGE}`);
        const mask = await readMaskFile(positionals[0], 'mask', maskRule(values));
        const rle = encodeRle(mask);
        if (values.json) {
          io.stdout(JSON.stringify({ ...rle, area: rleArea(rle), bbox: rleToBbox(rle) }) + '\n');
        } else {
          io.stdout(rle.counts + '\n');
        }
        return EXIT.ok;
      }
      case 'decode': {
        if (values.rle === undefined || values.out === undefined) {
          throw new CliError(`decode needs --rle and --out\n${USAGE}`);
        }
        const rle = parseRle(values.rle, values.size === undefined ? undefined : parseSize(values.size));
        let mask;
        try {
          mask = decodeRle(rle);
        } catch (err: unknown) {
          if (err instanceof RleError) throw new CliError(`invalid RLE: ${err.message}`);
          throw err;
        }
        await writeMaskPng(values.out, mask);
        let area = 0;
        for (const v of mask.data) area += v;
        io.stdout(`wrote ${values.out} (${mask.height}x${mask.width}, ${area} pixels inside)\n`);
        return EXIT.ok;
      }
      default:
        throw new CliError(`unknown sub-command '${sub ?? ''}': expected encode or decode\n${USAGE}`);
    }
  },
};
