/**
 * `medseg segment`: segments one image with points and/or a box through the GraphQL API, either of a running
 * gateway (--url) or of one it starts itself with the embedded backend.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { parseCliArgs, CliError, EXIT, type CliCommand } from '../command.ts';

const USAGE = `usage: medseg segment --image FILE [--box x0,y0,x1,y1] [--point x,y,1|0 ...] [--model NAME]
                      [--url http://HOST:PORT] [--out mask.png] [--json] [--single]

Segments one object. Points are x,y,label with label 1 (object) or 0 (background); the box is
x0,y0,x1,y1 in pixels. Without --url (or MEDSEG_URL) it starts the embedded backend for this one call.
--out writes the chosen mask as a PNG (0/255); --json prints the mask as COCO RLE with its scores.`;

const MEDIA: Record<string, string> = {
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.tif': 'image/tiff',
  '.tiff': 'image/tiff',
};

function numbers(text: string, count: number, what: string): number[] {
  const parts = text.split(',').map((s) => Number(s.trim()));
  if (parts.length !== count || parts.some((v) => !Number.isFinite(v))) {
    throw new CliError(`${what} must be ${count} comma-separated numbers, got '${text}'`);
  }
  return parts;
}

const QUERY = `query Segment($input: SegmentInput!) {
  segment(input: $input) {
    embedding { id model width height cached }
    results { promptIndex masks { rle { size counts } png predictedIou stabilityScore area bbox { x y width height } provenance { model modelVersion profile } } }
  }
}`;

export const command: CliCommand = {
  name: 'segment',
  summary: 'segment one image with points and/or a box (COCO RLE / PNG out)',
  usage: USAGE,
  async run(args, io) {
    const { values } = parseCliArgs(
      args,
      {
        options: {
          image: { type: 'string' },
          box: { type: 'string' },
          point: { type: 'string', multiple: true },
          model: { type: 'string' },
          url: { type: 'string' },
          out: { type: 'string' },
          json: { type: 'boolean', default: false },
          single: { type: 'boolean', default: false },
        },
      },
      USAGE,
    );
    if (!values.image) throw new CliError(`--image is required\n${USAGE}`);
    const points = (values.point ?? []).map((p) => {
      const [x, y, label] = numbers(p, 3, '--point');
      if (label !== 0 && label !== 1) throw new CliError(`--point label must be 1 or 0, got ${label}`);
      return { x, y, positive: label === 1 };
    });
    const box = values.box ? numbers(values.box, 4, '--box') : undefined;
    if (points.length === 0 && !box) throw new CliError('give at least one --point or a --box');
    let bytes: Buffer;
    try {
      bytes = await readFile(values.image);
    } catch (err: unknown) {
      throw new CliError(`cannot read --image ${values.image}: ${(err as Error).message}`);
    }
    const variables = {
      input: {
        image: {
          encoded: {
            base64: bytes.toString('base64'),
            mediaType: MEDIA[extname(values.image).toLowerCase()],
          },
        },
        model: values.model,
        prompts: [{ points, box: box ? { x0: box[0], y0: box[1], x1: box[2], y1: box[3] } : undefined }],
        options: { multimask: !values.single, outputs: values.out ? ['PNG'] : [] },
      },
    };

    let url = values.url ?? process.env.MEDSEG_URL;
    let stop: (() => Promise<void>) | undefined;
    if (!url) {
      const { loadConfig } = await import('../../config.ts');
      const { startGateway } = await import('../../main.ts');
      const { ensureServedModels } = await import('../../models/ensure-models.ts');
      const config = loadConfig({ ...process.env, PORT: '0', LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn' });
      await ensureServedModels(config.modelRepository);
      const gw = await startGateway(config);
      url = gw.url;
      stop = () => gw.close();
    }
    try {
      let response: Response;
      try {
        response = await fetch(`${url.replace(/\/+$/, '')}/graphql`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ query: QUERY, variables }),
        });
      } catch (err: unknown) {
        throw new CliError(`cannot reach the gateway at ${url}: ${(err as Error).message}`, EXIT.failure);
      }
      const body = (await response.json()) as {
        data?: { segment: { results: Array<{ masks: Array<Record<string, unknown> & { png?: string }> }> } };
        errors?: Array<{ message: string; extensions?: { code?: string } }>;
      };
      if (body.errors?.length) {
        const e = body.errors[0];
        throw new CliError(
          `${e.extensions?.code ?? 'ERROR'}: ${e.message}`,
          e.extensions?.code === 'INTERNAL' ? EXIT.failure : EXIT.usage,
        );
      }
      const mask = body.data!.segment.results[0].masks[0];
      if (values.out) {
        await writeFile(values.out, Buffer.from(mask.png ?? '', 'base64'));
      }
      const { png: _png, ...rest } = mask;
      if (values.json) io.stdout(JSON.stringify(rest, null, 2) + '\n');
      else
        io.stdout(
          `mask: area ${String(mask.area)} px, predicted IoU ${Number(mask.predictedIou).toFixed(3)}, bbox ${JSON.stringify(mask.bbox)}${values.out ? `, written to ${values.out}` : ''}\n`,
        );
      return EXIT.ok;
    } finally {
      await stop?.();
    }
  },
};
