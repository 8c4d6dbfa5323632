/** `medseg prompts`: the prompt a strategy (S1-S6) derives from one object of a label image. */
import { jitterPrompt, parseJitterBand } from '../../core/prompt-random.ts';
import { STRATEGIES, simulatePrompt, type PromptMode, type Strategy } from '../../core/prompts.ts';
import { createRng } from '../../core/random.ts';
import { parseCliArgs, CliError, EXIT, type CliCommand } from '../command.ts';
import { maskRule, readMaskFile } from '../mask-files.ts';

const USAGE = `usage: medseg prompts --mask LABEL.png [--value V | --threshold T] --strategy S1..S6 [--mode faithful|corrected]
                      [--jitter LO-HI [--seed N] [--box-jitter enlarge|shift]] [--json]

Prints the points (x, y, label) and box [x0, y0, x1, y1] (pixels) that the strategy gives for the object:
the pixels equal to --value of a label image, the pixels above --threshold of a greyscale or lossy (JPEG)
mask, or the nonzero pixels of a binary mask (PNG, GIF, JPEG or TIFF). faithful (default) reproduces the released code, quirks and
failures included; corrected fixes them. --jitter moves the centre point and enlarges (or shifts) the box by
a random amount in LO-HI pixels, seeded by --seed (default 0). A failed prompt exits with status 1.`;

export const command: CliCommand = {
  name: 'prompts',
  summary: 'simulate the prompt of strategy S1-S6 for one object of a label image',
  usage: USAGE,
  async run(args, io) {
    const { values } = parseCliArgs(
      args,
      {
        options: {
          mask: { type: 'string' },
          value: { type: 'string' },
          threshold: { type: 'string' },
          strategy: { type: 'string' },
          mode: { type: 'string' },
          seed: { type: 'string' },
          jitter: { type: 'string' },
          'box-jitter': { type: 'string' },
          json: { type: 'boolean' },
        },
      },
      USAGE,
    );
    if (values.mask === undefined || values.strategy === undefined) {
      throw new CliError(`--mask and --strategy are required\n${USAGE}`);
    }
    const strategy = values.strategy.toUpperCase() as Strategy;
    if (!STRATEGIES.includes(strategy)) {
      throw new CliError(`--strategy must be one of ${STRATEGIES.join(', ')}, got '${values.strategy}'`);
    }
    const mode = (values.mode ?? 'faithful') as PromptMode;
    if (mode !== 'faithful' && mode !== 'corrected') {
      throw new CliError(`--mode must be faithful or corrected, got '${values.mode}'`);
    }
    const seed = values.seed === undefined ? 0 : Number(values.seed);
    if (!Number.isInteger(seed)) throw new CliError(`--seed must be an integer, got '${values.seed}'`);
    const boxJitter = values['box-jitter'] ?? 'enlarge';
    if (boxJitter !== 'enlarge' && boxJitter !== 'shift') {
      throw new CliError(`--box-jitter must be enlarge or shift, got '${boxJitter}'`);
    }
    let band;
    if (values.jitter !== undefined) {
      try {
        band = parseJitterBand(values.jitter);
      } catch (err: unknown) {
        throw new CliError(`--jitter: ${(err as Error).message}`);
      }
    }
    const mask = await readMaskFile(values.mask, 'mask', maskRule(values));
    const result = simulatePrompt(mask, strategy, mode);
    if (!result.ok) {
      if (values.json) io.stdout(JSON.stringify(result) + '\n');
      io.stderr(`prompt failed (${result.failure}): ${result.reason}\n`);
      return EXIT.failure;
    }
    const prompt = band
      ? jitterPrompt(result.prompt, {
          band,
          rng: createRng(seed),
          width: mask.width,
          height: mask.height,
          box: boxJitter,
        })
      : result.prompt;
    const out = {
      ok: true,
      strategy,
      mode,
      points: prompt.points,
      ...(prompt.box ? { box: prompt.box } : {}),
      ...(result.everything ? { everything: result.everything } : {}),
      ...(band ? { jitter: { band, seed, box: boxJitter } } : {}),
    };
    if (values.json) {
      io.stdout(JSON.stringify(out) + '\n');
    } else {
      const lines = [`strategy ${strategy} (${mode})`];
      if (result.everything) lines.push(`everything mode: ${JSON.stringify(result.everything)}`);
      for (const p of prompt.points) lines.push(`point x=${p.x} y=${p.y} label=${p.label}`);
      if (prompt.box) lines.push(`box ${prompt.box.join(',')}`);
      io.stdout(lines.join('\n') + '\n');
    }
    return EXIT.ok;
  },
};
