/** Long-lived services of the medical API: PACS endpoints, volume jobs, and pixel spacings of embeddings. */
import type { GatewayConfig } from '../../config.ts';
import { PacsRegistry } from './pacs.ts';
import type { VolumeResultOut } from './resolvers.ts';
import { VolumeJobStore } from '../propagation-jobs.ts';
import type { PubSub } from '../subscriptions.ts';

/** Remembers the pixel spacing [sy, sx] (mm) an embedding's image came with, for the most recent ids. */
export class SpacingMemo {
  private readonly entries = new Map<string, [number, number]>();

  constructor(private readonly maxEntries = 4096) {}

  /** Records the spacing of an embedding id (nothing when the image had none). */
  remember(id: string, spacing: [number, number] | undefined): void {
    if (!spacing) return;
    this.entries.delete(id);
    this.entries.set(id, [spacing[0], spacing[1]]);
    if (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
  }

  /** The spacing of an embedding id, when known. */
  get(id: string): [number, number] | undefined {
    return this.entries.get(id);
  }
}

/** The medical API's services (one per gateway). */
export interface MedicalServices {
  pacs: PacsRegistry;
  volumeJobs: VolumeJobStore<VolumeResultOut>;
  spacings: SpacingMemo;
}

/** Builds the medical services from the configuration. */
export function createMedicalServices(
  config: Pick<GatewayConfig, 'pacsEndpoints' | 'pacsTimeoutMs' | 'pacsMaxResponseBytes' | 'maxVolumeJobs'>,
  pubsub: PubSub,
): MedicalServices {
  return {
    pacs: new PacsRegistry(config.pacsEndpoints, config.pacsTimeoutMs, config.pacsMaxResponseBytes),
    volumeJobs: new VolumeJobStore<VolumeResultOut>(pubsub, { maxJobs: config.maxVolumeJobs }),
    spacings: new SpacingMemo(),
  };
}
