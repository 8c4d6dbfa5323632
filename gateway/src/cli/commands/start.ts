/** `medseg start`: the main job (placeholder until the inference layer lands). */
import { EXIT, type CliCommand } from '../command.ts';

export const command: CliCommand = {
  name: 'start',
  summary: 'start the gateway with the embedded inference backend',
  usage: 'usage: medseg start',
  async run(_args, io) {
    io.stdout('medseg-gateway: not yet wired\n');
    return EXIT.ok;
  },
};
